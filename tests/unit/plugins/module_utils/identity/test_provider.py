"""TokenProvider with real MSAL against a fake identity platform: grants, caching, keying, errors."""

import json
import os
import stat

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import TokenProvider, decode_jwt_claims
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspAuthError,
    CspValidationError,
    redact,
)

import csp_fakes
from csp_fakes import APP, APP2, CUSTOMER, CUSTOMER2, PARTNER, RT_SEED


def token_posts(session):
    return session.count("POST", r"/oauth2/v2\.0/token")


def provider(session, **overrides):
    opts = csp_fakes.options(**overrides)
    return TokenProvider(opts.validate(), csp_fakes.make_http(session))


def test_client_credentials_then_cache(session, idp):
    tp = provider(session)
    first = tp.get_token()
    assert first.token_source == "identity_provider" and first.grant == "client_credentials"
    assert first.claims["appid"] == APP and first.claims["tid"] == PARTNER
    assert first.useful_claims["idtyp"] == "app" and "jti" not in first.useful_claims
    second = tp.get_token()
    assert second.token_source == "cache" and second.token == first.token
    assert token_posts(session) == 1
    assert first.token not in repr(first)


def test_fresh_bypasses_the_cache_and_replaces_it(session, idp):
    tp = provider(session)
    first = tp.get_token()
    fresh = tp.get_token(fresh=True)
    assert fresh.token_source == "identity_provider" and fresh.token != first.token
    assert tp.get_token().token == fresh.token
    assert token_posts(session) == 2


def test_tenants_and_resources_never_mix(session, idp):
    tp = provider(session)
    tokens = {
        ("partner", "graph"): tp.get_token(),
        ("customer", "graph"): tp.get_token(tenant=CUSTOMER),
        ("customer2", "graph"): tp.get_token(tenant=CUSTOMER2),
        ("partner", "pc"): tp.get_token(resource="partner_center"),
        ("partner", "arm"): tp.get_token(resource="azure_management"),
    }
    assert len({t.token for t in tokens.values()}) == 5
    assert tokens[("customer", "graph")].claims["tid"] == CUSTOMER
    assert tokens[("partner", "pc")].claims["aud"] == "https://api.partnercenter.microsoft.com"
    assert token_posts(session) == 5
    for key, token in tokens.items():
        tenant = {"partner": PARTNER, "customer": CUSTOMER, "customer2": CUSTOMER2}[key[0]]
        again = tp.get_token(tenant=tenant, resource={"graph": "graph", "pc": "partner_center",
                                                      "arm": "azure_management"}[key[1]])
        assert again.token == token.token and again.token_source == "cache"
    assert token_posts(session) == 5


def test_persistent_cache_is_shared_between_runs(session, idp, tmp_path):
    cache_dir = tmp_path / "cache"
    first = provider(session, token_cache_path=str(cache_dir)).get_token()
    # a new provider (another module run / fork) finds it on disk
    second = provider(session, token_cache_path=str(cache_dir)).get_token()
    assert second.token_source == "cache" and second.token == first.token
    assert token_posts(session) == 1
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    for path in cache_dir.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path.name


def test_persistent_cache_keys_apps_hosts_and_credentials_apart(session, idp, tmp_path):
    cache = str(tmp_path)
    a = provider(session, token_cache_path=cache).get_token()
    b = provider(session, token_cache_path=cache, client_id=APP2, client_secret="second-app-secret-0002").get_token()
    assert b.token != a.token and b.claims["appid"] == APP2
    # the same app with another (rotated) secret does not reuse tokens obtained with the old one
    idp.secrets[APP] = "rotated-secret-value"
    c = provider(session, token_cache_path=cache, client_secret="rotated-secret-value").get_token()
    assert c.token_source == "identity_provider"
    # another login host (cloud / emulator) never sees these files
    other = csp_fakes.FakeIdentityPlatform(session, host="https://login2.example.test")
    d = provider(session, token_cache_path=cache, authority_host=other.host).get_token()
    assert d.token_source == "identity_provider"
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".json") and "accounts" not in p.name)
    assert len(files) == 4
    assert not any("secret" in name for name in files)


