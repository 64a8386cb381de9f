"""GDAP routes against a running emulator: relationships, the status machine on the world clock,
requests, access assignments, operations and delegatedAdminCustomers."""

import pytest
from graph_client import US, US_GROUPS, Graph, app_token, minted_token, user_token

REL = "/tenantRelationships/delegatedAdminRelationships"
ACTIVE = "40000000-0000-4000-8000-000000010001-30000000-0000-4000-8000-000000000001"
PENDING = "40000000-0000-4000-8000-000000030001-30000000-0000-4000-8000-000000000003"
CUSTOMER02 = "30000000-0000-4000-8000-000000000002"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
DAY = 86400


@pytest.fixture
def g(fresh_emulator):
    # Step-by-step checks below: no completion by time while a test polls.
    fresh_emulator.world.settings["gdap_activation_delay"] = 3600
    return Graph(fresh_emulator, user_token(fresh_emulator))


def new_body(name="test relationship", **extra):
    body = {"displayName": name, "duration": "P730D",
            "customer": {"tenantId": CUSTOMER02},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN},
                                               {"roleDefinitionId": HELPDESK_ADMIN}]}}
    body.update(extra)
    return body


def create(g, **kw):
    resp = g.post(REL, new_body(**kw))
    assert resp.status_code == 201, resp.text
    return resp


