"""group_member: validation before any request, check mode, diff by name, idempotency, exclusive."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import group_member

import csp_fakes
from csp_fakes import APP, CONNECTION

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import (  # noqa: E402
    GROUP_ADMIN_AGENTS,
    GROUP_GDAP_ADMINS,
    SP_APP,
    USER_HELPDESK,
    USER_INTEGRATION,
    FakeDirectoryGraph,
)

INTEGRATION = "integration@contoso.onmicrosoft.com"
HELPDESK = "helpdesk@contoso.onmicrosoft.com"
SP_NAME = "service principal Contoso CSP App (%s)" % APP


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def run(args, capsys, check_mode=False, diff=False):
    return csp_fakes.run_module(group_member, dict(CONNECTION, **args), capsys, check_mode, diff)


def test_bad_member_fails_before_any_request(session, fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [{"service_principal": "Contoso App"}]}, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidMember"
    assert session.calls == []


def test_two_kinds_in_one_member_refused_by_the_argspec(session, fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [{"user": INTEGRATION, "id": USER_INTEGRATION}]}, capsys)
    assert code == 1 and "mutually exclusive" in result["msg"]
    assert session.calls == []


def test_exclusive_with_absent_refused(session, fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [], "state": "absent", "exclusive": True}, capsys)
    assert code == 1 and "exclusive" in result["msg"]
    assert fake.log == []


def test_service_principal_missing_from_v1_listing_is_no_change(fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [{"service_principal": APP}, {"user": INTEGRATION}]},
                       capsys)
    assert code == 0 and result["changed"] is False and result["added"] == []
    assert fake.writes() == []
    assert ("GET", "/v1.0/groups/%s/members/%s" % (GROUP_ADMIN_AGENTS, SP_APP)) in fake.log


def test_add_check_mode_then_real_then_idempotent(fake, capsys):
    args = {"group": "GDAP Admins", "members": [{"user": INTEGRATION}, {"user": HELPDESK}]}
    code, result = run(args, capsys, check_mode=True, diff=True)
    assert code == 0 and result["changed"] is True
    assert [m["name"] for m in result["added"]] == [INTEGRATION, HELPDESK]
    assert result["diff"]["before"] == {"members": []}
    assert result["diff"]["after"] == {"members": sorted([INTEGRATION, HELPDESK])}
    assert fake.writes() == [] and fake.groups[GROUP_GDAP_ADMINS]["_members"] == set()

    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert fake.writes() == [("PATCH", "/v1.0/groups/%s" % GROUP_GDAP_ADMINS)]  # both in one bind
    assert fake.groups[GROUP_GDAP_ADMINS]["_members"] == {USER_INTEGRATION, USER_HELPDESK}

    fake.log.clear()
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is False and fake.writes() == []


def test_absent_removes_by_ref_only(fake, capsys):
    args = {"group": GROUP_ADMIN_AGENTS, "members": [{"service_principal": APP}], "state": "absent"}
    code, result = run(args, capsys, check_mode=True)
    assert result["changed"] is True and [m["id"] for m in result["removed"]] == [SP_APP]
    assert fake.writes() == []
    code, result = run(args, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["diff"]["before"]["members"] == sorted([INTEGRATION, SP_NAME])
    assert result["diff"]["after"]["members"] == [INTEGRATION]
    assert fake.writes() == [("DELETE", "/v1.0/groups/%s/members/%s/$ref" % (GROUP_ADMIN_AGENTS, SP_APP))]
    assert SP_APP in fake.sps
    fake.log.clear()
    code, result = run(args, capsys)
    assert result["changed"] is False and fake.writes() == []


def test_exclusive_removes_unlisted_members_including_service_principals(fake, capsys):
    args = {"group": "AdminAgents", "members": [{"user": HELPDESK}], "exclusive": True}
    code, result = run(args, capsys, check_mode=True)
    assert result["changed"] is True
    assert [m["name"] for m in result["added"]] == [HELPDESK]
    assert sorted(m["name"] for m in result["removed"]) == sorted([INTEGRATION, SP_NAME])
    assert result["members"] == [HELPDESK]
    assert fake.writes() == []
    code, result = run(args, capsys)
    assert fake.groups[GROUP_ADMIN_AGENTS]["_members"] == {USER_HELPDESK}
    assert sorted(fake.writes()) == sorted([
        ("POST", "/v1.0/groups/%s/members/$ref" % GROUP_ADMIN_AGENTS),
        ("DELETE", "/v1.0/groups/%s/members/%s/$ref" % (GROUP_ADMIN_AGENTS, USER_INTEGRATION)),
        ("DELETE", "/v1.0/groups/%s/members/%s/$ref" % (GROUP_ADMIN_AGENTS, SP_APP))])
    fake.log.clear()
    code, result = run(args, capsys)
    assert result["changed"] is False and fake.writes() == []


def test_exclusive_keeps_listed_members(fake, capsys):
    code, result = run({"group": "AdminAgents", "exclusive": True,
                        "members": [{"user": INTEGRATION}, {"service_principal": APP}]}, capsys)
    assert result["changed"] is False and result["members"] == sorted([INTEGRATION, SP_NAME])
    assert fake.writes() == []


def test_unknown_group_and_member_are_clear_errors(fake, capsys):
    code, result = run({"group": "No Such Group", "members": [{"user": INTEGRATION}]}, capsys)
    assert code == 1 and result["error"]["code"] == "GroupNotFound" and "'No Such Group'" in result["msg"]
    code, result = run({"group": "AdminAgents", "members": [{"user": "ghost@contoso.onmicrosoft.com"}]}, capsys)
    assert code == 1 and result["error"]["code"] == "MemberNotFound"
    assert "ghost@contoso.onmicrosoft.com" in result["msg"]
    assert fake.writes() == []


def test_graph_error_carries_code_and_request_id(fake, capsys):
    fake.groups[GROUP_GDAP_ADMINS]["_members"] = set()

    def denied(method, version, rest, query, body):
        if method != "GET":
            return 403, ("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return original(method, version, rest, query, body)
    original, fake.route = fake.route, denied
    code, result = run({"group": "GDAP Admins", "members": [{"user": INTEGRATION}]}, capsys)
    assert code == 1
    assert result["error"]["code"] == "Authorization_RequestDenied" and result["error"]["request_id"] == "req-403"
    assert "Authorization_RequestDenied" in result["msg"] and "req-403" in result["msg"]


def test_nested_group_member(fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [{"group": "GDAP Admins"}]}, capsys)
    assert result["changed"] is True and result["added"][0]["type"] == "group"
    assert GROUP_GDAP_ADMINS in fake.groups[GROUP_ADMIN_AGENTS]["_members"]


def test_exclusive_with_no_members_needs_allow_empty(session, fake, capsys):
    code, result = run({"group": "AdminAgents", "members": [], "exclusive": True}, capsys)
    assert code == 1 and result["error"]["code"] == "EmptyMembers" and "allow_empty" in result["msg"]
    assert session.calls == []
    assert fake.groups[GROUP_ADMIN_AGENTS]["_members"]


def test_exclusive_with_no_members_and_allow_empty_empties_the_group(fake, capsys):
    args = {"group": "AdminAgents", "members": [], "exclusive": True, "allow_empty": True}
    code, result = run(args, capsys)
    assert code == 0 and result["changed"] is True
    assert fake.groups[GROUP_ADMIN_AGENTS]["_members"] == set()
