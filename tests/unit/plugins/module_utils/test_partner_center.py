"""Partner Center client: continuation-token paging, headers, errors."""

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError, PartnerCenterError
from ansible_collections.cloudpartner.csp.plugins.module_utils.partner_center import PartnerCenterClient

from csp_fakes import PC, FakeRaw


class Tokens:
    def __init__(self):
        self.calls = []

    def get_token(self, tenant=None, resource="graph", fresh=False, grant=None):
        self.calls.append(resource)

        class T:
            token = "pc-token"
            token_source = "cache"
        return T()


@pytest.fixture
def pc(http):
    return PartnerCenterClient(http, Tokens(), PC, correlation_id="corr-fixed")


def test_continuation_paging(session, pc):
    def handler(call):
        token = call.headers.get("MS-ContinuationToken")
        if token is None:
            return FakeRaw(200, {"totalCount": 3, "items": [{"id": "a"}, {"id": "b"}], "links": {"next": {
                "uri": "/customers?size=2&seekOperation=Next", "method": "GET",
                "headers": [{"key": "MS-ContinuationToken", "value": "ct-1"}]}}})
        assert token == "ct-1"
        return FakeRaw(200, {"totalCount": 3, "items": [{"id": "c"}], "links": {"self": {"uri": "/customers"}}})
    session.route("GET", "/v1/customers", handler)
    assert [c["id"] for c in pc.paginate("customers", params={"size": 2})] == ["a", "b", "c"]
    assert session.calls[0].url == PC + "/v1/customers" and session.calls[0].params == {"size": 2}
    assert session.calls[1].url == PC + "/v1/customers?size=2&seekOperation=Next"


def test_headers(session, pc):
    session.queue("GET", "/v1/customers/x", FakeRaw(200, {"id": "x"}))
    pc.request("GET", "/customers/x")
    headers = session.calls[0].headers
    assert headers["Authorization"] == "Bearer pc-token"
    assert headers["MS-CorrelationId"] == "corr-fixed"
    assert headers["MS-RequestId"]
    assert pc.tokens.calls == ["partner_center"]


def test_post_with_request_id_is_retried_on_drop(session, pc):
    import requests
    session.queue("POST", "/v1/customers", requests.exceptions.ConnectionError("reset"), FakeRaw(201, {"id": "n"}))
    response = pc.request("POST", "customers", body={}, request_id="fixed-id")
    assert response.status == 201
    assert [c.headers["MS-RequestId"] for c in session.calls] == ["fixed-id", "fixed-id"]


def test_error_body(session, pc):
    session.queue("POST", "applicationconsents", FakeRaw(409, {"code": 600041, "description": "Permission entry already exists.",
                                                               "data": [], "source": "PartnerFD"}, {"MS-RequestId": "rq"}))
    with pytest.raises(PartnerCenterError) as info:
        pc.request("POST", "/customers/c/applicationconsents", body={})
    assert info.value.code == "600041" and info.value.status == 409 and info.value.request_id == "rq"


def test_foreign_url_refused(pc):
    with pytest.raises(CspValidationError):
        pc.url("https://evil.example/v1/customers")


def test_missing_endpoint(http):
    with pytest.raises(CspValidationError, match="partner_center_endpoint"):
        PartnerCenterClient(http, Tokens(), None)


@pytest.mark.parametrize("url", ["http://pc.example.test/v1/customers", "HTTP://pc.example.test/v1/customers?x=1"])
def test_plain_http_url_refused(pc, url):
    endpoint_host = PC.split("://", 1)[1]
    with pytest.raises(CspValidationError) as info:
        pc.url(url.replace("pc.example.test", endpoint_host))
    assert info.value.code == "ForeignUrl"


def test_plain_http_continuation_link_refused_before_the_token_goes_out(session, pc):
    http_next = "http://" + PC.split("://", 1)[1] + "/v1/customers?seekOperation=Next"
    session.queue("GET", "/v1/customers", FakeRaw(200, {"items": [{"id": "a"}], "links": {"next": {
        "uri": http_next, "headers": [{"key": "MS-ContinuationToken", "value": "ct"}]}}}))
    with pytest.raises(CspValidationError):
        pc.get_all("customers")
    assert len(session.calls) == 1


@pytest.mark.parametrize("path", ["customers/../../x", "/v1/%2e%2e/x", "//evil.example/v1/customers",
                                  PC + "/v1/customers/../../x"])
def test_dot_segments_and_double_slash_refused(session, pc, path):
    with pytest.raises(CspValidationError) as info:
        pc.request("GET", path)
    assert info.value.code == "InvalidPath" and session.calls == []