def test_concurrent_writers_keep_each_others_tokens(session, idp, tmp_path):
    # two runs loaded the cache before either wrote: both tokens must survive
    cache = str(tmp_path)
    p1 = provider(session, token_cache_path=cache)
    p2 = provider(session, token_cache_path=cache)
    t1 = p1.get_token(tenant=CUSTOMER)
    t2 = p2.get_token(tenant=CUSTOMER2)
    p3 = provider(session, token_cache_path=cache)
    assert p3.get_token(tenant=CUSTOMER).token == t1.token
    assert p3.get_token(tenant=CUSTOMER2).token == t2.token
    assert token_posts(session) == 2


def test_damaged_cache_file_is_ignored(session, idp, tmp_path):
    provider(session, token_cache_path=str(tmp_path)).get_token()
    for path in tmp_path.glob("*.json"):
        path.write_text("{not json")
    assert provider(session, token_cache_path=str(tmp_path)).get_token().token_source == "identity_provider"


def test_a_damaged_cache_state_is_a_miss_and_is_written_anew(session, idp, tmp_path):
    provider(session, token_cache_path=str(tmp_path)).get_token()
    state, = [p for p in tmp_path.glob("msal-*.json") if not p.name.endswith(".accounts.json")]
    state.write_text("{not json")
    assert provider(session, token_cache_path=str(tmp_path)).get_token().token_source == "identity_provider"
    assert json.loads(state.read_text())["AccessToken"]
    assert provider(session, token_cache_path=str(tmp_path)).get_token().token_source == "cache"


def test_the_cache_file_is_parsed_once_per_read(session, idp, tmp_path, monkeypatch):
    """A cache at a thousand customers is megabytes: a token read parses it once, a token write once more."""
    provider(session, token_cache_path=str(tmp_path)).get_token(tenant=CUSTOMER)
    parses = []
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        if '"AccessToken"' in (text if isinstance(text, str) else ""):
            parses.append(len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    assert provider(session, token_cache_path=str(tmp_path)).get_token(tenant=CUSTOMER).token_source == "cache"
    assert len(parses) == 1
    parses.clear()
    assert provider(session, token_cache_path=str(tmp_path)).get_token(tenant=CUSTOMER2).token_source == "identity_provider"
    assert len(parses) == 2  # the read before the request, and the newest file before the write


def test_refresh_token_grant_rotates_and_caches(session, idp):
    tp = provider(session, refresh_token=RT_SEED)
    pc = tp.get_token(resource="partner_center")
    assert pc.grant == "refresh_token" and pc.claims["idtyp"] == "user"
    assert pc.scopes == ["https://api.partnercenter.microsoft.com/user_impersonation"]
    assert pc.refresh_token and pc.refresh_token != RT_SEED
    again = tp.get_token(resource="partner_center")
    assert again.token_source == "cache" and again.refresh_token == pc.refresh_token
    assert token_posts(session) == 1


def test_refresh_token_for_customer_tenant_uses_rotated_token(session, idp):
    tp = provider(session, refresh_token=RT_SEED)
    partner = tp.get_token(resource="partner_center")
    customer = tp.get_token(tenant=CUSTOMER)
    assert customer.claims["tid"] == CUSTOMER and customer.grant == "refresh_token"
    posts = [c for c in session.calls if c.method == "POST"]
    assert posts[0].data["refresh_token"] == RT_SEED
    assert posts[1].data["refresh_token"] == partner.refresh_token  # the newest one, from the cache
    assert "/%s/oauth2" % CUSTOMER in posts[1].url


def test_refresh_token_persisted_across_runs(session, idp, tmp_path):
    first = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token()
    second = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token()
    assert second.token_source == "cache" and second.refresh_token == first.refresh_token
    fresh = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token(fresh=True)
    assert fresh.token_source == "identity_provider"
    posts = [c for c in session.calls if c.method == "POST"]
    assert len(posts) == 2 and posts[1].data["refresh_token"] == first.refresh_token
    # app-only and user tokens of the same tenant and scope do not mix
    app_only = provider(session, token_cache_path=str(tmp_path)).get_token()
    assert app_only.grant == "client_credentials" and app_only.claims["idtyp"] == "app"


def test_cached_refresh_token_revoked_falls_back_to_configured_one(session, idp, tmp_path):
    first = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token()
    del idp.refresh_tokens[first.refresh_token]  # the rotated one dies, the seed still works
    token = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token(fresh=True)
    assert token.token_source == "identity_provider"
    assert [c.data["refresh_token"] for c in session.calls if c.method == "POST"][-1] == RT_SEED


def test_plain_refresh_token_is_redeemed_through_the_store_rotation(session, idp, tmp_path, monkeypatch):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import RefreshTokenStore
    rotations = []
    real_rotate = RefreshTokenStore.rotate

    def spy(self, exchange, metadata=None):
        rotations.append(self.describe())
        return real_rotate(self, exchange, metadata=metadata)

    monkeypatch.setattr(RefreshTokenStore, "rotate", spy)
    # no token cache: an in-memory store seeded with the option's token
    tp = provider(session, refresh_token=RT_SEED)
    first = tp.get_token(resource="partner_center")
    tp.get_token(tenant=CUSTOMER)
    assert rotations == [tp.seed_store.describe()] * 2 and tp.seed_store.type == "memory"
    assert tp.seed_store.load().token == tp.get_token(tenant=CUSTOMER).refresh_token != first.refresh_token
    # with token_cache_path: a 0600 file store beside the cache, the only home of the rotated token
    rotations[:] = []
    cached = provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path))
    token = cached.get_token()
    store = cached.seed_store
    assert rotations == [store.describe()] and store.type == "file"
    assert os.path.dirname(store.path) == str(tmp_path) and stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    stored = store.load()
    assert stored.version == 2 and stored.previous_version == 1 and stored.token == token.refresh_token
    for name in os.listdir(str(tmp_path)):
        if name != os.path.basename(store.path):
            with open(os.path.join(str(tmp_path), name)) as handle:
                text = handle.read()
            assert token.refresh_token not in text and RT_SEED not in text


