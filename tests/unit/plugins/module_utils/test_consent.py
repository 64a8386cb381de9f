"""Application consent: grant normalisation, the calling-app check, read/compare/replace logic."""

import re

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import consent
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import AccessToken
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspAuthError,
    CspError,
    CspValidationError,
    PartnerCenterError,
)

APP = "20000000-0000-4000-8000-000000000002"
CUSTOMER = "30000000-0000-4000-8000-000000000017"
GRAPH_API = consent.KNOWN_APIS["microsoft_graph"]
PC_API = consent.KNOWN_APIS["partner_center"]


class FakeCustomerGraph:
    """The customer's service principals and delegated grants."""

    def __init__(self, sps=(GRAPH_API, PC_API), app_present=True, grants=None, authorized=True):
        self.sps = {"sp-" + a: a for a in sps}
        if app_present:
            self.sps["sp-app"] = APP
        self.grants = grants or {}  # api -> "A B"
        self.authorized = authorized
        self.calls = []

    def get_all(self, path, params=None):
        self.calls.append(path)
        if not self.authorized:
            raise CspAuthError("not authorized", code="AADSTS90099")
        if path == "/servicePrincipals":  # appId eq 'x' or appId in ('x','y')
            app_ids = set(re.findall(r"'([^']*)'", params["$filter"]))
            return [{"id": sid, "appId": a} for sid, a in self.sps.items() if a in app_ids]
        return [{"clientId": "sp-app", "consentType": "AllPrincipals", "resourceId": "sp-" + api, "scope": scope}
                for api, scope in self.grants.items()]

    def get(self, path, params=None):
        self.calls.append(path)
        return {"id": path.rsplit("/", 1)[1], "appId": self.sps[path.rsplit("/", 1)[1]]}


class FakePartnerCenter:
    def __init__(self, post_error=None):
        self.calls = []
        self.post_error = post_error

    def request(self, method, path, body=None, request_id=None):
        self.calls.append((method, path, body))
        if method == "POST" and self.post_error:
            raise self.post_error


class Clock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


class LaggingGraph(FakeCustomerGraph):
    """Graph that lists the app's grants only from the ``after``-th read of them on (replication)."""

    def __init__(self, after, **kw):
        super().__init__(**kw)
        self.after = after
        self.grant_reads = 0

    def get_all(self, path, params=None):
        if path == "/oauth2PermissionGrants":
            self.grant_reads += 1
            if self.grant_reads < self.after:
                self.calls.append(path)
                return []
        return super().get_all(path, params)


class ConflictOncePartnerCenter(FakePartnerCenter):
    """The first POST answers 409 (a consent exists); later ones succeed."""

    def __init__(self):
        super().__init__()
        self.posts = 0

    def request(self, method, path, body=None, request_id=None):
        self.calls.append((method, path, body))
        if method == "POST":
            self.posts += 1
            if self.posts == 1:
                raise PartnerCenterError("Permission entry already exists.", code="409", status=409)


def make(graph=None, pc=None):
    graph = graph or FakeCustomerGraph()
    pc = pc or FakePartnerCenter()
    clock = Clock()
    client = consent.ConsentClient(graph, pc, CUSTOMER, APP, "https://login.microsoftonline.com",
                                   sleep=clock.sleep, clock=clock)
    client.token_resets = 0

    def reset():
        client.token_resets += 1
    client.on_change = reset
    return client, graph, pc


def token(**claims):
    return AccessToken("x", 0, "cache", claims, [], "t")


def test_normalize_grants_names_merge_and_errors():
    out = consent.normalize_grants([{"api": "microsoft_graph", "scopes": ["B", "A"]},
                                    {"api": GRAPH_API.upper(), "scopes": ["A", "C"]},
                                    {"api": "Partner Center", "scopes": "user_impersonation"}])
    assert out == {GRAPH_API: ["A", "B", "C"], PC_API: ["user_impersonation"]}
    with pytest.raises(CspValidationError, match="neither an appId"):
        consent.normalize_grants([{"api": "graph_api", "scopes": ["A"]}])
    with pytest.raises(CspValidationError, match="no scopes"):
        consent.normalize_grants([{"api": "microsoft_graph", "scopes": []}])
    with pytest.raises(CspValidationError):
        consent.normalize_grants([])


