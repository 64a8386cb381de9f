"""Partner Center routes of the emulator, exercised over HTTPS (verification on) with tokens from
the emulator's own token endpoint, the way the collection gets them."""

import json
import uuid

import pytest
import requests

from csp_emulator import Emulator
from csp_emulator import catalog

US = {"tenant": "10000000-0000-4000-8000-000000000001", "app": "20000000-0000-4000-8000-000000000001",
      "secret": "demo-us-secret-0001", "refresh": "demo-us-refresh-token-seed"}
EU = {"tenant": "10000000-0000-4000-8000-000000000002", "app": "20000000-0000-4000-8000-000000000002",
      "secret": "demo-eu-secret-0002", "refresh": "demo-eu-refresh-token-seed"}
PC_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
PC_DEFAULT = "https://api.partnercenter.microsoft.com/.default"


def customer(n: int) -> str:
    return f"30000000-0000-4000-8000-{n:012d}"


@pytest.fixture(scope="module")
def emu():
    # Its own world: these tests create customers and change consents.
    with Emulator(world="demo") as emu:
        yield emu


@pytest.fixture(scope="module")
def http(emu):
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the emulator's CA
    session.verify = emu.ca_bundle
    yield session
    session.close()


def token(emu, http, partner=US, scope=PC_SCOPE, app_only=False, tenant=None) -> str:
    data = {"client_id": partner["app"], "client_secret": partner["secret"], "scope": scope}
    if app_only:
        data["grant_type"] = "client_credentials"
    else:
        data.update(grant_type="refresh_token", refresh_token=partner["refresh"])
    resp = http.post(f"{emu.authority_host}/{tenant or partner['tenant']}/oauth2/v2.0/token", data=data, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def pc(emu, http, method, path, tok, headers=None, **kwargs):
    hdrs = {"Authorization": f"Bearer {tok}", "Accept": "application/json"}
    hdrs.update(headers or {})
    return http.request(method, emu.partner_center_endpoint + path, headers=hdrs, timeout=30, **kwargs)


def assert_pc_error(resp, status, code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "description", "data", "source"}, body
    assert body["description"] and "Traceback" not in body["description"]
    if code is not None:
        assert body["code"] == code, body
    return body


def new_customer_body(prefix: str, country: str = "US", **billing) -> dict:
    profile = {
        "Culture": "en-US", "Email": f"it@{prefix}.example", "Language": "en", "CompanyName": f"{prefix} Ltd",
        "DefaultAddress": {"FirstName": "Gena", "LastName": "Soto", "AddressLine1": "1 Main Street",
                           "City": "Redmond", "State": "WA", "PostalCode": "98052", "Country": country},
    }
    profile.update(billing)
    return {"CompanyProfile": {"Domain": f"{prefix}.onmicrosoft.com"}, "BillingProfile": profile}


# ------------------------------------------------------------------------------ authentication
def test_missing_and_bad_tokens_get_partner_center_401(emu, http):
    resp = http.get(emu.partner_center_endpoint + "/v1/customers", timeout=30)
    assert_pc_error(resp, 401)
    resp = pc(emu, http, "GET", "/v1/customers", "not.a.token")
    assert_pc_error(resp, 401)


def test_graph_token_is_refused(emu, http):
    graph = token(emu, http, scope="https://graph.microsoft.com/.default", app_only=True)
    assert_pc_error(pc(emu, http, "GET", "/v1/customers", graph), 401)


def test_request_and_correlation_ids_are_echoed(emu, http):
    tok = token(emu, http)
    rid, cid = str(uuid.uuid4()), str(uuid.uuid4())
    resp = pc(emu, http, "GET", "/v1/customers?size=1", tok, {"MS-RequestId": rid, "MS-CorrelationId": cid})
    assert resp.status_code == 200
    assert resp.headers["MS-RequestId"] == rid
    assert resp.headers["MS-CorrelationId"] == cid


# -------------------------------------------------------------------------------- customers
def test_list_customers_follows_continuation_tokens(emu, http):
    tok = token(emu, http)
    resp = pc(emu, http, "GET", "/v1/customers?size=3", tok)
    assert resp.status_code == 200
    seen, pages = [], 0
    while True:
        body = resp.json()
        pages += 1
        assert body["attributes"] == {"objectType": "Collection"}
        assert body["totalCount"] == len(body["items"])
        for item in body["items"]:
            assert item["id"] == item["companyProfile"]["tenantId"]
            assert item["relationshipToPartner"] == "reseller"
            assert item["attributes"]["objectType"] == "Customer"
            seen.append(item["companyProfile"]["domain"])
        nxt = body["links"].get("next")
        if nxt is None:
            break
        # The documented link is relative to the /v1 base: no prefix, seekOperation=Next.
        assert nxt["method"] == "GET" and nxt["uri"] == "/customers?size=3&seekOperation=Next"
        (header,) = nxt["headers"]
        assert header["key"] == "MS-ContinuationToken"
        resp = pc(emu, http, "GET", "/v1" + nxt["uri"], tok, {header["key"]: header["value"]})
        assert resp.status_code == 200
    expected = [f"customer{n:02d}.onmicrosoft.com" for n in range(1, 11)]
    assert seen[:10] == expected
    assert pages == 4


def test_default_page_holds_everything(emu, http):
    body = pc(emu, http, "GET", "/v1/customers", token(emu, http, EU)).json()
    assert "next" not in body["links"]
    domains = {i["companyProfile"]["domain"] for i in body["items"]}
    assert {"customer11.onmicrosoft.com", "customer16.onmicrosoft.com"} <= domains
    assert "customer01.onmicrosoft.com" not in domains  # another partner's customer


@pytest.mark.parametrize("size", ["501", "-1", "abc", "1e3"])
def test_page_size_is_validated(emu, http, size):
    assert_pc_error(pc(emu, http, "GET", f"/v1/customers?size={size}", token(emu, http)), 400, 3000)


def test_bad_continuation_token(emu, http):
    tok = token(emu, http)
    next_query = "/v1/customers?size=2&seekOperation=Next"
    assert_pc_error(pc(emu, http, "GET", next_query, tok, {"MS-ContinuationToken": "garbage!"}), 400)
    # A token of another partner is not valid here either.
    eu_tok = token(emu, http, EU)
    nxt = pc(emu, http, "GET", "/v1/customers?size=2", eu_tok).json()["links"]["next"]["headers"][0]["value"]
    assert_pc_error(pc(emu, http, "GET", next_query, tok, {"MS-ContinuationToken": nxt}), 400)


def test_size_zero_is_the_service_page_size(emu, http):
    """Partner Center REST "Get a list of customers" (GET /v1/customers?size={size}): Microsoft's own
    SDK asks for size=0; the emulator used to refuse it."""
    resp = pc(emu, http, "GET", "/v1/customers?size=0", token(emu, http, EU))
    assert resp.status_code == 200, resp.text
    assert resp.json()["totalCount"] == len(resp.json()["items"]) > 0


def test_continuation_token_needs_seek_operation_next(fresh_emulator, client_for):
    """The documented next link is `/customers?size=N&seekOperation=Next` with the MS-ContinuationToken
    header; a token sent without seekOperation=Next is refused (a client that drops the query would
    otherwise read page one forever). Setting partner_center_paging: lenient keeps the old links."""
    emu = fresh_emulator
    http = client_for(emu).session
    tok = token(emu, http)
    nxt = pc(emu, http, "GET", "/v1/customers?size=2", tok).json()["links"]["next"]
    assert nxt["uri"] == "/customers?size=2&seekOperation=Next"
    header = {nxt["headers"][0]["key"]: nxt["headers"][0]["value"]}
    assert_pc_error(pc(emu, http, "GET", "/v1/customers?size=2", tok, header), 400, 3000)
    assert pc(emu, http, "GET", "/v1" + nxt["uri"], tok, header).status_code == 200
    emu.world.settings["partner_center_paging"] = "lenient"
    lenient = pc(emu, http, "GET", "/v1/customers?size=2", tok).json()["links"]["next"]
    assert lenient["uri"] == "/v1/customers?size=2"
    assert pc(emu, http, "GET", lenient["uri"], tok, header).status_code == 200


def test_filter_by_domain_prefix(emu, http):
    spec = json.dumps({"Field": "Domain", "Value": "customer0", "Operator": "starts_with"})
    resp = pc(emu, http, "GET", "/v1/customers", token(emu, http), params={"size": 4, "filter": spec})
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert [i["companyProfile"]["domain"] for i in items] == [f"customer0{n}.onmicrosoft.com" for n in range(1, 5)]
    assert "next" in resp.json()["links"]
    bad = json.dumps({"Field": "Domain", "Value": "x", "Operator": "equals"})
    assert_pc_error(pc(emu, http, "GET", "/v1/customers", token(emu, http), params={"filter": bad}), 400)


def test_get_customer(emu, http):
    tok = token(emu, http)
    resp = pc(emu, http, "GET", f"/v1/customers/{customer(1)}", tok)
    assert resp.status_code == 200
    body = resp.json()
    assert body["companyProfile"] == {"tenantId": customer(1), "domain": "customer01.onmicrosoft.com",
                                      "companyName": "Fabrikam", "attributes": {"objectType": "CustomerCompanyProfile"}}
    assert body["allowDelegatedAccess"] is True
    assert not [k for k in body if k.startswith("_")]
    assert_pc_error(pc(emu, http, "GET", f"/v1/customers/{customer(11)}", tok), 404, 1000)
    assert_pc_error(pc(emu, http, "GET", f"/v1/customers/{uuid.uuid4()}", tok), 404)
    assert_pc_error(pc(emu, http, "GET", "/v1/customers/not-a-guid", tok), 400)


def test_create_customer_creates_a_tenant_that_propagates(emu, http):
    tok = token(emu, http, app_only=True, scope=PC_DEFAULT)  # creating customers accepts app-only tokens
    resp = pc(emu, http, "POST", "/v1/customers", tok, json=new_customer_body("wingtiptoys1", country="AU"))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    tenant_id = body["companyProfile"]["tenantId"]
    assert body["id"] == tenant_id and uuid.UUID(tenant_id)
    assert body["companyProfile"]["domain"] == "wingtiptoys1.onmicrosoft.com"
    assert body["companyProfile"]["companyName"] == "wingtiptoys1 Ltd"
    assert body["relationshipToPartner"] == "reseller"
    assert body["billingProfile"]["defaultAddress"]["country"] == "AU"
    assert body["userCredentials"]["userName"] == "admin" and body["userCredentials"]["password"]
    world = emu.world
    with world.lock:
        tenant = world.tenant("wingtiptoys1.onmicrosoft.com")
        assert tenant.id == tenant_id and tenant.region == "OC"
        assert tenant.available_at - tenant.created_at == pytest.approx(world.settings["propagation_delay"])
        assert tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH) is not None
        assert tenant.user_by_upn("admin@wingtiptoys1.onmicrosoft.com") is not None
    # The directory knows the new tenant only once the partner relationship has propagated.
    discovery = f"{emu.authority_host}/wingtiptoys1.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    assert http.get(discovery, timeout=30).status_code == 400
    emu.control.advance_clock(world.settings["propagation_delay"] + 1)
    disc = http.get(discovery, timeout=30)
    assert disc.status_code == 200 and disc.json()["tenant_region_scope"] == "OC"
    # The partner's list and get know it.
    assert pc(emu, http, "GET", f"/v1/customers/{tenant_id}", tok).status_code == 200


