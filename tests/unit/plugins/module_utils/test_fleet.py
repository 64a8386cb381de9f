"""The partner's book in one pass: the reads, the plan per customer, shared throttling across threads."""

import json
import re
import threading
import time

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import decode_jwt_claims
from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.fleet import (
    BookReader,
    BulkTokenStore,
    DesiredState,
    consent_state,
    memory_discovery,
    plan_customer,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.http import SharedThrottle
from ansible_collections.cloudpartner.csp.plugins.modules import partner_book_info

import csp_fakes
from csp_fakes import APP, CUSTOMER, CUSTOMER2, GRAPH, PARTNER, PC, FakeRaw

MS_GRAPH = "00000003-0000-0000-c000-000000000000"
ADMIN_ROLES = ["Cloud Application Administrator", "Global Reader"]
CAA = "158c047a-c907-4556-b7ef-446551a6b5f7"
GR = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
GA = "62e90394-69f5-4237-9190-012177145e10"
GROUP_ID = "12000000-0000-4000-8000-000000010004"
CUSTOMER3 = "30000000-0000-4000-8000-000000000003"


def desired(**kw):
    values = dict(roles=ADMIN_ROLES, access_assignments=[{"group": "GDAP Admins", "roles": ADMIN_ROLES}])
    values.update(kw)
    return DesiredState(**values)


def rel(rid, tenant, status="active", roles=(CAA, GR), name=None, auto="PT0S", end="2030-01-01T00:00:00Z"):
    return {"id": rid, "displayName": name or "us-%s-standard" % tenant[-2:], "status": status,
            "customer": {"tenantId": tenant}, "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in roles]},
            "duration": "P730D", "endDateTime": end, "autoExtendDuration": auto, "createdDateTime": "2025-01-01T00:00:00Z"}


class FakeBook:
    """Partner Center and Graph of one partner tenant and its customer tenants, with $batch."""

    def __init__(self, session):
        self.session = session
        self.relationships = [rel("r1", CUSTOMER, name="us-c1-standard"),
                              rel("r2", CUSTOMER2, status="approvalPending", name="us-c2-standard"),
                              rel("r3", CUSTOMER3, roles=(CAA, GR, GA), name="us-c3-standard")]
        self.assignments = {"r1": [{"id": "a1", "status": "active",
                                    "accessContainer": {"accessContainerId": GROUP_ID},
                                    "accessDetails": {"unifiedRoles": [{"roleDefinitionId": CAA},
                                                                       {"roleDefinitionId": GR}]}}],
                            "r3": []}
        self.consented = {CUSTOMER: ["Directory.Read.All"]}
        self.refused = set()  # customer tenants whose batch answers 403
        self.batch_sizes = []
        session.route("GET", re.escape(PC) + r"/v1/customers", self.customers)
        session.route("GET", re.escape(GRAPH) + r"/v1.0/tenantRelationships/delegatedAdminRelationships\b", self.rels)
        session.route("GET", re.escape(GRAPH) + r"/v1.0/tenantRelationships/delegatedAdminCustomers",
                      lambda call: FakeRaw(200, {"value": [{"tenantId": CUSTOMER, "displayName": "C1"}]}))
        session.route("GET", re.escape(GRAPH) + r"/v1.0/applications\(appId=", lambda call: FakeRaw(200, {
            "id": "app-object", "appId": APP, "requiredResourceAccess": [
                {"resourceAppId": MS_GRAPH, "resourceAccess": [{"id": "s1", "type": "Scope"}]}]}))
        session.route("POST", re.escape(GRAPH) + r"/v1.0/\$batch", self.batch)
        session.route("GET", re.escape(GRAPH) + r"/v1.0/groups\?", lambda call: FakeRaw(
            200, {"value": [{"id": GROUP_ID, "displayName": "GDAP Admins"}]}))

    def customers(self, call):
        items = [{"id": t, "companyProfile": {"tenantId": t, "domain": "c%s.example" % t[-1], "companyName": t[-2:]},
                  "relationshipToPartner": "reseller"} for t in (CUSTOMER, CUSTOMER2, CUSTOMER3)]
        one = re.search(r"/v1/customers/([0-9a-f-]{36})$", call.url.split("?")[0])
        if one:  # one record by id
            found = [i for i in items if i["id"] == one.group(1)]
            return FakeRaw(200, found[0]) if found else FakeRaw(404, {"code": 600, "description": "not found"})
        return FakeRaw(200, {"totalCount": 3, "items": items, "links": {}})

    def rels(self, call):
        return FakeRaw(200, {"value": self.relationships})

    def sub(self, tenant, url):
        path = url.split("?")[0]
        if tenant in self.refused:
            return 403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}}
        if path.startswith("/servicePrincipals(appId="):
            app_id = path.split("'")[1]
            return 200, {"id": "sp-" + app_id, "appId": app_id, "displayName": "Graph",
                         "oauth2PermissionScopes": [{"id": "s1", "value": "Directory.Read.All"}], "appRoles": []}
        if path == "/groups":
            return 200, {"value": [{"id": GROUP_ID, "displayName": "GDAP Admins"}]}
        if path == "/tenantRelationships/delegatedAdminRelationships":  # one customer's, by $filter
            wanted = url.split("customer/tenantId eq '", 1)[1].split("'", 1)[0]
            return 200, {"value": [r for r in self.relationships if r["customer"]["tenantId"] == wanted]}
        match = re.match(r"^/tenantRelationships/delegatedAdminCustomers/([^/]+)$", path)
        if match:
            if match.group(1) == CUSTOMER:
                return 200, {"id": CUSTOMER, "tenantId": CUSTOMER, "displayName": "C1"}
            return 404, {"error": {"code": "Request_ResourceNotFound", "message": url}}
        match = re.match(r"^/tenantRelationships/delegatedAdminRelationships/([^/]+)/accessAssignments$", path)
        if match:
            return 200, {"value": self.assignments.get(match.group(1), [])}
        if path == "/servicePrincipals":
            sps = [{"id": "sp-graph-" + tenant, "appId": MS_GRAPH}]
            if tenant in self.consented:
                sps.append({"id": "sp-app-" + tenant, "appId": APP})
            return 200, {"value": sps}
        if path == "/oauth2PermissionGrants":
            grants = [{"clientId": "sp-app-" + tenant, "resourceId": "sp-graph-" + tenant, "consentType": "AllPrincipals",
                       "scope": " ".join(self.consented[tenant])}] if tenant in self.consented else []
            return 200, {"value": grants}
        if path == "/organization":
            return 200, {"value": [{"id": tenant, "displayName": "Org " + tenant[-2:]}]}
        return 404, {"error": {"code": "Request_ResourceNotFound", "message": url}}

    def batch(self, call):
        tenant = decode_jwt_claims(call.headers["Authorization"].split()[1]).get("tid")
        self.batch_sizes.append(len(call.json["requests"]))
        responses = []
        for item in call.json["requests"]:
            status, body = self.sub(tenant, item["url"])
            responses.append({"id": item["id"], "status": status, "body": body})
        return FakeRaw(200, {"responses": list(reversed(responses))})


