"""gdap_relationship(_info), gdap_access_assignment, application_consent, customer(_info): input refused before
any request, results and Microsoft's errors through the whole stack (fake transport, fake identity platform)."""


from urllib.parse import unquote

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import (
    application_consent,
    customer,
    customer_info,
    gdap_access_assignment,
    gdap_relationship,
    gdap_relationship_info,
)

import csp_fakes
from csp_fakes import CONNECTION, FakeRaw

CUSTOMER = "30000000-0000-4000-8000-000000000002"
RELS = r"/v1\.0/tenantRelationships/delegatedAdminRelationships"


def run(module, args, capsys, check_mode=False):
    return csp_fakes.run_module(module, dict(CONNECTION, **args), capsys, check_mode)


@pytest.mark.parametrize("args,code", [
    (dict(display_name="x" * 51, customer_tenant_id=CUSTOMER, roles=["User Administrator"]), "InvalidDisplayName"),
    (dict(display_name="r", customer_tenant_id=CUSTOMER, roles=["User Administrator"], duration="P800D"),
     "InvalidDuration"),
    (dict(display_name="r", customer_tenant_id=CUSTOMER, roles=["Global Administrator"], auto_extend="P180D"),
     "InvalidAutoExtend"),
    (dict(display_name="r", customer_tenant_id=CUSTOMER, roles=["Supreme Leader"]), "UnknownRole"),
])
def test_relationship_bad_input_sends_nothing(fake_http, capsys, args, code):
    rc, result = run(gdap_relationship, args, capsys)
    assert rc == 1 and result["error"]["code"] == code and result["error"]["type"] == "validation"
    assert fake_http.calls == []


def test_relationship_create_and_lock(fake_http, idp, capsys):
    created = {"id": CUSTOMER + "-rel", "displayName": "r", "status": "created", "duration": "P730D",
               "customer": {"tenantId": CUSTOMER}, "@odata.etag": 'W/"1"',
               "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1"}]}}
    fake_http.route("GET", RELS + "$", lambda call: FakeRaw(200, {"value": []}))
    fake_http.route("POST", RELS + "$", lambda call: FakeRaw(201, created))
    fake_http.route("POST", RELS + "/[^/]+/requests$", lambda call: FakeRaw(201, {"id": "q", "action": "lockForApproval"}))
    fake_http.route("GET", RELS + "/[^/]+$", lambda call: FakeRaw(200, dict(created, status="approvalPending")))
    rc, result = run(gdap_relationship, dict(display_name="r", customer_tenant_id=CUSTOMER.upper(),
                                             roles=["User Administrator"]), capsys)
    assert rc == 0, result
    assert result["changed"] and result["status"] == "approvalPending"
    assert result["approval_link"].endswith("granularAdminRelationships/" + CUSTOMER + "-rel")
    post = [c for c in fake_http.calls if c.method == "POST" and c.path.endswith("delegatedAdminRelationships")][0]
    assert post.json["customer"] == {"tenantId": CUSTOMER} and post.json["duration"] == "P730D"
    listing = [c for c in fake_http.calls if c.method == "GET" and c.path.endswith("delegatedAdminRelationships")]
    assert listing[0].params["$filter"] == "displayName eq 'r'"


def test_relationship_graph_error_keeps_code_and_request_id(fake_http, idp, capsys):
    fake_http.route("GET", RELS, lambda call: FakeRaw(403, {"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
        "innerError": {"request-id": "rid-403"}}}))
    rc, result = run(gdap_relationship_info, {}, capsys)
    assert rc == 1
    assert result["error"]["code"] == "Authorization_RequestDenied" and result["error"]["request_id"] == "rid-403"
    assert "rid-403" in result["msg"]


