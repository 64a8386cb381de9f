"""Microsoft Graph routes against a running emulator (HTTPS, verified TLS, tokens from the
emulator's token endpoint)."""


import pytest
from graph_client import US, US_GROUPS, US_USERS, Graph, app_token, minted_token, user_token

ADMIN_AGENTS = US_GROUPS["AdminAgents"]
GDAP_ADMINS = US_GROUPS["GDAP Admins"]
GRAPH_BASE = "https://graph.microsoft.com/v1.0/directoryObjects/"


@pytest.fixture(scope="module")
def app(emulator):
    return Graph(emulator, app_token(emulator))


@pytest.fixture(scope="module")
def user(emulator):
    return Graph(emulator, user_token(emulator))


@pytest.fixture
def fresh_app(fresh_emulator):
    return Graph(fresh_emulator, app_token(fresh_emulator))


def sp_id(g, app_id=US["client_id"]):
    resp = g.get(f"/servicePrincipals(appId='{app_id}')")
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def error(resp):
    return resp.json()["error"]


# ---- authentication and permissions ---------------------------------------------------------


def test_missing_or_bad_token_is_401(emulator, app):
    resp = app.session.get(app.url("/users"), verify=emulator.ca_bundle)
    assert resp.status_code == 401
    assert error(resp)["code"] == "InvalidAuthenticationToken"
    resp = app.get("/users", token="not-a-jwt")
    assert resp.status_code == 401
    assert error(resp)["code"] == "InvalidAuthenticationToken"


def test_app_without_role_is_403(emulator):
    g = Graph(emulator, minted_token(emulator, roles=["User.Read.All"]))
    resp = g.get("/groups")
    assert resp.status_code == 403
    assert error(resp) == {**error(resp), "code": "Authorization_RequestDenied",
                           "message": "Insufficient privileges to complete the operation."}
    assert g.get("/users").status_code == 200


def test_delegated_needs_scope_and_directory_role(emulator):
    # Scope present but no admin role: reads refused.
    g = Graph(emulator, minted_token(emulator, user_upn="helpdesk@contosopartnerus.onmicrosoft.com",
                                     scp=["Directory.AccessAsUser.All"]))
    assert g.get("/groups").status_code == 403
    # User Administrator may read and change group membership, but not app registrations.
    g = Graph(emulator, minted_token(emulator, user_upn="ops.admin@contosopartnerus.onmicrosoft.com",
                                     scp=["Directory.AccessAsUser.All"]))
    assert g.get("/groups").status_code == 200
    resp = g.patch("/applications/13000000-0000-4000-8000-000000000001", {"displayName": "x"})
    assert resp.status_code == 403
    # An admin role without a scope: refused too.
    g = Graph(emulator, minted_token(emulator, user_upn="integration@contosopartnerus.onmicrosoft.com", scp=["User.Read"]))
    assert g.get("/groups").status_code == 403
    assert g.get("/me").status_code == 200


def test_request_ids_are_echoed(app):
    resp = app.get("/groups/not-a-guid", headers={"client-request-id": "abc-123"})
    assert resp.status_code == 400
    assert resp.headers["client-request-id"] == "abc-123"
    assert resp.headers["request-id"]
    inner = error(resp)["innerError"]
    assert inner["client-request-id"] == "abc-123" and inner["request-id"] == resp.headers["request-id"]


# ---- reads -----------------------------------------------------------------------------------


def test_me_and_organization(user, app):
    me = user.get("/me").json()
    assert me["userPrincipalName"] == "integration@contosopartnerus.onmicrosoft.com"
    assert app.get("/me").status_code == 400
    org = app.get("/organization").json()["value"][0]
    assert org["id"] == US["tenant"]
    assert org["verifiedDomains"][0]["name"] == "contosopartnerus.onmicrosoft.com"
    domains = app.get("/domains").json()["value"]
    assert [d["id"] for d in domains][:1] == ["contosopartnerus.onmicrosoft.com"]


