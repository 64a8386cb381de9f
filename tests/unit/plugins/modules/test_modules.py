"""Modules: argument validation before any request, check mode, results without secrets."""

import json
import os
import stat


from ansible_collections.cloudpartner.csp.plugins.modules import graph_request, tenant_info, token

import csp_fakes
from csp_fakes import APP, CONNECTION, FakeRaw, PARTNER, RT_SEED, SECRET


run = csp_fakes.run_module


# --- graph_request ------------------------------------------------------------------
def test_bad_jmespath_fails_before_any_request(fake_http, capsys):
    code, result = run(graph_request, dict(CONNECTION, path="/users", query="[?name=="), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidQuery"
    assert "JMESPath" in result["msg"]
    assert fake_http.calls == []


def test_bad_client_id_fails_before_any_request(fake_http, capsys):
    code, result = run(graph_request, dict(CONNECTION, client_id="not-a-guid", path="/users"), capsys)
    assert code == 1 and "not a GUID" in result["msg"] and result["error"]["type"] == "validation"
    assert fake_http.calls == []


def test_secret_and_certificate(fake_http, capsys, tmp_path):
    pem = tmp_path / "x.pem"
    pem.write_text("x")
    code, result = run(graph_request, dict(CONNECTION, client_certificate_path=str(pem), path="/users"), capsys)
    assert code == 1 and "mutually exclusive" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_unknown_cloud_is_refused_by_the_argspec(fake_http, capsys):
    code, result = run(graph_request, dict(CONNECTION, cloud="germany", path="/users"), capsys)
    assert code == 1 and "cloud" in result["msg"]


def test_foreign_url_refused(fake_http, idp, capsys):
    code, result = run(graph_request, dict(CONNECTION, path="https://evil.example/v1.0/users"), capsys)
    assert code == 1 and result["error"]["code"] == "ForeignUrl"
    assert fake_http.calls == []


def test_authorization_header_refused(fake_http, idp, capsys):
    code, result = run(graph_request, dict(CONNECTION, path="/users", headers={"Authorization": "x"}), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidHeaders"


def test_path_and_batch_exclusive(fake_http, capsys):
    code, result = run(graph_request, dict(CONNECTION, path="/users", batch=[{"url": "/me"}]), capsys)
    assert code == 1 and "mutually exclusive" in result["msg"]


def test_get_with_query(fake_http, idp, capsys):
    fake_http.queue("GET", "/v1.0/users", FakeRaw(200, {"value": [{"userPrincipalName": "a@x"}, {"userPrincipalName": "b@x"}]},
                                                  {"request-id": "rq-1"}))
    code, result = run(graph_request, dict(CONNECTION, path="/users", query="[].userPrincipalName", all_pages=True),
                       capsys)
    assert code == 0, result
    assert result["changed"] is False and result["result"] == ["a@x", "b@x"] and result["pages"] == 1
    assert result["request_id"] == "rq-1"
    text = json.dumps(result)
    assert SECRET not in text and "Bearer" not in text


def test_write_in_check_mode_is_not_sent(fake_http, idp, capsys):
    code, result = run(graph_request, dict(CONNECTION, method="POST", path="/groups", body={"displayName": "x"}),
                       capsys, check_mode=True)
    assert code == 0 and result["changed"] is True
    assert result["would_send"] == {"method": "POST", "url": csp_fakes.GRAPH + "/v1.0/groups",
                                    "body": {"displayName": "x"}}
    assert fake_http.count("POST", "/groups") == 0


def test_write_sent_and_accepted_status(fake_http, idp, capsys):
    already = {"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist"}}
    fake_http.queue("POST", r"/members/\$ref", FakeRaw(400, already))
    code, result = run(graph_request, dict(CONNECTION, method="POST", path="/groups/g/members/$ref",
                                           body={"@odata.id": "x"}, status_code=[204, 400]), capsys)
    assert code == 0 and result["status"] == 400 and result["changed"] is False


def test_graph_error_is_one_clean_failure(fake_http, idp, capsys):
    fake_http.queue("GET", "/v1.0/groups/x", FakeRaw(404, {"error": {"code": "Request_ResourceNotFound", "message": "gone",
                                                                     "innerError": {"request-id": "r-9"}}}))
    code, result = run(graph_request, dict(CONNECTION, path="/groups/x"), capsys)
    assert code == 1
    assert result["error"]["code"] == "Request_ResourceNotFound" and result["error"]["request_id"] == "r-9"
    assert "Traceback" not in json.dumps(result)


def test_batch_in_check_mode_with_writes(fake_http, idp, capsys):
    code, result = run(graph_request, dict(CONNECTION, batch=[{"url": "/me"}, {"method": "DELETE", "url": "/groups/x"}]),
                       capsys, check_mode=True)
    assert code == 0 and result["changed"] is True and len(result["would_send"]["requests"]) == 2
    assert fake_http.calls == []  # not even a token is needed


def test_batch_reads(fake_http, idp, capsys):
    fake_http.queue("POST", r"\$batch", FakeRaw(200, {"responses": [{"id": "a", "status": 200, "body": {"id": "o"}}]}))
    code, result = run(graph_request, dict(CONNECTION, batch=[{"id": "a", "url": "/organization"}], query="[0].body.id"),
                       capsys)
    assert code == 0 and result["changed"] is False and result["result"] == "o"


# --- token ----------------------------------------------------------------------------
def test_token_result_without_token(fake_http, idp, capsys):
    code, result = run(token, dict(CONNECTION), capsys)
    assert code == 0, result
    assert result["changed"] is False and result["grant"] == "client_credentials"
    assert result["claims"]["appid"] == APP and result["tenant_id"] == PARTNER
    assert result["expires_at"].endswith("Z") and result["token_source"] == "identity_provider"
    assert "access_token" not in result


def test_token_return_token_warns_without_no_log(fake_http, idp, capsys, monkeypatch):
    # captured at the source: once controller code is imported (the lookup tests), Ansible routes
    # module warnings to its display instead of the result
    from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
    seen = []
    monkeypatch.setattr(CspModule, "warn", lambda self, text: seen.append(text))
    code, result = run(token, dict(CONNECTION, return_token=True), capsys)
    assert code == 0 and result["access_token"].count(".") == 2
    assert any("no_log: true" in text for text in seen)
    seen.clear()
    code, result = run(token, dict(CONNECTION, return_token=True, _ansible_no_log=True), capsys)
    assert code == 0 and seen == []


def test_refresh_token_path_needs_refresh_token(fake_http, tmp_path, capsys):
    code, result = run(token, dict(CONNECTION, refresh_token_path=str(tmp_path / "rt")), capsys)
    assert code == 1 and "needs refresh_token" in result["msg"]
    assert fake_http.calls == []


def test_refresh_token_written_atomically_and_idempotently(fake_http, idp, tmp_path, capsys):
    path = tmp_path / "rt"
    args = dict(CONNECTION, refresh_token=RT_SEED, resource="partner_center", refresh_token_path=str(path),
                token_cache_path=str(tmp_path / "cache"))
    code, result = run(token, args, capsys, check_mode=True)
    assert code == 0 and result["changed"] is True and not path.exists()
    code, result = run(token, args, capsys)
    assert code == 0 and result["changed"] is True and result["grant"] == "refresh_token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    written = path.read_text().strip()
    assert written.startswith("rotated-")
    assert written not in json.dumps(result)
    code, result = run(token, args, capsys)
    assert code == 0 and result["changed"] is False and result["token_source"] == "cache"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rt")] == []


def test_token_auth_failure(fake_http, idp, capsys):
    code, result = run(token, dict(CONNECTION, client_secret="wrong-secret-x"), capsys)
    assert code == 1 and result["error"]["code"] == "AADSTS7000215"
    assert "wrong-secret-x" not in json.dumps(result)


# --- tenant_info --------------------------------------------------------------------------
def test_tenant_info_requires_domain_or_user(fake_http, capsys):
    code, result = run(tenant_info, {}, capsys)
    assert code == 1 and "one of the following is required" in result["msg"]


def test_tenant_info_bad_user(fake_http, capsys):
    code, result = run(tenant_info, {"user": "nobody"}, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidUser"


def test_tenant_info_found(fake_http, idp, capsys):
    code, result = run(tenant_info, {"user": "admin@contoso.onmicrosoft.com", "authority_host": csp_fakes.LOGIN}, capsys)
    assert code == 0 and result["exists"] is True
    assert result["tenant_id"] == PARTNER and result["tenant_region_scope"] == "NA" and result["cloud"] == "public"
    assert result["domain"] == "contoso.onmicrosoft.com"


def test_tenant_info_unknown_domain_is_not_a_failure(fake_http, idp, capsys):
    code, result = run(tenant_info, {"domain": "nowhere.example", "authority_host": csp_fakes.LOGIN}, capsys)
    assert code == 0 and result["exists"] is False and result["error"]["code"] == "AADSTS90002"


def test_awx_secret_only_injection(fake_http, idp, capsys, monkeypatch):
    """AWX's environment for a credential with only tenant, client id and secret: every other CSP_* is ""."""
    from ansible_collections.cloudpartner.csp.plugins.module_utils.options import CONNECTION_ENV
    for env in CONNECTION_ENV.values():
        monkeypatch.setenv(env, "")
    monkeypatch.setenv("CSP_TENANT_ID", PARTNER)
    monkeypatch.setenv("CSP_CLIENT_ID", APP)
    monkeypatch.setenv("CSP_CLIENT_SECRET", SECRET)
    fake_http.queue("GET", "/v1.0/organization", FakeRaw(200, {"value": [{"id": "org"}]}))
    endpoints = {"authority_host": csp_fakes.LOGIN, "graph_endpoint": csp_fakes.GRAPH}
    code, result = run(graph_request, dict(endpoints, path="/organization"), capsys)
    assert code == 0, result
    assert result["json"]["value"] == [{"id": "org"}], result