def test_relationship_info_filters(fake_http, idp, capsys):
    items = [
        {"id": "a", "displayName": "a", "status": "active", "customer": {"tenantId": CUSTOMER},
         "endDateTime": "2000-01-01T00:00:00Z", "autoExtendDuration": "PT0S", "accessDetails": {"unifiedRoles": []}},
        {"id": "b", "displayName": "b", "status": "active", "customer": {"tenantId": CUSTOMER},
         "endDateTime": "2000-01-01T00:00:00Z", "autoExtendDuration": "P180D", "accessDetails": {"unifiedRoles": []}},
        {"id": "c", "displayName": "c", "status": "approvalPending", "customer": {"tenantId": "other"},
         "accessDetails": {"unifiedRoles": []}},
    ]
    fake_http.route("GET", RELS, lambda call: FakeRaw(200, {"value": items}))
    rc, result = run(gdap_relationship_info, dict(expiring_within_days=30), capsys)
    assert rc == 0 and [r["id"] for r in result["relationships"]] == ["a"]
    rc, result = run(gdap_relationship_info, dict(status=["approvalPending"]), capsys)
    assert [r["id"] for r in result["relationships"]] == ["c"] and result["relationships"][0]["approval_link"]
    rc, result = run(gdap_relationship_info, dict(customer_tenant_id=CUSTOMER.upper()), capsys)
    assert result["count"] == 2 and not result["changed"]


def test_assignment_unknown_role_sends_nothing(fake_http, capsys):
    rc, result = run(gdap_access_assignment, dict(relationship="r", group="GDAP Admins", roles=["Nope"]), capsys)
    assert rc == 1 and result["error"]["code"] == "UnknownRole" and fake_http.calls == []


def test_consent_bad_grants_send_nothing(fake_http, capsys):
    rc, result = run(application_consent, dict(customer_tenant_id=CUSTOMER,
                                               grants=[{"api": "graph_v2", "scopes": ["x"]}]), capsys)
    assert rc == 1 and result["error"]["code"] == "InvalidGrants" and fake_http.calls == []


def test_consent_needs_app_plus_user_token(fake_http, idp, capsys):
    rc, result = run(application_consent, dict(customer_tenant_id=CUSTOMER,
                                               grants=[{"api": "microsoft_graph", "scopes": ["x"]}]), capsys)
    assert rc == 1 and result["error"]["code"] == "AppPlusUserTokenRequired"
    assert [c for c in fake_http.calls if c.url.startswith(csp_fakes.PC)] == []


def test_customer_bad_domain_sends_nothing(fake_http, capsys):
    rc, result = run(customer, dict(domain="not valid"), capsys)
    assert rc == 1 and result["error"]["code"] == "InvalidDomain" and fake_http.calls == []


def test_customer_info_follows_continuation(fake_http, idp, capsys):
    def page(call):
        token = (call.headers or {}).get("MS-ContinuationToken")
        if token is None:
            return FakeRaw(200, {"totalCount": 1, "items": [{"id": "c1", "companyProfile": {"domain": "a"}}],
                                 "links": {"next": {"uri": "/v1/customers?size=1", "method": "GET",
                                                    "headers": [{"key": "MS-ContinuationToken", "value": "t2"}]}}})
        return FakeRaw(200, {"totalCount": 1, "items": [{"id": "c2", "companyProfile": {"domain": "b"}}], "links": {}})
    fake_http.route("GET", r"/v1/customers", page)
    rc, result = run(customer_info, dict(page_size=1), capsys)
    assert rc == 0, result
    assert [c["id"] for c in result["customers"]] == ["c1", "c2"] and result["pages"] == 2


def test_customer_info_relationship_request_link_when_not_a_customer(fake_http, idp, capsys):
    link = "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship&partnerId=p&msppId=0"
    fake_http.route("GET", r"/v1/customers/relationshiprequests$",
                    lambda call: FakeRaw(200, {"url": link, "attributes": {"objectType": "RelationshipRequest"}}))
    fake_http.route("GET", r"/v1/customers/3[0-9a-f-]+$", lambda call: FakeRaw(404, {"code": 600, "description": "no"}))
    rc, result = run(customer_info, dict(customer_id=CUSTOMER, relationship_request=True), capsys)
    assert rc == 0, result
    assert result["count"] == 0 and result["relationship_request_url"] == link
    rc, result = run(customer_info, dict(customer_id=CUSTOMER), capsys)
    assert "relationship_request_url" not in result


@pytest.mark.parametrize("args,code", [
    (dict(customer_tenant_id="contoso"), "InvalidTenant"),
    (dict(status=["actve"]), None),
    (dict(display_name="  "), "InvalidDisplayName"),
])
def test_relationship_info_bad_input_sends_nothing(fake_http, capsys, args, code):
    rc, result = run(gdap_relationship_info, args, capsys)
    assert rc == 1 and fake_http.calls == []
    if code:
        assert result["error"]["code"] == code
    else:
        assert "value of status must be one or more of" in result["msg"]


