"""Redaction, hints and the three error body shapes."""

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import errors
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspAuthError,
    CspError,
    GraphError,
    LoginHttpError,
    PartnerCenterError,
    redact,
    register_secret,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HttpResponse, error_from_response

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("{'Authorization': 'Bearer opaque-token-1'}", "opaque-token-1"),
    ("grant_type=refresh_token&refresh_token=0.AAA-rt&client_id=x", "0.AAA-rt"),
    ("client_secret=s3cr3t~value&scope=x", "s3cr3t~value"),
    ('{"access_token": "at-value-123", "expires_in": 3599}', "at-value-123"),
    ('{"refresh_token":"rt-value-123"}', "rt-value-123"),
    ("token was %s in the log" % JWT, JWT),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----", "MIIEvQ"),
    ("client_assertion=eyJabc.def.ghi", "eyJabc.def.ghi"),
])
def test_redact_masks_secrets(text, secret):
    out = redact(text)
    assert secret not in out
    assert "********" in out


def test_registered_secret_is_masked_even_when_it_looks_harmless():
    register_secret("demo-us-refresh-token-seed")
    assert "demo-us-refresh-token-seed" not in redact("AADSTS700082: token demo-us-refresh-token-seed expired")


def test_short_values_are_not_registered():
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_error_message_and_details_are_redacted():
    err = GraphError("failed with Bearer %s" % JWT, details={"headers": {"Authorization": "Bearer xyz-123"}})
    assert JWT not in str(err) and JWT not in err.message
    assert "xyz-123" not in repr(err.to_result())


def test_hints_for_common_aadsts_codes():
    for number in ("7000215", "7000222", "700082", "65001", "90099", "700016", "50076", "50173", "53003", "70043"):
        err = CspAuthError("AADSTS%s: something" % number, code="AADSTS" + number)
        assert err.hint, number
    assert "expired" in CspAuthError("x", code="AADSTS7000222").hint
    assert CspError("plain").hint is None


def test_to_result_shape():
    err = PartnerCenterError("boom", code=3000, status=400, request_id="r1", correlation_id="c1")
    result = err.to_result()
    assert result["code"] == "3000"
    assert result["service"] == "partner_center"
    assert result["status"] == 400 and result["request_id"] == "r1" and result["correlation_id"] == "c1"
    assert set(result) >= {"code", "message", "status", "request_id", "hint"}


def _response(status, body, headers=None):
    import json
    return HttpResponse(status, headers or {}, json.dumps(body).encode() if body is not None else b"", "https://x/y", "GET",
                        client_request_id="cr-1")


def test_parse_login_error_body():
    err = error_from_response(_response(400, {
        "error": "invalid_grant",
        "error_description": "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: t\r\nCorrelation ID: c",
        "error_codes": [700082], "trace_id": "trace-9", "correlation_id": "corr-9"}), "login")
    assert isinstance(err, LoginHttpError) and isinstance(err, CspAuthError)
    assert err.code == "AADSTS700082"
    assert err.message == "The refresh token has expired due to inactivity."
    assert err.request_id == "trace-9" and err.correlation_id == "corr-9"
    assert "90 days" in err.hint


def test_parse_graph_error_body():
    err = error_from_response(_response(404, {"error": {
        "code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist.",
        "innerError": {"date": "2026-01-01T00:00:00", "request-id": "req-1", "client-request-id": "cr-1"}}},
        headers={"request-id": "hdr"}), "graph")
    assert isinstance(err, GraphError)
    assert (err.code, err.status, err.request_id) == ("Request_ResourceNotFound", 404, "req-1")
    assert err.client_request_id == "cr-1"
    assert "Request_ResourceNotFound" in str(err) and "req-1" in str(err)


def test_parse_partner_center_error_body():
    err = error_from_response(_response(409, {"code": 600041, "description": "Permission entry already exists.",
                                              "data": [], "source": "PartnerFD"},
                                        headers={"MS-RequestId": "pc-req", "MS-CorrelationId": "pc-corr"}),
                              "partner_center")
    assert isinstance(err, PartnerCenterError)
    assert err.code == "600041" and err.message == "Permission entry already exists."
    assert err.request_id == "pc-req" and err.correlation_id == "pc-corr"


def test_parse_non_json_error():
    response = HttpResponse(502, {}, b"<html>Bad gateway</html>", "https://x", "GET")
    err = error_from_response(response, "graph")
    assert err.code == "502" and "Bad gateway" in err.message


def test_retry_after_on_error():
    err = error_from_response(_response(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
                                        headers={"Retry-After": "2.5"}), "graph")
    assert err.retry_after == 2.5


def test_error_kinds():
    assert errors.CspValidationError("x").kind == "validation"
    assert errors.CspTransportError("x").kind == "transport"


def test_clean_description_drops_trace_tail():
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import clean_description
    text = "AADSTS7000222: The provided client secret keys are expired. Trace ID: 1 Correlation ID: 2 Timestamp: x"
    assert clean_description(text) == "The provided client secret keys are expired."
    assert clean_description("AADSTS50076: MFA.\r\nTrace ID: 1") == "MFA."
