"""application_consent with ``proof``: the Graph call with a new token that proves access, made in the
consent's own process after the consent is in place (fake transport, fake identity platform)."""

import re
from urllib.parse import parse_qs

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.consent import KNOWN_APIS
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import decode_jwt_claims
from ansible_collections.cloudpartner.csp.plugins.modules import application_consent

import csp_fakes
from csp_fakes import APP, CONNECTION, CUSTOMER, GRAPH, LOGIN, PC, RT_SEED, FakeRaw

GRAPH_API = KNOWN_APIS["microsoft_graph"]
PC_API = KNOWN_APIS["partner_center"]
GRANTS = [{"api": "microsoft_graph", "scopes": ["Directory.Read.All"]},
          {"api": "partner_center", "scopes": ["user_impersonation"]}]
ORG = r"/v1\.0/organization$"
TOKEN = re.escape(LOGIN) + r"/%s/oauth2/v2\.0/token" % CUSTOMER
CONSENTS = re.escape(PC) + r"/v1/customers/%s/applicationconsents" % CUSTOMER


class CustomerTenant:
    """The customer's Graph (service principals, the app's grants, /organization) and Partner Center's consent."""

    def __init__(self, session, consented=False):
        self.session = session
        self.sps = {"sp-graph": GRAPH_API, "sp-pc": PC_API}
        self.grants = {}
        if consented:
            self._consent({GRAPH_API: "Directory.Read.All", PC_API: "user_impersonation"})
        session.route("GET", re.escape(GRAPH) + r"/v1\.0/servicePrincipals$", self.service_principals)
        session.route("GET", re.escape(GRAPH) + r"/v1\.0/oauth2PermissionGrants$", self.permission_grants)
        session.route("POST", CONSENTS + "$", self.create)
        session.route("GET", re.escape(GRAPH) + ORG, lambda call: FakeRaw(
            200, {"value": [{"id": CUSTOMER, "displayName": "Margie's Travel"}]}, {"request-id": "req-proof-1"}))

    def _consent(self, grants):
        self.sps["sp-app"] = APP
        self.grants = dict(grants)

    def service_principals(self, call):
        wanted = set(re.findall(r"'([^']*)'", call.params["$filter"]))
        return FakeRaw(200, {"value": [{"id": sid, "appId": a} for sid, a in self.sps.items() if a in wanted]})

    def permission_grants(self, call):
        return FakeRaw(200, {"value": [{"clientId": "sp-app", "consentType": "AllPrincipals", "resourceId": sid,
                                        "scope": self.grants[a]}
                                       for sid, a in self.sps.items() if a in self.grants]})

    def create(self, call):
        self._consent({g["enterpriseApplicationId"]: g["scope"].replace(",", " ")
                       for g in call.json["applicationGrants"]})
        return FakeRaw(201, call.json)

    # --- the witness ------------------------------------------------------------------
    def customer_token_posts(self):
        """The form of every token request for the customer tenant, in order."""
        return [form(c) for c in self.session.calls if c.method == "POST" and re.search(TOKEN, c.url)]

    def calls_to(self, pattern, method="GET"):
        return [c for c in self.session.calls if c.method == method and re.search(pattern, c.url)]

    def writes(self):
        return [c for c in self.session.calls if c.method != "GET" and "/oauth2/" not in c.url]


def form(call):
    """The form of a token request (MSAL hands the transport a dict)."""
    if isinstance(call.data, str):
        return {k: v[0] for k, v in parse_qs(call.data).items()}
    return dict(call.data or {})


def bearer_claims(call):
    return decode_jwt_claims(call.headers["Authorization"].split(" ", 1)[1])


def run(args, capsys, check_mode=False):
    args = dict(CONNECTION, refresh_token=RT_SEED, customer_tenant_id=CUSTOMER, grants=GRANTS, **args)
    return csp_fakes.run_module(application_consent, args, capsys, check_mode)


PROOF = {"path": "/organization", "query": "value[0].displayName"}


@pytest.fixture
def tenant(fake_http, idp):
    return CustomerTenant(fake_http)


@pytest.fixture
def consented(fake_http, idp):
    return CustomerTenant(fake_http, consented=True)


def test_proof_after_a_given_consent(tenant, capsys):
    rc, result = run({"proof": PROOF}, capsys)
    assert rc == 0, result
    assert result["changed"] is True and result["actions"] == ["create"]
    assert result["proof"] == {"path": "/organization", "result": "Margie's Travel",
                               "token_source": "identity_provider", "request_id": "req-proof-1"}
    # the proof came after the consent, with a token requested after it (not one from before the consent)
    calls = tenant.session.calls
    post = calls.index(tenant.calls_to(CONSENTS, "POST")[0])
    proof = calls.index(tenant.calls_to(ORG)[0])
    assert post < proof
    assert any(c.method == "POST" and re.search(TOKEN, c.url) for c in calls[post:proof])
    assert len(tenant.calls_to(ORG)) == 1 and [c.method for c in tenant.writes()] == ["POST"]