def test_users_list_get_filter(app):
    users = app.all_pages("/users?$top=2")
    assert {u["id"] for u in users} >= set(US_USERS.values())
    assert "accountEnabled" not in users[0]  # not in Graph's default user projection
    upn = "ops.admin@contosopartnerus.onmicrosoft.com"
    by_upn = app.get(f"/users/{upn}").json()
    assert by_upn["id"] == US_USERS["ops.admin"]
    by_id = app.get(f"/users/{US_USERS['ops.admin']}?$select=displayName,accountEnabled").json()
    assert set(by_id) == {"@odata.context", "id", "displayName", "accountEnabled"}
    found = app.get(f"/users?$filter=userPrincipalName eq '{upn.upper()}'").json()["value"]
    assert [u["id"] for u in found] == [US_USERS["ops.admin"]]
    assert app.get("/users/00000000-0000-4000-8000-00000000dead").status_code == 404


def test_groups_filter_and_quotes(app):
    resp = app.get("/groups?$filter=displayName eq 'AdminAgents'&$select=id,displayName")
    assert resp.status_code == 200
    assert resp.json()["value"] == [{"id": ADMIN_AGENTS, "displayName": "AdminAgents"}]
    resp = app.get("/groups?$filter=displayName eq 'O''Brien'")
    assert resp.status_code == 200 and resp.json()["value"] == []
    resp = app.get("/groups?$filter=displayName eq 'AdminAgents")
    assert resp.status_code == 400
    assert error(resp)["code"] == "BadRequest" and error(resp)["message"].startswith("Invalid filter clause")
    resp = app.get("/groups?$filter=displayName ne 'AdminAgents'")
    assert resp.status_code == 400 and error(resp)["code"] == "Request_UnsupportedQuery"
    resp = app.get("/groups?$filter=displayName ne 'AdminAgents'&$count=true", headers={"ConsistencyLevel": "eventual"})
    assert resp.status_code == 200
    assert resp.json()["@odata.count"] == len(resp.json()["value"]) >= 3
    resp = app.get("/groups?$top=1000")
    assert resp.status_code == 400


def test_paging_follows_next_link_and_rechecks_headers(app):
    headers = {"ConsistencyLevel": "eventual"}
    first = app.get("/groups?$top=1&$count=true&$filter=startswith(displayName,'GDAP')", headers=headers).json()
    assert first["@odata.count"] == 2 and len(first["value"]) == 1
    link = first["@odata.nextLink"]
    assert link.startswith(app.emu.graph_endpoint + "/v1.0/groups?") and "$skiptoken=" in link
    second = app.get(link, headers=headers).json()
    # Empty pages are on by default (paging.md): this one is, and its nextLink carries on.
    assert "@odata.count" not in second and second["value"] == []
    third = app.get(second["@odata.nextLink"], headers=headers).json()
    assert "@odata.count" not in third and len(third["value"]) == 1 and "@odata.nextLink" not in third
    assert app.get(link).status_code == 400  # ConsistencyLevel not re-sent


def test_service_principals(app):
    sid = sp_id(app)
    listed = app.get(f"/servicePrincipals?$filter=appId eq '{US['client_id']}'").json()["value"]
    assert [s["id"] for s in listed] == [sid]
    got = app.get(f"/servicePrincipals/{sid}").json()
    assert got["appId"] == US["client_id"]
    member_of = app.get(f"/servicePrincipals/{sid}/memberOf").json()["value"]
    assert {"@odata.type": "#microsoft.graph.group"}.items() <= member_of[0].items()
    assert ADMIN_AGENTS in {g["id"] for g in member_of}
    missing = app.get("/servicePrincipals(appId='00000000-0000-4000-8000-00000000beef')")
    assert missing.status_code == 404 and error(missing)["code"] == "Request_ResourceNotFound"


# ---- group membership -----------------------------------------------------------------------


def test_member_listing_omits_service_principals_on_v1_but_direct_checks_work(emulator, app):
    sid = sp_id(app)
    v1 = app.all_pages(f"/groups/{ADMIN_AGENTS}/members")
    assert sid not in {m["id"] for m in v1}  # the reported v1.0 behaviour, on by default
    beta = Graph(emulator, app.token, version="beta").all_pages(f"/groups/{ADMIN_AGENTS}/members")
    assert sid in {m["id"] for m in beta}
    direct = app.get(f"/groups/{ADMIN_AGENTS}/members/{sid}")
    assert direct.status_code == 200 and direct.json()["@odata.type"] == "#microsoft.graph.servicePrincipal"
    assert app.get(f"/groups/{GDAP_ADMINS}/members/{sid}").status_code == 404
    check = app.post(f"/servicePrincipals/{sid}/checkMemberObjects", {"ids": [ADMIN_AGENTS, GDAP_ADMINS]})
    assert check.json()["value"] == [ADMIN_AGENTS]
    groups = app.post(f"/directoryObjects/{sid}/checkMemberGroups", {"groupIds": [ADMIN_AGENTS]})
    assert groups.json()["value"] == [ADMIN_AGENTS]