@pytest.fixture
def book(session, idp):
    return FakeBook(session)


def reader(http, want=None, **kw):
    http.throttle = SharedThrottle(4, sleep=http.sleep)
    client = CspClient(csp_fakes.options(), http=http)
    want = want or desired(consent_grants=[{"api": MS_GRAPH, "scopes": ["Directory.Read.All"]}])
    return BookReader(client, "us", ["NA"], want, **kw)


def by_tenant(customers):
    return {c["tenant_id"]: c for c in customers}


def test_reads_the_book_and_plans_each_customer(session, http, book):
    partner, customers = reader(http).read()
    assert partner["error"] is None and partner["customers"] == 3
    found = by_tenant(customers)
    healthy = found[CUSTOMER]
    assert healthy["state"] == "healthy", healthy["actions"]
    assert healthy["consent"]["state"] == "ok" and healthy["proof"] == {"ok": True, "organization": "Org 01"}
    assert healthy["assignments"][0]["group"] == "GDAP Admins" and healthy["delegated_admin_customer"]
    assert healthy["steps"] == {"customer": False, "relationship": False, "access": False, "consent": False,
                                "proof": False}
    pending = found[CUSTOMER2]
    assert pending["state"] == "awaiting_approval"
    assert [a["action"] for a in pending["actions"]] == ["await_approval"]
    assert pending["consent"]["state"] == "unknown"  # no active relationship: its tenant is not read
    ga = found[CUSTOMER3]
    assert ga["relationship"]["global_administrator"] and ga["relationship"]["auto_extend_blocked"]
    actions = [(a["step"], a["action"]) for a in ga["actions"]]
    assert ("relationship", "update_roles") in actions and ("access", "create_assignment") in actions
    assert ("consent", "create") in actions
    # partner reads + one batch of assignments + one batch per customer tenant with an active relationship
    assert book.batch_sizes.count(2) == 1  # the two active relationships' assignments, in one request
    assert book.batch_sizes.count(3) == 2  # one per active customer tenant