def test_consent_body_is_comma_separated():
    body = consent.consent_body(APP, {GRAPH_API: ["A", "B"]}, "App")
    assert body == {"applicationId": APP, "displayName": "App",
                    "applicationGrants": [{"enterpriseApplicationId": GRAPH_API, "scope": "A,B"}]}


def test_calling_app_must_be_the_consented_app():
    consent.check_calling_app(token(appid=APP, idtyp="user", scp="user_impersonation"), APP)
    with pytest.raises(CspValidationError) as info:
        consent.check_calling_app(token(appid="20000000-0000-4000-8000-000000000001", idtyp="user"), APP)
    assert info.value.code == "CallerIsNotApplication"
    with pytest.raises(CspValidationError, match="app \\+ user"):
        consent.check_calling_app(token(appid=APP, idtyp="app", roles=["x"]), APP)


def test_create_when_nothing_consented():
    client, graph, pc = make(FakeCustomerGraph(app_present=False))
    ensurer = consent.ConsentEnsurer(client)
    before, after = ensurer.present({GRAPH_API: ["A"]})
    assert before is None and after == {GRAPH_API: ["A"]}
    assert ensurer.actions == ["create"] and [c[0] for c in pc.calls] == ["POST"]


def test_idempotent_when_scopes_equal():
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "B A", PC_API: "user_impersonation"}))
    ensurer = consent.ConsentEnsurer(client)
    ensurer.present({GRAPH_API: ["A", "B"], PC_API: ["user_impersonation"]})
    assert ensurer.actions == [] and pc.calls == []


def test_replace_is_delete_then_post():
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "A B"}))
    ensurer = consent.ConsentEnsurer(client)
    ensurer.present({GRAPH_API: ["A"]})
    assert ensurer.actions == ["delete", "create"]
    assert [c[0] for c in pc.calls] == ["DELETE", "POST"]
    assert pc.calls[0][1] == "customers/%s/applicationconsents/%s" % (CUSTOMER, APP)


def test_reads_are_two_requests_however_many_apis():
    """The app's and the APIs' service principals in one read, the grants in another: no read per API
    for the missing-service-principal check, none per grant for its resource."""
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "A B", PC_API: "user_impersonation"}))
    ensurer = consent.ConsentEnsurer(client)
    ensurer.present({GRAPH_API: ["A"], PC_API: ["user_impersonation"]})
    assert ensurer.actions == ["delete", "create"]
    assert graph.calls == ["/servicePrincipals", "/oauth2PermissionGrants"]


def test_missing_api_found_in_the_same_read():
    client, graph, pc = make(FakeCustomerGraph(sps=(GRAPH_API,)))
    with pytest.raises(CspError) as info:
        consent.ConsentEnsurer(client).present({GRAPH_API: ["A"], PC_API: ["user_impersonation"]})
    assert info.value.code == "MissingServicePrincipal" and pc.calls == []
    assert [a["app_id"] for a in info.value.details["missing_apis"]] == [PC_API]
    assert graph.calls == ["/servicePrincipals", "/oauth2PermissionGrants"]


def test_check_mode_writes_nothing():
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "A B"}))
    ensurer = consent.ConsentEnsurer(client, check_mode=True)
    before, after = ensurer.present({GRAPH_API: ["A"]})
    assert ensurer.actions == ["delete", "create"] and pc.calls == [] and after == {GRAPH_API: ["A"]}


def test_missing_service_principal_refused_before_write():
    client, graph, pc = make(FakeCustomerGraph(sps=(GRAPH_API,)))
    with pytest.raises(CspError) as info:
        consent.ConsentEnsurer(client).present({GRAPH_API: ["A"], PC_API: ["user_impersonation"]})
    assert info.value.code == "MissingServicePrincipal"
    assert PC_API in str(info.value)
    assert "https://login.microsoftonline.com/%s/adminconsent?client_id=%s" % (CUSTOMER, APP) in str(info.value)
    assert pc.calls == []


def test_unauthorized_app_counts_as_no_consent_and_pc_error_is_translated():
    error = PartnerCenterError("AADSTS650052: The app is trying to access a service '%s'(Microsoft Partner Center) "
                               "that your organization lacks a service principal for." % PC_API,
                               code="3000", status=400, request_id="rid-1")
    client, graph, pc = make(FakeCustomerGraph(authorized=False), FakePartnerCenter(post_error=error))
    ensurer = consent.ConsentEnsurer(client)
    with pytest.raises(CspError) as info:
        ensurer.present({GRAPH_API: ["A"], PC_API: ["user_impersonation"]})
    assert info.value.code == "MissingServicePrincipal" and info.value.request_id == "rid-1"
    assert PC_API in str(info.value)
    assert info.value.details["code"] == "3000"
    assert not client.readable and ensurer.warnings


