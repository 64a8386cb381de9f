"""refresh_token, sam_device_code and app_credentials_info: validation first, check mode, no tokens out."""

import json
import os
import re
import time
from urllib.parse import parse_qs


from ansible_collections.cloudpartner.csp.plugins.modules import (
    app_credentials_info,
    app_secret_rotate,
    refresh_token,
    sam_device_code,
)

import csp_fakes
from csp_fakes import APP, CONNECTION, FakeRaw, PARTNER, RT_SEED, SECRET


run = csp_fakes.run_module


def seed(tmp_path, token=RT_SEED):
    path = tmp_path / "rt.json"
    path.write_text(token + "\n")
    return str(path)


def no_secret(result, *values):
    text = json.dumps(result)
    return all(v not in text for v in values) and not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.", text)


# --- refresh_token --------------------------------------------------------------------
def test_refresh_token_bad_store_fails_before_any_request(fake_http, idp, capsys):
    code, result = run(refresh_token, dict(CONNECTION, store="s3://bucket/key"), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidRefreshTokenStore"
    assert fake_http.calls == []


def test_refresh_token_empty_store(fake_http, idp, tmp_path, capsys):
    code, result = run(refresh_token, dict(CONNECTION, store=str(tmp_path / "none.json")), capsys)
    assert code == 1 and result["error"]["code"] == "RefreshTokenStoreEmpty"
    assert result["health"]["status"] == "not_consented" and fake_http.calls == []


def test_refresh_token_check_mode_sends_nothing(fake_http, idp, tmp_path, capsys):
    path = seed(tmp_path)
    code, result = run(refresh_token, dict(CONNECTION, store=path), capsys, check_mode=True, diff=True)
    assert code == 0 and result["changed"] and not result["renewed"]
    assert result["diff"] == {"before": {"version": 0, "stored_at": None}, "after": {"version": 1, "stored_at": "(now)"}}
    assert fake_http.calls == [] and open(path).read() == RT_SEED + "\n"


def test_refresh_token_renews_and_returns_no_token(fake_http, idp, tmp_path, capsys):
    path = seed(tmp_path)
    code, result = run(refresh_token, dict(CONNECTION, store=path), capsys, diff=True)
    assert code == 0 and result["changed"] and result["renewed"]
    info = result["refresh_token_info"]
    assert info["version"] == 1 and info["previous_version"] == 0 and info["days_left"] == 90.0
    assert result["health"]["status"] == "ok" and result["claims"]["tid"] == PARTNER
    stored = json.loads(open(path).read())["refresh_token"]
    assert no_secret(result, RT_SEED, stored, SECRET)
    assert os.stat(path).st_mode & 0o777 == 0o600
    # young enough: not renewed, nothing sent
    calls = len(fake_http.calls)
    code, again = run(refresh_token, dict(CONNECTION, store=path, renew_if_older_than_days=1), capsys)
    assert code == 0 and not again["changed"] and not again["renewed"] and len(fake_http.calls) == calls


def test_refresh_token_error_is_reported_with_an_action(fake_http, idp, tmp_path, capsys):
    idp.errors[PARTNER] = (700082, "invalid_grant")
    path = seed(tmp_path)
    code, result = run(refresh_token, dict(CONNECTION, store=path, fail_on_error=False), capsys)
    assert code == 0 and not result["changed"]
    assert result["health"]["status"] == "expired" and result["health"]["action"] == "redo_consent"
    assert result["error"]["code"] == "AADSTS700082"
    code, failed = run(refresh_token, dict(CONNECTION, store=path), capsys)
    assert code == 1 and failed["error"]["code"] == "AADSTS700082" and failed["health"]["code"] == "AADSTS700082"
    assert no_secret(failed, RT_SEED, SECRET)


def test_refresh_token_with_a_key_vault_store_uses_one_token_provider(fake_http, idp, capsys):
    """The vault's app-only token and the exchange come from the module's one TokenProvider: one OpenID
    discovery of the partner tenant, one MSAL app per kind, no second token cache."""
    vault = csp_fakes.PagedFakeVault(fake_http)
    vault.seed(RT_SEED)
    code, result = run(refresh_token, dict(CONNECTION, store="keyvault://kv/us-rt"), capsys)
    assert code == 0 and result["renewed"] and result["refresh_token_info"]["version"] == 1, result
    assert fake_http.count("GET", "openid-configuration") == 1
    assert [issued[2] for issued in idp.issued] == ["client_credentials", "refresh_token"]
    assert no_secret(result, RT_SEED, SECRET)


# --- sam_device_code -------------------------------------------------------------------
class DeviceFlow:
    def __init__(self, session, idp):
        self.approved = False
        self.mfa = True
        session.route("POST", r"/oauth2/v2\.0/devicecode", self.start)
        session.route("POST", r"/oauth2/v2\.0/token", lambda call: self.token(call, idp))

    def start(self, call):
        return FakeRaw(200, {"device_code": "DAQABAAEAAA-device-code-secret", "user_code": "BCDFGHJKL",
                             "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900,
                             "interval": 1, "message": "To sign in, enter the code BCDFGHJKL"})

    def token(self, call, idp):
        data = call.data if isinstance(call.data, dict) else {k: v[0] for k, v in parse_qs(call.data).items()}
        if not data.get("grant_type", "").endswith("device_code"):
            return idp.token(call)
        assert data["device_code"] == "DAQABAAEAAA-device-code-secret" and data["client_secret"] == SECRET
        if not self.approved:
            return FakeRaw(400, {"error": "authorization_pending", "error_description": "AADSTS70016: pending",
                                 "error_codes": [70016]})
        claims = {"tid": PARTNER, "upn": "integration@contoso.onmicrosoft.com", "exp": int(time.time()) + 3600,
                  "amr": ["pwd", "mfa"] if self.mfa else ["pwd"]}
        return FakeRaw(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": csp_fakes.jwt(claims),
                             "refresh_token": "device-code-refresh-token-0001"})