@pytest.mark.parametrize("billing,code", [
    ({"email": "not-an-address"}, "InvalidEmail"),
    ({"email": "a@b"}, "InvalidEmail"),
    ({"email": "billing@contoso.com", "address": {"country": "USA"}}, "InvalidCountry"),
    ({"culture": "english"}, "InvalidBillingProfile"),
])
def test_customer_bad_billing_sends_nothing(fake_http, capsys, billing, code):
    rc, result = run(customer, dict(domain="contoso", company_name="Contoso", billing=billing), capsys)
    assert rc == 1 and result["error"]["code"] == code and fake_http.calls == []


# --- gdap_access_assignment with assignments: several groups in one run ---------------------------
REL_ID = "40000000-0000-4000-8000-000000000002-" + CUSTOMER
GROUPS = {"GDAP Admins": "12000000-0000-4000-8000-000000010003", "GDAP Helpdesk": "12000000-0000-4000-8000-000000010004"}
SET_ARGS = dict(relationship=REL_ID, wait_interval=1, assignments=[
    {"group": "GDAP Admins", "roles": ["User Administrator", "Global Reader"]},
    {"group": "GDAP Helpdesk", "roles": ["Helpdesk Administrator"]}])


def _assignment_world(fake_http, existing=()):
    """An active relationship, the two groups, and an assignment list that $batch POSTs add to."""
    roles = ["fe930be7-5e62-47db-91af-98c3a49a38b1", "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
             "729827e3-9c14-49f7-bb1b-9608f156bbb8"]
    rel = {"id": REL_ID, "displayName": "us-c-standard", "status": "active", "customer": {"tenantId": CUSTOMER},
           "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in roles]}, "@odata.etag": 'W/"1"'}
    listed = [dict(a) for a in existing]
    fake_http.route("GET", RELS + "/[^/]+$", lambda call: FakeRaw(200, rel))
    fake_http.route("GET", RELS + "/[^/]+/accessAssignments$", lambda call: FakeRaw(200, {"value": listed}))

    def batch(call):
        responses = []
        for item in call.json["requests"]:
            if item["method"] == "GET":  # the groups by name
                name = unquote(item["url"]).split("displayName eq '", 1)[1].split("'", 1)[0]
                responses.append({"id": item["id"], "status": 200, "body": {"value": [
                    {"id": GROUPS[name], "displayName": name, "securityEnabled": True}] if name in GROUPS else []}})
            else:
                made = dict(item["body"], id="aa-%d" % (len(listed) + 1), status="active")
                listed.append(made)
                responses.append({"id": item["id"], "status": 201, "body": made})
        return FakeRaw(200, {"responses": responses})
    fake_http.route("POST", r"/v1\.0/\$batch$", batch)
    return listed


def test_assignment_set_creates_both_in_one_run(fake_http, idp, capsys):
    listed = _assignment_world(fake_http)
    rc, result = run(gdap_access_assignment, SET_ARGS, capsys)
    assert rc == 0, result
    assert result["changed"] and result["completed"]
    assert result["actions"] == ["GDAP Admins: create", "GDAP Helpdesk: create"]
    assert [(a["group"], a["changed"], a["status"]) for a in result["assignments"]] == [
        ("GDAP Admins", True, "active"), ("GDAP Helpdesk", True, "active")]
    assert len(listed) == 2
    graph = [c for c in fake_http.calls if "/v1.0/" in c.url]
    # the relationship, the groups ($batch), the assignments, the creates ($batch): four requests
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in graph] == [
        ("GET", REL_ID), ("POST", "$batch"), ("GET", "accessAssignments"), ("POST", "$batch")]


def test_assignment_set_rerun_writes_nothing(fake_http, idp, capsys):
    _assignment_world(fake_http)
    run(gdap_access_assignment, SET_ARGS, capsys)
    fake_http.calls.clear()
    rc, result = run(gdap_access_assignment, SET_ARGS, capsys)
    assert rc == 0 and not result["changed"] and result["actions"] == [] and result["completed"]
    assert [c.method for c in fake_http.calls if "/v1.0/" in c.url] == ["GET", "POST", "GET"]  # the $batch reads