def test_conflict_then_listed_and_equal_is_unchanged_with_the_grants():
    # Graph shows the app's service principal but not yet its grants; Partner Center says 409.
    client, graph, pc = make(LaggingGraph(after=3, grants={GRAPH_API: "A B"}), ConflictOncePartnerCenter())
    ensurer = consent.ConsentEnsurer(client)
    before, after = ensurer.present({GRAPH_API: ["A", "B"]}, verify_timeout=30, verify_interval=5)
    assert ensurer.actions == []
    assert before == after == {GRAPH_API: ["A", "B"]}  # the verified grants, never {}
    assert [c[0] for c in pc.calls] == ["POST"]
    assert graph.grant_reads == 3


def test_conflict_then_listed_and_different_is_deleted_and_created_again():
    client, graph, pc = make(LaggingGraph(after=2, grants={GRAPH_API: "A"}), ConflictOncePartnerCenter())
    ensurer = consent.ConsentEnsurer(client)
    before, after = ensurer.present({GRAPH_API: ["A", "B"]}, verify_timeout=30, verify_interval=5)
    assert ensurer.actions == ["delete", "create"]
    assert [c[0] for c in pc.calls] == ["POST", "DELETE", "POST"]
    assert before == {GRAPH_API: ["A"]} and after == {GRAPH_API: ["A", "B"]}
    assert client.token_resets >= 2  # the customer's cached tokens are dropped after each write


def test_conflict_and_never_listed_fails_within_the_bounded_wait():
    client, graph, pc = make(LaggingGraph(after=10 ** 6), ConflictOncePartnerCenter())
    ensurer = consent.ConsentEnsurer(client)
    with pytest.raises(CspError) as info:
        ensurer.present({GRAPH_API: ["A"]}, verify_timeout=20, verify_interval=5)
    assert info.value.code == "ConsentNotVerified" and info.value.status == 409
    assert "20 s" in str(info.value)
    assert info.value.details["waited_seconds"] == 20
    assert graph.grant_reads == 1 + 5  # the first read, then at 0, 5, 10, 15, 20 s after the 409; no more
    assert [c[0] for c in pc.calls] == ["POST"]


def test_conflict_while_the_app_cannot_read_the_tenant_is_not_success():
    error = PartnerCenterError("Permission entry already exists.", code="409", status=409)
    client, graph, pc = make(FakeCustomerGraph(authorized=False), FakePartnerCenter(post_error=error))
    with pytest.raises(CspError) as info:
        consent.ConsentEnsurer(client).present({GRAPH_API: ["A"]}, verify_timeout=10, verify_interval=5)
    assert info.value.code == "ConsentNotVerified"


def test_token_cache_dropped_after_a_consent_change_only():
    client, graph, pc = make(FakeCustomerGraph(app_present=False))
    consent.ConsentEnsurer(client).present({GRAPH_API: ["A"]})
    assert client.token_resets == 1
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "A"}))
    consent.ConsentEnsurer(client).present({GRAPH_API: ["A"]})
    assert client.token_resets == 0


def test_other_partner_center_errors_propagate():
    error = PartnerCenterError("Access denied", code="2032", status=403)
    client = make(FakeCustomerGraph(app_present=False), FakePartnerCenter(post_error=error))[0]
    with pytest.raises(PartnerCenterError):
        consent.ConsentEnsurer(client).present({GRAPH_API: ["A"]})


def test_absent():
    client, graph, pc = make(FakeCustomerGraph(grants={GRAPH_API: "A"}))
    ensurer = consent.ConsentEnsurer(client)
    ensurer.absent()
    assert ensurer.actions == ["delete"] and [c[0] for c in pc.calls] == ["DELETE"]
    client, graph, pc = make(FakeCustomerGraph(authorized=False))
    ensurer = consent.ConsentEnsurer(client)
    assert ensurer.absent() == (None, None) and ensurer.actions == [] and pc.calls == []
