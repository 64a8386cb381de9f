"""Retries, Retry-After, jitter bounds, total budget, TLS and headers of HttpClient."""

import pytest
import requests

from ansible_collections.cloudpartner.csp.plugins.module_utils._version import USER_AGENT
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspTransportError, GraphError
from ansible_collections.cloudpartner.csp.plugins.module_utils.http import (
    MsalHttpAdapter,
    RetryPolicy,
    parse_retry_after,
)

import csp_fakes
from csp_fakes import FakeRaw

URL = "https://graph.example.test/v1.0/users"


def throttled(retry_after="1.5"):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return FakeRaw(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, headers)


def test_fractional_retry_after_is_honoured(session, http):
    session.queue("GET", "users", throttled("1.5"), throttled("0.25"), FakeRaw(200, {"value": []}))
    response = http.send("GET", URL)
    assert response.status_code == 200
    assert http.fake_clock.slept == [1.5, 0.25]
    assert session.count("GET") == 3


def test_http_date_retry_after():
    import email.utils
    import time
    value = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(value) <= 31
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None


def test_backoff_without_retry_after_is_jittered_within_bounds(session):
    policy = RetryPolicy(max_attempts=5, backoff_base=1.0, max_wait=60, max_total_wait=1000)
    for rand, expected in ((lambda: 0.0, [0.5, 1.0, 2.0, 4.0]), (lambda: 1.0, [1.0, 2.0, 4.0, 8.0])):
        session.calls.clear()
        session.queue("GET", "users", FakeRaw(503))
        http = csp_fakes.make_http(session, retry=policy, rand=rand)
        assert http.send("GET", URL).status_code == 503
        assert http.fake_clock.slept == expected
    # any jitter lies within [d/2, d]
    for attempt in range(1, 8):
        for r in (0.0, 0.3, 0.999):
            d = min(60, 2 ** (attempt - 1))
            assert d / 2 <= policy.backoff(attempt, lambda: r) <= d  # noqa: B023


def test_per_wait_cap_returns_the_throttle(session, http):
    session.queue("GET", "users", throttled("600"))
    response = http.send("GET", URL)
    assert response.status_code == 429
    assert http.fake_clock.slept == []


def test_total_wait_is_bounded(session):
    http = csp_fakes.make_http(session, retry=RetryPolicy(max_attempts=100, max_wait=10, max_total_wait=25))
    session.queue("GET", "users", throttled("9"))
    assert http.send("GET", URL).status_code == 429
    assert sum(http.fake_clock.slept) <= 25
    assert http.fake_clock.slept == [9.0, 9.0]


def test_max_attempts(session):
    http = csp_fakes.make_http(session, retry=RetryPolicy(max_attempts=3))
    session.queue("GET", "users", throttled("0.1"))
    assert http.send("GET", URL).status_code == 429
    assert session.count() == 3


def test_request_raises_typed_error_after_retries(session, http):
    session.queue("GET", "users", FakeRaw(404, {"error": {"code": "Request_ResourceNotFound", "message": "gone",
                                                          "innerError": {"request-id": "rid"}}}))
    with pytest.raises(GraphError) as info:
        http.request("GET", URL, service="graph")
    assert info.value.code == "Request_ResourceNotFound" and info.value.request_id == "rid"
    assert session.count() == 1  # 404 is not retried


def test_504_retried_for_get_not_for_post(session, http):
    session.queue("*", "users", FakeRaw(504), FakeRaw(200, {}))
    assert http.send("GET", URL).status_code == 200
    session.calls.clear()
    session.queue("*", "users", FakeRaw(504), FakeRaw(201, {}))
    assert http.send("POST", URL, json={}).status_code == 504
    assert session.count() == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_gateway_5xx_retried_for_idempotent_calls_only(session, http, status):
    """The service may have acted before a 500/502/504: a GET or a POST with a request id (Partner
    Center deduplicates on MS-RequestId) is repeated, a plain POST is not."""
    session.queue("*", "users", FakeRaw(status), FakeRaw(200, {}))
    assert http.send("GET", URL).status_code == 200
    session.calls.clear()
    session.queue("*", "users", FakeRaw(status), FakeRaw(201, {}))
    assert http.send("POST", URL, json={}, idempotent=True).status_code == 201
    session.calls.clear()
    session.queue("*", "users", FakeRaw(status), FakeRaw(201, {}))
    assert http.send("POST", URL, json={}).status_code == status
    assert session.count() == 1