def test_assignment_set_check_mode_and_diff(fake_http, idp, capsys):
    listed = _assignment_world(fake_http)
    rc, result = csp_fakes.run_module(gdap_access_assignment, dict(CONNECTION, **SET_ARGS), capsys, check_mode=True,
                                      diff=True)
    assert rc == 0 and result["changed"] and listed == []
    assert [a["status"] for a in result["assignments"]] == ["pending", "pending"]
    assert result["diff"]["before"] == {"assignments": [{}, {}]}
    assert [a["group"] for a in result["diff"]["after"]["assignments"]] == ["GDAP Admins", "GDAP Helpdesk"]


def test_assignment_set_names_the_missing_group(fake_http, idp, capsys):
    listed = _assignment_world(fake_http)
    args = dict(SET_ARGS, assignments=SET_ARGS["assignments"] + [{"group": "No Such Group", "roles": ["Global Reader"]}])
    rc, result = run(gdap_access_assignment, args, capsys)
    assert rc == 1 and result["error"]["code"] == "GroupNotFound"
    assert result["error"]["details"]["item"] == "No Such Group" and listed == []


@pytest.mark.parametrize("args,code", [
    (dict(SET_ARGS, assignments=[{"group": "A", "roles": ["Nope"]}]), "UnknownRole"),
    (dict(SET_ARGS, assignments=[{"group": "A", "roles": ["Global Reader"]}, {"group": "a", "roles": ["Global Reader"]}]),
     "InvalidOption"),
    (dict(SET_ARGS, assignments=[{"group": "A", "roles": []}]), "InvalidRoles"),
    (dict(SET_ARGS, assignments=[]), "InvalidOption"),
])
def test_assignment_set_bad_input_sends_nothing(fake_http, capsys, args, code):
    rc, result = run(gdap_access_assignment, args, capsys)
    assert rc == 1 and result["error"]["code"] == code and fake_http.calls == []


def test_assignment_group_and_assignments_exclusive(fake_http, capsys):
    rc, result = run(gdap_access_assignment, dict(SET_ARGS, group="GDAP Admins"), capsys)
    assert rc == 1 and "mutually exclusive" in result["msg"] and fake_http.calls == []


# --- gdap_relationship with access_assignments: the relationship and its assignments in one run -----------
REL_ARGS = dict(display_name="us-c-standard", customer_tenant_id=CUSTOMER, state="active", wait_timeout=0,
                roles=["User Administrator", "Global Reader", "Helpdesk Administrator"],
                access_assignments=SET_ARGS["assignments"], access_wait_interval=1)


