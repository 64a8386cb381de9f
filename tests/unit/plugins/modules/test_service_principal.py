"""service_principal: created when missing, left alone when present, a 409 race counts as present."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import service_principal

import csp_fakes
from csp_fakes import CONNECTION

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import ASM_APP_ID, GRAPH_APP_ID, SP_GRAPH, FakeDirectoryGraph  # noqa: E402


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def run(args, capsys, **kw):
    return csp_fakes.run_module(service_principal, dict(CONNECTION, **args), capsys, **kw)


def test_bad_app_id_before_any_request(session, fake, capsys):
    code, result = run({"app_id": "Microsoft Graph"}, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidAppId" and session.calls == []


def test_present_is_left_alone(fake, capsys):
    code, result = run({"app_id": GRAPH_APP_ID}, capsys)
    assert code == 0 and result["changed"] is False
    assert result["service_principal"] == {"id": SP_GRAPH, "app_id": GRAPH_APP_ID, "display_name": "Microsoft Graph"}
    assert fake.writes() == []


def test_missing_is_created_once(fake, capsys):
    code, result = run({"app_id": ASM_APP_ID}, capsys, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["service_principal"]["id"] == "sp-" + ASM_APP_ID
    assert result["diff"]["before"] == {} and result["diff"]["after"]["app_id"] == ASM_APP_ID
    assert fake.writes() == [("POST", "/v1.0/servicePrincipals")]
    code, again = run({"app_id": ASM_APP_ID}, capsys)
    assert again["changed"] is False and len(fake.writes()) == 1


def test_check_mode_sends_no_write(fake, capsys):
    code, result = run({"app_id": ASM_APP_ID}, capsys, check_mode=True)
    assert code == 0 and result["changed"] is True and result["service_principal"]["id"] is None
    assert fake.writes() == []


def test_created_by_someone_else_in_between(fake, capsys):
    fake.sp_race.add(ASM_APP_ID)
    code, result = run({"app_id": ASM_APP_ID}, capsys)
    assert code == 0 and result["changed"] is True
    assert result["service_principal"] == {"id": "sp-" + ASM_APP_ID, "app_id": ASM_APP_ID, "display_name": "raced"}