def test_device_code_start_keeps_the_device_code_private(fake_http, idp, tmp_path, capsys):
    flow = DeviceFlow(fake_http, idp)
    args = dict(CONNECTION, flow_dir=str(tmp_path / "flows"))
    code, check = run(sam_device_code, args, capsys, check_mode=True)
    assert code == 0 and check["changed"] and "user_code" not in check and fake_http.calls == []
    code, started = run(sam_device_code, args, capsys)
    assert code == 0 and started["changed"] and started["user_code"] == "BCDFGHJKL"
    assert "DAQABAAEAAA" not in json.dumps(started)
    code, again = run(sam_device_code, args, capsys)
    assert not again["changed"] and again["pending"] and again["user_code"] == "BCDFGHJKL"
    assert fake_http.count("POST", "devicecode") == 1
    store = str(tmp_path / "rt.json")
    code, pending = run(sam_device_code, dict(args, state="completed", store=store, timeout=0), capsys)
    assert code == 1 and pending["error"]["code"] == "AADSTS70016"
    flow.approved = True
    code, done = run(sam_device_code, dict(args, state="completed", store=store), capsys)
    assert code == 0 and done["changed"] and done["user"] == "integration@contoso.onmicrosoft.com"
    assert done["refresh_token_info"]["version"] == 1 and done["refresh_token_info"]["source"] == "device_code"
    assert json.loads(open(store).read())["refresh_token"] == "device-code-refresh-token-0001"
    assert no_secret(done, "device-code-refresh-token-0001", "DAQABAAEAAA")
    code, gone = run(sam_device_code, dict(args, state="completed", store=store), capsys)
    assert code == 1 and gone["error"]["code"] == "NoPendingDeviceCode"


def test_device_code_without_mfa_is_refused(fake_http, idp, tmp_path, capsys):
    flow = DeviceFlow(fake_http, idp)
    flow.approved, flow.mfa = True, False
    args = dict(CONNECTION, flow_dir=str(tmp_path / "flows"))
    run(sam_device_code, args, capsys)
    store = str(tmp_path / "rt.json")
    code, result = run(sam_device_code, dict(args, state="completed", store=store), capsys)
    assert code == 1 and result["error"]["code"] == "AADSTS50076"
    assert result["health"]["status"] == "mfa_required" and not os.path.exists(store)