def test_expired_refresh_token_error_has_code_hint_and_no_secret(session, idp):
    tp = provider(session, refresh_token="unknown-refresh-token-value")
    with pytest.raises(CspAuthError) as info:
        tp.get_token()
    err = info.value
    assert err.code == "AADSTS700082" and "90 days" in err.hint
    assert err.request_id == "trace-700082"
    assert "unknown-refresh-token-value" not in str(err.to_result()) + str(err)


def test_wrong_secret(session, idp):
    with pytest.raises(CspAuthError) as info:
        provider(session, client_secret="wrong-secret-value").get_token()
    assert info.value.code == "AADSTS7000215" and info.value.status == 401
    assert "client_secret" in info.value.hint


def test_consent_missing_in_customer_tenant(session, idp):
    idp.errors[CUSTOMER] = (65001, "invalid_grant")
    with pytest.raises(CspAuthError) as info:
        provider(session).get_token(tenant=CUSTOMER)
    assert info.value.code == "AADSTS65001" and "consent" in info.value.hint.lower()


def test_domain_is_resolved_once(session, idp):
    tp = provider(session, tenant_id="contoso.onmicrosoft.com")
    assert tp.get_token().tenant_id == PARTNER
    assert tp.get_token().token_source == "cache"
    assert session.count("GET", "contoso.onmicrosoft.com") == 1


def test_unknown_domain(session, idp):
    with pytest.raises(CspAuthError) as info:
        provider(session, tenant_id="nowhere.example").get_token()
    assert info.value.code == "AADSTS90002"


def test_delegated_needs_refresh_token(session, idp):
    with pytest.raises(CspValidationError):
        provider(session).get_token(grant="refresh_token")


def test_reserved_scope_is_a_validation_error(session, idp):
    with pytest.raises(CspValidationError):
        provider(session, refresh_token=RT_SEED).get_token(resource="openid")


