"""Contract tests built from the JSON examples in Microsoft's Graph documentation
(repository microsoftgraph/microsoft-graph-docs-contrib). Each test names the documentation file
whose request it replays and records the status code, keys and error codes the example shows."""

import pytest
from graph_client import US, US_GROUPS, US_USERS, Graph, app_token, minted_token, user_token

REL = "/tenantRelationships/delegatedAdminRelationships"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
INTUNE_ADMIN = "3a2c62db-5318-420d-8d74-23affee5d9d5"
GRAPH_ERROR_KEYS = {"code", "message", "innerError"}
INNER_ERROR_KEYS = {"date", "request-id", "client-request-id"}


@pytest.fixture
def user(fresh_emulator):
    return Graph(fresh_emulator, user_token(fresh_emulator))


@pytest.fixture
def app(fresh_emulator):
    return Graph(fresh_emulator, app_token(fresh_emulator))


def assert_graph_error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= GRAPH_ERROR_KEYS
    assert set(body["error"]["innerError"]) >= INNER_ERROR_KEYS
    assert body["error"]["code"] == code


def gdap_body(name="Contoso admin relationship"):
    # The request of api-reference/v1.0/api/tenantrelationship-post-delegatedadminrelationships.md
    # (its customer tenant replaced by one of the demo world's customers).
    return {
        "displayName": name,
        "duration": "P730D",
        "customer": {"tenantId": "30000000-0000-4000-8000-000000000002", "displayName": "Contoso subsidiary Inc"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN},
                                           {"roleDefinitionId": INTUNE_ADMIN}]},
        "autoExtendDuration": "P180D",
    }


# api-reference/v1.0/api/tenantrelationship-post-delegatedadminrelationships.md:
# 201 Created, Location header, @odata.type/@odata.context/@odata.etag, status "created".
REL_KEYS = {"@odata.type", "@odata.context", "@odata.etag", "id", "displayName", "duration", "customer",
            "accessDetails", "status", "autoExtendDuration", "createdDateTime", "lastModifiedDateTime",
            "activatedDateTime", "endDateTime"}


def test_create_delegated_admin_relationship(user):
    resp = user.post(REL, gdap_body())
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == REL_KEYS
    assert body["@odata.type"] == "#microsoft.graph.delegatedAdminRelationship"
    assert body["@odata.context"].endswith("/tenantRelationships/$metadata#delegatedAdminRelationships/$entity")
    assert body["status"] == "created" and body["autoExtendDuration"] == "P180D" and body["duration"] == "P730D"
    assert body["customer"] == {"tenantId": "30000000-0000-4000-8000-000000000002",
                                "displayName": "Contoso subsidiary Inc"}
    assert resp.headers["Location"] == f"{user.emu.graph_endpoint}/v1.0{REL}/{body['id']}"
    assert body["@odata.etag"].startswith('W/"')