def test_add_and_remove_member_ref(fresh_app):
    app = fresh_app
    uid = US_USERS["helpdesk"]
    body = {"@odata.id": GRAPH_BASE + uid}
    assert app.post(f"/groups/{GDAP_ADMINS}/members/$ref", body).status_code == 204
    again = app.post(f"/groups/{GDAP_ADMINS}/members/$ref", body)
    assert again.status_code == 400
    assert error(again)["code"] == "Request_BadRequest"
    assert error(again)["message"] == ("One or more added object references already exist for the following "
                                       "modified properties: 'members'.")
    own = {"@odata.id": f"{app.emu.graph_endpoint}/v1.0/directoryObjects/{US_USERS['ops.admin']}"}
    assert app.post(f"/groups/{GDAP_ADMINS}/members/$ref", own).status_code == 204
    unknown = app.post(f"/groups/{GDAP_ADMINS}/members/$ref", {"@odata.id": GRAPH_BASE + "00000000-0000-4000-8000-0000000000ff"})
    assert unknown.status_code == 404 and error(unknown)["code"] == "Request_ResourceNotFound"
    bad = app.post(f"/groups/{GDAP_ADMINS}/members/$ref", {"@odata.id": "https://evil.example/v1.0/directoryObjects/" + uid})
    assert bad.status_code == 400
    assert app.delete(f"/groups/{GDAP_ADMINS}/members/{uid}/$ref").status_code == 204
    gone = app.delete(f"/groups/{GDAP_ADMINS}/members/{uid}/$ref")
    assert gone.status_code == 400 and "removed object references do not exist" in error(gone)["message"]
    assert app.get(f"/groups/{GDAP_ADMINS}/members/{uid}").status_code == 404


def test_delete_member_without_ref_is_not_a_removal(fresh_emulator, fresh_app):
    # World setting for a service that refuses the call instead of deleting the object.
    fresh_emulator.world.settings["graph_delete_member_without_ref"] = "method_not_allowed"
    app = fresh_app
    uid = US_USERS["helpdesk"]
    hd = US_GROUPS["HelpdeskAgents"]
    fresh_emulator.control.clear_log()
    resp = app.delete(f"/groups/{hd}/members/{uid}")
    assert resp.status_code == 405
    assert app.get(f"/groups/{hd}/members/{uid}").status_code == 200  # still a member
    assert app.get(f"/users/{uid}").status_code == 200  # and not deleted
    log = [e for e in fresh_emulator.control.requests_log() if e["method"] == "DELETE"]
    assert log and log[0]["path"].endswith(f"/members/{uid}") and log[0]["status"] == 405


def test_members_odata_bind_all_or_nothing(fresh_app):
    app = fresh_app
    u1, u2 = US_USERS["helpdesk"], US_USERS["ops.admin"]
    missing = "00000000-0000-4000-8000-0000000000ee"
    resp = app.patch(f"/groups/{GDAP_ADMINS}", {"members@odata.bind": [GRAPH_BASE + u1, GRAPH_BASE + missing]})
    assert resp.status_code == 404
    assert app.get(f"/groups/{GDAP_ADMINS}/members/{u1}").status_code == 404  # nothing was added
    assert app.patch(f"/groups/{GDAP_ADMINS}", {"members@odata.bind": [GRAPH_BASE + u1, GRAPH_BASE + u2]}).status_code == 204
    again = app.patch(f"/groups/{GDAP_ADMINS}", {"members@odata.bind": [GRAPH_BASE + u1]})
    assert again.status_code == 400 and "already exist" in error(again)["message"]
    too_many = app.patch(f"/groups/{GDAP_ADMINS}", {"members@odata.bind": [GRAPH_BASE + u1] * 21})
    assert too_many.status_code == 400