def test_proof_after_an_unchanged_consent_forces_a_new_token(consented, capsys):
    rc, result = run({"proof": PROOF}, capsys)
    assert rc == 0, result
    assert result["changed"] is False and result["actions"] == []
    assert result["proof"]["result"] == "Margie's Travel"
    assert result["proof"]["token_source"] == "identity_provider"
    assert consented.writes() == []
    # the reads left a good token for the customer tenant in the cache; the proof did not take it
    (read,), (proof,) = consented.calls_to(r"/servicePrincipals$"), consented.calls_to(ORG)
    assert bearer_claims(proof)["jti"] != bearer_claims(read)["jti"]
    posts = consented.customer_token_posts()
    assert len(posts) == 2 and all(p["grant_type"] == "refresh_token" for p in posts)
    assert bearer_claims(proof)["idtyp"] == "user"


def test_proof_without_query_returns_the_answer(consented, capsys):
    rc, result = run({"proof": {"path": "/organization"}}, capsys)
    assert rc == 0, result
    assert result["proof"]["result"] == {"value": [{"id": CUSTOMER, "displayName": "Margie's Travel"}]}


def test_app_only_proof_uses_client_credentials(consented, capsys):
    rc, result = run({"proof": dict(PROOF, app_only=True)}, capsys)
    assert rc == 0, result
    assert result["proof"]["result"] == "Margie's Travel"
    (proof,) = consented.calls_to(ORG)
    claims = bearer_claims(proof)
    assert claims["idtyp"] == "app" and claims["tid"] == CUSTOMER and "upn" not in claims
    last = consented.customer_token_posts()[-1]
    assert last["grant_type"] == "client_credentials" and "refresh_token" not in last
    # the consent reads still used the integration user's token
    (read,) = consented.calls_to(r"/servicePrincipals$")
    assert bearer_claims(read)["idtyp"] == "user"


def test_check_mode_with_a_change_sends_no_proof(tenant, capsys):
    rc, result = run({"proof": PROOF}, capsys, check_mode=True)
    assert rc == 0, result
    assert result["changed"] is True and result["actions"] == ["create"]
    assert result["proof"] is None
    assert tenant.calls_to(ORG) == [] and tenant.writes() == []
    assert len(tenant.customer_token_posts()) == 1  # the reads' token only, none for a proof


def test_check_mode_without_a_change_proves(consented, capsys):
    rc, result = run({"proof": PROOF}, capsys, check_mode=True)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["proof"]["result"] == "Margie's Travel"
    assert len(consented.calls_to(ORG)) == 1 and consented.writes() == []
    assert len(consented.customer_token_posts()) == 2


def test_no_proof_without_the_option(consented, capsys):
    rc, result = run({}, capsys)
    assert rc == 0 and "proof" not in result
    assert consented.calls_to(ORG) == [] and len(consented.customer_token_posts()) == 1


def test_proof_refused_by_graph_keeps_the_consent_change(tenant, fake_http, capsys):
    fake_http.route("GET", re.escape(GRAPH) + ORG, lambda call: FakeRaw(403, {"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
        "innerError": {"request-id": "req-denied-1"}}}))
    rc, result = run({"proof": PROOF}, capsys)
    assert rc == 1 and result["failed"]
    assert result["changed"] is True and result["actions"] == ["create"]
    assert result["proof"] == {"path": "/organization", "failed": True}
    assert result["grants"]["microsoft_graph (%s)" % GRAPH_API] == ["Directory.Read.All"]
    assert result["error"]["code"] == "Authorization_RequestDenied"
    assert result["error"]["request_id"] == "req-denied-1" and result["error"]["status"] == 403
    assert "Insufficient privileges" in result["msg"]


def test_proof_token_refused_fails_with_the_aadsts_code(consented, fake_http, idp, capsys):
    def token(call):
        if form(call).get("grant_type") == "client_credentials":
            return FakeRaw(400, {"error": "invalid_client", "error_description":
                                 "AADSTS7000229: The client application is missing service principal. Trace ID: t",
                                 "error_codes": [7000229], "trace_id": "trace-7000229", "correlation_id": "corr-1"})
        return idp.token(call)
    fake_http.route("POST", TOKEN, token)
    rc, result = run({"proof": dict(PROOF, app_only=True)}, capsys)
    assert rc == 1 and result["changed"] is False and result["actions"] == []
    assert result["proof"] == {"path": "/organization", "failed": True}
    assert result["error"]["code"] == "AADSTS7000229" and result["error"]["request_id"] == "trace-7000229"
    assert consented.calls_to(ORG) == []


def test_failure_before_the_consent_carries_no_proof(tenant, fake_http, capsys):
    fake_http.route("POST", CONSENTS + "$", lambda call: FakeRaw(403, {
        "code": 600041, "description": "Access denied"}, {"MS-RequestId": "pc-req-1"}))
    rc, result = run({"proof": PROOF}, capsys)
    assert rc == 1 and result["changed"] is False and result["actions"] == []
    assert "proof" not in result and result["error"]["code"] == "600041"
    assert tenant.calls_to(ORG) == []