def test_429_retried_even_for_post(session, http):
    session.queue("POST", "users", throttled("0.5"), FakeRaw(201, {"id": "x"}))
    assert http.send("POST", URL, json={"a": 1}).status_code == 201


def test_dropped_connection_retried_for_get(session, http):
    session.queue("GET", "users", requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"),
                  FakeRaw(200, {}))
    assert http.send("GET", URL).status_code == 200
    assert len(http.fake_clock.slept) == 1


def test_dropped_connection_not_retried_for_post(session, http):
    session.queue("POST", "users", requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"))
    with pytest.raises(CspTransportError) as info:
        http.send("POST", URL, json={})
    assert session.count() == 1
    assert info.value.code == "ConnectionError"


def test_refused_connection_is_retried_for_post(session, http):
    session.queue("POST", "users", requests.exceptions.ConnectionError("NewConnectionError: Connection refused"),
                  FakeRaw(201, {}))
    assert http.send("POST", URL, json={}).status_code == 201


def test_idempotent_override(session, http):
    session.queue("POST", "users", requests.exceptions.ConnectionError("reset"), FakeRaw(200, {}))
    assert http.send("POST", URL, data={"grant_type": "x"}, idempotent=True).status_code == 200


def test_tls_error_is_clear_and_not_retried(session, http):
    session.queue("GET", "users", requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(CspTransportError) as info:
        http.send("GET", URL)
    assert info.value.code == "TlsError" and "ca_bundle" in info.value.message
    assert session.count() == 1


def test_transport_error_message_is_redacted(session, http):
    session.queue("GET", "users", requests.exceptions.ConnectionError("failed for refresh_token=abc-secret"))
    http.retry = RetryPolicy(max_attempts=1)
    with pytest.raises(CspTransportError) as info:
        http.send("GET", URL + "?refresh_token=abc-secret")
    assert "abc-secret" not in str(info.value)


def test_verify_user_agent_and_client_request_id_on_every_request(session, http):
    session.queue("GET", "users", throttled("0"), FakeRaw(200, {}))
    http.send("GET", URL, headers={"X-Test": "1"})
    ids = set()
    for call in session.calls:
        assert call.verify == "/tmp/ca.pem"
        assert call.headers["User-Agent"] == USER_AGENT
        assert call.headers["X-Test"] == "1"
        assert call.timeout
        ids.add(call.headers["client-request-id"])
    assert len(ids) == 2  # a new id per attempt


def test_verify_defaults_to_true(session):
    http = csp_fakes.make_http(session, verify=None)
    session.queue("GET", "users", FakeRaw(200, {}))
    http.send("GET", URL)
    assert session.calls[0].verify is True


def test_msal_adapter_remembers_last_error_and_retries(session, http):
    adapter = MsalHttpAdapter(http)
    session.queue("POST", "token", requests.exceptions.ConnectionError("reset"),
                  FakeRaw(400, {"error": "invalid_grant", "error_description": "AADSTS700082: expired"}))
    response = adapter.post("https://login/t/oauth2/v2.0/token", data={"a": "b"}, headers={})
    assert response.status_code == 400 and adapter.last_error is response
    assert "AADSTS700082" in response.text and response.headers is not None


def test_version_matches_galaxy():
    import os
    import yaml
    from ansible_collections.cloudpartner.csp.plugins.module_utils._version import COLLECTION_VERSION
    galaxy = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "galaxy.yml")
    if not os.path.exists(galaxy):
        pytest.skip("no galaxy.yml")
    with open(galaxy) as handle:
        assert yaml.safe_load(handle)["version"] == COLLECTION_VERSION
    assert USER_AGENT == "cloudpartner.csp/" + COLLECTION_VERSION


def test_plain_http_is_never_sent(session, http):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
    with pytest.raises(CspValidationError) as info:
        http.send("GET", "http://login.example.test/x")
    assert info.value.code == "InsecureUrl" and session.calls == []