def test_group_create_patch_delete(fresh_app):
    app = fresh_app
    body = {"displayName": "Ops Team", "mailEnabled": False, "mailNickname": "opsteam", "securityEnabled": True}
    resp = app.post("/groups", body)
    assert resp.status_code == 201, resp.text
    group = resp.json()
    assert resp.headers["Location"].endswith(f"/groups/{group['id']}")
    assert group["securityEnabled"] is True and group["displayName"] == "Ops Team"
    assert app.post("/groups", {"displayName": "x", "mailEnabled": False, "securityEnabled": True}).status_code == 400
    unknown = app.post("/groups", {**body, "colour": "red"})
    assert unknown.status_code == 400 and "colour" in error(unknown)["message"]
    assert app.patch(f"/groups/{group['id']}", {"description": "Runs things"}).status_code == 204
    assert app.get(f"/groups/{group['id']}").json()["description"] == "Runs things"
    assert app.delete(f"/groups/{group['id']}").status_code == 204
    assert app.get(f"/groups/{group['id']}").status_code == 404


def test_directory_objects(fresh_app):
    app = fresh_app
    uid = US_USERS["helpdesk"]
    got = app.get(f"/directoryObjects/{uid}").json()
    assert got["@odata.type"] == "#microsoft.graph.user"
    by_ids = app.post("/directoryObjects/getByIds", {"ids": [uid, ADMIN_AGENTS], "types": ["group"]}).json()
    assert [o["id"] for o in by_ids["value"]] == [ADMIN_AGENTS]
    assert app.delete(f"/directoryObjects/{uid}").status_code == 204
    assert app.get(f"/users/{uid}").status_code == 404
    assert app.get(f"/groups/{US_GROUPS['HelpdeskAgents']}/members/{uid}").status_code == 404


# ---- applications, service principals, grants ---------------------------------------------


def test_application_credentials(fresh_app):
    app = fresh_app
    aid = "13000000-0000-4000-8000-000000000001"
    listed = app.get(f"/applications?$filter=appId eq '{US['client_id']}'").json()["value"]
    assert [a["id"] for a in listed] == [aid]
    got = app.get(f"/applications(appId='{US['client_id']}')").json()
    assert all(c["secretText"] is None for c in got["passwordCredentials"])
    assert all(k["key"] is None for k in got["keyCredentials"])
    added = app.post(f"/applications/{aid}/addPassword", {"passwordCredential": {"displayName": "ci"}})
    assert added.status_code == 200
    secret = added.json()
    assert secret["secretText"] and secret["hint"] == secret["secretText"][:3]
    again = app.get(f"/applications/{aid}").json()
    entry = [c for c in again["passwordCredentials"] if c["keyId"] == secret["keyId"]]
    assert entry and entry[0]["secretText"] is None
    assert app.post(f"/applications/{aid}/removePassword", {"keyId": secret["keyId"]}).status_code == 204
    assert app.post(f"/applications/{aid}/removePassword", {"keyId": secret["keyId"]}).status_code == 400
    rra = [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "type": "Role"}]}]
    assert app.patch(f"/applications/{aid}", {"requiredResourceAccess": rra}).status_code == 204
    assert app.get(f"/applications/{aid}").json()["requiredResourceAccess"] == rra
    assert app.patch(f"/applications/{aid}", {"requiredResourceAccess": [{"resourceAppId": "nope"}]}).status_code == 400