def test_create_customer_is_idempotent_per_request_id(emu, http):
    tok = token(emu, http)
    rid = str(uuid.uuid4())
    body = new_customer_body("idemcustomer1")
    first = pc(emu, http, "POST", "/v1/customers", tok, {"MS-RequestId": rid}, json=body)
    again = pc(emu, http, "POST", "/v1/customers", tok, {"MS-RequestId": rid}, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    posts = [e for e in emu.control.requests_log() if e["method"] == "POST" and e["path"] == "/v1/customers"]
    assert [e.get("replay", False) for e in posts[-2:]] == [False, True]  # the log tells the replay
    spec = json.dumps({"Field": "Domain", "Value": "idemcustomer1", "Operator": "starts_with"})
    assert len(pc(emu, http, "GET", "/v1/customers", tok, params={"filter": spec}).json()["items"]) == 1
    # Without the same request id it is a conflict: the domain is taken.
    body_taken = assert_pc_error(pc(emu, http, "POST", "/v1/customers", tok, json=body), 409)
    assert "idemcustomer1.onmicrosoft.com" in body_taken["description"]
    # The same request id with another body is refused rather than replayed.
    other = new_customer_body("idemcustomer2")
    assert_pc_error(pc(emu, http, "POST", "/v1/customers", tok, {"MS-RequestId": rid}, json=other), 409)


def test_create_customer_with_an_existing_domain_conflicts(emu, http):
    assert_pc_error(pc(emu, http, "POST", "/v1/customers", token(emu, http),
                       json=new_customer_body("customer02")), 409)


@pytest.mark.parametrize("mutate, text", [
    (lambda b: b["CompanyProfile"].update(Domain="contoso.com"), "onmicrosoft.com"),
    (lambda b: b["CompanyProfile"].update(Domain="bad_name.onmicrosoft.com"), "onmicrosoft.com"),
    (lambda b: b.pop("CompanyProfile"), "CompanyProfile"),
    (lambda b: b.pop("BillingProfile"), "BillingProfile"),
    (lambda b: b["BillingProfile"].pop("Email"), "Email"),
    (lambda b: b["BillingProfile"]["DefaultAddress"].pop("Country"), "Country"),
    (lambda b: b["BillingProfile"]["DefaultAddress"].update(Country="XX"), "XX"),
    (lambda b: b["BillingProfile"].update(Email="nobody"), "nobody"),
])
def test_create_customer_validates_the_body(emu, http, mutate, text):
    body = new_customer_body("validation1")
    mutate(body)
    err = assert_pc_error(pc(emu, http, "POST", "/v1/customers", token(emu, http), json=body), 400)
    assert text in err["description"]


def test_create_customer_organization_registration_rules(emu, http):
    tok = token(emu, http)
    assert_pc_error(pc(emu, http, "POST", "/v1/customers", tok, json=new_customer_body("regcheck1", "HU")), 400, 600049)
    body = new_customer_body("regcheck2")
    body["CompanyProfile"]["OrganizationRegistrationNumber"] = "1234567"
    assert_pc_error(pc(emu, http, "POST", "/v1/customers", tok, json=body), 400, 600002)


def test_malformed_json_and_wrong_content_type(emu, http):
    tok = token(emu, http)
    resp = pc(emu, http, "POST", "/v1/customers", tok, {"Content-Type": "application/json"}, data=b"{not json")
    assert_pc_error(resp, 400)
    resp = pc(emu, http, "POST", "/v1/customers", tok, {"Content-Type": "text/plain"}, data=b"hello")
    assert resp.status_code in (400, 415)
    assert_pc_error(resp, resp.status_code)
    assert_pc_error(pc(emu, http, "POST", "/v1/customers", tok, json=[1, 2]), 400)


def test_domain_availability(emu, http):
    tok = token(emu, http)
    assert pc(emu, http, "HEAD", "/v1/domains/customer01.onmicrosoft.com", tok).status_code == 200
    assert pc(emu, http, "HEAD", "/v1/domains/free-domain-1.onmicrosoft.com", tok).status_code == 404


# ---------------------------------------------------------------------- application consents
def consent_body(app_id, grants=None):
    grants = grants or [
        {"enterpriseApplicationId": catalog.MICROSOFT_GRAPH, "scope": "Directory.Read.All,Group.ReadWrite.All"},
        {"enterpriseApplicationId": catalog.PARTNER_CENTER, "scope": "user_impersonation"},
    ]
    return {"applicationId": app_id, "displayName": "Contoso CSP App", "applicationGrants": grants}


def test_consent_creates_service_principal_grants_and_role_assignments(emu, http):
    tok = token(emu, http)
    resp = pc(emu, http, "POST", f"/v1/customers/{customer(7)}/applicationconsents", tok,
              json=consent_body(US["app"]))  # customer07: DAP, so the integration user is an admin agent
    assert resp.status_code == 201, resp.text
    assert resp.json()["applicationId"] == US["app"]
    assert resp.json()["applicationGrants"][0] == {"enterpriseApplicationId": catalog.MICROSOFT_GRAPH,
                                                   "scope": "Directory.Read.All,Group.ReadWrite.All"}
    world = emu.world
    with world.lock:
        tenant = world.tenant(customer(7))
        sp = tenant.sp_by_app_id(US["app"])
        graph_sp = tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH)
        grants = [g for g in tenant.oauth2_permission_grants.values() if g["clientId"] == sp["id"]]
        roles = {a["appRoleId"] for a in tenant.app_role_assignments.values() if a["principalId"] == sp["id"]}
    assert {g["consentType"] for g in grants} == {"AllPrincipals"}
    assert {g["resourceId"]: g["scope"] for g in grants}[graph_sp["id"]] == "Directory.Read.All Group.ReadWrite.All"
    assert catalog.app_role(catalog.MICROSOFT_GRAPH, "Directory.Read.All")["id"] in roles
    # Graph in the customer tenant sees the consent: an app-only token works there now.
    graph = token(emu, http, scope="https://graph.microsoft.com/.default", app_only=True, tenant=customer(7))
    resp = http.get(f"{emu.graph_endpoint}/v1.0/servicePrincipals", params={"$filter": f"appId eq '{US['app']}'"},
                    headers={"Authorization": f"Bearer {graph}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert [sp["appId"] for sp in resp.json()["value"]] == [US["app"]]


def test_consent_through_gdap_roles(emu, http):
    # customer17 (eu): active GDAP, GDAP Admins (with the integration user) holds Cloud Application Administrator.
    body = consent_body(EU["app"], [
        {"enterpriseApplicationId": catalog.MICROSOFT_GRAPH, "scope": "Directory.AccessAsUser.All,Directory.Read.All"},
        {"enterpriseApplicationId": catalog.AZURE_SERVICE_MANAGEMENT, "scope": "user_impersonation"}])
    resp = pc(emu, http, "POST", f"/v1/customers/{customer(17)}/applicationconsents", token(emu, http, EU), json=body)
    assert resp.status_code == 201, resp.text
    with emu.world.lock:
        assert emu.world.tenant(customer(17)).sp_by_app_id(EU["app"]) is not None


def test_existing_consent_conflicts_by_default(emu, http):
    err = assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(11)}/applicationconsents",
                             token(emu, http, EU), json=consent_body(EU["app"])), 409)
    assert err["description"] == "Permission entry already exists."


