"""Where the emulator used to be more forgiving than Microsoft (issue 15): one test per divergence,
each naming the documentation file (microsoftgraph/microsoft-graph-docs-contrib unless said
otherwise) whose behaviour it pins. The Partner Center paging tests live in
test_partner_center.py, the Retry-After tests in test_faults.py."""

import pytest
from graph_client import US, US_GROUPS, Graph, app_token, minted_token, user_token

from csp_emulator import catalog

REL = "/tenantRelationships/delegatedAdminRelationships"
CUSTOMER02 = "30000000-0000-4000-8000-000000000002"
DYNAMICS_365_ADMIN = "44367163-eba1-44c3-98af-f5787879f96a"
COMPLIANCE_DATA_ADMIN = "e6d1a23a-da11-4be4-9570-befc86d067a7"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"


@pytest.fixture
def user(fresh_emulator):
    return Graph(fresh_emulator, user_token(fresh_emulator))


def roles(*ids):
    return {"unifiedRoles": [{"roleDefinitionId": rid} for rid in ids]}


def active_relationship(emu, user, role_ids, duration="P730D"):
    body = {"displayName": f"documented {len(role_ids)} {duration}", "duration": duration,
            "customer": {"tenantId": CUSTOMER02}, "accessDetails": roles(*role_ids)}
    resp = user.post(REL, body)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    assert user.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"}).status_code == 201
    emu.control.approve_gdap(rid)
    for _ in range(4):
        status = user.get(f"{REL}/{rid}").json()["status"]
    return rid, status


# --- 2. the built-in role catalogue ------------------------------------------------------------
def test_every_built_in_role_is_known(user):
    """Entra's "Microsoft Entra built-in roles" reference (entra-docs permissions-reference.md) lists
    every role template id; delegatedadminrelationship-update.md's example uses Dynamics 365
    Administrator (44367163-…). The emulator knew 36 roles and refused it."""
    assert len(catalog.ROLE_TEMPLATES) >= 100
    assert len(set(catalog.ROLE_TEMPLATES.values())) == len(catalog.ROLE_TEMPLATES)
    assert catalog.ROLE_TEMPLATES["Dynamics 365 Administrator"] == DYNAMICS_365_ADMIN
    body = {"displayName": "every role", "duration": "P730D", "customer": {"tenantId": CUSTOMER02},
            "accessDetails": roles(DYNAMICS_365_ADMIN, COMPLIANCE_DATA_ADMIN, EXCHANGE_ADMIN)}
    resp = user.post(REL, body)
    assert resp.status_code == 201, resp.text
    unknown = dict(body, displayName="unknown role", accessDetails=roles("00000000-0000-4000-8000-00000000dead"))
    assert user.post(REL, unknown).status_code == 400


# --- 3. PATCH of an access assignment with the roles it has ---------------------------------------
def test_access_assignment_update_with_identical_values_is_200(fresh_emulator, user):
    """delegatedadminaccessassignment-update.md: "If the values specified in the call are identical
    to the values in the existing object, the API returns a 200 OK response code with the original
    delegatedAdminAccessAssignment object". The emulator answered 202 and an operation."""
    rid, status = active_relationship(fresh_emulator, user, [DIRECTORY_READERS, EXCHANGE_ADMIN])
    assert status == "active"
    body = {"accessContainer": {"accessContainerId": US_GROUPS["GDAP Admins"], "accessContainerType": "securityGroup"},
            "accessDetails": roles(DIRECTORY_READERS, EXCHANGE_ADMIN)}
    aid = user.post(f"{REL}/{rid}/accessAssignments", body).json()["id"]
    current = user.get(f"{REL}/{rid}/accessAssignments/{aid}").json()
    assert current["status"] == "active"
    same = user.patch(f"{REL}/{rid}/accessAssignments/{aid}", {"accessDetails": roles(EXCHANGE_ADMIN, DIRECTORY_READERS)},
                      headers={"If-Match": current["@odata.etag"]})
    assert same.status_code == 200, same.text
    assert same.json()["id"] == aid and same.json()["@odata.etag"] == current["@odata.etag"]
    assert "Location" not in same.headers
    assert user.get(f"{REL}/{rid}/operations").json()["value"] == []
    changed = user.patch(f"{REL}/{rid}/accessAssignments/{aid}", {"accessDetails": roles(EXCHANGE_ADMIN)},
                         headers={"If-Match": current["@odata.etag"]})
    assert changed.status_code == 202 and "/operations/" in changed.headers["Location"]
    assert changed.json() == {}  # the documented 202 body


