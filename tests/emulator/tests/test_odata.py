"""Unit tests of the OData query layer (pure: no server, no world)."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from csp_emulator.odata import ODataError, compile_filter, parse_query, public, select_fields

GROUPS = [
    {
        "@odata.type": "#microsoft.graph.group",
        "id": "6a8e7f3c-0000-4000-8000-00000000000a",
        "displayName": "AdminAgents",
        "securityEnabled": True,
        "mailEnabled": False,
        "groupTypes": [],
        "createdDateTime": "2024-01-02T00:00:00Z",
        "memberCount": 3,
        "_members": {"x"},
    },
    {
        "@odata.type": "#microsoft.graph.group",
        "id": "6a8e7f3c-0000-4000-8000-00000000000b",
        "displayName": "O'Brien Helpdesk",
        "securityEnabled": False,
        "mailEnabled": True,
        "groupTypes": ["Unified"],
        "createdDateTime": "2023-06-01T12:30:00.1234567Z",
        "memberCount": 10,
    },
    {
        "@odata.type": "#microsoft.graph.group",
        "id": "6a8e7f3c-0000-4000-8000-00000000000c",
        "displayName": "GDAP Admins",
        "securityEnabled": True,
        "mailEnabled": False,
        "groupTypes": [],
        "createdDateTime": None,
        "memberCount": 0,
        "customer": {"tenantId": "30000000-0000-4000-8000-000000000001", "displayName": "Fabrikam"},
    },
]


def ids(expr, items=GROUPS, **kw):
    pred, _ = compile_filter(expr, **kw)
    return [o["id"][-1] for o in items if pred(o)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("displayName eq 'AdminAgents'", ["a"]),
        ("displayName eq 'adminagents'", ["a"]),  # directory string comparison ignores case
        ("displayName eq 'O''Brien Helpdesk'", ["b"]),  # doubled quote inside a literal
        ("startswith(displayName,'gdap')", ["c"]),
        ("startsWith(displayName, 'O''B')", ["b"]),
        ("securityEnabled eq true and mailEnabled eq false", ["a", "c"]),
        ("securityEnabled", ["a", "c"]),
        ("mailEnabled eq true or displayName eq 'GDAP Admins'", ["b", "c"]),
        ("(memberCount gt 2) and (memberCount le 3)", ["a"]),
        ("memberCount ge 10", ["b"]),
        ("memberCount lt 3", ["c"]),
        ("id eq 6a8e7f3c-0000-4000-8000-00000000000B", ["b"]),  # unquoted GUID literal
        ("id in ('6a8e7f3c-0000-4000-8000-00000000000a', '6a8e7f3c-0000-4000-8000-00000000000c')", ["a", "c"]),
        ("groupTypes/any(t:t eq 'Unified')", ["b"]),
        ("groupTypes/any()", ["b"]),
        ("groupTypes/any(t: startswith(t, 'uni'))", ["b"]),
        ("customer/tenantId eq '30000000-0000-4000-8000-000000000001'", ["c"]),
        ("customer/displayName eq null", ["a", "b"]),
        ("createdDateTime eq null", ["c"]),
        ("createdDateTime ge 2024-01-01T00:00:00Z", ["a"]),
        ("createdDateTime lt 2024-01-01", ["b"]),
        ("createdDateTime gt 2023-06-01T12:30:00Z", ["a", "b"]),
        ("not(displayName eq 'AdminAgents')", ["b", "c"]),
        ("displayName ne 'AdminAgents'", ["b", "c"]),
        ("endswith(displayName,'agents')", ["a"]),
        ("displayName EQ 'GDAP Admins'", ["c"]),
    ],
)
def test_filter_semantics(expr, expected):
    assert ids(expr) == expected


def test_lambda_over_objects():
    rels = [
        {"id": "r1", "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "AAA"}, {"roleDefinitionId": "bbb"}]}},
        {"id": "r2", "accessDetails": {"unifiedRoles": []}},
    ]
    pred, _ = compile_filter("accessDetails/unifiedRoles/any(r: r/roleDefinitionId eq 'aaa')")
    assert [r["id"] for r in rels if pred(r)] == ["r1"]
    pred, _ = compile_filter("accessDetails/unifiedRoles/all(r: r/roleDefinitionId ne 'zzz')")
    assert [r["id"] for r in rels if pred(r)] == ["r1", "r2"]


def test_filter_reports_advanced_operators():
    _, info = compile_filter("displayName ne 'x' and not(securityEnabled eq true) and endswith(displayName,'s')")
    assert [op for op, _ in info.advanced] == ["ne", "not", "endswith"]
    assert info.advanced[0][1] == "displayName"


@pytest.mark.parametrize(
    "expr",
    [
        "displayName eq",
        "displayName eq 'unterminated",
        "(displayName eq 'x'",
        "displayName eq 'x')",
        "eq 'x'",
        "displayName eq $",
        "displayName eq 'x' and",
        "startswith(displayName)",
        "displayName # 'x'",
        "   ",
        "(" * 5000 + "a eq 1" + ")" * 5000,
    ],
)
def test_unparsable_filters_are_400_bad_request(expr):
    with pytest.raises(ODataError) as exc:
        compile_filter(expr)
    assert exc.value.status == 400
    assert exc.value.code == "BadRequest"
    assert exc.value.message.startswith("Invalid filter clause")


def test_unsupported_function_and_unknown_property():
    with pytest.raises(ODataError) as exc:
        compile_filter("contains(displayName,'x')")
    assert exc.value.code == "Request_UnsupportedQuery"
    with pytest.raises(ODataError) as exc:
        compile_filter("color eq 'red'", allowed={"displayName"}, entity="group")
    assert exc.value.message == "Could not find a property named 'color' on type 'microsoft.graph.group'."


def test_advanced_query_needs_consistency_level_and_count():
    for params in ({"$filter": "displayName ne 'x'"}, {"$filter": "NOT(displayName eq 'x')"}):
        with pytest.raises(ODataError) as exc:
            parse_query(params, {}, entity="group")
        assert (exc.value.status, exc.value.code) == (400, "Request_UnsupportedQuery")
    with pytest.raises(ODataError) as exc:
        parse_query({"$filter": "displayName ne 'x'"}, {"ConsistencyLevel": "eventual"}, entity="group")
    assert exc.value.code == "Request_UnsupportedQuery"
    with pytest.raises(ODataError) as exc:
        parse_query({"$filter": "displayName eq 'x'", "$count": "true"}, {}, entity="group")
    assert (exc.value.code, exc.value.message) == ("Request_BadRequest", "$count is not currently supported.")
    q = parse_query(
        {"$filter": "endswith(displayName,'s')", "$count": "true"}, {"consistencylevel": "eventual"}, entity="group"
    )
    assert [g["displayName"] for g in q.filtered(GROUPS)] == ["AdminAgents", "GDAP Admins"]
    # Outside the directory (e.g. GDAP) these operators need no header.
    q = parse_query({"$filter": "displayName ne 'x'"}, {}, directory=False)
    assert len(list(q.filtered(GROUPS))) == 3


def test_search_needs_consistency_level():
    with pytest.raises(ODataError) as exc:
        parse_query({"$search": '"displayName:agents"'}, {})
    assert exc.value.code == "Request_UnsupportedQuery"
    q = parse_query({"$search": '"displayName:agents"'}, {"ConsistencyLevel": "eventual"})
    assert [g["id"][-1] for g in q.filtered(GROUPS)] == ["a"]
    q = parse_query({"$search": '"displayName:gdap" OR "displayName:brien"'}, {"ConsistencyLevel": "eventual"})
    assert [g["id"][-1] for g in q.filtered(GROUPS)] == ["b", "c"]
    with pytest.raises(ODataError):
        parse_query({"$search": "displayName:agents"}, {"ConsistencyLevel": "eventual"})


@pytest.mark.parametrize(
    ("top", "directory", "max_top", "code"),
    [
        ("1000", True, 999, "Request_BadRequest"),
        ("0", True, 999, "Request_BadRequest"),
        ("abc", True, 999, "BadRequest"),
        ("301", False, 300, "BadRequest"),
    ],
)
def test_top_limits(top, directory, max_top, code):
    with pytest.raises(ODataError) as exc:
        parse_query({"$top": top}, {}, directory=directory, max_top=max_top)
    assert (exc.value.status, exc.value.code) == (400, code)


def test_query_option_errors():
    with pytest.raises(ODataError, match="more than once"):
        parse_query([("$top", "1"), ("$top", "2")], {})
    with pytest.raises(ODataError, match="not supported"):
        parse_query({"$bogus": "1"}, {})
    with pytest.raises(ODataError, match="skip"):
        parse_query({"$skip": "1"}, {})
    with pytest.raises(ODataError, match="Could not find a property named 'nope'"):
        parse_query({"$select": "id,nope"}, {}, allowed={"id", "displayName"}, entity="group")
    # Options without the dollar sign are accepted, other parameters are left to the handler.
    q = parse_query({"top": "2", "api-version": "x"}, {})
    assert q.page_size == 2


def test_select_keeps_id_and_odata_type_and_strips_internals():
    assert select_fields(GROUPS[0], ["displayName"]) == {
        "@odata.type": "#microsoft.graph.group",
        "id": GROUPS[0]["id"],
        "displayName": "AdminAgents",
    }
    assert "_members" not in select_fields(GROUPS[0], None)
    assert select_fields(GROUPS[0], ["description"])["description"] is None
    assert public({"a": [{"b": 1, "_c": 2}], "_d": 3}) == {"a": [{"b": 1}]}


def _follow(link, headers, path, items, **kw):
    pairs = parse_qsl(urlsplit(link).query)
    q = parse_query(pairs, headers, path=path, **kw)
    return q.page(items, link_base="https://h" + path)


def test_paging_with_skiptoken_and_count_on_first_page_only():
    items = [{"id": f"{i:04d}", "displayName": f"g{i:04d}"} for i in range(250)]
    headers = {"ConsistencyLevel": "eventual"}
    q = parse_query(
        {"$filter": "startswith(displayName,'g')", "$count": "true", "$top": "100"}, headers, path="/v1.0/groups"
    )
    page = q.page(items, link_base="https://h/v1.0/groups", context="https://h/v1.0/$metadata#groups")
    assert page["@odata.count"] == 250
    assert page["@odata.context"].endswith("#groups")
    seen = [g["id"] for g in page["value"]]
    link = page["@odata.nextLink"]
    assert link.startswith("https://h/v1.0/groups?") and "$skiptoken=" in link and "$filter=" in link
    while link:
        page = _follow(link, headers, "/v1.0/groups", items)
        assert "@odata.count" not in page
        seen += [g["id"] for g in page["value"]]
        link = page.get("@odata.nextLink")
    assert seen == [i["id"] for i in items]


def test_next_link_must_be_followed_whole_with_headers():
    items = [{"id": str(i), "displayName": f"g{i}"} for i in range(5)]
    q = parse_query({"$top": "2", "$count": "true"}, {"ConsistencyLevel": "eventual"}, path="/v1.0/users")
    link = q.page(items, link_base="https://h/v1.0/users")["@odata.nextLink"]
    pairs = parse_qsl(urlsplit(link).query)
    # Header not re-sent: the next page is refused like the first would be.
    with pytest.raises(ODataError, match=r"\$count is not currently supported"):
        parse_query(pairs, {}, path="/v1.0/users")
    # Only the skip token kept, the query dropped: refused.
    token = [(k, v) for k, v in pairs if k == "$skiptoken"]
    with pytest.raises(ODataError, match="page token"):
        parse_query(token, {"ConsistencyLevel": "eventual"}, path="/v1.0/users")
    # Same token on another collection: refused.
    with pytest.raises(ODataError, match="page token"):
        parse_query(pairs, {"ConsistencyLevel": "eventual"}, path="/v1.0/groups")
    with pytest.raises(ODataError, match="page token"):
        parse_query({"$skiptoken": "garbage!"}, {})


def test_orderby():
    headers = {"ConsistencyLevel": "eventual"}
    q = parse_query({"$orderby": "displayName desc"}, {}, path="/g")
    assert [g["id"][-1] for g in q.page(GROUPS, link_base="x")["value"]] == ["b", "c", "a"]
    with pytest.raises(ODataError, match="Sorting not supported"):
        parse_query({"$orderby": "memberCount"}, {})
    with pytest.raises(ODataError, match="Sorting not supported"):
        parse_query({"$orderby": "displayName", "$filter": "securityEnabled eq true"}, {})
    q = parse_query({"$orderby": "memberCount desc,displayName", "$count": "true"}, headers)
    assert [g["id"][-1] for g in q.page(GROUPS, link_base="x")["value"]] == ["b", "a", "c"]
    q = parse_query({"$orderby": "createdDateTime"}, {}, directory=False)
    assert [g["id"][-1] for g in q.page(GROUPS, link_base="x")["value"]] == ["b", "a", "c"]  # nulls last
    with pytest.raises(ODataError):
        parse_query({"$orderby": "displayName sideways"}, {})


def test_lazy_filtering_stops_early():
    consumed = []

    def gen():
        for i in range(10_000):
            consumed.append(i)
            yield {"id": str(i), "displayName": "x"}

    q = parse_query({"$top": "5"}, {})
    page = q.page(gen(), link_base="x")
    assert len(page["value"]) == 5 and "@odata.nextLink" in page
    assert len(consumed) == 6


def test_select_of_control_information_is_not_nulled():
    q = parse_query({"$select": "@odata.etag,id,status"}, {}, directory=False, allowed={"id", "status"})
    out = {"@odata.etag": "W/x", **select_fields({"id": "1", "status": "active"}, q.select)}
    assert out == {"@odata.etag": "W/x", "id": "1", "status": "active"}


def test_orderby_mixed_types_does_not_crash():
    rows = [{"id": "1", "v": "b"}, {"id": "2", "v": 3}, {"id": "3", "v": None}, {"id": "4", "v": {"x": 1}}, {"id": "5", "v": "a"}]
    q = parse_query({"$orderby": "v"}, {}, directory=False)
    assert [r["id"] for r in q.page(rows, link_base="x")["value"]] == ["5", "1", "2", "4", "3"]


def test_empty_pages_are_served_before_later_pages():
    items = [{"id": str(i)} for i in range(5)]
    q = parse_query({"$top": "2"}, {}, path="/u", empty_pages=True)
    page = q.page(items, link_base="https://h/u")
    pages, seen = [page], [i["id"] for i in page["value"]]
    while "@odata.nextLink" in page:
        page = _follow(page["@odata.nextLink"], {}, "/u", items, empty_pages=True)
        pages.append(page)
        seen += [i["id"] for i in page["value"]]
    assert seen == ["0", "1", "2", "3", "4"]
    assert [len(p["value"]) for p in pages] == [2, 0, 2, 0, 1]