def test_create_service_principal_and_grants(fresh_emulator):
    # In a customer tenant with application consent the partner app manages grants; here the
    # partner's own tenant is used with a token that has the needed roles.
    g = Graph(fresh_emulator, minted_token(fresh_emulator, roles=[
        "Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"]))
    eu_app = "20000000-0000-4000-8000-000000000002"
    resp = g.post("/servicePrincipals", {"appId": eu_app})
    assert resp.status_code == 201, resp.text
    sp = resp.json()
    assert sp["appId"] == eu_app and sp["appOwnerOrganizationId"] == "10000000-0000-4000-8000-000000000002"
    assert g.post("/servicePrincipals", {"appId": eu_app}).status_code == 409
    assert g.post("/servicePrincipals", {"appId": "00000000-0000-4000-8000-0000000000aa"}).status_code == 400
    graph_sp = sp_id(g, "00000003-0000-0000-c000-000000000000")
    grant = g.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals",
                                                "resourceId": graph_sp, "scope": "User.Read"})
    assert grant.status_code == 201, grant.text
    gid = grant.json()["id"]
    dup = g.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals",
                                              "resourceId": graph_sp, "scope": "User.Read"})
    assert dup.status_code == 400 and dup.json()["error"]["code"] == "Request_BadRequest"
    found = g.get(f"/oauth2PermissionGrants?$filter=clientId eq '{sp['id']}'").json()["value"]
    assert [x["id"] for x in found] == [gid]
    assert g.patch(f"/oauth2PermissionGrants/{gid}", {"scope": "User.Read Directory.Read.All"}).status_code == 204
    assert g.get(f"/servicePrincipals/{sp['id']}/oauth2PermissionGrants").json()["value"][0]["scope"] == \
        "User.Read Directory.Read.All"
    assert g.delete(f"/oauth2PermissionGrants/{gid}").status_code == 204
    assert g.get(f"/oauth2PermissionGrants/{gid}").status_code == 404
    roles = g.get(f"/servicePrincipals/{sid_of(g)}/appRoleAssignments")
    assert roles.status_code == 200


def sid_of(g):
    return sp_id(g)


# ---- $batch ----------------------------------------------------------------------------------