def test_existing_consent_setting_created(emu, http):
    world = emu.world
    with world.lock:
        world.settings["existing_consent"] = "created"
    try:
        body = consent_body(EU["app"], [{"enterpriseApplicationId": catalog.MICROSOFT_GRAPH,
                                         "scope": "Directory.Read.All,User.Read"}])
        resp = pc(emu, http, "POST", f"/v1/customers/{customer(11)}/applicationconsents", token(emu, http, EU),
                  json=body)
    finally:
        with world.lock:
            world.settings["existing_consent"] = "conflict"
    assert resp.status_code == 201, resp.text
    with world.lock:
        tenant = world.tenant(customer(11))
        sp = tenant.sp_by_app_id(EU["app"])
        graph = tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH)
        (grant,) = [g for g in tenant.oauth2_permission_grants.values()
                    if g["clientId"] == sp["id"] and g["resourceId"] == graph["id"]]
    assert "User.Read" in grant["scope"].split() and "Group.ReadWrite.All" in grant["scope"].split()


def test_consent_role_check_applies_in_apac_too(emu, http):
    apac = {"tenant": "10000000-0000-4000-8000-000000000003", "app": "20000000-0000-4000-8000-000000000003",
            "secret": "demo-apac-secret-0003", "refresh": "demo-apac-refresh-token-seed"}
    # apac's integration user is in no GDAP group: no consent in customer25 (active GDAP, no consent).
    assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(25)}/applicationconsents", token(emu, http, apac),
                       json=consent_body(apac["app"])), 403, 2032)


