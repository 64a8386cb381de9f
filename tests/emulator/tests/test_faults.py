"""Fault injection: per-app throttling across tenants, 5xx, dropped connections, latency, seed."""

from __future__ import annotations

import time

import pytest
import requests

from csp_emulator import faults
from csp_emulator.world import World

CONSENTED = "30000000-0000-4000-8000-0000000000a1"


def _graph(client, token):
    return client.request("GET", "graph", "/v1.0/users?$top=1", token=token)


def test_throttle_is_per_app_across_tenants(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    home = client.app_token().json()["access_token"]
    customer = client.app_token(tenant=CONSENTED).json()["access_token"]
    other_app = client.app_token(client_id="20000000-0000-4000-8000-0000000000a2",
                                 secret="min-secret-a2").json()["access_token"]
    emu.control.set_faults({"throttle": {"requests": 3, "per_seconds": 30}})
    statuses = [_graph(client, tok).status_code for tok in (home, customer, home)]
    assert statuses == [200, 200, 200]
    r = _graph(client, customer)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "TooManyRequests"
    retry = float(r.headers["Retry-After"])
    assert 0 < retry <= 30
    assert _graph(client, other_app).status_code == 200  # another app has its own budget
    # the token endpoint and the control API are not throttled
    assert client.app_token().status_code == 200
    assert emu.control.counters()["faults.throttled"] == 1
    throttled = [e for e in emu.control.requests_log() if e["status"] == 429]
    assert [(e["app_id"], e["tenant_id"]) for e in throttled] == [
        ("20000000-0000-4000-8000-0000000000a1", CONSENTED)]
    assert [e.get("fault") for e in emu.control.requests_log() if e["status"] != 429] == [None] * 8
    assert [e["fault"] for e in throttled] == ["throttle"]


def test_retry_after_is_whole_seconds(fresh_minimal, client_for):
    """RFC 7231 section 7.1.3 (Retry-After = HTTP-date / delay-seconds, a non-negative integer) and
    Graph's throttling guidance (concepts/throttling.md: "the number of seconds to wait"): a wait
    of 0.4 s is announced as 1; the emulator used to answer fractions by default."""
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"throttle": {"requests": 1, "per_seconds": 0.4}})
    assert _graph(client, token).status_code == 200
    r = _graph(client, token)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert _graph(client, token).status_code == 200


def test_throttle_window_refills_and_retry_after_fractions_on_request(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"throttle": {"requests": 1, "per_seconds": 0.4}, "retry_after_fractions": True})
    assert _graph(client, token).status_code == 200
    r = _graph(client, token)
    assert r.status_code == 429
    retry = float(r.headers["Retry-After"])
    assert 0 < retry < 1 and retry != int(retry)
    time.sleep(retry + 0.05)
    assert _graph(client, token).status_code == 200


def test_partner_center_429_body(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token(scope="https://api.partnercenter.microsoft.com/.default").json()["access_token"]
    emu.control.set_faults({"throttle": {"requests": 0, "per_seconds": 30}})
    r = client.request("GET", "partner_center", "/v1/customers", token=token)
    assert r.status_code == 429
    body = r.json()
    assert body["source"] == "PartnerFD" and body["code"] == 429
    assert "Retry-After" in r.headers


def test_error_rate_gives_graph_5xx(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"error_rate": 1.0})
    seen = set()
    for _ in range(8):
        r = _graph(client, token)
        assert r.status_code in (503, 504)
        assert r.json()["error"]["code"] in ("ServiceNotAvailable", "GatewayTimeout")
        seen.add(r.status_code)
    assert seen == {503, 504}
    assert emu.control.health()["status"] == "ok"  # control is exempt
    r = client.app_token()
    assert r.status_code in (503, 504) and r.json()["error"] == "temporarily_unavailable"
    emu.control.set_faults({"error_rate": 1.0, "services": ["graph"]})
    assert client.app_token().status_code == 200
    assert _graph(client, token).status_code in (503, 504)
    faulted = [e.get("fault") for e in emu.control.requests_log()]
    assert faulted == [None] + ["error"] * 9 + [None, "error"]


