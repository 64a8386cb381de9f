"""The control API: guarded by the token on every port; clock, world, log, counters, approvals."""

from __future__ import annotations

import sys
import types

import pytest
import requests
import yaml

PARTNER = "10000000-0000-4000-8000-0000000000a1"
INTEGRATION = "integration@minpartner.onmicrosoft.com"


@pytest.mark.parametrize("service", ["login", "graph", "partner_center"])
def test_control_needs_the_token_on_every_port(minimal_emulator, client_for, service):
    client = client_for(minimal_emulator)
    assert client.request("GET", service, "/_emulator/health").status_code == 401
    assert client.request("GET", service, "/_emulator/health", token="wrong").status_code == 401
    r = client.request("GET", service, "/_emulator/health", token=minimal_emulator.control_token)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert client.request("POST", service, "/_emulator/reset").status_code == 401


def test_unknown_control_route(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request("GET", "graph", "/_emulator/nope", token=minimal_emulator.control_token)
    assert r.status_code == 404


def test_control_requests_are_not_logged(fresh_minimal):
    emu = fresh_minimal
    emu.control.health()
    emu.control.tenants()
    assert emu.control.requests_log() == []
    assert emu.control.counters().get("requests", 0) == 0


def test_tenants_summary(minimal_emulator):
    tenants = {t["key"]: t for t in minimal_emulator.control.tenants()}
    assert tenants["us"]["kind"] == "partner" and tenants["us"]["customers"] == 3
    assert tenants["plain"]["region"] == "EU"
    assert tenants["newcust"]["available"] is False


def test_clock_advance(fresh_minimal):
    emu = fresh_minimal
    before = emu.control.clock()
    after = emu.control.advance_clock(days=1, seconds=30)
    assert after["offset_seconds"] == pytest.approx(86430)
    assert after["epoch"] - before["epoch"] >= 86430
    with pytest.raises(requests.HTTPError) as info:
        emu.control.advance_clock(seconds=-5)
    assert info.value.response.status_code == 400


def test_settings_change_until_reset(fresh_minimal):
    emu = fresh_minimal
    assert emu.control.settings()["propagation_delay"] == 180
    assert "faults" not in emu.control.settings()
    changed = emu.control.settings(propagation_delay=4, existing_consent="created")
    assert changed["propagation_delay"] == 4 and changed["existing_consent"] == "created"
    for bad in ({"no_such_setting": 1}, {"faults": {"error_rate": 1.0}}):
        with pytest.raises(requests.HTTPError) as info:
            emu.control.settings(**bad)
        assert info.value.response.status_code == 400
        assert list(bad)[0] in info.value.response.json()["error"]["message"]
    emu.control.reset()
    assert emu.control.settings()["propagation_delay"] == 180


def test_reset_restores_world_and_clock(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    emu.control.advance_clock(days=100)
    assert client.refresh("min-refresh-token-seed").status_code == 400
    emu.control.reset()
    assert emu.control.clock()["offset_seconds"] == 0
    assert client.refresh("min-refresh-token-seed").status_code == 200


def test_load_world_json_and_yaml(fresh_minimal, client_for, tmp_path):
    emu = fresh_minimal
    world = {
        "customer_tenants": [{"key": "solo", "id": "30000000-0000-4000-8000-00000000ffff", "region": "OC",
                              "domains": ["solo.onmicrosoft.com"]}],
    }
    assert emu.control.load_world(world)["tenants"] == 1
    doc = client_for(emu).request("GET", "login", "/solo.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert doc.json()["tenant_region_scope"] == "OC"
    path = tmp_path / "w.yaml"
    world["customer_tenants"][0]["region"] = "AF"
    path.write_text(yaml.safe_dump(world))
    emu.control.load_world(path)
    assert [t["region"] for t in emu.control.tenants()] == ["AF"]
    # reset goes back to the last loaded world
    emu.control.reset()
    assert [t["region"] for t in emu.control.tenants()] == ["AF"]


def test_invalid_world_is_rejected(fresh_minimal):
    emu = fresh_minimal
    for bad in ({"partner_tenants": [{"key": "x", "id": "not-a-guid", "domains": ["x.example"]}]},
                {"customer_tenants": [{"key": "x", "id": "30000000-0000-4000-8000-00000000ffff"}]}):
        with pytest.raises(requests.HTTPError) as info:
            emu.control.load_world(bad)
        assert info.value.response.status_code == 400
        assert info.value.response.json()["error"]["code"] == "InvalidWorld"
    r = emu.control.session.put(emu.control_url + "/_emulator/world", data=b"- just\n- a list\n")
    assert r.status_code == 400
    assert len(emu.control.tenants()) == 5  # the old world stays


def test_requests_log_since_and_clear(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    for _ in range(3):
        client.request("GET", "graph", "/v1.0/users")
    log = emu.control.requests_log()
    assert [e["status"] for e in log] == [401, 401, 401]
    assert emu.control.requests_log(since=log[0]["seq"]) == log[1:]
    counters = emu.control.counters()
    assert counters["requests"] == 3 and counters["requests.graph"] == 3 and counters["status.401"] == 3
    emu.control.clear_log()
    assert emu.control.requests_log() == []
    client.request("GET", "graph", "/v1.0/users")
    assert emu.control.requests_log()[0]["seq"] == log[-1]["seq"] + 1


def test_refresh_token_listing_and_revocation(fresh_minimal, client_for):
    emu = fresh_minimal
    listed = emu.control.refresh_tokens(INTEGRATION)
    values = {t["value"] for t in listed["refresh_tokens"]}
    assert {"min-refresh-token-seed", "min-refresh-token-old", "min-refresh-token-dap"} <= values
    rotated = client_for(emu).refresh("min-refresh-token-seed").json()["refresh_token"]
    listed = emu.control.refresh_tokens(INTEGRATION)
    seed = next(t for t in listed["refresh_tokens"] if t["value"] == "min-refresh-token-seed")
    assert seed["superseded_by"] == rotated and seed["uses"] == 1 and seed["valid"]
    assert listed["newest"]["20000000-0000-4000-8000-0000000000a1"] == rotated
    emu.control.revoke_refresh_tokens(INTEGRATION)
    assert not any(t["valid"] for t in emu.control.refresh_tokens(INTEGRATION)["refresh_tokens"])
    with pytest.raises(requests.HTTPError) as info:
        emu.control.refresh_tokens("nobody@nowhere.example")
    assert info.value.response.status_code == 404


def test_issued_tokens_lists_every_token_handed_out(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    assert client.request("GET", "graph", "/_emulator/issued-tokens").status_code == 401
    before = emu.control.issued_tokens()
    assert before["access_tokens"] == [] and before["id_tokens"] == [] and before["dropped"] == 0
    assert {"min-refresh-token-seed", "min-refresh-token-old", "min-refresh-token-nomfa"} <= set(before["refresh_tokens"])
    app = client.app_token().json()["access_token"]
    rotated = client.refresh("min-refresh-token-seed").json()
    after = emu.control.issued_tokens()
    assert after["access_tokens"] == [app, rotated["access_token"]]
    assert after["id_tokens"] == [rotated["id_token"]]
    assert rotated["refresh_token"] in after["refresh_tokens"] and "min-refresh-token-seed" in after["refresh_tokens"]
    emu.control.reset()
    assert emu.control.issued_tokens()["access_tokens"] == []


def test_device_code_approval_errors(fresh_minimal):
    emu = fresh_minimal
    with pytest.raises(requests.HTTPError) as info:
        emu.control.approve_device_code("NOPE", INTEGRATION)
    assert info.value.response.status_code == 404


def test_gdap_approval_is_delegated_to_the_gdap_module(fresh_minimal, monkeypatch):
    emu = fresh_minimal
    calls = []
    fake = types.ModuleType("csp_emulator.gdap")

    def approve(world, relationship_id):
        calls.append((world, relationship_id))
        return {"id": relationship_id, "status": "approved"}

    fake.approve = approve
    monkeypatch.setitem(sys.modules, "csp_emulator.gdap", fake)
    assert emu.control.approve_gdap("rel-1") == {"id": "rel-1", "status": "approved"}
    assert calls == [(emu.world, "rel-1")]