def test_batch(app):
    body = {"requests": [
        {"id": "1", "method": "GET", "url": f"/groups/{ADMIN_AGENTS}?$select=displayName"},
        {"id": "2", "method": "GET", "url": "/groups/00000000-0000-4000-8000-0000000000aa"},
        {"id": "3", "method": "GET", "url": "/users?$top=1", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
    ]}
    resp = app.post("/$batch", body)
    assert resp.status_code == 200
    out = {r["id"]: r for r in resp.json()["responses"]}
    assert out["1"]["status"] == 200 and out["1"]["body"]["displayName"] == "AdminAgents"
    assert out["2"]["status"] == 404
    assert out["3"]["status"] == 424
    assert out["4"]["status"] == 200
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]}
    assert app.post("/$batch", too_many).status_code == 400
    dup = {"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "a", "method": "GET", "url": "/groups"}]}
    assert app.post("/$batch", dup).status_code == 400


def test_batch_sub_requests_are_throttled_individually(fresh_emulator):
    g = Graph(fresh_emulator, app_token(fresh_emulator))
    fresh_emulator.control.set_faults({"seed": 3, "throttle": {"requests": 3, "per_seconds": 60}})
    body = {"requests": [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(5)]}
    resp = g.post("/$batch", body)
    assert resp.status_code == 200
    statuses = sorted(r["status"] for r in resp.json()["responses"])
    assert statuses.count(429) >= 2
    throttled = [r for r in resp.json()["responses"] if r["status"] == 429]
    assert all(float(r["headers"]["Retry-After"]) > 0 for r in throttled)
    fresh_emulator.control.set_faults({"throttle": None})


def test_raw_count_segment(app):
    resp = app.get("/groups/$count")
    assert resp.status_code == 400 and error(resp)["code"] == "Request_UnsupportedQuery"
    resp = app.get("/groups/$count?$filter=displayName ne 'AdminAgents'", headers={"ConsistencyLevel": "eventual"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    assert int(resp.text) >= 3


def test_member_listing_filter(app):
    resp = app.get(f"/groups/{ADMIN_AGENTS}/members?$filter=startswith(displayName,'Partner')&$select=displayName")
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()["value"]] == [US_USERS["integration"]]
    assert resp.json()["value"][0]["@odata.type"] == "#microsoft.graph.user"


def test_random_requests_never_break_the_server(fresh_emulator, fresh_app):
    import random

    emulator, app = fresh_emulator, fresh_app  # the writes below change the world
    rng = random.Random(7)
    paths = ["/users", "/groups", f"/groups/{ADMIN_AGENTS}", f"/groups/{ADMIN_AGENTS}/members", "/servicePrincipals",
             "/applications", "/oauth2PermissionGrants", "/directoryObjects/getByIds", "/$batch", "/organization",
             "/tenantRelationships/delegatedAdminRelationships", f"/groups/{ADMIN_AGENTS}/members/$ref", "/me"]
    junk = ["", "x", "'", "%00", "$count", "(appId='')", "/../..", "/members/$ref", "?$filter=(((", "?$top=-1",
            "?$select=", "?$orderby=,", "?$filter=a eq 'b'&$filter=c", "?$search=\"", "?$skiptoken=%%%"]
    bodies = [None, b"", b"{", b"[]", b"null", b'{"requests": 5}', b'{"@odata.id": 1}', b'{"displayName": []}',
              b'{"requests": [{"id": "1", "method": "GET", "url": "/$batch"}]}', "é".encode() * 3]
    errors_before = emulator.world.counters.get("handler_exceptions", 0)
    for _ in range(400):
        method = rng.choice(["GET", "POST", "PATCH", "DELETE", "PUT"])
        path = rng.choice(paths) + rng.choice(junk)
        body = rng.choice(bodies)
        resp = app.session.request(method, app.url(path), data=body, verify=emulator.ca_bundle, timeout=10,
                                   headers={"Authorization": f"Bearer {app.token}", "Content-Type": "application/json"})
        assert resp.status_code < 500, (method, path, body, resp.text)
        if resp.content and resp.headers.get("Content-Type", "").startswith("application/json"):
            resp.json()
    assert emulator.world.counters.get("handler_exceptions", 0) == errors_before
    assert app.get("/organization").status_code == 200


def test_delete_member_without_ref_can_delete_the_object(fresh_emulator, fresh_app):
    # The default, as documented: without /$ref the object itself is deleted.
    uid, hd = US_USERS["helpdesk"], US_GROUPS["HelpdeskAgents"]
    assert fresh_app.delete(f"/groups/{hd}/members/{uid}").status_code == 204
    assert fresh_app.get(f"/users/{uid}").status_code == 404


def test_add_key_and_key_readout(fresh_app):
    import base64

    aid = "13000000-0000-4000-8000-000000000001"
    der = base64.b64encode(b"not really a certificate").decode()
    resp = fresh_app.post(f"/applications/{aid}/addKey", {"keyCredential": {"type": "AsymmetricX509Cert",
                                                                            "usage": "Verify", "key": der},
                                                          "passwordCredential": None, "proof": "x"})
    assert resp.status_code == 200, resp.text
    key = resp.json()
    assert key["key"] is None and key["customKeyIdentifier"]
    keys = fresh_app.get(f"/applications/{aid}?$select=keyCredentials").json()["keyCredentials"]
    assert key["keyId"] in {k["keyId"] for k in keys} and all(k["key"] is None for k in keys)
    assert fresh_app.post(f"/applications/{aid}/removeKey", {"keyId": key["keyId"], "proof": "x"}).status_code == 204


def test_partner_tokens_in_a_customer_tenant(emulator):
    customer = "30000000-0000-4000-8000-000000000001"  # DAP + application consent in the demo world
    g = Graph(emulator, user_token(emulator, tenant=customer))
    assert g.get("/organization").json()["value"][0]["id"] == customer
    assert g.get("/me").json()["id"] == US_USERS["integration"]  # the partner user, from its home tenant
    assert g.get("/users?$top=1").status_code == 200
    # The customer's directory, not the partner's.
    assert g.get(f"/groups/{ADMIN_AGENTS}").status_code == 404
    # GDAP is a partner-tenant API.
    assert g.get("/tenantRelationships/delegatedAdminRelationships").status_code == 403
    app = Graph(emulator, app_token(emulator, tenant=customer))
    sps = app.get("/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'&$select=appId")
    assert [s["appId"] for s in sps.json()["value"]] == ["00000003-0000-0000-c000-000000000000"]


def test_app_role_assignments(fresh_emulator):
    g = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["AppRoleAssignment.ReadWrite.All", "Directory.Read.All"]))
    client = sp_id(g)
    graph_sp = sp_id(g, "00000003-0000-0000-c000-000000000000")
    user_read_all = "df021288-bdef-4463-88db-98f22de89214"  # Microsoft Graph app role User.Read.All
    body = {"principalId": client, "resourceId": graph_sp, "appRoleId": user_read_all}
    resp = g.post(f"/servicePrincipals/{client}/appRoleAssignments", body)
    assert resp.status_code == 201, resp.text
    assignment = resp.json()
    assert assignment["principalType"] == "ServicePrincipal" and assignment["appRoleId"] == user_read_all
    again = g.post(f"/servicePrincipals/{graph_sp}/appRoleAssignedTo", body)
    assert again.status_code == 400 and "already exists" in error(again)["message"]
    bad_role = g.post(f"/servicePrincipals/{client}/appRoleAssignments", {**body, "appRoleId": client})
    assert bad_role.status_code == 400
    listed = g.get(f"/servicePrincipals/{client}/appRoleAssignments").json()["value"]
    assert assignment["id"] in {a["id"] for a in listed}
    assert g.delete(f"/servicePrincipals/{client}/appRoleAssignments/{assignment['id']}").status_code == 204
    assert g.delete(f"/servicePrincipals/{client}/appRoleAssignments/{assignment['id']}").status_code == 404
    reader = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["Directory.Read.All"]))
    assert reader.post(f"/servicePrincipals/{client}/appRoleAssignments", body).status_code == 403