def read(g, rid):
    resp = g.get(f"{REL}/{rid}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def activate(emu, g, rid, final="active"):
    assert g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"}).status_code == 201
    emu.control.approve_gdap(rid)
    seen = [read(g, rid)["status"] for _ in range(4)]
    assert seen == ["approved", "activating", final, final]


def test_list_filter_top_orderby(emulator):
    g = Graph(emulator, user_token(emulator))
    every = g.all_pages(f"{REL}?$top=2")
    assert {r["id"] for r in every} >= {ACTIVE, PENDING}
    assert all(r["@odata.etag"].startswith('W/"') for r in every)
    cust = g.get(f"{REL}?$filter=customer/tenantId eq '30000000-0000-4000-8000-000000000001'").json()["value"]
    assert [r["id"] for r in cust] == [ACTIVE]
    pending = g.get(f"{REL}?$filter=status eq 'approvalPending'").json()["value"]
    assert PENDING in {r["id"] for r in pending}
    names = [r["displayName"] for r in g.get(f"{REL}?$orderby=displayName desc").json()["value"]]
    assert names == sorted(names, reverse=True)
    assert g.get(f"{REL}?$top=301").status_code == 400
    sel = g.get(f"{REL}/{ACTIVE}?$select=status").json()
    assert sel["status"] == "active" and "displayName" not in sel


def test_permissions(emulator):
    # Delegated: a user who is not an Admin Agent is refused even with the scope.
    ops = Graph(emulator, minted_token(emulator, user_upn="ops.admin@contosopartnerus.onmicrosoft.com",
                                       scp=["DelegatedAdminRelationship.ReadWrite.All"]))
    assert ops.get(REL).status_code == 403
    # App-only with the app role works for reads (the PCDA service principal is in the tenant).
    app = Graph(emulator, app_token(emulator))
    assert app.get(REL).status_code == 200
    reader = Graph(emulator, minted_token(emulator, roles=["DelegatedAdminRelationship.Read.All"]))
    assert reader.get(REL).status_code == 200
    assert reader.post(REL, new_body()).status_code == 403
    none = Graph(emulator, minted_token(emulator, roles=["Directory.Read.All"]))
    resp = none.get(REL)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "Authorization_RequestDenied"


def test_create_validation(g):
    resp = create(g)
    rel = resp.json()
    assert resp.headers["Location"].endswith(f"{REL}/{rel['id']}")
    assert rel["status"] == "created" and rel["autoExtendDuration"] == "PT0S"
    assert rel["id"].startswith(CUSTOMER02 + "-")
    assert rel["customer"]["displayName"]
    dup = g.post(REL, new_body())
    assert dup.status_code == 409
    assert g.post(REL, new_body(name="x" * 51)).status_code == 400
    assert g.post(REL, new_body(name="long", duration="P731D")).status_code == 400
    assert g.post(REL, new_body(name="short", duration="PT1H")).status_code == 400
    assert g.post(REL, new_body(name="bad", duration="forever")).status_code == 400
    assert g.post(REL, {**new_body(name="nodisplay"), "displayName": None}).status_code == 400
    bad_role = new_body(name="badrole", accessDetails={"unifiedRoles": [{"roleDefinitionId": "00000000-0000-0000-0000-000000000000"}]})
    assert g.post(REL, bad_role).status_code == 400
    ga = new_body(name="ga", autoExtendDuration="P180D",
                  accessDetails={"unifiedRoles": [{"roleDefinitionId": GLOBAL_ADMIN}]})
    assert g.post(REL, ga).status_code == 400
    assert g.post(REL, new_body(name="auto", autoExtendDuration="P90D")).status_code == 400
    assert g.post(REL, new_body(name="ok-auto", autoExtendDuration="P180D")).status_code == 201
    assert g.post(REL, {**new_body(name="extra"), "partner": {}}).status_code == 400
    no_customer = new_body(name="no customer")
    del no_customer["customer"]
    assert g.post(REL, no_customer).status_code == 201


def test_patch_and_delete_need_if_match(g):
    rel = create(g).json()
    rid, tag = rel["id"], rel["@odata.etag"]
    assert g.patch(f"{REL}/{rid}", {"displayName": "renamed"}).status_code == 400  # no If-Match
    ok = g.patch(f"{REL}/{rid}", {"displayName": "renamed"}, headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.json()["displayName"] == "renamed"
    assert ok.json()["@odata.etag"] != tag
    stale = g.patch(f"{REL}/{rid}", {"displayName": "again"}, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "PreconditionFailed"
    assert g.delete(f"{REL}/{rid}", headers={"If-Match": tag}).status_code == 412
    assert g.delete(f"{REL}/{rid}").status_code == 400
    assert g.delete(f"{REL}/{rid}", headers={"If-Match": ok.json()["@odata.etag"]}).status_code == 204
    assert g.get(f"{REL}/{rid}").status_code == 404


def test_queued_concurrent_write_makes_the_next_if_match_write_stale(fresh_emulator, g):
    rel = create(g).json()
    rid, tag = rel["id"], rel["@odata.etag"]
    fresh_emulator.control.concurrent_write(rf"/delegatedAdminRelationships/{rid}$", {"autoExtendDuration": "P180D"})
    stale = g.patch(f"{REL}/{rid}", {"displayName": "renamed"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    current = read(g, rid)
    assert current["autoExtendDuration"] == "P180D" and current["@odata.etag"] != tag
    ok = g.patch(f"{REL}/{rid}", {"displayName": "renamed"}, headers={"If-Match": current["@odata.etag"]})
    assert ok.status_code == 200  # used up: the retry goes through
    assert read(g, rid)["autoExtendDuration"] == "P180D"


def test_status_machine_approval_and_activation(fresh_emulator, g):
    emu = fresh_emulator
    rid = create(g, duration="P30D").json()["id"]
    req = g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    assert req.status_code == 201
    assert req.json()["action"] == "lockForApproval" and req.json()["status"] == "created"
    rel = read(g, rid)
    assert rel["status"] == "approvalPending"
    tag = rel["@odata.etag"]
    # Locked: no more edits, no delete, no second lock.
    assert g.patch(f"{REL}/{rid}", {"displayName": "nope"}, headers={"If-Match": tag}).status_code == 400
    assert g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"}).status_code == 400
    emu.control.approve_gdap(rid)
    # P30D without auto-extension: in force, but in its last 30 days (setting gdap_expiring_days).
    assert [read(g, rid)["status"] for _ in range(4)] == ["approved", "activating", "expiring", "expiring"]
    rel = read(g, rid)
    assert rel["activatedDateTime"] and rel["endDateTime"] > rel["activatedDateTime"]
    requests_ = g.get(f"{REL}/{rid}/requests").json()["value"]
    assert requests_[0]["status"] == "succeeded"
    # Active: only autoExtendDuration may change.
    tag = rel["@odata.etag"]
    assert g.patch(f"{REL}/{rid}", {"displayName": "x"}, headers={"If-Match": tag}).status_code == 400
    ok = g.patch(f"{REL}/{rid}", {"autoExtendDuration": "P180D"}, headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.json()["autoExtendDuration"] == "P180D"
    assert read(g, rid)["status"] == "active"  # auto-extended: no longer expiring
    # Expiry on the world clock: auto-extended instead of expired.
    emu.control.advance_clock(days=31)
    g.token = user_token(emu, cache=False)  # the cached access token expired meanwhile
    rel = read(g, rid)
    assert rel["status"] == "active" and rel["endDateTime"] > read(g, rid)["activatedDateTime"]


def test_expiry_and_pending_limit(fresh_emulator, g):
    emu = fresh_emulator
    rid = create(g, duration="P1D").json()["id"]
    activate(emu, g, rid, final="expiring")
    pending_id = create(g, name="waits forever").json()["id"]
    g.post(f"{REL}/{pending_id}/requests", {"action": "lockForApproval"})
    emu.control.advance_clock(days=2)
    g.token = user_token(emu, cache=False)
    assert read(g, rid)["status"] == "expired"
    assert read(g, pending_id)["status"] == "approvalPending"
    emu.control.advance_clock(days=90)
    g.token = app_token(emu, cache=False)
    assert read(g, pending_id)["status"] == "expired"
    # A terminal relationship frees its display name.
    assert g.post(REL, new_body(name="waits forever")).status_code == 201


def test_auto_approve_setting(fresh_emulator, g):
    emu = fresh_emulator
    emu.world.settings["gdap_auto_approve_after"] = 60
    rid = create(g).json()["id"]
    g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    assert read(g, rid)["status"] == "approvalPending"
    emu.control.advance_clock(seconds=61)
    assert [read(g, rid)["status"] for _ in range(3)] == ["approved", "activating", "active"]


def test_approving_customers_setting(fresh_emulator, g):
    """A customer listed by domain approves at the lock; other customers' relationships stay pending."""
    emu = fresh_emulator
    emu.world.settings["gdap_approving_customers"] = [emu.world.tenant(CUSTOMER02).domains[0].upper()]
    emu.world.settings["gdap_activation_delay"] = 3600
    rid = create(g).json()["id"]
    assert read(g, rid)["status"] == "created"  # approval needs the lock, not just the listing
    g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    assert [read(g, rid)["status"] for _ in range(3)] == ["approved", "activating", "active"]
    other = create(g, name="not approved", customer={"tenantId": "30000000-0000-4000-8000-000000000003"}).json()["id"]
    g.post(f"{REL}/{other}/requests", {"action": "lockForApproval"})
    assert [read(g, other)["status"] for _ in range(2)] == ["approvalPending", "approvalPending"]


def test_terminate(fresh_emulator, g):
    rid = create(g).json()["id"]
    activate(fresh_emulator, g, rid)
    resp = g.post(f"{REL}/{rid}/requests", {"action": "terminate"})
    assert resp.status_code == 201
    statuses = [read(g, rid)["status"] for _ in range(4)]
    assert statuses == ["terminationRequested", "terminating", "terminated", "terminated"]
    assert g.post(f"{REL}/{rid}/requests", {"action": "terminate"}).status_code == 400
    assert g.post(f"{REL}/{rid}/requests", {"action": "explode"}).status_code == 400


def test_access_assignments(fresh_emulator, g):
    rid = create(g).json()["id"]
    group = US_GROUPS["GDAP Helpdesk"]
    body = {"accessContainer": {"accessContainerId": group, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": HELPDESK_ADMIN}]}}
    assert g.post(f"{REL}/{rid}/accessAssignments", body).status_code == 400  # not active yet
    activate(fresh_emulator, g, rid)
    wrong_role = {**body, "accessDetails": {"unifiedRoles": [{"roleDefinitionId": USER_ADMIN}]}}
    assert g.post(f"{REL}/{rid}/accessAssignments", wrong_role).status_code == 400
    not_group = {**body, "accessContainer": {"accessContainerId": "00000000-0000-4000-8000-0000000000cc",
                                             "accessContainerType": "securityGroup"}}
    assert g.post(f"{REL}/{rid}/accessAssignments", not_group).status_code == 400
    resp = g.post(f"{REL}/{rid}/accessAssignments", body)
    assert resp.status_code == 201, resp.text
    aa = resp.json()
    assert aa["status"] == "pending" and resp.headers["Location"].endswith(f"/accessAssignments/{aa['id']}")
    assert g.post(f"{REL}/{rid}/accessAssignments", body).status_code == 409
    listed = g.get(f"{REL}/{rid}/accessAssignments").json()["value"]
    assert [a["status"] for a in listed] == ["active"]
    current = g.get(f"{REL}/{rid}/accessAssignments/{aa['id']}").json()
    # Update: If-Match, 202 + operation to poll.
    update = {"accessDetails": {"unifiedRoles": [{"roleDefinitionId": HELPDESK_ADMIN},
                                                 {"roleDefinitionId": EXCHANGE_ADMIN}]}}
    assert g.patch(f"{REL}/{rid}/accessAssignments/{aa['id']}", update).status_code == 400
    resp = g.patch(f"{REL}/{rid}/accessAssignments/{aa['id']}", update, headers={"If-Match": current["@odata.etag"]})
    assert resp.status_code == 202
    assert "/operations/" in resp.headers["Location"] and resp.headers["Retry-After"]
    op_url = resp.headers["Location"]
    statuses = [g.get(op_url).json()["status"] for _ in range(3)]
    assert statuses == ["running", "succeeded", "succeeded"]
    after = g.get(f"{REL}/{rid}/accessAssignments/{aa['id']}").json()
    assert len(after["accessDetails"]["unifiedRoles"]) == 2
    stale = g.delete(f"{REL}/{rid}/accessAssignments/{aa['id']}", headers={"If-Match": current["@odata.etag"]})
    assert stale.status_code == 412
    assert g.delete(f"{REL}/{rid}/accessAssignments/{aa['id']}", headers={"If-Match": after["@odata.etag"]}).status_code == 204
    statuses = [g.get(f"{REL}/{rid}/accessAssignments/{aa['id']}").json()["status"] for _ in range(2)]
    assert statuses == ["deleted", "deleted"]


def test_delegated_admin_customers(emulator):
    g = Graph(emulator, user_token(emulator))
    customers = g.get("/tenantRelationships/delegatedAdminCustomers").json()["value"]
    ids = {c["id"] for c in customers}
    assert "30000000-0000-4000-8000-000000000001" in ids and CUSTOMER02 not in ids
    one = g.get("/tenantRelationships/delegatedAdminCustomers/30000000-0000-4000-8000-000000000001")
    assert one.status_code == 200 and one.json()["tenantId"] == "30000000-0000-4000-8000-000000000001"
    details = g.get("/tenantRelationships/delegatedAdminCustomers/30000000-0000-4000-8000-000000000001/"
                    "serviceManagementDetails").json()["value"]
    assert details and all(d["serviceManagementUrl"].startswith("https://") for d in details)


def test_control_api_approve_errors(fresh_emulator):
    import requests

    url = f"{fresh_emulator.control_url}/_emulator/gdap/{ACTIVE}/approve"
    resp = requests.post(url, headers={"Authorization": f"Bearer {fresh_emulator.control_token}"},
                         verify=fresh_emulator.ca_bundle, timeout=10)
    assert resp.status_code == 409
    url = f"{fresh_emulator.control_url}/_emulator/gdap/nope/approve"
    resp = requests.post(url, headers={"Authorization": f"Bearer {fresh_emulator.control_token}"},
                         verify=fresh_emulator.ca_bundle, timeout=10)
    assert resp.status_code == 404
    assert US["tenant"]


def test_random_requests_never_break_gdap(fresh_emulator, g):
    import random

    rng = random.Random(11)
    rid = create(g).json()["id"]
    paths = [REL, f"{REL}/{rid}", f"{REL}/{ACTIVE}", f"{REL}/{ACTIVE}/accessAssignments", f"{REL}/{rid}/requests",
             f"{REL}/{ACTIVE}/operations/x", f"{REL}/{PENDING}/requests", "/tenantRelationships/delegatedAdminCustomers"]
    junk = ["", "/", "/x", "?$top=abc", "?$filter=status eq", "?$orderby=nope", "?$select=@odata.etag,status",
            "?$skiptoken=AAAA", "/accessAssignments/zzz"]
    bodies = [None, b"{", b"[]", b'{"action": "terminate"}', b'{"action": 7}', b'{"displayName": "' + b"y" * 80 + b'"}',
              b'{"duration": "P"}', b'{"accessDetails": {"unifiedRoles": [{}]}}', b'{"autoExtendDuration": null}',
              b'{"accessContainer": {"accessContainerId": null}}']
    before = fresh_emulator.world.counters.get("handler_exceptions", 0)
    for _ in range(300):
        method = rng.choice(["GET", "POST", "PATCH", "DELETE"])
        path = rng.choice(paths) + rng.choice(junk)
        headers = {"Content-Type": "application/json"}
        if rng.random() < 0.5:
            headers["If-Match"] = rng.choice(["*", "W/\"bogus\"", ""])
        resp = g.call(method, path, data=rng.choice(bodies), headers=headers)
        assert resp.status_code < 500, (method, path, resp.text)
    assert fresh_emulator.world.counters.get("handler_exceptions", 0) == before
    assert g.get(REL).status_code == 200


def test_transitions_complete_by_time_without_reads(fresh_emulator, g):
    emu = fresh_emulator
    emu.world.settings["gdap_activation_delay"] = 5
    rid = create(g).json()["id"]
    g.post(f"{REL}/{rid}/requests", {"action": "lockForApproval"})
    emu.control.approve_gdap(rid)
    emu.control.advance_clock(seconds=6)
    assert read(g, rid)["status"] == "active"  # nobody polled, the service finished anyway
    body = {"accessContainer": {"accessContainerId": US_GROUPS["GDAP Admins"], "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": EXCHANGE_ADMIN}]}}
    aa = g.post(f"{REL}/{rid}/accessAssignments", body).json()
    assert aa["status"] == "pending"
    emu.control.advance_clock(seconds=6)
    with emu.world.lock:  # what the token endpoint sees, without any Graph read
        from csp_emulator import gdap

        rel = gdap.refresh(emu.world, emu.world.tenant(US["tenant"]).gdap_relationships[rid])
        assert rel["_access_assignments"][aa["id"]]["status"] == "active"
