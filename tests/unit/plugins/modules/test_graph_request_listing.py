"""graph_request listings: only what was asked comes back; dest streams pages into a file."""

import csv
import io
import json
import os
import stat

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import graph_request

import csp_fakes
from csp_fakes import CONNECTION, SECRET, FakeRaw

run = csp_fakes.run_module
USERS = csp_fakes.GRAPH + "/v1.0/users"


def user(n):
    return {"id": "u-%d" % n, "userPrincipalName": "user%d@x" % n, "accountEnabled": n % 2 == 0,
            "businessPhones": ["+1 %d" % n] if n % 3 == 0 else []}


def pages(session, *page_items, context="https://graph/$metadata#users", count=None):
    """Serve ``/users`` as pages of the given items; the pages link to each other with a skiptoken."""

    def handler(call):
        token = (call.params or {}).get("$skiptoken") if call.params else None
        if "$skiptoken=" in call.url:
            token = call.url.split("$skiptoken=")[1]
        index = int(token or 0)
        body = {"@odata.context": context, "value": page_items[index]}
        if count is not None and index == 0:
            body["@odata.count"] = count
        if index + 1 < len(page_items):
            body["@odata.nextLink"] = USERS + "?$skiptoken=%d" % (index + 1)
        return FakeRaw(200, body, {"request-id": "rq-%d" % index})
    session.route("GET", r"/v1\.0/users", handler)


THREE_PAGES = ([user(1), user(2)], [], [user(3)])  # an empty page in the middle, as Graph may send


# --- query: the result only ---------------------------------------------------------------
def test_query_returns_only_its_result(fake_http, idp, capsys):
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, query="length(@)"), capsys)
    assert code == 0, result
    assert result["result"] == 3 and result["pages"] == 3 and result["count"] == 3
    assert "value" not in result and "json" not in result
    assert "u-1" not in json.dumps(result)
    assert fake_http.count("GET", "/users") == 3


def test_query_on_one_response_returns_only_its_result(fake_http, idp, capsys):
    pages(fake_http, [user(1), user(2)])
    code, result = run(graph_request, dict(CONNECTION, path="/users", query="value[0].id"), capsys)
    assert code == 0, result
    assert result["result"] == "u-1" and result["status"] == 200 and result["request_id"] == "rq-0"
    assert "value" not in result and "json" not in result


def test_batch_with_query_returns_only_its_result(fake_http, idp, capsys):
    fake_http.queue("POST", r"\$batch", FakeRaw(200, {"responses": [
        {"id": "a", "status": 200, "body": {"value": [user(1), user(2)]}}]}))
    args = dict(CONNECTION, batch=[{"id": "a", "url": "/users"}], query="[0].body.value[].id")
    code, result = run(graph_request, args, capsys)
    assert code == 0 and result["result"] == ["u-1", "u-2"] and "responses" not in result
    code, result = run(graph_request, dict(args, return_content=True), capsys)
    assert code == 0 and result["responses"][0]["status"] == 200


def test_return_content_with_query_returns_both(fake_http, idp, capsys):
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, query="[].id",
                                           return_content=True), capsys)
    assert code == 0, result
    assert result["result"] == ["u-1", "u-2", "u-3"]
    assert [u["id"] for u in result["value"]] == ["u-1", "u-2", "u-3"]


def test_all_pages_json_holds_no_second_copy(fake_http, idp, capsys):
    pages(fake_http, *THREE_PAGES, count=3)
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True), capsys)
    assert code == 0, result
    assert [u["id"] for u in result["value"]] == ["u-1", "u-2", "u-3"]
    assert result["json"] == {"@odata.context": "https://graph/$metadata#users", "@odata.count": 3}
    assert json.dumps(result).count('"u-1"') == 1


def test_return_content_false_without_query(fake_http, idp, capsys):
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, return_content=False), capsys)
    assert code == 0, result
    assert result["count"] == 3 and "value" not in result and "json" not in result


# --- dest: JSON Lines and CSV -------------------------------------------------------------------
def test_dest_jsonl_streams_every_page(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, dest=str(dest)), capsys)
    assert code == 0, result
    assert result["changed"] is True and result["count"] == 3 and result["pages"] == 3
    assert result["dest"] == str(dest) and result["size"] == dest.stat().st_size
    assert "value" not in result and "json" not in result and "u-1" not in json.dumps(result)
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [user(1), user(2), user(3)]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["users.jsonl"]  # no temp file left behind