def test_consent_needs_app_plus_user_token(emu, http):
    app_only = token(emu, http, app_only=True, scope=PC_DEFAULT)
    assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(7)}/applicationconsents", app_only,
                       json=consent_body(US["app"])), 403, 2032)


def test_consent_token_app_must_be_the_consented_app(emu, http):
    err = assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(7)}/applicationconsents", token(emu, http),
                             json=consent_body(EU["app"])), 403)
    assert EU["app"] in err["description"]


def test_consent_for_a_customer_of_another_partner(emu, http):
    err = assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(11)}/applicationconsents", token(emu, http),
                             json=consent_body(US["app"])), 403, 20002)
    assert customer(11) in err["description"]


def test_consent_needs_an_admin_role_in_the_customer(emu, http):
    # customer04 has active GDAP, but the us integration user is in none of the assigned groups.
    assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(4)}/applicationconsents", token(emu, http),
                       json=consent_body(US["app"])), 403, 2032)


def test_consent_blocked_by_a_missing_service_principal(emu, http):
    # customer14 (eu) has no Partner Center service principal; eu's integration user is a GDAP admin there.
    err = assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(14)}/applicationconsents",
                             token(emu, http, EU), json=consent_body(EU["app"])), 400)
    assert "lacks a service principal for" in err["description"]
    assert catalog.PARTNER_CENTER in err["description"]
    with emu.world.lock:
        assert emu.world.tenant(customer(14)).sp_by_app_id(EU["app"]) is None  # nothing half-done