def test_device_code_completed_needs_a_store(fake_http, idp, tmp_path, capsys):
    code, result = run(sam_device_code, dict(CONNECTION, state="completed"), capsys)
    assert code == 1 and "store" in result["msg"] and fake_http.calls == []


KEY_ID = "70000000-0000-4000-8000-%012d"  # Graph key ids are GUIDs


# --- app_credentials_info -----------------------------------------------------------------
def test_app_credentials_expiring_and_expired(fake_http, idp, capsys):
    def iso(days):
        return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(time.time() + days * 86400))

    app = {"id": "13000000-0000-4000-8000-000000000001", "appId": APP, "displayName": "Contoso CSP App",
           "passwordCredentials": [
               {"keyId": "k1", "displayName": "automation", "hint": "abc", "endDateTime": iso(700)},
               {"keyId": "k2", "displayName": "rotate-me", "hint": "def", "endDateTime": iso(20)},
               {"keyId": "k3", "displayName": "old", "hint": "ghi", "endDateTime": iso(-10)}],
           "keyCredentials": [{"keyId": "c1", "displayName": "CN=cert", "endDateTime": iso(10)}]}
    fake_http.route("GET", r"/v1\.0/applications\(appId='%s'\)" % APP, lambda call: FakeRaw(200, app))
    code, result = run(app_credentials_info, dict(CONNECTION, within_days=30), capsys)
    assert code == 0 and not result["changed"]
    assert [c["display_name"] for c in result["expiring"]] == ["CN=cert", "rotate-me"]
    assert [c["display_name"] for c in result["expired"]] == ["old"]
    assert result["credentials"][0]["display_name"] == "old" and result["credentials"][0]["days_left"] < 0
    assert result["application"]["app_id"] == APP