def test_certificate_grant_sends_an_assertion(session, idp, tmp_path):
    from test_options import _key_and_cert
    key_pem, cert_pem, dummy = _key_and_cert()
    pem = tmp_path / "app.pem"
    pem.write_bytes(key_pem + cert_pem)
    token = provider(session, client_secret=None, client_certificate_path=str(pem)).get_token()
    post = [c for c in session.calls if c.method == "POST"][0]
    assert post.data["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assertion = post.data["client_assertion"]
    assertion = assertion.decode() if isinstance(assertion, bytes) else assertion
    header = decode_jwt_claims("x." + assertion.split(".")[0] + ".y")
    assert header["alg"] == "RS256" and header["x5t"]
    assert token.token_source == "identity_provider"
    assert assertion not in redact(str(post.data))


def test_tokens_are_registered_for_redaction(session, idp):
    token = provider(session, refresh_token=RT_SEED).get_token()
    assert token.token not in redact("leak %s" % token.token)
    assert token.refresh_token not in redact("leak %s" % token.refresh_token)


def test_decode_jwt_claims():
    assert decode_jwt_claims(csp_fakes.jwt({"a": 1})) == {"a": 1}
    assert decode_jwt_claims("opaque") == {}
    assert decode_jwt_claims(None) == {}


def test_account_index_holds_no_secret(session, idp, tmp_path):
    provider(session, refresh_token=RT_SEED, token_cache_path=str(tmp_path)).get_token()
    index = next(tmp_path.glob("*.accounts.json"))
    text = index.read_text()
    assert RT_SEED not in text
    assert list(json.loads(text)["accounts"].values()) == ["%s.%s" % (csp_fakes.USER_OID, PARTNER)]


# --- delegated ".default": MSAL files the token under the granted names, not under ".default" -----

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]


def _user_token_targets(tp):
    cache = tp.store.cache
    return [e["target"] for e in cache.search(cache.CredentialType.ACCESS_TOKEN) if e.get("home_account_id")]


def test_delegated_default_scope_is_served_from_the_cache(session, idp):
    tp = provider(session, refresh_token=RT_SEED)
    first = tp.get_token()
    assert first.token_source == "identity_provider" and first.scopes == GRAPH_DEFAULT
    # the premise: the service granted names, so MSAL's own lookup by ".default" cannot match
    assert _user_token_targets(tp) == ["Directory.AccessAsUser.All Group.ReadWrite.All email openid profile"]
    second = tp.get_token()
    assert second.token_source == "cache" and second.token == first.token
    assert second.expires_on == first.expires_on
    assert token_posts(session) == 1


def test_delegated_default_scope_is_cached_across_runs(session, idp, tmp_path):
    cache = str(tmp_path)
    # three module runs, all started before any of them wrote the cache
    runs = [provider(session, refresh_token=RT_SEED, token_cache_path=cache) for dummy in range(3)]
    partner = runs[0].get_token()
    again = runs[1].get_token()
    assert again.token_source == "cache" and again.token == partner.token
    customer = runs[1].get_token(tenant=CUSTOMER)
    assert customer.token_source == "identity_provider" and customer.claims["tid"] == CUSTOMER
    assert runs[2].get_token(tenant=CUSTOMER).token_source == "cache"
    assert runs[2].get_token().token == partner.token
    assert token_posts(session) == 2
    text = next(tmp_path.glob("*.accounts.json")).read_text()
    assert len(json.loads(text)["targets"]) == 2
    assert partner.token not in text and RT_SEED not in text and partner.refresh_token not in text


def test_fresh_bypasses_the_delegated_cache_and_replaces_it(session, idp, tmp_path):
    cache = str(tmp_path)
    first = provider(session, refresh_token=RT_SEED, token_cache_path=cache).get_token()
    fresh = provider(session, refresh_token=RT_SEED, token_cache_path=cache).get_token(fresh=True)
    assert fresh.token_source == "identity_provider" and fresh.token != first.token
    again = provider(session, refresh_token=RT_SEED, token_cache_path=cache).get_token()
    assert again.token_source == "cache" and again.token == fresh.token
    assert token_posts(session) == 2