def test_consent_with_an_unknown_scope(emu, http):
    body = consent_body(US["app"], [{"enterpriseApplicationId": catalog.MICROSOFT_GRAPH, "scope": "Nope.Read.All"}])
    err = assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(1)}/applicationconsents",
                             token(emu, http), json=body), 400)
    assert "Nope.Read.All" in err["description"]


@pytest.mark.parametrize("body", [
    {}, {"applicationId": "nope"}, {"applicationId": US["app"]}, {"applicationId": US["app"], "applicationGrants": []},
    {"applicationId": US["app"], "applicationGrants": [{"enterpriseApplicationId": "x", "scope": "a"}]},
    {"applicationId": US["app"], "applicationGrants": [{"enterpriseApplicationId": catalog.MICROSOFT_GRAPH}]},
])
def test_consent_body_validation(emu, http, body):
    assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{customer(7)}/applicationconsents", token(emu, http),
                       json=body), 400)


def test_consent_before_propagation_is_refused(emu, http):
    tok = token(emu, http)
    created = pc(emu, http, "POST", "/v1/customers", tok, json=new_customer_body("fresh1"))
    assert created.status_code == 201
    tenant_id = created.json()["id"]
    assert_pc_error(pc(emu, http, "POST", f"/v1/customers/{tenant_id}/applicationconsents", tok,
                       json=consent_body(US["app"])), 404, 60003)