def test_a_customer_that_cannot_be_read_is_reported_not_dropped(session, http, book):
    book.refused.add(CUSTOMER)
    _partner, customers = reader(http).read()
    item = by_tenant(customers)[CUSTOMER]
    assert item["state"] == "unreadable"
    assert item["errors"][0]["code"] == "Authorization_RequestDenied" and item["errors"][0]["step"] == "consent"
    assert item["proof"]["ok"] is False


def test_refused_token_means_no_consent_yet(session, http, book, idp):
    idp.errors[CUSTOMER3] = (90099, "invalid_grant")
    _partner, customers = reader(http).read()
    item = by_tenant(customers)[CUSTOMER3]
    assert item["consent"]["state"] == "missing" and item["consent"]["reason"] == "AADSTS90099"
    assert item["proof"]["error"]["code"] == "AADSTS90099"


def test_unreadable_partner_tenant_is_reported(session, http, book):
    session.route("GET", re.escape(PC) + r"/v1/customers", lambda call: FakeRaw(
        401, {"code": 900, "description": "Unauthorized partner"}, {"MS-RequestId": "pc-req"}))
    partner, customers = reader(http).read()
    assert customers == []
    assert partner["error"]["code"] == "900" or partner["error"]["code"] == 900
    assert partner["error"]["step"] == "partner"


def test_tenant_regions_from_the_openid_configuration(session, http, book):
    _partner, customers = reader(http, tenant_regions=True).read()
    assert {c["tenant_region"] for c in customers} == {"NA"}
    assert session.count("GET", r"/openid-configuration") >= 3
    _partner, customers = reader(http).read()
    assert all("tenant_region" not in c for c in customers)


def _persistent_reader(http, cache):
    """A reader set up as partner_book_info sets it up: bulk token store, discovery kept in memory."""
    http.throttle = SharedThrottle(4, sleep=http.sleep)
    client = CspClient(csp_fakes.options(token_cache_path=str(cache)), http=http)
    store = client.tokens.store = BulkTokenStore(client.tokens.store)
    discovery = client.tokens.adapter.discovery = memory_discovery(client.tokens.adapter.discovery)
    want = desired(consent_grants=[{"api": MS_GRAPH, "scopes": ["Directory.Read.All"]}])
    return BookReader(client, "us", ["NA"], want, tenant_regions=True), store, discovery


def test_tenant_region_read_is_msal_discovery_kept_for_later_runs(session, http, book, tmp_path):
    """One OpenID GET per customer tenant serves both its region and MSAL's authority discovery, and is
    written once to the persistent discovery cache, so the next process (a role step, a rerun) reads none."""
    cache = tmp_path / "tokens.json"
    book_reader, store, discovery = _persistent_reader(http, cache)
    _partner, customers = book_reader.read()
    assert {c["tenant_region"] for c in customers} == {"NA"}
    for tenant in (CUSTOMER, CUSTOMER2, CUSTOMER3):
        assert session.count("GET", tenant + r"/v2\.0/\.well-known/openid-configuration") == 1
    store.flush()
    discovery.flush()
    before = session.count("GET", r"/openid-configuration")
    book_reader, _store, _discovery = _persistent_reader(http, cache)
    _partner, customers = book_reader.read()
    assert {c["tenant_region"] for c in customers} == {"NA"}
    assert session.count("GET", r"/openid-configuration") == before


