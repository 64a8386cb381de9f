"""gdap_relationship(_info), gdap_access_assignment, application_consent, customer(_info): input refused before
any request, results and Microsoft's errors through the whole stack (fake transport, fake identity platform)."""


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