# --- 4. the graph. type-cast alias ---------------------------------------------------------------
def test_type_cast_with_the_graph_alias(fresh_emulator):
    """OData type casts take the namespace alias: groups/{id}/members/graph.servicePrincipal is the
    URL msgraph-sdk builds (members.graph_service_principal); group-list-members.md lists
    microsoft.graph.servicePrincipal. The emulator routed only the full namespace."""
    g = Graph(fresh_emulator, app_token(fresh_emulator))
    full = g.get(f"/groups/{US_GROUPS['AdminAgents']}/members/microsoft.graph.servicePrincipal")
    alias = g.get(f"/groups/{US_GROUPS['AdminAgents']}/members/graph.servicePrincipal")
    assert alias.status_code == 200, alias.text
    assert [m["id"] for m in alias.json()["value"]] == [m["id"] for m in full.json()["value"]]
    assert {m["@odata.type"] for m in alias.json()["value"]} == {"#microsoft.graph.servicePrincipal"}
    assert g.get(f"/groups/{US_GROUPS['AdminAgents']}/members/graph.user").status_code == 200


# --- 5. a duplicate oauth2PermissionGrant ------------------------------------------------------
def test_duplicate_permission_grant_is_400(fresh_emulator):
    """oauth2permissiongrant-post.md documents 201 only; Graph answers a second grant of the same
    client, resource and consent type with 400 Request_BadRequest "Permission entry already
    exists." (what partner tooling matches on). The emulator answered 409."""
    g = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["DelegatedPermissionGrant.ReadWrite.All",
                                                                   "Directory.Read.All"]))
    client = g.get(f"/servicePrincipals(appId='{US['client_id']}')").json()["id"]
    graph_sp = g.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()["id"]
    existing = g.get(f"/oauth2PermissionGrants?$filter=clientId eq '{client}'").json()["value"]
    body = {"clientId": client, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"}
    if not any(x["resourceId"] == graph_sp and x["consentType"] == "AllPrincipals" for x in existing):
        assert g.post("/oauth2PermissionGrants", body).status_code == 201
    dup = g.post("/oauth2PermissionGrants", body)
    assert dup.status_code == 400, dup.text
    assert dup.json()["error"]["code"] == "Request_BadRequest"
    assert dup.json()["error"]["message"] == "Permission entry already exists."


# --- 6. shapes ---------------------------------------------------------------------------------
# serviceprincipal-list.md's example: the properties every service principal carries.
SP_LIST_KEYS = {"id", "deletedDateTime", "accountEnabled", "appDisplayName", "appId", "appOwnerOrganizationId",
                "appRoleAssignmentRequired", "displayName", "homepage", "logoutUrl", "replyUrls",
                "servicePrincipalNames", "tags", "addIns", "appRoles", "info", "keyCredentials",
                "oauth2PermissionScopes", "passwordCredentials"}


def test_service_principal_list_properties(emulator):
    """serviceprincipal-list.md: appRoleAssignmentRequired, keyCredentials, info, addIns, … on every
    item (the emulator left them out). Its example's publisherName is a beta property: the v1.0
    metadata (msgraph-sdk's model, see test_sdk_conformance.py) has none, nor createdDateTime."""
    g = Graph(emulator, app_token(emulator))
    items = g.all_pages("/servicePrincipals")
    assert items
    for sp in items:
        assert SP_LIST_KEYS <= set(sp), SP_LIST_KEYS - set(sp)
    graph_sp = g.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()
    assert graph_sp["appRoleAssignmentRequired"] is False and graph_sp["keyCredentials"] == []
    assert "publisherName" not in graph_sp and "createdDateTime" not in graph_sp


def test_delegated_admin_customer_shape(emulator):
    """delegatedadmincustomer-get.md / tenantrelationship-list-delegatedadmincustomers.md: each item
    has @odata.type #microsoft.graph.delegatedAdminCustomer and an @odata.etag."""
    g = Graph(emulator, user_token(emulator))
    listed = g.get("/tenantRelationships/delegatedAdminCustomers").json()["value"]
    assert listed
    for item in listed:
        assert item["@odata.type"] == "#microsoft.graph.delegatedAdminCustomer"
        assert item["@odata.etag"].startswith('W/"') and {"id", "tenantId", "displayName"} <= set(item)
    one = g.get(f"/tenantRelationships/delegatedAdminCustomers/{listed[0]['id']}").json()
    assert one["@odata.type"] == "#microsoft.graph.delegatedAdminCustomer" and "@odata.etag" in one
    assert one["@odata.context"].endswith("$metadata#tenantRelationships/delegatedAdminCustomers/$entity")


def test_expiring_relationship_status(fresh_emulator, user):
    """delegatedadminrelationship.md's status enum has expiring between active and expired; when it
    applies is undocumented: the setting gdap_expiring_days (default 30) says how many days before its
    end a relationship that will not be extended reads expiring. It still grants access."""
    emu = fresh_emulator
    rid, status = active_relationship(emu, user, [EXCHANGE_ADMIN], duration="P60D")
    assert status == "active"
    emu.control.advance_clock(days=31)
    user.token = user_token(emu, cache=False)
    assert user.get(f"{REL}/{rid}").json()["status"] == "expiring"
    assert user.get(f"{REL}?$filter=status eq 'expiring'").json()["value"][0]["id"] == rid
    body = {"accessContainer": {"accessContainerId": US_GROUPS["GDAP Admins"], "accessContainerType": "securityGroup"},
            "accessDetails": roles(EXCHANGE_ADMIN)}
    assert user.post(f"{REL}/{rid}/accessAssignments", body).status_code == 201  # still in force
    emu.control.advance_clock(days=30)
    user.token = user_token(emu, cache=False)
    assert user.get(f"{REL}/{rid}").json()["status"] == "expired"


# --- 8. empty Graph pages by default ---------------------------------------------------------
def test_empty_pages_are_on_by_default(fresh_emulator):
    """paging.md: a page may hold no items and still carry @odata.nextLink; clients keep following
    until there is none. The emulator's default used to be off."""
    assert fresh_emulator.world.settings["graph_empty_pages"] is True
    g = Graph(fresh_emulator, app_token(fresh_emulator))
    first = g.get("/users?$top=2").json()
    second = g.get(first["@odata.nextLink"]).json()
    assert second["value"] == [] and "@odata.nextLink" in second
    assert g.get(second["@odata.nextLink"]).json()["value"]


# --- 9. the v1.0 token endpoint --------------------------------------------------------------
def test_v1_token_endpoint(fresh_emulator, client_for):
    """Microsoft still serves /{tenant}/oauth2/token (resource= instead of scope=; Partner Center's
    REST authentication samples use it): the answer has resource, expires_on, not_before and the
    lifetimes as strings. The emulator answered 404."""
    emu = fresh_emulator
    client = client_for(emu)
    url = f"/{US['tenant']}/oauth2/token"
    resp = client.request("POST", "login", url, data={
        "grant_type": "client_credentials", "client_id": US["client_id"], "client_secret": US["secret"],
        "resource": "https://graph.microsoft.com"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["resource"] == "https://graph.microsoft.com"
    assert {"expires_in", "ext_expires_in", "expires_on", "not_before"} <= set(body)
    assert all(isinstance(body[k], str) and body[k].isdigit() for k in ("expires_in", "expires_on", "not_before"))
    assert Graph(emu, body["access_token"]).get("/organization").status_code == 200
    refreshed = client.request("POST", "login", url, data={
        "grant_type": "refresh_token", "client_id": US["client_id"], "client_secret": US["secret"],
        "refresh_token": US["refresh_token"], "resource": "https://api.partnercenter.microsoft.com"})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["resource"] == "https://api.partnercenter.microsoft.com"
    assert refreshed.json()["refresh_token"]
    missing = client.request("POST", "login", url, data={
        "grant_type": "client_credentials", "client_id": US["client_id"], "client_secret": US["secret"]})
    assert missing.status_code == 400 and "AADSTS900144" in missing.json()["error_description"]