def test_drop_rate_closes_connections(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    emu.control.set_faults({"drop_rate": 1.0})
    with pytest.raises(requests.exceptions.ConnectionError):
        client.request("GET", "graph", "/v1.0/users")
    assert emu.control.health()["status"] == "ok"
    emu.control.set_faults({})
    assert client.request("GET", "graph", "/v1.0/users").status_code == 401
    assert emu.control.requests_log()[0]["status"] == 0  # the dropped one is logged as status 0
    assert emu.control.requests_log()[0]["fault"] == "drop"


def test_latency_per_route(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    emu.control.set_faults({"latency_ms": {r"^/v1\.0/users": 300}})
    start = time.monotonic()
    client.request("GET", "graph", "/v1.0/users")
    slow = time.monotonic() - start
    start = time.monotonic()
    client.request("GET", "graph", "/v1.0/groups")
    fast = time.monotonic() - start
    assert slow >= 0.3 and fast < slow


def test_batch_steps_pay_no_latency_and_are_marked(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"latency_ms": 200})
    steps = [{"id": str(n), "method": "GET", "url": "/groups?$top=1"} for n in range(1, 6)]
    start = time.monotonic()
    r = client.request("POST", "graph", "/v1.0/$batch", token=token, json={"requests": steps})
    took = time.monotonic() - start
    assert r.status_code == 200 and len(r.json()["responses"]) == 5
    assert 0.2 <= took < 0.2 * 5  # the envelope's round trip, not one per step
    log = emu.control.requests_log()[-6:]
    assert sorted(bool(e.get("batch_step")) for e in log) == [False] + [True] * 5


def test_seed_makes_faults_repeatable(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)

    def run():
        emu.control.set_faults({"seed": 42, "error_rate": 0.5})
        return [client.request("GET", "graph", "/v1.0/users").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 401 in first and ({503, 504} & set(first))


def test_faults_from_world_settings_and_subrequest_throttle():
    world = World.load({"settings": {"faults": {"throttle": {"requests": 2, "per_seconds": 60}}}})
    assert faults.subrequest_throttle(world, "app-1") is None
    assert faults.subrequest_throttle(world, "app-1") is None
    wait = faults.subrequest_throttle(world, "app-1")
    assert wait is not None and 0 < wait <= 60
    assert faults.subrequest_throttle(world, "app-2") is None
    assert faults.subrequest_throttle(World(), "app-1") is None  # no throttle configured


def test_set_faults_echoes_config_with_defaults(fresh_minimal):
    cfg = fresh_minimal.control.set_faults({"error_rate": 0.25})
    assert cfg["error_rate"] == 0.25 and cfg["drop_rate"] == 0.0 and cfg["seed"] == 1


def test_throttle_rate_answers_a_share_with_429(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"seed": 7, "throttle_rate": 0.25, "throttle_retry_after": 0.2})
    answers = [_graph(client, token) for _ in range(80)]
    throttled = [r for r in answers if r.status_code == 429]
    assert 8 <= len(throttled) <= 32  # 20 expected
    assert all(r.headers["Retry-After"] == "1" for r in throttled)  # whole seconds, rounded up
    assert all(r.status_code == 200 for r in answers if r.status_code != 429)
    assert client.app_token().status_code == 200  # login is not in the default throttle services
    assert emu.control.counters()["faults.throttled"] == len(throttled)


def test_error_statuses_choose_the_5xx(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    token = client.app_token().json()["access_token"]
    emu.control.set_faults({"error_rate": 1.0, "error_statuses": [503], "services": ["graph"]})
    answers = [_graph(client, token) for _ in range(6)]
    assert {r.status_code for r in answers} == {503}
    assert all(r.headers["Retry-After"] == "1" for r in answers)


@pytest.mark.parametrize("config", [{"error_statuses": [404]}, {"throttle_rate": 1.5}, {"error_rate": -0.1}])
def test_bad_fault_configuration_is_refused(fresh_minimal, config):
    with pytest.raises(requests.HTTPError) as info:
        fresh_minimal.control.set_faults(config)
    assert info.value.response.status_code == 400
    assert info.value.response.json()["error"]["code"] == "BadRequest"


def _group_body(name):
    return {"displayName": name, "mailEnabled": False, "mailNickname": name.replace(" ", ""), "securityEnabled": True}


def test_act_then_drop_carries_out_the_write_and_loses_the_answer(fresh_emulator):
    """act_drop_rate: the write happens, then the connection closes unanswered (what a proxy or a
    gateway timeout does to a client); reads are not affected; the log marks it act_drop with the
    status the service meant to answer."""
    from graph_client import Graph, minted_token

    emu = fresh_emulator
    g = Graph(emu, minted_token(emu, roles=["Group.ReadWrite.All"]))
    emu.control.set_faults({"act_drop_rate": 1.0})
    with pytest.raises(requests.exceptions.ConnectionError):
        g.post("/groups", _group_body("lost answer"))
    found = g.get("/groups?$filter=displayName eq 'lost answer'")
    assert found.status_code == 200 and len(found.json()["value"]) == 1  # the write happened
    log = emu.control.requests_log()
    assert [(e["method"], e["status"], e.get("fault")) for e in log] == [("POST", 201, "act_drop"), ("GET", 200, None)]
    assert emu.control.counters()["faults.act_dropped"] == 1


def test_act_then_5xx_carries_out_the_write(fresh_emulator):
    from graph_client import Graph, minted_token

    emu = fresh_emulator
    g = Graph(emu, minted_token(emu, roles=["Group.ReadWrite.All"]))
    emu.control.set_faults({"act_error_rate": 1.0, "act_error_statuses": [504]})
    resp = g.post("/groups", _group_body("answered 504"))
    assert resp.status_code == 504 and resp.json()["error"]["code"] == "GatewayTimeout"
    assert len(g.get("/groups?$filter=displayName eq 'answered 504'").json()["value"]) == 1
    refused = g.post("/groups", {"displayName": "no"})  # a refused write did not act: answered as is
    assert refused.status_code == 400
    log = emu.control.requests_log()
    assert [(e["status"], e.get("fault")) for e in log] == [(201, "act_error"), (200, None), (400, None)]


def test_act_faults_are_seeded(fresh_emulator):
    from graph_client import Graph, minted_token

    emu = fresh_emulator
    g = Graph(emu, minted_token(emu, roles=["Group.ReadWrite.All"]))

    def pattern():
        emu.control.set_faults({"seed": 3, "act_error_rate": 0.5, "act_error_statuses": [500]})
        return [g.post("/groups", _group_body(f"seeded {i} {time.monotonic()}")).status_code for i in range(12)]

    first = pattern()
    assert pattern() == first and set(first) == {201, 500}


@pytest.mark.parametrize("config", [{"act_drop_rate": 2}, {"act_error_statuses": [404]}])
def test_bad_act_fault_configuration_is_refused(fresh_minimal, config):
    with pytest.raises(requests.HTTPError) as info:
        fresh_minimal.control.set_faults(config)
    assert info.value.response.status_code == 400