def test_app_credentials_bad_input(fake_http, idp, capsys):
    code, result = run(app_credentials_info, dict(CONNECTION, app_id="my-app"), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidAppId" and fake_http.calls == []
    code, result = run(app_credentials_info, dict(CONNECTION, within_days=-1), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidWithinDays"


# --- app_secret_rotate ----------------------------------------------------------------------
class FakeAppSecrets:
    def __init__(self, session, idp, days=(700, 20)):
        self.idp = idp
        now = time.time()
        self.creds = [{"keyId": KEY_ID % i, "displayName": "s%d" % i, "hint": SECRET[:3],
                       "endDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + d * 86400))}
                      for i, d in enumerate(days)]
        self.order = []
        base = r"/v1\.0/applications\(appId='%s'\)" % APP
        session.route("GET", base, lambda call: FakeRaw(200, {"id": "obj", "appId": APP,
                                                              "passwordCredentials": self.creds}))
        session.route("POST", base + "/addPassword", self.add)
        session.route("POST", base + "/removePassword", self.remove)

    def add(self, call):
        self.order.append("add")
        self.idp.secrets[APP + "-new"] = "brand-new-secret-value-0001"
        entry = {"keyId": "knew", "displayName": call.json["passwordCredential"]["displayName"], "hint": "bra",
                 "endDateTime": call.json["passwordCredential"]["endDateTime"],
                 "secretText": "brand-new-secret-value-0001"}
        self.creds.append(dict(entry, secretText=None))
        return FakeRaw(200, entry)

    def remove(self, call):
        self.order.append("remove:" + call.json["keyId"])
        self.creds = [c for c in self.creds if c["keyId"] != call.json["keyId"]]
        return FakeRaw(204)


def test_secret_rotation_adds_stores_verifies_then_removes(fake_http, idp, tmp_path, capsys, monkeypatch):
    apps = FakeAppSecrets(fake_http, idp)
    store = str(tmp_path / "secret.json")
    verified = []

    def fake_verify(module, options, secret, timeout, sleep=None):
        apps.order.append("verify")
        verified.append(secret)
        return True
    monkeypatch.setattr(app_secret_rotate, "verify", fake_verify)
    code, check = run(app_secret_rotate, dict(CONNECTION, secret_store=store), capsys, check_mode=True)
    assert code == 0 and check["changed"] and check["old_secret"]["key_id"] == KEY_ID % 1
    assert apps.order == [] and not os.path.exists(store)
    code, result = run(app_secret_rotate, dict(CONNECTION, secret_store=store), capsys, diff=True)
    assert code == 0 and result["rotated"] and result["verified"]
    assert apps.order == ["add", "verify", "remove:" + KEY_ID % 1]
    assert verified == ["brand-new-secret-value-0001"]
    assert json.loads(open(store).read())["refresh_token"] == "brand-new-secret-value-0001"
    assert no_secret(result, "brand-new-secret-value-0001", SECRET)
    code, again = run(app_secret_rotate, dict(CONNECTION, secret_store=store, key_id=KEY_ID % 1), capsys)
    assert code == 0 and not again["changed"] and apps.order == ["add", "verify", "remove:" + KEY_ID % 1]


def test_secret_rotation_keeps_the_old_secret_when_the_new_one_fails(fake_http, idp, tmp_path, capsys, monkeypatch):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspAuthError
    apps = FakeAppSecrets(fake_http, idp)

    def failing_verify(module, options, secret, timeout, sleep=None):
        raise CspAuthError("Invalid client secret provided.", code="AADSTS7000215")
    monkeypatch.setattr(app_secret_rotate, "verify", failing_verify)
    code, result = run(app_secret_rotate, dict(CONNECTION, secret_store=str(tmp_path / "s.json")), capsys)
    assert code == 1 and result["error"]["code"] == "AADSTS7000215"
    assert result["new_secret_key_id"] == "knew" and "old one was kept" in result["msg"]
    assert apps.order == ["add"]  # never removed


def test_secret_rotation_not_due(fake_http, idp, tmp_path, capsys):
    apps = FakeAppSecrets(fake_http, idp, days=(700,))
    code, result = run(app_secret_rotate, dict(CONNECTION, secret_store=str(tmp_path / "s.json")), capsys)
    assert code == 0 and not result["changed"] and apps.order == []


# --- vault_password: refused everywhere, never echoed ------------------------------------
VAULT_PW = "Hunter2-inline-vault-pass"


def _invocation_and_log(module, args, capsys, monkeypatch):
    logged = []
    from ansible.module_utils import basic
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    code, result = run(module, args, capsys)
    return code, result, json.dumps(result) + "\n".join(logged)


def test_inline_vault_password_in_a_store_uri_is_refused_and_never_echoed(fake_http, idp, tmp_path, capsys,
                                                                          monkeypatch):
    store = "ansible-vault://%s?vault_password=%s" % (tmp_path / "rt.vault", VAULT_PW)
    for module, args in ((refresh_token, dict(CONNECTION, store=store)),
                         (sam_device_code, dict(CONNECTION, store=store, state="completed")),
                         (refresh_token, dict(CONNECTION, store=str(tmp_path / "x.json"), refresh_token_store=store))):
        code, result, text = _invocation_and_log(module, args, capsys, monkeypatch)
        assert code == 1 and result["error"]["code"] == "InvalidRefreshTokenStore", result
        assert VAULT_PW not in text
        assert "vault_password_file" in result["msg"]
    assert fake_http.calls == []


def test_inline_vault_password_in_a_store_dict_is_refused_and_never_echoed(fake_http, idp, tmp_path, capsys,
                                                                           monkeypatch):
    store = {"type": "ansible_vault", "path": str(tmp_path / "rt.vault"), "vault_password": VAULT_PW}
    code, result, text = _invocation_and_log(refresh_token, dict(CONNECTION, store=store), capsys, monkeypatch)
    assert code == 1 and result["error"]["code"] == "InvalidRefreshTokenStore"
    assert VAULT_PW not in text
    code, result, text = _invocation_and_log(app_secret_rotate, dict(CONNECTION, secret_store=store),
                                             capsys, monkeypatch)
    assert code == 1 and VAULT_PW not in text
    assert fake_http.calls == []


def test_inline_vault_password_from_the_environment_is_never_echoed(fake_http, idp, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CSP_REFRESH_TOKEN_STORE", "ansible-vault://%s?vault_password=%s"
                       % (tmp_path / "rt.vault", VAULT_PW))
    code, result, text = _invocation_and_log(refresh_token, dict(CONNECTION, store=str(tmp_path / "x.json")),
                                             capsys, monkeypatch)
    assert code == 1 and VAULT_PW not in text
