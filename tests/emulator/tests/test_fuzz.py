"""Robustness: a few thousand seeded random requests against all three services (random methods,
valid and broken paths, garbage bodies, wrong content types, huge $top, bad GUIDs, bad tokens)
and some raw protocol garbage. Every answer must be a proper JSON error body of the right service
(never a traceback), no handler may raise, and afterwards the emulator still answers normally."""

import http.client
import json
import os
import random
import socket
import ssl
import string
import threading
import time
from urllib.parse import quote, urlsplit

import pytest
import requests

from csp_emulator import Emulator

SEED = int(os.environ.get("CSP_FUZZ_SEED", "20261122"))
ROUNDS = int(os.environ.get("CSP_FUZZ_ROUNDS", "3000"))
US_TENANT = "10000000-0000-4000-8000-000000000001"
US_APP = "20000000-0000-4000-8000-000000000001"
US_SECRET = "demo-us-secret-0001"
CUSTOMER = "30000000-0000-4000-8000-000000000001"
REL = "40000000-0000-4000-8000-000000010001-30000000-0000-4000-8000-000000000001"
USER = "11000000-0000-4000-8000-000000010001"
GROUP = "12000000-0000-4000-8000-000000010004"
METHODS = ["GET", "GET", "GET", "POST", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO"]
BAD_IDS = ["not-a-guid", "00000000-0000-0000-0000-000000000000", "' or 1=1 --", "%00", "..%2F..%2Fetc",
           "x" * 300, "\u00e9\u00e8", "{id}", "12345678-1234-1234-1234-1234567890123", ""]
PATHS = {
    "graph": [
        "/v1.0/users", "/v1.0/users/{user}", "/v1.0/users/{id}", "/v1.0/users/{user}/memberOf",
        "/v1.0/groups", "/v1.0/groups/{group}", "/v1.0/groups/{group}/members", "/v1.0/groups/{id}/members",
        "/v1.0/groups/{group}/members/$ref", "/v1.0/groups/{group}/members/{id}/$ref",
        "/v1.0/servicePrincipals", "/v1.0/servicePrincipals(appId='{id}')", "/v1.0/applications",
        "/v1.0/applications/{id}", "/v1.0/oauth2PermissionGrants", "/v1.0/organization", "/v1.0/me",
        "/v1.0/$batch", "/beta/users", "/v1.0/tenantRelationships/delegatedAdminRelationships",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{rel}",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{id}",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{rel}/requests",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{rel}/accessAssignments",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{rel}/accessAssignments/{id}",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{rel}/operations/{id}",
        "/v1.0/tenantRelationships/delegatedAdminCustomers", "/v2.0/users", "/", "/v1.0", "/v1.0/",
        "/v1.0/users/{user}/{id}/{id}", "/v1.0/%zz", "/_emulator/health",
    ],
    "login": [
        "/{tenant}/oauth2/v2.0/token", "/{id}/oauth2/v2.0/token", "/{tenant}/v2.0/.well-known/openid-configuration",
        "/{id}/v2.0/.well-known/openid-configuration", "/{tenant}/.well-known/openid-configuration",
        "/{tenant}/discovery/v2.0/keys", "/{tenant}/oauth2/v2.0/devicecode", "/common/oauth2/v2.0/token",
        "/organizations/v2.0/.well-known/openid-configuration", "/{tenant}/oauth2/v2.0/authorize", "/",
        "/{tenant}", "/{tenant}/oauth2/token", "/%ff/oauth2/v2.0/token",
    ],
    "partner_center": [
        "/v1/customers", "/v1/customers/{customer}", "/v1/customers/{id}",
        "/v1/customers/{customer}/applicationconsents", "/v1/customers/{id}/applicationconsents",
        "/v1/customers/{customer}/applicationconsents/{app}", "/v1/customers/{customer}/applicationconsents/{id}",
        "/v1/domains/{id}", "/v1/domains/customer01.onmicrosoft.com", "/v1", "/", "/v2/customers", "/v1/orders",
    ],
}
QUERIES = ["", "", "", "?$top=5", "?$top=999999999999", "?$top=-1", "?$top=abc", "?$filter=displayName%20eq%20'x'",
           "?$filter=((((", "?$filter=startswith(displayName,'A')&$count=true", "?$select=id,,", "?$select=%00",
           "?$orderby=nothing%20desc", "?$skiptoken=garbage", "?$count=maybe", "?size=0", "?size=501", "?size=5",
           "?filter=%7Bnot-json", "?$search=%22x%22", "?a=%ZZ", "?" + "x=1&" * 200, "?$expand=members"]
CONTENT_TYPES = ["application/json", "application/json", "application/x-www-form-urlencoded", "text/plain",
                 "application/xml", "multipart/form-data; boundary=x", "application/json; charset=latin-1", None]


def _fill(template: str, rng: random.Random) -> str:
    values = {"id": rng.choice(BAD_IDS + [CUSTOMER, USER, GROUP]), "user": USER, "group": GROUP, "rel": REL,
              "customer": CUSTOMER, "app": US_APP, "tenant": rng.choice([US_TENANT, "contosopartnerus.onmicrosoft.com",
                                                                         "common", "nope.example"])}
    path = template
    for key, value in values.items():
        path = path.replace("{" + key + "}", quote(value, safe="'()=$%") if value else value)
    return path


def _body(rng: random.Random) -> bytes:
    kind = rng.randrange(11)
    if kind == 0:
        return b""
    if kind == 1:
        return b"{not json"
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 3:
        return b"[" * 5000 + b"]" * 5000  # deep nesting
    if kind == 4:
        return json.dumps({"requests": [{"id": str(i), "method": rng.choice(["GET", "POST", "BAD"]),
                                         "url": rng.choice(["/users", "users/x", "http://evil/", "/groups?$top=0"]),
                                         "dependsOn": [str(rng.randrange(30))]} for i in range(rng.randrange(30))]}
                          ).encode()
    if kind == 5:
        return b"grant_type=client_credentials&client_id=" + US_APP.encode() + b"&client_secret=x&scope=" + \
            rng.choice([b"https://graph.microsoft.com/.default", b"", b"%%%", b"a b c"])
    if kind == 6:
        return json.dumps({"applicationId": rng.choice([US_APP, "x", None, 5]),
                           "applicationGrants": rng.choice([[], None, "x", [{"enterpriseApplicationId": None}]]),
                           "CompanyProfile": rng.choice([{"Domain": "x"}, None, [], "s"]),
                           "BillingProfile": rng.choice([{}, None, {"DefaultAddress": 5}])}).encode()
    if kind == 7:
        return json.dumps({"displayName": "x" * rng.choice([1, 51, 5000]), "duration": rng.choice(["P730D", "bad", 5]),
                           "customer": rng.choice([{"tenantId": CUSTOMER}, None, "x"]),
                           "accessDetails": rng.choice([{"unifiedRoles": [{"roleDefinitionId": "x"}]}, [], None]),
                           "action": rng.choice(["lockForApproval", "terminate", "dance", None]),
                           "@odata.id": rng.choice(["https://graph.microsoft.com/v1.0/directoryObjects/" + USER, "x"]),
                           "members@odata.bind": rng.choice([["x"] * 25, "x", None])}).encode()
    if kind == 8:
        return json.dumps(rng.choice([None, 1, "s", [], {}, True, 1e308])).encode()
    if kind == 9:
        return ("".join(rng.choice(string.printable) for _ in range(200))).encode()
    return json.dumps({"k": "\ud800" if rng.random() < 0.5 else "\u2603"}, ensure_ascii=True).encode()


def _check(service: str, method: str, status: int, raw: bytes, path: str) -> None:
    where = f"{method} {service}{path} -> {status}: {raw[:300]!r}"
    assert 100 <= status < 600, where
    text = raw.decode("utf-8", "replace")
    assert "Traceback" not in text and 'File "' not in text, where
    if method == "HEAD" or status in (204, 304) or not raw:
        assert status < 400 or method == "HEAD" or raw, where
        return
    body = json.loads(raw)  # every body is JSON
    if status < 400:
        return
    if path.startswith("/_emulator"):
        assert isinstance(body, dict) and "error" in body, where
    elif service == "graph":
        assert isinstance(body.get("error"), dict) and body["error"].get("code") and "message" in body["error"], where
    elif service == "login":
        assert isinstance(body.get("error"), str) and "error_description" in body, where
        assert body.get("error_codes") or status >= 500 or status == 404 or status == 405, where
    else:
        assert set(body) >= {"code", "description", "source"}, where


class _Client:
    """Keep-alive HTTPS connection to one service that sends paths exactly as given."""

    def __init__(self, base: str, ctx: ssl.SSLContext) -> None:
        parts = urlsplit(base)
        self.host, self.port, self.ctx = parts.hostname, parts.port, ctx
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)

    def send(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body if body or method in ("POST", "PUT", "PATCH") else None,
                                  headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.conn.close()
                    self.conn = self._connect()
                return resp.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.conn.close()
                self.conn = self._connect()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def emu():
    with Emulator(world="demo") as emu:
        yield emu


def _tokens(emu) -> dict[str, list[str]]:
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_bundle

    def get(scope: str, **extra: str) -> str:
        data = {"client_id": US_APP, "client_secret": US_SECRET, "scope": scope, **extra}
        data.setdefault("grant_type", "client_credentials")
        resp = session.post(f"{emu.authority_host}/{US_TENANT}/oauth2/v2.0/token", data=data, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    graph = get("https://graph.microsoft.com/.default")
    pc = get("https://api.partnercenter.microsoft.com/user_impersonation", grant_type="refresh_token",
             refresh_token="demo-us-refresh-token-seed")
    session.close()
    head, _, sig = graph.rpartition(".")
    garbage = ["", "x", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.", head + "." + sig[::-1], "Bearer " * 50,
               "x" * 20000]
    return {"graph": [graph, graph, graph, pc] + garbage, "partner_center": [pc, pc, pc, graph] + garbage,
            "login": garbage + [graph]}


def _raw_garbage(emu, ctx: ssl.SSLContext, rng: random.Random) -> None:
    """Protocol-level abuse: broken request lines, bad lengths, oversized headers, early hang-ups."""
    payloads = [b"GARBAGE\r\n\r\n", b"GET /v1.0/users HTTP/9.9\r\n\r\n", b"GET\r\n\r\n",
                b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
                b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"GET /v1.0/users HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
                b"GET /v1.0/users HTTP/1.1\r\n" + b"X-H: 1\r\n" * 200 + b"\r\n",
                b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"half\":"]
    for service in ("graph", "login", "partner_center"):
        parts = urlsplit(getattr(emu, {"graph": "graph_endpoint", "login": "authority_host",
                                       "partner_center": "partner_center_endpoint"}[service]))
        for payload in payloads + [bytes(rng.randrange(256) for _ in range(64))]:
            try:
                with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                        tls.settimeout(2)
                        tls.sendall(payload)
                        # Half-close so the server sees the end of an incomplete request at once.
                        raw.shutdown(socket.SHUT_WR)
                        try:
                            answer = tls.recv(65536)
                        except (socket.timeout, ssl.SSLError, OSError):
                            answer = b""
                assert b"Traceback" not in answer
            except (ssl.SSLError, OSError):
                pass  # the server may hang up on garbage; it must only stay alive
        # A TLS-less client and a client that never finishes the handshake.
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                raw.recv(1024)
            except OSError:
                pass


def _random_requests(emu, ctx: ssl.SSLContext, tokens: dict, rng: random.Random, rounds: int,
                     statuses: dict[int, int]) -> None:
    bases = {"graph": emu.graph_endpoint, "login": emu.authority_host, "partner_center": emu.partner_center_endpoint}
    clients = {service: _Client(base, ctx) for service, base in bases.items()}
    try:
        for _ in range(rounds):
            service = rng.choice(list(PATHS))
            method = rng.choice(METHODS)
            path = _fill(rng.choice(PATHS[service]), rng) + rng.choice(QUERIES)
            body = _body(rng) if method not in ("GET", "HEAD") or rng.random() < 0.1 else b""
            headers = {"Accept": rng.choice(["application/json", "*/*", "text/html"])}
            ctype = rng.choice(CONTENT_TYPES)
            if ctype:
                headers["Content-Type"] = ctype
            if rng.random() < 0.9:
                headers["Authorization"] = rng.choice(["Bearer ", "Basic ", "bearer ", ""]) + rng.choice(tokens[service])
            for name in rng.sample(["ConsistencyLevel", "If-Match", "MS-ContinuationToken", "MS-RequestId",
                                    "client-request-id", "Prefer"], rng.randrange(3)):
                headers[name] = rng.choice(["eventual", "*", "W/\"x\"", "garbage", "\u00e9", "1" * 500])
            try:
                status, raw = clients[service].send(method, path, body, headers)
            except http.client.InvalidURL:
                continue
            statuses[status] = statuses.get(status, 0) + 1
            _check(service, method, status, raw, path)
    finally:
        for client in clients.values():
            client.close()


def test_fuzz(emu):
    rng = random.Random(SEED)
    ctx = ssl.create_default_context(cafile=emu.ca_bundle)
    tokens = _tokens(emu)
    started = time.monotonic()
    statuses: dict[int, int] = {}
    _random_requests(emu, ctx, tokens, rng, ROUNDS, statuses)
    _raw_garbage(emu, ctx, rng)

    # The same, from several clients at once: handlers share one world under one lock.
    failures: list[Exception] = []
    parallel: list[dict[int, int]] = [{} for _ in range(4)]

    def run(i: int) -> None:
        try:
            _random_requests(emu, ctx, tokens, random.Random(SEED + 1 + i), ROUNDS // 12, parallel[i])
        except Exception as exc:  # re-raised in the test thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(parallel))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    for counts in parallel:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    elapsed = time.monotonic() - started
    world = emu.world
    assert world.counters.get("handler_exceptions", 0) == 0, world.extra.get("last_exception")
    assert statuses.get(500, 0) == 0, statuses
    assert sum(statuses.values()) >= ROUNDS * 1.2
    assert elapsed < 60, f"fuzzing took {elapsed:.1f}s"

    # Still serving normal requests on all three services.
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_bundle
    token = session.post(f"{emu.authority_host}/{US_TENANT}/oauth2/v2.0/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": US_APP, "client_secret": US_SECRET,
        "scope": "https://graph.microsoft.com/.default"})
    assert token.status_code == 200, token.text
    org = session.get(f"{emu.graph_endpoint}/v1.0/organization", timeout=30,
                      headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert org.status_code == 200 and org.json()["value"][0]["id"] == US_TENANT
    customers = session.get(f"{emu.partner_center_endpoint}/v1/customers", timeout=30,
                            headers={"Authorization": f"Bearer {tokens['partner_center'][0]}"})
    assert customers.status_code == 200 and customers.json()["items"]
    assert emu.control.health()
    session.close()
