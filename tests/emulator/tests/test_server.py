"""Server robustness: TLS, routing, service error bodies, keep-alive, bad input, the log."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from csp_emulator import Emulator
from csp_emulator.server import Request, Response, Router, Runtime


def test_tls_is_verified_with_the_emulator_ca(minimal_emulator):
    emu = minimal_emulator
    s = requests.Session()
    s.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        s.get(emu.graph_endpoint + "/v1.0/users", verify=True, timeout=10)
    r = s.get(emu.graph_endpoint + "/v1.0/users", verify=emu.ca_bundle, timeout=10)
    assert r.status_code == 401


def test_three_listeners_on_distinct_ports(minimal_emulator):
    env = minimal_emulator.env()
    urls = {env["CSP_AUTHORITY_HOST"], env["CSP_GRAPH_ENDPOINT"], env["CSP_PARTNER_CENTER_ENDPOINT"]}
    assert len(urls) == 3
    assert all(u.startswith("https://127.0.0.1:") for u in urls)
    assert Path(env["CSP_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert env["CSP_EMULATOR_TOKEN"] and env["CSP_EMULATOR_CONTROL"]


def test_graph_unknown_segment_is_graph_400(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request("GET", "graph", "/v1.0/noSuchThing")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "BadRequest"
    assert "noSuchThing" in err["message"]
    inner = err["innerError"]
    assert set(inner) >= {"date", "request-id", "client-request-id"}
    assert r.headers["request-id"] == inner["request-id"]


def test_graph_client_request_id_is_echoed(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request("GET", "graph", "/v1.0/users",
                                             headers={"client-request-id": "abc-123"})
    assert r.status_code == 401
    assert r.headers["client-request-id"] == "abc-123"
    assert r.json()["error"]["innerError"]["client-request-id"] == "abc-123"


def test_partner_center_errors_echo_ms_headers(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request(
        "GET", "partner_center", "/v1/nothing-here",
        headers={"MS-RequestId": "req-1", "MS-CorrelationId": "corr-1"})
    body = r.json()
    assert r.status_code in (401, 404)
    assert body["source"] == "PartnerFD" and "code" in body and "description" in body
    assert r.headers["MS-RequestId"] == "req-1"
    assert r.headers["MS-CorrelationId"] == "corr-1"


def test_login_unknown_route_is_aadsts_body(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request("GET", "login", "/nope/nope")
    body = r.json()
    assert r.status_code == 404
    assert body["error_codes"] and body["error_description"].startswith("AADSTS")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)


def test_wrong_method_on_token_endpoint(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request("GET", "login", "/minpartner.onmicrosoft.com/oauth2/v2.0/token")
    assert r.status_code == 400
    assert r.json()["error_codes"] == [900561]


def test_keep_alive_reuses_the_connection(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    for _ in range(5):
        r = client.request("GET", "graph", "/v1.0/users")
        assert r.status_code == 401
    # requests keeps one pooled connection per host when the server keeps it alive
    pool = client.session.get_adapter("https://").poolmanager
    conns = [p for p in pool.pools._container.values()]
    assert conns and sum(p.num_connections for p in conns) == 1


def _raw_tls(emu: Emulator) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=emu.ca_bundle)
    port = int(emu.graph_endpoint.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def _recv_all(tls: ssl.SSLSocket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = tls.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_garbage_request_line_gets_json_not_traceback(minimal_emulator, client_for):
    emu = minimal_emulator
    with _raw_tls(emu) as tls:
        tls.sendall(b"\x00\x01garbage garbage\r\n\r\n")
        data = _recv_all(tls)
    assert data.startswith(b"HTTP/1.")
    assert b"Traceback" not in data
    assert b'"error"' in data
    # and the server still answers
    assert client_for(emu).request("GET", "graph", "/v1.0/users").status_code == 401


def test_unknown_method_and_bad_content_length(minimal_emulator, client_for):
    emu = minimal_emulator
    with _raw_tls(emu) as tls:
        tls.sendall(b"BREW /v1.0/users HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 501")
    with _raw_tls(emu) as tls:
        tls.sendall(b"POST /v1.0/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 400")
    with _raw_tls(emu) as tls:
        tls.sendall(b"POST /v1.0/users HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 413")
    assert client_for(emu).request("GET", "graph", "/v1.0/users").status_code == 401


def test_plain_http_and_aborted_handshakes_do_not_hurt(minimal_emulator, client_for):
    emu = minimal_emulator
    port = int(emu.graph_endpoint.rsplit(":", 1)[1])
    for payload in (b"GET / HTTP/1.1\r\n\r\n", b"", b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            if payload:
                sock.sendall(payload)
    assert client_for(emu).request("GET", "graph", "/v1.0/users").status_code == 401


def _runtime_with(handler) -> tuple[Runtime, Router]:
    """A runtime without listeners to drive dispatch() directly."""
    from csp_emulator.world import World

    world = World()
    router = Router("graph")
    router.route("GET", r"/v1\.0/boom")(handler)
    runtime = Runtime(world, "t", None, {"graph": router, "login": Router("login"),
                                         "partner_center": Router("partner_center")}, Router("control"))
    return runtime, router


class _Headers(dict):
    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


def test_handler_exception_becomes_service_500_and_is_counted():
    def boom(req):
        raise RuntimeError("kaput")

    runtime, _ = _runtime_with(boom)
    req = Request(runtime, "graph", "GET", "/v1.0/boom", _Headers(), b"")
    resp = runtime.dispatch(req)
    assert resp.status == 500
    assert resp.body["error"]["code"] == "InternalServerError"
    assert "kaput" not in str(resp.body)
    assert runtime.world.counters["handler_exceptions"] == 1


def test_unserializable_result_is_a_500_not_a_dead_connection(minimal_emulator, client_for):
    emu = minimal_emulator
    router = emu.runtime.routers["graph"]
    router.route("GET", r"/v1\.0/_test_unserializable")(lambda req: {"x": object()})
    try:
        r = client_for(emu).request("GET", "graph", "/v1.0/_test_unserializable")
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "InternalServerError"
    finally:
        router.routes = [route for route in router.routes if "_test_unserializable" not in route[3]]


def test_handler_results_dict_none_response():
    runtime, router = _runtime_with(lambda req: {"a": 1})
    router.route("GET", r"/v1\.0/none")(lambda req: None)
    router.route("POST", r"/v1\.0/made/(?P<x>\d+)")(lambda req, x: Response(201, {"x": x}, {"Location": "l"}))
    assert runtime.dispatch(Request(runtime, "graph", "GET", "/v1.0/boom", _Headers(), b"")).body == {"a": 1}
    assert runtime.dispatch(Request(runtime, "graph", "GET", "/v1.0/none", _Headers(), b"")).status == 204
    resp = runtime.dispatch(Request(runtime, "graph", "POST", "/v1.0/MADE/7", _Headers(), b""))
    assert (resp.status, resp.body, resp.headers["Location"]) == (201, {"x": "7"}, "l")
    resp = runtime.dispatch(Request(runtime, "graph", "DELETE", "/v1.0/boom", _Headers(), b""))
    assert resp.status == 405


def test_request_json_and_query_helpers():
    runtime, _ = _runtime_with(lambda req: None)
    req = Request(runtime, "graph", "GET", "/v1.0/x?$top=5&$Filter=a%20eq%201&e=", _Headers(
        {"Content-Type": "application/json"}), b'{"a": 1}')
    assert req.param("$top") == "5"
    assert req.param("$filter") == "a eq 1"
    assert req.query["e"] == [""]
    assert req.json() == {"a": 1}
    bad = Request(runtime, "graph", "POST", "/v1.0/x", _Headers({"Content-Type": "application/json"}), b"{nope")
    with pytest.raises(Exception) as info:
        bad.json()
    assert info.value.status == 400
    assert info.value.body["error"]["message"].startswith("Unable to read JSON request payload")
    pc = Request(runtime, "partner_center", "POST", "/v1/x", _Headers({"Content-Type": "text/plain"}), b"{}")
    with pytest.raises(Exception) as info:
        pc.json()
    assert info.value.body["source"] == "PartnerFD"


def test_request_log_records_service_status_and_caller(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    emu.control.clear_log()
    tok = client.app_token().json()["access_token"]
    client.request("GET", "graph", "/v1.0/users?$top=1", token=tok)
    log = emu.control.requests_log()
    assert [e["service"] for e in log] == ["login", "graph"]
    login, graph = log
    assert login["app_id"] == "20000000-0000-4000-8000-0000000000a1"
    assert login["tenant_id"] == "10000000-0000-4000-8000-0000000000a1"
    assert graph["path"] == "/v1.0/users" and graph["query"] == "$top=1"
    assert graph["app_id"] == login["app_id"] and graph["tenant_id"] == login["tenant_id"]
    assert set(login) == {"seq", "time", "service", "method", "path", "query", "status", "app_id",
                          "tenant_id", "user"}
    assert graph["seq"] == login["seq"] + 1
    assert emu.control.requests_log(since=graph["seq"]) == []
    assert emu.control.requests_log(since=login["seq"]) == [graph]


def test_cli_serve_prints_exports_and_stops_on_sigterm(tmp_path):
    state = tmp_path / "state.json"
    env_root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "csp_emulator", "serve", "--world", "minimal", "--state-file", str(state),
         "--state-dir", str(tmp_path / "sd")],
        cwd=env_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(env_root), "PATH": "/usr/bin:/bin"})
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
        assert all(line.startswith("export CSP_") for line in lines), lines
        deadline = time.time() + 20
        while not state.exists() and time.time() < deadline:
            time.sleep(0.05)
        import json

        data = json.loads(state.read_text())
        assert set(data) >= {"authority_host", "graph_endpoint", "partner_center_endpoint", "ca_bundle",
                             "control_url", "control_token", "pid"}
        s = requests.Session()
        s.trust_env = False
        r = s.get(data["control_url"] + "/_emulator/health", verify=data["ca_bundle"], timeout=10,
                  headers={"Authorization": "Bearer " + data["control_token"]})
        assert r.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    assert not state.exists()


def test_concurrent_clients(minimal_emulator):
    import concurrent.futures

    emu = minimal_emulator

    def worker(_: int) -> list[int]:
        s = requests.Session()
        s.trust_env = False
        s.verify = emu.ca_bundle
        try:
            return [s.get(emu.graph_endpoint + "/v1.0/users", timeout=30).status_code for _ in range(25)]
        finally:
            s.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = [code for codes in pool.map(worker, range(8)) for code in codes]
    assert results == [401] * 200


def test_cli_rejects_a_bad_world(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("partner_tenants:\n  - {key: x, id: nope, domains: [x.example]}\n")
    env_root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "csp_emulator", "serve", "--world", str(bad)], cwd=env_root,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(env_root), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "id must be a GUID" in proc.stderr and "Traceback" not in proc.stderr


def test_emulator_from_a_dict_world():
    world = {"customer_tenants": [{"key": "c", "id": "30000000-0000-4000-8000-0000000000cc",
                                   "domains": ["c.onmicrosoft.com"], "region": "SA"}]}
    with Emulator(world=world) as emu:
        env = emu.env()
        assert env["CSP_AUTHORITY_HOST"] == emu.authority_host
        s = requests.Session()
        s.trust_env = False
        doc = s.get(f"{emu.authority_host}/c.onmicrosoft.com/v2.0/.well-known/openid-configuration",
                    verify=emu.ca_bundle, timeout=10).json()
        assert doc["tenant_region_scope"] == "SA"
        state_dir = emu.state_dir
    assert not Path(state_dir).exists()  # a temporary state dir is removed on stop
