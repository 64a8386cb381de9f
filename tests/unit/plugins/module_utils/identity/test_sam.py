"""SAM health classification, the device code state file, and the device code sign-in's MSAL app."""

import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity import sam
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspAuthError
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import RefreshTokenStoreError

import csp_fakes
from csp_fakes import PARTNER


@pytest.mark.parametrize("code, status, action", [
    ("AADSTS700082", "expired", "redo_consent"),
    ("AADSTS50173", "revoked", "redo_consent"),
    ("AADSTS70043", "conditional_access", "review_conditional_access"),
    ("AADSTS53003", "conditional_access", "review_conditional_access"),
    ("AADSTS50076", "mfa_required", "redo_consent_with_mfa"),
    ("AADSTS65001", "consent_missing", "grant_consent"),
    ("AADSTS90099", "consent_missing", "grant_consent"),
    ("AADSTS7000222", "credential_expired", "rotate_app_credential"),
])
def test_classify_aadsts(code, status, action):
    health = sam.classify(CspAuthError("failed", code=code))
    assert (health["status"], health["action"], health["code"]) == (status, action, code)
    assert health["action_text"] == sam.ACTIONS[action]


def test_classify_success_and_expiring():
    assert sam.classify(None, days_left=80)["status"] == "ok"
    expiring = sam.classify(None, days_left=5, warn_days=14)
    assert (expiring["status"], expiring["action"]) == ("expiring", "renew")


def test_classify_store_errors():
    empty = sam.classify(RefreshTokenStoreError("nothing", code="RefreshTokenStoreEmpty"))
    assert (empty["status"], empty["action"]) == ("not_consented", "redo_consent")
    other = sam.classify(RefreshTokenStoreError("locked", code="RefreshTokenStoreLocked"))
    assert (other["status"], other["action"]) == ("store_error", "investigate")


def test_classify_unknown_error():
    assert sam.classify(CspAuthError("odd", code="AADSTS1234567"))["status"] == "error"


def test_device_flow_state_file_is_private_and_public_view_has_no_device_code(tmp_path):
    path = str(tmp_path / "flows" / "flow.json")
    flow = sam.DeviceFlow({"device_code": "DAQABAAEAAA-secret-device-code", "user_code": "ABCDEFGHJ",
                           "verification_uri": "https://microsoft.com/devicelogin", "message": "go",
                           "expires_at": 2000000000, "interval": 5, "tenant": "t"})
    flow.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    loaded = sam.DeviceFlow.load(path)
    assert loaded.data["device_code"] == "DAQABAAEAAA-secret-device-code"
    assert "device_code" not in loaded.public() and "DAQ" not in str(loaded.public())
    assert not loaded.expired(now=1999999999) and loaded.expired(now=2000000000)
    sam.DeviceFlow.remove(path)
    assert sam.DeviceFlow.load(path) is None


def test_flow_path_differs_per_tenant_and_app(tmp_path):
    a = sam.flow_path_for(str(tmp_path), "https://login", "t1", "app")
    b = sam.flow_path_for(str(tmp_path), "https://login", "t2", "app")
    assert a != b and a.startswith(str(tmp_path))


def _device_code_idp(session, idp):
    """The fake identity platform plus the device authorization grant (approved at once, with MFA)."""
    session.route("POST", r"/oauth2/v2\.0/devicecode", lambda call: csp_fakes.FakeRaw(200, {
        "device_code": "DAQABAAEAAA-device-code-secret", "user_code": "BCDFGHJKL", "interval": 1,
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "message": "enter BCDFGHJKL"}))

    def token(call):
        data = call.data if isinstance(call.data, dict) else {k: v[0] for k, v in parse_qs(call.data).items()}
        if not data.get("grant_type", "").endswith("device_code"):
            return idp.token(call)
        claims = {"tid": PARTNER, "upn": "integration@contoso.onmicrosoft.com", "exp": int(time.time()) + 3600,
                  "amr": ["pwd", "mfa"]}
        return csp_fakes.FakeRaw(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": csp_fakes.jwt(claims),
                                       "refresh_token": "device-code-refresh-token-0001"})
    session.route("POST", r"/oauth2/v2\.0/token", token)


def test_device_flow_uses_the_msal_app_factory_of_the_token_provider(session, idp, tmp_path):
    """The sign-in's MSAL app comes from the provider's ``MsalApps``: the run's HTTP client (CA bundle
    verification), one discovery for the sign-in and the token requests after it (the shared discovery and
    http caches, persisted beside the token cache), the same authority, app name and version on every request;
    its token cache is private, so the sign-in's refresh token never reaches the shared token cache."""
    _device_code_idp(session, idp)
    cache_dir = str(tmp_path / "cache")
    client = sam.SamClient(csp_fakes.options(token_cache_path=cache_dir).validate(), csp_fakes.make_http(session))
    result = client.poll_device_code(client.start_device_code(), timeout=0)
    assert result["refresh_token"] == "device-code-refresh-token-0001"
    client.tokens.get_token(grant="client_credentials")  # the provider's own app, same tenant
    assert session.count("GET", "openid-configuration") == 1
    posts = [c for c in session.calls if c.method == "POST"]
    assert [urlsplit(c.url).path for c in posts] == [
        "/%s/oauth2/v2.0/devicecode" % PARTNER, "/%s/oauth2/v2.0/token" % PARTNER, "/%s/oauth2/v2.0/token" % PARTNER]
    for call in session.calls:
        assert call.verify == "/tmp/ca.pem" and call.url.startswith(csp_fakes.LOGIN)
    for call in posts:
        headers = {k.lower(): v for k, v in call.headers.items()}
        assert (headers.get("x-app-name"), headers.get("x-app-ver")) == ("cloudpartner.csp", COLLECTION_VERSION)
    apps = client.tokens.apps
    device_app, token_app = apps.get(PARTNER, private_cache=True), apps.get(PARTNER)
    assert device_app is client._app(PARTNER) and device_app is not token_app
    assert device_app.authority.token_endpoint == token_app.authority.token_endpoint
    # a later run finds the discovery answer on disk: no discovery request at all
    later = sam.SamClient(csp_fakes.options(token_cache_path=cache_dir).validate(), csp_fakes.make_http(session))
    later.start_device_code()
    assert session.count("GET", "openid-configuration") == 1
    # the sign-in's refresh token is nowhere in the shared token cache (in memory or on disk)
    store_cache = client.tokens.store.cache
    assert not list(store_cache.search(store_cache.CredentialType.REFRESH_TOKEN))
    for name in os.listdir(cache_dir):
        with open(os.path.join(cache_dir, name), encoding="utf-8") as handle:
            assert "device-code-refresh-token-0001" not in handle.read()


def test_device_flow_at_an_unknown_tenant_fails_with_microsofts_error(session, idp):
    """A failed discovery while the factory builds the sign-in's app comes back as Microsoft's error."""
    gone = "90000000-0000-4000-8000-000000000009"
    session.route("GET", gone + r"/v2\.0/\.well-known/openid-configuration", lambda call: csp_fakes.FakeRaw(400, {
        "error": "invalid_tenant", "error_description": "AADSTS90002: Tenant '%s' not found. Trace ID: t" % gone,
        "error_codes": [90002], "trace_id": "trace-90002", "correlation_id": "corr-90002"}))
    client = sam.SamClient(csp_fakes.options().validate(), csp_fakes.make_http(session))
    with pytest.raises(CspAuthError) as err:
        client.start_device_code(tenant=gone)
    assert err.value.code == "AADSTS90002" and "OpenID discovery for tenant %s" % gone in err.value.message
    assert session.count("POST") == 0
