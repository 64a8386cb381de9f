"""Graph client: URLs, paging generator, $batch chunking and throttled sub-request retries."""

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError, GraphError
from ansible_collections.cloudpartner.csp.plugins.module_utils.graph import GraphClient, filter_eq, odata_quote

from csp_fakes import GRAPH, FakeRaw


class Token:
    def __init__(self, token="tok-1", source="cache"):
        self.token = token
        self.token_source = source


class Tokens:
    def __init__(self):
        self.calls = []

    def get_token(self, tenant=None, resource="graph", fresh=False, grant=None):
        self.calls.append((tenant, resource, fresh))
        return Token("fresh-token" if fresh else "cached-token", "identity_provider" if fresh else "cache")


@pytest.fixture
def graph(http):
    return GraphClient(http, Tokens(), tenant="t1", endpoint=GRAPH)


def test_odata_quote_doubles_single_quotes():
    assert odata_quote("O'Brien's") == "'O''Brien''s'"
    assert filter_eq("displayName", "AdminAgents") == "displayName eq 'AdminAgents'"
    assert filter_eq("accountEnabled", True) == "accountEnabled eq true"
    assert filter_eq("x", 3) == "x eq 3"


def test_urls(graph):
    assert graph.url("/users") == GRAPH + "/v1.0/users"
    assert graph.url("users?$top=1") == GRAPH + "/v1.0/users?$top=1"
    assert graph.url("/beta/users") == GRAPH + "/beta/users"
    assert graph.url(GRAPH + "/v1.0/me") == GRAPH + "/v1.0/me"
    assert graph.relative(GRAPH + "/v1.0/users?$top=1") == "/users?$top=1"
    assert graph.relative("/groups") == "/groups"


@pytest.mark.parametrize("url", ["https://evil.example/v1.0/users", "http://graph.example.test/v1.0/users",
                                 "https://graph.example.test.evil.example/v1.0/users"])
def test_foreign_urls_are_refused(graph, url):
    with pytest.raises(CspValidationError) as info:
        graph.url(url)
    assert info.value.code == "ForeignUrl"


def test_request_sends_bearer_and_parses(session, graph):
    session.queue("GET", "/v1.0/organization", FakeRaw(200, {"value": [{"id": "o"}]}, {"request-id": "r-1"}))
    response = graph.request("GET", "/organization")
    assert response.json["value"][0]["id"] == "o" and response.request_id == "r-1"
    assert session.calls[0].headers["Authorization"] == "Bearer cached-token"


def test_401_with_cached_token_retries_once_fresh(session, graph):
    session.queue("GET", "/v1.0/users", FakeRaw(401, {"error": {"code": "InvalidAuthenticationToken", "message": "x"}}),
                  FakeRaw(200, {"value": []}))
    graph.request("GET", "/users")
    assert [c.headers["Authorization"] for c in session.calls] == ["Bearer cached-token", "Bearer fresh-token"]


def test_unexpected_status_raises_graph_error(session, graph):
    session.queue("GET", "/v1.0/groups/x", FakeRaw(404, {"error": {"code": "Request_ResourceNotFound", "message": "no"}}))
    with pytest.raises(GraphError) as info:
        graph.request("GET", "/groups/x")
    assert info.value.code == "Request_ResourceNotFound"
    assert graph.request("GET", "/groups/x", expected_status=[404]).status == 404


def _pages(session, count, per_page=2):
    def handler(call):
        page = int(call.url.split("page=")[1]) if "page=" in call.url else 0
        body = {"value": [{"n": page * per_page + i} for i in range(per_page)]}
        if page == 0:
            body["@odata.count"] = count * per_page
        if page + 1 < count:
            body["@odata.nextLink"] = GRAPH + "/v1.0/users?$skiptoken=x&page=%d" % (page + 1)
        return FakeRaw(200, body)
    session.route("GET", "/v1.0/users", handler)


def test_paginate_is_a_lazy_generator(session, graph):
    _pages(session, 5)
    items = graph.paginate("/users", params={"$top": 2}, headers={"ConsistencyLevel": "eventual"})
    assert session.count() == 0
    first_three = [next(items) for dummy in range(3)]
    assert [i["n"] for i in first_three] == [0, 1, 2]
    assert session.count() == 2  # only the pages needed so far
    rest = list(items)
    assert len(rest) == 7 and session.count() == 5
    # params only on the first request (the nextLink carries them), headers on every page
    assert session.calls[0].params == {"$top": 2}
    assert all(c.params is None for c in session.calls[1:])
    assert all(c.headers["ConsistencyLevel"] == "eventual" for c in session.calls)


def test_paginate_empty_pages_and_max_pages(session, graph):
    _pages(session, 4, per_page=0)
    assert graph.get_all("/users") == []
    assert session.count() == 4
    session.calls.clear()
    assert len(list(graph.iter_pages("/users", max_pages=2))) == 2


def test_next_link_to_another_host_is_refused(session, graph):
    session.queue("GET", "/v1.0/users", FakeRaw(200, {"value": [1], "@odata.nextLink": "https://evil.example/next"}))
    with pytest.raises(CspValidationError):
        graph.get_all("/users")


def test_batch_chunks_of_20(session, graph):
    def handler(call):
        return FakeRaw(200, {"responses": [{"id": r["id"], "status": 200, "body": {"url": r["url"]}}
                                           for r in reversed(call.json["requests"])]})
    session.route("POST", r"/v1.0/\$batch", handler)
    requests = [{"url": "/users/%d" % i} for i in range(45)]
    results = graph.batch(requests)
    sizes = [len(c.json["requests"]) for c in session.calls]
    assert sizes == [20, 20, 5]
    assert list(results) == [str(i) for i in range(1, 46)]  # in request order, whatever the response order
    assert results["45"]["body"]["url"] == "/users/44"