def test_dest_same_listing_again_is_no_change_and_no_write(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    pages(fake_http, *THREE_PAGES)
    args = dict(CONNECTION, path="/users", all_pages=True, dest=str(dest))
    assert run(graph_request, args, capsys)[1]["changed"] is True
    inode, first = dest.stat().st_ino, run(graph_request, args, capsys)[1]
    assert first["changed"] is False
    assert dest.stat().st_ino == inode  # not replaced
    import hashlib
    assert first["checksum"] == hashlib.sha1(dest.read_bytes()).hexdigest()


def test_dest_changed_listing_replaces_the_file(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    dest.write_text('{"id":"old"}\n')
    os.chmod(dest, 0o644)
    pages(fake_http, [user(1)])
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, dest=str(dest)), capsys)
    assert code == 0 and result["changed"] is True
    assert json.loads(dest.read_text()) == user(1) and stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_dest_in_check_mode_writes_nothing_but_says_if_it_would_change(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    pages(fake_http, *THREE_PAGES)
    args = dict(CONNECTION, path="/users", all_pages=True, dest=str(dest))
    code, result = run(graph_request, args, capsys, check_mode=True)
    assert code == 0 and result["changed"] is True and result["count"] == 3
    assert os.listdir(tmp_path) == []
    run(graph_request, args, capsys)
    before = dest.read_bytes()
    code, result = run(graph_request, args, capsys, check_mode=True)
    assert code == 0 and result["changed"] is False and dest.read_bytes() == before


def test_dest_csv_has_the_select_columns(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.csv"
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(
        CONNECTION, path="/users", all_pages=True, dest=str(dest), dest_format="csv",
        params={"$select": "id, accountEnabled,businessPhones,manager"}), capsys)
    assert code == 0, result
    rows = list(csv.reader(io.StringIO(dest.read_text(encoding="utf-8"))))
    assert rows[0] == ["id", "accountEnabled", "businessPhones", "manager"]
    assert rows[1:] == [["u-1", "false", "[]", ""], ["u-2", "true", "[]", ""], ["u-3", "false", '["+1 3"]', ""]]
    assert result["count"] == 3


def test_dest_without_all_pages_writes_the_first_page(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    pages(fake_http, *THREE_PAGES)
    code, result = run(graph_request, dict(CONNECTION, path="/users", dest=str(dest)), capsys)
    assert code == 0 and result["count"] == 2 and result["pages"] == 1
    assert fake_http.count("GET", "/users") == 1


@pytest.mark.parametrize("extra, code_name", [
    (dict(dest_format="csv"), "InvalidOption"),  # no $select, no columns
    (dict(method="POST"), "InvalidOption"),
    (dict(return_content=True), "InvalidOption"),
])
def test_dest_bad_input_refused_before_any_request(fake_http, idp, capsys, tmp_path, extra, code_name):
    code, result = run(graph_request, dict(CONNECTION, path="/users", dest=str(tmp_path / "u"), **extra), capsys)
    assert code == 1 and result["error"]["code"] == code_name, result
    assert fake_http.calls == [] and os.listdir(tmp_path) == []


def test_dest_in_a_missing_directory_refused_before_any_request(fake_http, idp, capsys, tmp_path):
    code, result = run(graph_request, dict(CONNECTION, path="/users", dest=str(tmp_path / "no" / "u.jsonl")), capsys)
    assert code == 1 and result["error"]["code"] == "InvalidDest"
    assert fake_http.calls == []


def test_dest_and_query_exclusive(fake_http, capsys, tmp_path):
    code, result = run(graph_request, dict(CONNECTION, path="/users", dest=str(tmp_path / "u"), query="@"), capsys)
    assert code == 1 and "mutually exclusive" in result["msg"]


def test_dest_failure_mid_listing_keeps_the_old_file(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    dest.write_text("old\n")
    fake_http.queue("GET", r"/v1\.0/users$", FakeRaw(200, {"value": [user(1)], "@odata.nextLink": USERS + "?$skiptoken=1"}))
    fake_http.queue("GET", r"skiptoken=1", FakeRaw(400, {"error": {"code": "BadRequest", "message": "bad token"}}))
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, dest=str(dest)), capsys)
    assert code == 1 and result["error"]["code"] == "BadRequest"
    assert dest.read_text() == "old\n" and os.listdir(tmp_path) == ["users.jsonl"]


def test_dest_throttled_page_is_waited_for(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    fake_http.queue("GET", r"/v1\.0/users$", FakeRaw(200, {"value": [user(1)], "@odata.nextLink": USERS + "?$skiptoken=1"}))
    fake_http.queue("GET", r"skiptoken=1", FakeRaw(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "0"}),
                    FakeRaw(200, {"value": [user(2)]}))
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, dest=str(dest)), capsys)
    assert code == 0 and result["count"] == 2
    assert fake_http.count("GET", "skiptoken=1") == 2


def test_dest_next_link_to_another_host_is_not_followed(fake_http, idp, capsys, tmp_path):
    dest = tmp_path / "users.jsonl"
    fake_http.queue("GET", r"/v1\.0/users$", FakeRaw(200, {"value": [user(1)],
                                                           "@odata.nextLink": "https://evil.example/v1.0/users?p=2"}))
    code, result = run(graph_request, dict(CONNECTION, path="/users", all_pages=True, dest=str(dest)), capsys)
    assert code == 1 and result["error"]["code"] == "ForeignUrl"
    assert fake_http.count(None, "evil.example") == 0 and os.listdir(tmp_path) == []
    assert SECRET not in json.dumps(result)