# api-reference/v1.0/api/delegatedadminrelationship-update.md: PATCH with If-Match → 200 and the
# updated object (new @odata.etag); 412 when the ETag is stale (Graph basics).
def test_update_delegated_admin_relationship(user):
    created = user.post(REL, gdap_body()).json()
    patch = {"displayName": "Updated Contoso admin relationship", "duration": "P31D",
             "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "44367163-eba1-44c3-98af-f5787879f96a"},
                                                {"roleDefinitionId": EXCHANGE_ADMIN},
                                                {"roleDefinitionId": "69091246-20e8-4a56-aa4d-066075b2a7a8"},
                                                {"roleDefinitionId": INTUNE_ADMIN}]}}
    # The example as documented, Dynamics 365 Administrator (44367163-…) included: every built-in
    # role is in the emulator's catalogue.
    resp = user.patch(f"{REL}/{created['id']}", patch, headers={"If-Match": created["@odata.etag"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["displayName"] == "Updated Contoso admin relationship" and body["duration"] == "P31D"
    assert body["status"] == "created" and body["@odata.etag"] != created["@odata.etag"]
    stale = user.patch(f"{REL}/{created['id']}", {"displayName": "x"}, headers={"If-Match": created["@odata.etag"]})
    assert_graph_error(stale, 412, "PreconditionFailed")


# api-reference/v1.0/api/delegatedadminrelationship-delete.md: DELETE with If-Match → 204.
def test_delete_delegated_admin_relationship(user):
    created = user.post(REL, gdap_body()).json()
    resp = user.delete(f"{REL}/{created['id']}", headers={"If-Match": created["@odata.etag"]})
    assert resp.status_code == 204 and resp.content == b""


# api-reference/v1.0/api/delegatedadminrelationship-post-requests.md: 201, Location,
# {@odata.type, @odata.context, id, action, status "created", createdDateTime, lastModifiedDateTime}.
def test_post_relationship_request(user):
    created = user.post(REL, gdap_body()).json()
    resp = user.post(f"{REL}/{created['id']}/requests", {"action": "lockForApproval"})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"@odata.type", "@odata.context", "id", "action", "status", "createdDateTime",
                         "lastModifiedDateTime"}
    assert body["@odata.type"] == "#microsoft.graph.delegatedAdminRelationshipRequest"
    assert body["action"] == "lockForApproval" and body["status"] == "created"
    assert resp.headers["Location"].endswith(f"/requests/{body['id']}")


# api-reference/v1.0/api/delegatedadminrelationship-post-accessassignments.md: 201, Location,
# status "pending", accessContainer + accessDetails echoed; then
# api-reference/v1.0/api/delegatedadminaccessassignment-update.md: 202 + Location of the operation
# + Retry-After; api-reference/v1.0/api/delegatedadminrelationshipoperation-get.md: operationType,
# status (notStarted/running/succeeded/failed), data, created/lastModifiedDateTime.
def test_access_assignment_lifecycle(fresh_emulator, user):
    created = user.post(REL, gdap_body()).json()
    rid = created["id"]
    user.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    fresh_emulator.control.approve_gdap(rid)
    while user.get(f"{REL}/{rid}").json()["status"] != "active":
        pass
    body = {"accessContainer": {"accessContainerId": US_GROUPS["GDAP Admins"], "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN}]}}
    resp = user.post(f"{REL}/{rid}/accessAssignments", body)
    assert resp.status_code == 201
    aa = resp.json()
    assert set(aa) == {"@odata.type", "@odata.context", "@odata.etag", "id", "status", "createdDateTime",
                       "lastModifiedDateTime", "accessContainer", "accessDetails"}
    assert aa["@odata.type"] == "#microsoft.graph.delegatedAdminAccessAssignment" and aa["status"] == "pending"
    assert aa["accessContainer"] == body["accessContainer"] and aa["accessDetails"] == body["accessDetails"]
    assert resp.headers["Location"].endswith(f"/accessAssignments/{aa['id']}")
    current = user.get(f"{REL}/{rid}/accessAssignments/{aa['id']}").json()
    update = {"accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN},
                                                 {"roleDefinitionId": INTUNE_ADMIN}]}}
    resp = user.patch(f"{REL}/{rid}/accessAssignments/{aa['id']}", update, headers={"If-Match": current["@odata.etag"]})
    assert resp.status_code == 202
    assert "Retry-After" in resp.headers and "/operations/" in resp.headers["Location"]
    op = user.get(resp.headers["Location"]).json()
    assert {"id", "operationType", "status", "data", "createdDateTime", "lastModifiedDateTime"} <= set(op)
    assert op["operationType"] == "delegatedAdminAccessAssignmentUpdate"
    assert op["status"] in ("notStarted", "running", "succeeded", "failed")


GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def active_with_global_admin(emu, user):
    body = dict(gdap_body(), autoExtendDuration="PT0S",  # no auto-extension with Global Administrator
                accessDetails={"unifiedRoles": [{"roleDefinitionId": GLOBAL_ADMIN},
                                                {"roleDefinitionId": EXCHANGE_ADMIN}]})
    rid = user.post(REL, body).json()["id"]
    user.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    emu.control.approve_gdap(rid)
    while user.get(f"{REL}/{rid}").json()["status"] != "active":
        pass
    group = {"accessContainerId": US_GROUPS["GDAP Admins"], "accessContainerType": "securityGroup"}
    aa = user.post(f"{REL}/{rid}/accessAssignments", {"accessContainer": group, "accessDetails": body["accessDetails"]})
    return user.get(f"{REL}/{rid}").json(), aa.json()["id"]


MINUS_GA = {"accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN}]}}


# Removing Global Administrator from an active relationship, default setting gdap_global_admin_removal
# "operation": api-reference/v1.0/resources/delegatedadminrelationshipoperation.md (a long-running operation) ->
# 202 Accepted, Location of the operation, Retry-After; the relationship changes when the operation succeeded.
def test_remove_global_admin_202_operation_delegatedadminrelationshipoperation_md(fresh_emulator, user):
    rel, _aa = active_with_global_admin(fresh_emulator, user)
    resp = user.patch(f"{REL}/{rel['id']}", MINUS_GA, headers={"If-Match": rel["@odata.etag"]})
    assert resp.status_code == 202 and not resp.content
    assert f"{REL}/{rel['id']}/operations/" in resp.headers["Location"] and resp.headers["Retry-After"]
    while user.get(resp.headers["Location"]).json()["status"] != "succeeded":
        pass
    assert user.get(f"{REL}/{rel['id']}").json()["accessDetails"] == MINUS_GA["accessDetails"]


# Setting gdap_global_admin_removal "updated": the Response section of
# api-reference/v1.0/api/delegatedadminrelationship-update.md, "200 OK ... and an updated delegatedAdminRelationship
# object in the response body": the same id, still active, roles without Global Administrator, a new
# @odata.etag; no operation; the access assignments lose the role too; auto-extension is then accepted.
def test_remove_global_admin_200_delegatedadminrelationship_update_md(fresh_emulator, user):
    fresh_emulator.control.settings(gdap_global_admin_removal="updated")
    rel, aid = active_with_global_admin(fresh_emulator, user)
    stale = user.patch(f"{REL}/{rel['id']}", MINUS_GA, headers={"If-Match": 'W/"stale"'})
    assert_graph_error(stale, 412, "PreconditionFailed")
    resp = user.patch(f"{REL}/{rel['id']}", MINUS_GA, headers={"If-Match": rel["@odata.etag"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == REL_KEYS
    assert body["@odata.type"] == "#microsoft.graph.delegatedAdminRelationship"
    assert body["@odata.context"].endswith("/tenantRelationships/$metadata#delegatedAdminRelationships/$entity")
    assert body["id"] == rel["id"] and body["status"] == "active"
    assert body["accessDetails"] == MINUS_GA["accessDetails"] and body["@odata.etag"] != rel["@odata.etag"]
    assert user.get(f"{REL}/{rel['id']}").json()["accessDetails"] == MINUS_GA["accessDetails"]
    assert user.get(f"{REL}/{rel['id']}/operations").json()["value"] == []
    aa = user.get(f"{REL}/{rel['id']}/accessAssignments/{aid}").json()
    assert aa["accessDetails"] == MINUS_GA["accessDetails"]
    again = user.patch(f"{REL}/{rel['id']}", MINUS_GA, headers={"If-Match": body["@odata.etag"]})
    assert again.status_code == 400  # nothing left to remove: any other roles change stays refused
    extend = user.patch(f"{REL}/{rel['id']}", {"autoExtendDuration": "P180D"}, headers={"If-Match": body["@odata.etag"]})
    assert extend.status_code == 200 and extend.json()["autoExtendDuration"] == "P180D"


# api-reference/v1.0/api/tenantrelationship-list-delegatedadminrelationships.md: a collection
# with @odata.context and value; every item carries @odata.type and @odata.etag.
def test_list_delegated_admin_relationships(user):
    resp = user.get(REL)
    assert resp.status_code == 200
    body = resp.json()
    assert {"@odata.context", "value"} <= set(body)
    assert all({"@odata.type", "@odata.etag", "id", "status"} <= set(r) for r in body["value"])


# api-reference/v1.0/api/group-post-members.md: 204 No Content; 400 when already a member;
# 404 when the object does not exist. Example 2: PATCH with members@odata.bind → 204.
def test_group_post_members(app):
    gid = US_GROUPS["GDAP Helpdesk"]
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{US_USERS['helpdesk']}"}
    resp = app.post(f"/groups/{gid}/members/$ref", ref)
    assert resp.status_code == 204 and resp.content == b""
    assert_graph_error(app.post(f"/groups/{gid}/members/$ref", ref), 400, "Request_BadRequest")
    missing = {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-4000-8000-000000000099"}
    assert_graph_error(app.post(f"/groups/{gid}/members/$ref", missing), 404, "Request_ResourceNotFound")
    bind = {"members@odata.bind": [f"https://graph.microsoft.com/v1.0/directoryObjects/{US_USERS['ops.admin']}"]}
    assert app.patch(f"/groups/{gid}", bind).status_code == 204


# api-reference/v1.0/api/group-delete-members.md: DELETE …/members/{id}/$ref → 204 No Content.
def test_group_delete_members(app):
    gid = US_GROUPS["HelpdeskAgents"]
    resp = app.delete(f"/groups/{gid}/members/{US_USERS['helpdesk']}/$ref")
    assert resp.status_code == 204 and resp.content == b""


# api-reference/v1.0/api/group-list-members.md: a directoryObject collection whose items carry
# @odata.type; api-reference/v1.0/api/group-list.md with $filter: @odata.context + value.
def test_group_list_members_and_filter(app):
    body = app.get(f"/groups/{US_GROUPS['AdminAgents']}/members").json()
    assert body["@odata.context"].endswith("$metadata#directoryObjects")
    assert all(m["@odata.type"].startswith("#microsoft.graph.") for m in body["value"])
    body = app.get("/groups?$filter=displayName eq 'AdminAgents'").json()
    assert body["@odata.context"].endswith("$metadata#groups") and len(body["value"]) == 1


# api-reference/v1.0/api/group-post-groups.md: 201 Created with the group (id, displayName,
# mailEnabled, mailNickname, securityEnabled, groupTypes, createdDateTime …).
def test_group_post_groups(app):
    resp = app.post("/groups", {"description": "Self help community for library", "displayName": "Library Assist",
                                "groupTypes": [], "mailEnabled": False, "mailNickname": "library",
                                "securityEnabled": True})
    assert resp.status_code == 201
    assert {"id", "displayName", "description", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes",
            "createdDateTime"} <= set(resp.json())


# api-reference/v1.0/api/serviceprincipal-get.md (alternate key appId) and serviceprincipal-list.md
# with $filter=appId eq '…'.
def test_service_principal_get_by_app_id(app):
    by_key = app.get(f"/servicePrincipals(appId='{US['client_id']}')")
    assert by_key.status_code == 200
    assert {"id", "appId", "displayName", "servicePrincipalType", "appRoles", "oauth2PermissionScopes"} <= set(by_key.json())
    listed = app.get(f"/servicePrincipals?$filter=appId eq '{US['client_id']}'").json()
    assert [s["id"] for s in listed["value"]] == [by_key.json()["id"]]


# api-reference/v1.0/api/application-addpassword.md: 200 with a passwordCredential
# {customKeyIdentifier, displayName, endDateTime, hint, keyId, secretText, startDateTime}.
def test_application_add_password(app):
    resp = app.post("/applications/13000000-0000-4000-8000-000000000001/addPassword",
                    {"passwordCredential": {"displayName": "Password friendly name"}})
    assert resp.status_code == 200
    assert {"customKeyIdentifier", "displayName", "endDateTime", "hint", "keyId", "secretText",
            "startDateTime"} <= set(resp.json())
    assert resp.json()["displayName"] == "Password friendly name"


# api-reference/v1.0/api/oauth2permissiongrant-post.md: 201 with {id, clientId, consentType,
# principalId, resourceId, scope}.
def test_oauth2_permission_grant_post(fresh_emulator):
    g = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["DelegatedPermissionGrant.ReadWrite.All",
                                                                   "Directory.Read.All", "Application.ReadWrite.All"]))
    # A client without grants yet: the eu partner app, whose service principal is created here
    # (api-reference/v1.0/api/serviceprincipal-post-serviceprincipals.md: 201 with the object).
    created = g.post("/servicePrincipals", {"appId": "20000000-0000-4000-8000-000000000002"})
    assert created.status_code == 201 and {"id", "appId", "displayName"} <= set(created.json())
    client = created.json()["id"]
    resource = g.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()["id"]
    resp = g.post("/oauth2PermissionGrants", {"clientId": client, "consentType": "AllPrincipals",
                                              "resourceId": resource, "scope": "User.Read Group.Read.All"})
    assert resp.status_code == 201, resp.text
    assert {"id", "clientId", "consentType", "principalId", "resourceId", "scope"} <= set(resp.json())


# concepts/json-batching.md: {"responses": [{"id", "status", "headers"?, "body"?}]} in any order;
# more than 20 requests → 400; a failed dependency → 424.
def test_json_batching(app):
    body = {"requests": [{"id": "1", "method": "GET", "url": "/organization"},
                         {"id": "2", "method": "GET", "url": "/groups/00000000-0000-4000-8000-000000000042"},
                         {"id": "3", "method": "GET", "url": "/users", "dependsOn": ["2"]}]}
    resp = app.post("/$batch", body)
    assert resp.status_code == 200
    responses = resp.json()["responses"]
    assert {r["id"] for r in responses} == {"1", "2", "3"}
    assert all({"id", "status"} <= set(r) for r in responses)
    by_id = {r["id"]: r for r in responses}
    assert by_id["1"]["status"] == 200 and by_id["2"]["status"] == 404 and by_id["3"]["status"] == 424
    assert set(by_id["2"]["body"]["error"]) >= {"code", "message"}


# Graph error body (Graph basics): 401 without a token, 403 Authorization_RequestDenied without
# a permission, 400 for an unparsable $filter.
def test_error_bodies(fresh_emulator, app):
    resp = app.session.get(app.url("/groups"), verify=fresh_emulator.ca_bundle)
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    weak = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["User.Read.All"]))
    assert_graph_error(weak.get("/groups"), 403, "Authorization_RequestDenied")
    assert_graph_error(app.get("/groups?$filter=displayName eq"), 400, "BadRequest")