def test_batch_keeps_dependency_chains_together():
    reqs = [{"id": str(i), "method": "GET", "url": "/x"} for i in range(1, 20)]
    reqs += [{"id": "a", "method": "POST", "url": "/a"}, {"id": "b", "method": "GET", "url": "/b", "dependsOn": ["a"]}]
    chunks = GraphClient.chunk(reqs)
    ids = [[r["id"] for r in c] for c in chunks]
    assert any("a" in c and "b" in c for c in ids)
    assert all(len(c) <= 20 for c in chunks)


def test_batch_dependency_group_too_large():
    reqs = [{"id": "0", "method": "GET", "url": "/x"}]
    reqs += [{"id": str(i), "method": "GET", "url": "/x", "dependsOn": [str(i - 1)]} for i in range(1, 21)]
    with pytest.raises(CspValidationError):
        GraphClient.chunk(reqs)


def test_batch_validation(graph):
    with pytest.raises(CspValidationError, match="used twice"):
        graph.normalize_batch([{"id": "1", "url": "/a"}, {"id": "1", "url": "/b"}])
    with pytest.raises(CspValidationError, match="unknown id"):
        graph.normalize_batch([{"id": "1", "url": "/a", "depends_on": ["9"]}])
    with pytest.raises(CspValidationError, match="needs a url"):
        graph.normalize_batch([{"id": "1"}])
    with pytest.raises(CspValidationError, match="ForeignUrl|not on the Graph endpoint"):
        graph.normalize_batch([{"url": "https://evil.example/v1.0/users"}])
    entry = graph.normalize_batch([{"url": GRAPH + "/v1.0/groups", "method": "post", "body": {"a": 1}}])[0]
    assert entry == {"id": "1", "method": "POST", "url": "/groups", "body": {"a": 1},
                     "headers": {"Content-Type": "application/json"}}


def test_batch_retries_throttled_sub_requests_and_their_424_dependents(session, graph):
    rounds = []

    def handler(call):
        sent = call.json["requests"]
        rounds.append(sent)
        if len(rounds) == 1:
            return FakeRaw(200, {"responses": [
                {"id": "1", "status": 200, "body": {"ok": 1}},
                {"id": "2", "status": 429, "headers": {"Retry-After": "2.5"}, "body": {"error": {"code": "TooManyRequests"}}},
                {"id": "3", "status": 424, "body": {"error": {"code": "FailedDependency"}}},
                {"id": "4", "status": 429, "headers": {"retry-after": "1"}, "body": {}},
            ]})
        return FakeRaw(200, {"responses": [{"id": r["id"], "status": 201 if r["method"] == "POST" else 200, "body": {}}
                                           for r in sent]})
    session.route("POST", r"/v1.0/\$batch", handler)
    results = graph.batch([
        {"id": "1", "url": "/a"},
        {"id": "2", "method": "POST", "url": "/b", "body": {}},
        {"id": "3", "url": "/c", "depends_on": ["2"]},
        {"id": "4", "url": "/d", "depends_on": ["1"]},
    ])
    assert len(rounds) == 2
    second = {r["id"]: r for r in rounds[1]}
    assert set(second) == {"2", "3", "4"}
    assert second["3"]["dependsOn"] == ["2"]
    assert "dependsOn" not in second["4"]  # its dependency already succeeded
    assert graph.http.fake_clock.slept == [2.5]  # the longest Retry-After of the round
    assert {k: v["status"] for k, v in results.items()} == {"1": 200, "2": 201, "3": 200, "4": 200}


def test_batch_gives_up_when_retry_after_exceeds_cap(session, graph):
    session.queue("POST", r"/v1.0/\$batch", FakeRaw(200, {"responses": [
        {"id": "1", "status": 429, "headers": {"Retry-After": "3600"}, "body": {}}]}))
    results = graph.batch([{"url": "/a"}])
    assert results["1"]["status"] == 429 and session.count() == 1


def test_batch_of_reads_is_sent_again_when_its_answer_is_lost(session, graph):
    """A $batch is a POST, but one of GETs only changes nothing: a dropped connection is retried."""
    import requests

    session.queue("POST", r"/v1.0/\$batch", requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"),
                  FakeRaw(200, {"responses": [{"id": "1", "status": 200, "body": {}}]}))
    assert graph.batch([{"url": "/organization"}])["1"]["status"] == 200
    assert session.count() == 2


def test_batch_with_a_write_is_not_sent_again(session, graph):
    import requests

    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspTransportError

    session.queue("POST", r"/v1.0/\$batch", requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"))
    with pytest.raises(CspTransportError):
        graph.batch([{"method": "POST", "url": "/groups", "body": {"displayName": "x"}}])
    assert session.count() == 1


@pytest.mark.parametrize("path", ["/v1.0/../../x", "/users/../groups", "/users/%2E%2E/x", "//evil.example/users",
                                  "users/./x", GRAPH + "/v1.0/../x"])
def test_dot_segments_and_double_slash_are_refused(session, graph, path):
    with pytest.raises(CspValidationError) as info:
        graph.request("GET", path)
    assert info.value.code == "InvalidPath" and session.calls == []


def test_dots_inside_a_segment_are_fine(graph):
    assert graph.url("/users/a..b@contoso.com") == GRAPH + "/v1.0/users/a..b@contoso.com"
    assert graph.url("/users?$filter=startswith(mail,'..')") == GRAPH + "/v1.0/users?$filter=startswith(mail,'..')"