def test_delegated_token_within_five_minutes_of_expiry_is_not_served(session, idp):
    idp.expires_in = 299
    tp = provider(session, refresh_token=RT_SEED)
    first = tp.get_token()
    second = tp.get_token()
    assert second.token_source == "identity_provider" and second.token != first.token
    assert token_posts(session) == 2


def test_aging_delegated_token_is_refreshed_and_kept_when_refresh_fails(session, idp):
    idp.refresh_in = -1  # past its refresh_on as soon as it is issued
    tp = provider(session, refresh_token=RT_SEED)
    first = tp.get_token()
    refreshed = tp.get_token()
    assert refreshed.token_source == "identity_provider" and refreshed.token != first.token
    idp.errors[PARTNER] = (50058, "invalid_grant")
    kept = tp.get_token()
    assert kept.token_source == "cache" and kept.token == refreshed.token


def test_forget_tenant_drops_only_that_tenants_cached_tokens(session, idp, tmp_path):
    """After a consent change in a customer tenant the next run there must get a new token (new claims)."""
    cache = str(tmp_path)
    first = provider(session, refresh_token=RT_SEED, token_cache_path=cache)
    partner = first.get_token()
    first.get_token(tenant=CUSTOMER)
    first.get_token(tenant=CUSTOMER, resource="partner_center")
    first.get_token(tenant=CUSTOMER2)
    posts = token_posts(session)
    first.forget_tenant(CUSTOMER)
    later = provider(session, refresh_token=RT_SEED, token_cache_path=cache)  # the next module run
    assert later.get_token(tenant=CUSTOMER).token_source == "identity_provider"
    assert later.get_token(tenant=CUSTOMER2).token_source == "cache"
    assert later.get_token().token == partner.token
    assert token_posts(session) == posts + 1


# --- discovery: once per authority, not once per module process ----------------------------
def discovery_gets(session):
    return session.count("GET", r"/\.well-known/openid-configuration")


def test_discovery_is_fetched_once_per_authority_across_processes(session, idp, tmp_path):
    cache = str(tmp_path)
    for _run in range(3):  # three module runs, each a new provider as in a new process
        provider(session, token_cache_path=cache).get_token()
        provider(session, token_cache_path=cache).get_token(tenant=CUSTOMER, fresh=True)
    assert discovery_gets(session) == 2  # the partner tenant and the customer tenant, once each
    name = next(p for p in tmp_path.iterdir() if p.name.startswith("discovery-"))
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
    text = name.read_text()
    assert "token_endpoint" in text and "eyJ" not in text and "secret" not in text


def test_discovery_cache_expires_and_a_damaged_file_is_only_a_miss(session, idp, tmp_path):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.identity import token_cache
    cache = str(tmp_path)
    provider(session, token_cache_path=cache).get_token()
    name = next(p for p in tmp_path.iterdir() if p.name.startswith("discovery-"))
    data = json.loads(name.read_text())
    for entry in data["entries"].values():
        entry["expires_at"] = 1
    name.write_text(json.dumps(data))
    provider(session, token_cache_path=cache).get_token(fresh=True)
    assert discovery_gets(session) == 2
    name.write_text("{not json")
    provider(session, token_cache_path=cache).get_token(fresh=True)
    assert discovery_gets(session) == 3
    assert token_cache.DISCOVERY_TTL == 24 * 3600


def test_a_failed_discovery_is_not_cached(session, tmp_path):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.http import MsalHttpAdapter
    from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.token_cache import FileTokenStore
    url = "https://login.example.test/%s/v2.0/.well-known/openid-configuration" % PARTNER
    session.queue("GET", r"openid-configuration", csp_fakes.FakeRaw(400, {"error": "invalid_tenant"}),
                  csp_fakes.FakeRaw(200, {"token_endpoint": "https://login.example.test/t/oauth2/v2.0/token"}))
    store = FileTokenStore(str(tmp_path), "https://login.example.test", APP, "fp")
    for expected in (400, 200, 200):
        adapter = MsalHttpAdapter(csp_fakes.make_http(session), discovery=store.discovery)
        assert adapter.get(url).status_code == expected
    assert discovery_gets(session) == 2
