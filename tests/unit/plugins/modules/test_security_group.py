"""security_group: create / update / delete by name (and id), never a group it did not match."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import derive_mail_nickname
from ansible_collections.cloudpartner.csp.plugins.modules import security_group

import csp_fakes
from csp_fakes import CONNECTION

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import GROUP_GDAP_ADMINS, FakeDirectoryGraph  # noqa: E402


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def run(args, capsys, check_mode=False, diff=False):
    return csp_fakes.run_module(security_group, dict(CONNECTION, **args), capsys, check_mode, diff)


def named(fake, name):
    return [g for g in fake.groups.values() if g["displayName"] == name]


@pytest.mark.parametrize("args, code", [
    ({"display_name": ""}, "InvalidDisplayName"),
    ({"display_name": "x" * 257}, "InvalidDisplayName"),
    ({"display_name": "G", "id": "nope"}, "InvalidGroupId"),
    ({"display_name": "G", "mail_nickname": "has space"}, "InvalidMailNickname"),
    ({"display_name": "G", "tenant": "not a tenant"}, "InvalidTenant"),
])
def test_bad_input_fails_before_any_request(session, fake, capsys, args, code):
    rc, result = run(args, capsys)
    assert rc == 1 and result["error"]["code"] == code
    assert session.calls == []


def test_create_check_real_idempotent(fake, capsys):
    args = {"display_name": "GDAP Partner Ops", "description": "Ops staff"}
    rc, result = run(args, capsys, check_mode=True, diff=True)
    assert rc == 0 and result["changed"] is True and result["group"]["id"] is None
    assert result["diff"]["before"] == {} and result["diff"]["after"]["display_name"] == "GDAP Partner Ops"
    assert fake.writes() == [] and named(fake, "GDAP Partner Ops") == []
    rc, result = run(args, capsys)
    assert result["changed"] is True and result["group"]["id"]
    assert result["group"]["mail_nickname"] == derive_mail_nickname("GDAP Partner Ops")
    assert fake.writes() == [("POST", "/v1.0/groups")]
    fake.log.clear()
    rc, result = run(args, capsys)
    assert result["changed"] is False and fake.writes() == []


def test_description_update_and_not_managed_when_omitted(fake, capsys):
    rc, result = run({"display_name": "GDAP Admins"}, capsys)
    assert result["changed"] is False
    rc, result = run({"display_name": "GDAP Admins", "description": "new"}, capsys, check_mode=True, diff=True)
    assert result["changed"] is True and result["diff"]["before"]["description"] is None
    assert result["diff"]["after"]["description"] == "new" and fake.writes() == []
    rc, result = run({"display_name": "GDAP Admins", "description": "new"}, capsys)
    assert fake.writes() == [("PATCH", "/v1.0/groups/%s" % GROUP_GDAP_ADMINS)]
    assert fake.groups[GROUP_GDAP_ADMINS]["description"] == "new"


def test_several_matches_is_an_error_naming_them(fake, capsys):
    fake.groups["dup-id"] = fake._group("dup-id", "GDAP Admins", set())
    rc, result = run({"display_name": "GDAP Admins", "state": "absent"}, capsys)
    assert rc == 1 and result["error"]["code"] == "AmbiguousGroup"
    assert GROUP_GDAP_ADMINS in result["msg"] and "dup-id" in result["msg"]
    assert fake.writes() == []
    # the id picks one; the other is never touched
    rc, result = run({"display_name": "GDAP Admins", "id": GROUP_GDAP_ADMINS, "state": "absent"}, capsys)
    assert result["changed"] is True and fake.writes() == [("DELETE", "/v1.0/groups/%s" % GROUP_GDAP_ADMINS)]
    assert "dup-id" in fake.groups


def test_absent_with_other_id_touches_nothing(fake, capsys):
    rc, result = run({"display_name": "GDAP Admins", "id": "99999999-0000-4000-8000-000000000000",
                      "state": "absent"}, capsys)
    assert rc == 0 and result["changed"] is False and fake.writes() == []


def test_present_with_id_of_another_name_is_an_error(fake, capsys):
    rc, result = run({"display_name": "Other Name", "id": GROUP_GDAP_ADMINS}, capsys)
    assert rc == 1 and "named 'GDAP Admins'" in result["msg"] and fake.writes() == []


def test_non_security_group_is_left_alone(fake, capsys):
    fake.groups["m365"] = fake._group("m365", "Team Site", set(), mailEnabled=True, groupTypes=["Unified"])
    rc, result = run({"display_name": "Team Site", "state": "absent"}, capsys)
    assert rc == 1 and result["error"]["code"] == "NotSecurityGroup" and "m365" in fake.groups


def test_absent_check_real_idempotent(fake, capsys):
    args = {"display_name": "GDAP Admins", "state": "absent"}
    rc, result = run(args, capsys, check_mode=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"] == {} and fake.writes() == []
    rc, result = run(args, capsys)
    assert result["changed"] is True and result["group"] is None
    rc, result = run(args, capsys)
    assert result["changed"] is False