def test_only_some_customers(session, http, book):
    _partner, customers = reader(http, only=[CUSTOMER2]).read()
    assert [c["tenant_id"] for c in customers] == [CUSTOMER2]


def test_a_few_customers_by_tenant_id_are_read_alone(session, http, book):
    """An --limit of a few customers reads those customers (record by id, relationships by $filter,
    delegatedAdminCustomer by id), never the whole book, and finds what the whole-book read finds."""
    whole = by_tenant(reader(http).read()[1])
    session.calls.clear()
    _partner, customers = reader(http, only=[CUSTOMER.upper(), CUSTOMER3]).read()
    assert sorted(c["tenant_id"] for c in customers) == [CUSTOMER, CUSTOMER3]
    for found in customers:
        assert found == whole[found["tenant_id"]]
    paths = [c.url.split("?")[0] for c in session.calls]
    assert not [p for p in paths if p.endswith("/v1/customers") or p.endswith("/delegatedAdminRelationships")
                or p.endswith("/delegatedAdminCustomers")]
    assert len([p for p in paths if re.search(r"/v1/customers/[0-9a-f-]{36}$", p)]) == 2
    # by domain: Partner Center's domain search, then the same reads by the tenant id it gives
    session.calls.clear()
    _partner, customers = reader(http, only=["C3.example"]).read()
    assert [c["tenant_id"] for c in customers] == [CUSTOMER3] and customers[0] == whole[CUSTOMER3]
    searches = [c for c in session.calls if c.url.split("?")[0].endswith("/v1/customers")]
    assert len(searches) == 1 and "filter" in (searches[0].params or {})
    assert not [c for c in session.calls if c.url.split("?")[0].endswith("/delegatedAdminRelationships")]


def test_plan_without_relationship_and_missing_record():
    want = desired()
    customer = {"in_partner_center": False, "relationship": None, "relationship_name": "us-x-standard",
                "consent": {"state": "unknown"}, "proof": {"ok": False}}
    actions, steps, state = plan_customer(customer, want, {}, {"GDAP Admins": {"id": GROUP_ID}})
    assert [(a["step"], a["action"]) for a in actions] == [("customer", "missing_record"), ("relationship", "create")]
    assert steps["access"] and steps["consent"] and steps["proof"] and state == "needs_action"


def test_plan_blocked_consent_and_assignment_roles():
    want = desired()
    customer = {"in_partner_center": True,
                "relationship": {"id": "r", "status": "active", "role_ids": sorted([CAA, GR]), "auto_extend": "PT0S"},
                "assignments": [{"group_id": GROUP_ID, "role_ids": [GR], "status": "active"}],
                "consent": {"state": "missing", "missing_apis": ["azure_service_management"]},
                "proof": {"ok": True}}
    actions, steps, state = plan_customer(customer, want, {}, {"GDAP Admins": {"id": GROUP_ID}})
    assert ("access", "update_assignment") in [(a["step"], a["action"]) for a in actions]
    assert state == "consent_blocked" and not steps["relationship"]


def test_plan_compares_the_duration_as_the_module_does():
    """An active relationship whose duration differs is refused by gdap_relationship; the plan says so, so
    the onboarding role never takes the book's word for it."""
    customer = {"in_partner_center": True, "relationship": {"id": "r", "status": "active", "duration": "P365D",
                                                            "role_ids": sorted([CAA, GR]), "auto_extend": "PT0S"},
                "assignments": [{"group_id": GROUP_ID, "role_ids": sorted([CAA, GR]), "status": "active"}],
                "consent": {"state": "ok"}, "proof": {"ok": True}}
    actions, steps, state = plan_customer(customer, desired(duration="P730D"), {}, {"GDAP Admins": {"id": GROUP_ID}})
    assert [(a["step"], a["action"]) for a in actions] == [("relationship", "update_duration")]
    assert steps["relationship"] and state == "needs_action"
    customer["relationship"]["duration"] = "P730D"
    assert plan_customer(customer, desired(duration="P730D"), {}, {"GDAP Admins": {"id": GROUP_ID}})[2] == "healthy"