def test_empty_pages_setting(fresh_emulator, fresh_app):
    fresh_emulator.world.settings["graph_empty_pages"] = True
    first = fresh_app.get("/groups?$top=2").json()
    second = fresh_app.get(first["@odata.nextLink"]).json()
    assert second["value"] == [] and "@odata.nextLink" in second
    assert len(fresh_app.all_pages("/groups?$top=2")) == len(fresh_app.all_pages("/groups"))


def test_mixed_collection_select(emulator):
    beta = Graph(emulator, app_token(emulator), version="beta")
    members = beta.get(f"/groups/{ADMIN_AGENTS}/members?$select=id,displayName,userPrincipalName,appId").json()["value"]
    by_type = {m["@odata.type"]: m for m in members}
    assert set(by_type["#microsoft.graph.user"]) == {"@odata.type", "id", "displayName", "userPrincipalName"}
    assert set(by_type["#microsoft.graph.servicePrincipal"]) == {"@odata.type", "id", "displayName", "appId"}
    one = beta.get(f"/groups/{ADMIN_AGENTS}/members/{by_type['#microsoft.graph.user']['id']}?$select=id").json()
    assert set(one) == {"@odata.context", "@odata.type", "id"}


def test_revoke_sign_in_sessions_invalidates_refresh_tokens(fresh_emulator):
    # revokeSignInSessions invalidates the user's refresh tokens, which then fail with AADSTS50173.
    import requests

    uid = US_USERS["integration"]
    admin = Graph(fresh_emulator, minted_token(fresh_emulator, roles=["User.ReadWrite.All"]))
    resp = admin.post(f"/users/{uid}/revokeSignInSessions", {})
    assert resp.status_code == 200 and resp.json()["value"] is True
    token_url = f"{fresh_emulator.authority_host}/{US['tenant']}/oauth2/v2.0/token"
    answer = requests.post(token_url, verify=fresh_emulator.ca_bundle, data={
        "grant_type": "refresh_token", "client_id": US["client_id"], "client_secret": US["secret"],
        "refresh_token": US["refresh_token"], "scope": "https://graph.microsoft.com/.default"})
    assert answer.status_code == 400 and 50173 in answer.json()["error_codes"]


def test_member_type_cast_lists_service_principals(app):
    # The untyped v1.0 listing omits service principal members; the type cast lists them.
    untyped = app.get(f"/groups/{US_GROUPS['AdminAgents']}/members").json()["value"]
    cast = app.get(f"/groups/{US_GROUPS['AdminAgents']}/members/microsoft.graph.servicePrincipal").json()["value"]
    users = app.get(f"/groups/{US_GROUPS['AdminAgents']}/members/microsoft.graph.user").json()["value"]
    assert not any(o.get("@odata.type") == "#microsoft.graph.servicePrincipal" for o in untyped)
    assert cast and all(o["@odata.type"] == "#microsoft.graph.servicePrincipal" for o in cast)
    assert {o["id"] for o in users} == {o["id"] for o in untyped if o["@odata.type"] == "#microsoft.graph.user"}