def _relationship_world(fake_http, status="active"):
    """``_assignment_world`` whose relationship the name listing finds (none with ``status=None``)."""
    listed = _assignment_world(fake_http)
    roles = ["fe930be7-5e62-47db-91af-98c3a49a38b1", "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
             "729827e3-9c14-49f7-bb1b-9608f156bbb8"]
    rel = {"id": REL_ID, "displayName": "us-c-standard", "status": status, "duration": "P730D",
           "customer": {"tenantId": CUSTOMER}, "@odata.etag": 'W/"1"',
           "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in roles]}}
    fake_http.route("GET", RELS + "$", lambda call: FakeRaw(200, {"value": [rel] if status else []}))
    fake_http.route("GET", RELS + "/[^/]+$", lambda call: FakeRaw(200, rel))
    return listed


def test_relationship_gives_the_groups_their_roles_in_the_same_run(fake_http, idp, capsys):
    listed = _relationship_world(fake_http)
    rc, result = run(gdap_relationship, REL_ARGS, capsys)
    assert rc == 0, result
    assert result["changed"] and result["actions"] == [] and result["status"] == "active"
    assert result["access_completed"] is True
    assert [(a["group"], a["changed"], a["actions"], a["status"]) for a in result["access_assignments"]] == [
        ("GDAP Admins", True, ["create"], "active"), ("GDAP Helpdesk", True, ["create"], "active")]
    assert len(listed) == 2
    # the groups ($batch) before the relationship, then its assignments and their creation ($batch)
    graph = [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake_http.calls if "/v1.0/" in c.url]
    assert graph == [("POST", "$batch"), ("GET", "delegatedAdminRelationships"), ("GET", "accessAssignments"),
                     ("POST", "$batch")]

    fake_http.calls.clear()
    rc, result = run(gdap_relationship, REL_ARGS, capsys)
    assert rc == 0 and not result["changed"] and result["access_completed"]
    assert [c.method for c in fake_http.calls if "/v1.0/" in c.url] == ["POST", "GET", "GET"]  # reads only


def test_relationship_awaiting_approval_writes_no_assignment(fake_http, idp, capsys):
    listed = _relationship_world(fake_http, status="approvalPending")
    rc, result = run(gdap_relationship, REL_ARGS, capsys)
    assert rc == 0, result
    assert not result["changed"] and result["status"] == "approvalPending" and result["access_completed"] is False
    assert [(a["status"], a["changed"]) for a in result["access_assignments"]] == [("pending", False)] * 2
    assert listed == [] and not [c for c in fake_http.calls if "accessAssignments" in c.url]


def test_relationship_access_check_mode_and_diff(fake_http, idp, capsys):
    listed = _relationship_world(fake_http)
    rc, result = csp_fakes.run_module(gdap_relationship, dict(CONNECTION, **REL_ARGS), capsys, check_mode=True,
                                      diff=True)
    assert rc == 0 and result["changed"] and listed == []
    assert [a["status"] for a in result["access_assignments"]] == ["pending", "pending"]
    assert result["diff"]["before"]["access_assignments"] == [{}, {}]
    assert [a["group"] for a in result["diff"]["after"]["access_assignments"]] == ["GDAP Admins", "GDAP Helpdesk"]
    assert [c.method for c in fake_http.calls if "/v1.0/" in c.url] == ["POST", "GET", "GET"]  # no write


def test_relationship_missing_group_fails_before_any_write(fake_http, idp, capsys):
    _relationship_world(fake_http, status=None)
    args = dict(REL_ARGS, access_assignments=[{"group": "No Such Group", "roles": ["Global Reader"]}])
    rc, result = run(gdap_relationship, args, capsys)
    assert rc == 1 and result["error"]["code"] == "GroupNotFound"
    assert result["error"]["details"] == {"item": "No Such Group", "option": "access_assignments"}
    assert result["actions"] == [] and not result["changed"]
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake_http.calls if "/v1.0/" in c.url] == [
        ("GET", "groups")]  # the group's read only


def test_relationship_failure_reports_the_writes_made(fake_http, idp, capsys):
    created = {"id": REL_ID, "displayName": "r", "status": "created", "duration": "P730D",
               "customer": {"tenantId": CUSTOMER}, "@odata.etag": 'W/"1"',
               "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1"}]}}
    fake_http.route("GET", RELS + "$", lambda call: FakeRaw(200, {"value": []}))
    fake_http.route("POST", RELS + "$", lambda call: FakeRaw(201, created))
    fake_http.route("POST", RELS + "/[^/]+/requests$", lambda call: FakeRaw(
        403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}))
    rc, result = run(gdap_relationship, dict(display_name="r", customer_tenant_id=CUSTOMER,
                                             roles=["User Administrator"]), capsys)
    assert rc == 1 and result["error"]["code"] == "Authorization_RequestDenied"
    assert result["actions"] == ["create"] and result["changed"] is True


@pytest.mark.parametrize("args,code,item_error", [
    (dict(REL_ARGS, access_assignments=[{"group": "GDAP Admins", "roles": ["Exchange Administrator"]}]),
     "RolesNotInRelationship", True),
    (dict(REL_ARGS, access_assignments=[{"group": "A", "roles": ["Nope"]}]), "UnknownRole", True),
    (dict(REL_ARGS, access_assignments=[{"group": "A", "roles": ["Global Reader"]},
                                        {"group": "a", "roles": ["Global Reader"]}]), "InvalidOption", True),
    (dict(REL_ARGS, access_assignments=[]), "InvalidOption", True),
    (dict(REL_ARGS, access_wait_interval=0), "InvalidOption", False),
    (dict(display_name="r", state="absent", access_assignments=[{"group": "A", "roles": ["Global Reader"]}]),
     "InvalidOption", False),
])
def test_relationship_access_bad_input_sends_nothing(fake_http, capsys, args, code, item_error):
    rc, result = run(gdap_relationship, args, capsys)
    assert rc == 1 and result["error"]["code"] == code and fake_http.calls == []
    if item_error:  # an error of one of the assignments says so
        assert result["error"]["details"]["option"] == "access_assignments"