def test_consent_state_ok_missing_drifted():
    sps = {MS_GRAPH: {"id": "g"}, APP: {"id": "a"}}
    grant = {"clientId": "a", "resourceId": "g", "consentType": "AllPrincipals", "scope": "A B"}
    assert consent_state(sps, [grant], APP, {MS_GRAPH: ["A", "B"]})["state"] == "ok"
    drifted = consent_state(sps, [grant], APP, {MS_GRAPH: ["A", "C"]})
    assert drifted["state"] == "drifted" and drifted["missing_scopes"] == {"microsoft_graph": ["C"]}
    assert consent_state({MS_GRAPH: {"id": "g"}}, [], APP, {MS_GRAPH: ["A"]})["state"] == "missing"
    blocked = consent_state({APP: {"id": "a"}}, [], APP, {MS_GRAPH: ["A"]})
    assert blocked["missing_apis"] == ["microsoft_graph"]


def test_desired_state_refuses_bad_input():
    with pytest.raises(CspValidationError):
        DesiredState(roles=["Global Reader"], access_assignments=[{"group": "X", "roles": ["User Administrator"]}])
    with pytest.raises(CspValidationError):
        DesiredState(relationship_name="{partner}-{nope}")
    with pytest.raises(CspValidationError):
        DesiredState(expiring_within_days=-1)


def test_shared_throttle_halves_and_holds_everyone():
    slept = []
    now = [100.0]
    gate = SharedThrottle(8, clock=lambda: now[0], sleep=slept.append)
    gate.acquire()
    gate.release(throttled_for=2.0)
    assert gate.limit == 4 and gate.throttled == 1
    gate.acquire()  # another thread: waits for the Retry-After that the first one met
    assert slept == [2.0]
    gate.release()
    for _round in range(4):
        gate.acquire()
        gate.release()
    assert gate.limit == 5  # grows again after a run of unthrottled answers


def test_http_client_429_backs_off_the_shared_gate(session, http):
    http.throttle = SharedThrottle(4, sleep=http.sleep)
    session.queue("GET", r"/x", FakeRaw(429, {}, {"Retry-After": "1.5"}), FakeRaw(200, {}))
    assert http.send("GET", GRAPH + "/x").status_code == 200
    assert http.throttle.throttled == 1 and http.throttle.limit == 2


def test_concurrency_is_bounded(session, http):
    http.throttle = SharedThrottle(3)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(call):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return FakeRaw(200, {})

    session.route("GET", r"/slow", slow)
    threads = [threading.Thread(target=http.send, args=("GET", GRAPH + "/slow")) for _n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state["peak"] == 3


def test_module_reports_every_partner(session, book, capsys, monkeypatch):
    monkeypatch.setattr(partner_book_info, "read_partner", _fake_read_partner)
    args = dict(csp_fakes.CONNECTION, partner_tenants=[
        {"name": "us", "regions": ["na"], "tenant_id": PARTNER, "client_id": APP},
        {"name": "eu", "tenant_id": "10000000-0000-4000-8000-000000000002",
         "client_id": "20000000-0000-4000-8000-000000000002", "client_secret": "eu-secret-value-0002"}],
        role_template={"roles": ADMIN_ROLES})
    code, result = csp_fakes.run_module(partner_book_info, args, capsys)
    assert code == 0 and not result["changed"]
    assert [p["name"] for p in result["partners"]] == ["us", "eu"]
    assert result["partners"][0]["regions"] == ["NA"]
    assert result["summary"]["customers"] == 0 and result["summary"]["unreadable_partners"] == 1
    assert "eu-secret-value-0002" not in json.dumps(result)


def _fake_read_partner(name, regions, options, desired_state, params):
    if name == "eu":
        assert options.credential == "eu-secret-value-0002"  # its own secret, not the connection's
        return {"name": name, "regions": regions, "error": {"code": "AADSTS7000215"}, "requests": 1}, []
    assert options.credential == csp_fakes.SECRET
    return {"name": name, "regions": regions, "error": None, "requests": 5}, []


def test_module_refuses_bad_input_before_any_request(session, capsys):
    args = dict(csp_fakes.CONNECTION, concurrency=0)
    code, result = csp_fakes.run_module(partner_book_info, args, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidOption"
    assert session.calls == []