def test_delete_consent(emu, http):
    tok = token(emu, http)
    path = f"/v1/customers/{customer(1)}/applicationconsents/{US['app']}"
    resp = pc(emu, http, "DELETE", path, tok)
    assert resp.status_code == 204 and resp.content == b""
    with emu.world.lock:
        tenant = emu.world.tenant(customer(1))
        assert tenant.sp_by_app_id(US["app"]) is None
        assert not [g for g in tenant.oauth2_permission_grants.values()
                    if emu.world.object_by_id(tenant, g["clientId"]) is None]
        assert not [a for a in tenant.app_role_assignments.values()
                    if emu.world.object_by_id(tenant, a["principalId"]) is None]
    assert_pc_error(pc(emu, http, "DELETE", path, tok), 404)
    # Microsoft's sample replaces consent by DELETE then POST.
    resp = pc(emu, http, "POST", f"/v1/customers/{customer(1)}/applicationconsents", tok, json=consent_body(US["app"]))
    assert resp.status_code == 201, resp.text


def test_consent_read_is_not_a_documented_operation(emu, http):
    assert_pc_error(pc(emu, http, "GET", f"/v1/customers/{customer(1)}/applicationconsents", token(emu, http)), 404)


def test_no_handler_exceptions(emu):
    # Runs last in this module: nothing above made a handler raise.
    assert emu.world.counters.get("handler_exceptions", 0) == 0, emu.world.extra.get("last_exception")
