"""service_principal_info: found / missing, from app ids or an application's requiredResourceAccess."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import service_principal_info

import csp_fakes
from csp_fakes import APP, CONNECTION

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import ASM_APP_ID, GRAPH_APP_ID, PC_APP_ID, SP_GRAPH, FakeDirectoryGraph  # noqa: E402


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def run(args, capsys):
    return csp_fakes.run_module(service_principal_info, dict(CONNECTION, **args), capsys)


def test_needs_app_ids_or_application(session, fake, capsys):
    code, result = run({}, capsys)
    assert code == 1 and "one of the following is required" in result["msg"] and session.calls == []


def test_bad_app_id_before_any_request(session, fake, capsys):
    code, result = run({"app_ids": ["Microsoft Graph"]}, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidAppId" and session.calls == []


def test_found_and_missing_with_known_names(fake, capsys):
    code, result = run({"app_ids": [GRAPH_APP_ID, ASM_APP_ID]}, capsys)
    assert code == 0 and result["changed"] is False and result["all_found"] is False
    assert result["found"] == {GRAPH_APP_ID: {"id": SP_GRAPH, "display_name": "Microsoft Graph"}}
    assert result["missing"] == [{"app_id": ASM_APP_ID, "display_name": "Windows Azure Service Management API"}]


def test_application_required_resource_access(fake, capsys):
    code, result = run({"application_id": APP, "tenant": "30000000-0000-4000-8000-000000000001"}, capsys)
    assert code == 0 and result["checked"] == [GRAPH_APP_ID, PC_APP_ID]
    assert result["application"]["app_id"] == APP
    assert [m["app_id"] for m in result["missing"]] == [PC_APP_ID]
    assert result["missing"][0]["display_name"] == "Microsoft Partner Center"
    assert result["tenant"] == "30000000-0000-4000-8000-000000000001"
    # built on the connection's login host (national clouds, the emulator), not a hard-coded public one
    assert result["admin_consent_url"] == "%s/30000000-0000-4000-8000-000000000001/adminconsent?client_id=%s" % (
        CONNECTION["authority_host"], APP)
    assert fake.writes() == []


def test_unknown_application_is_a_clear_error(fake, capsys):
    code, result = run({"application_id": ASM_APP_ID}, capsys)
    assert code == 1 and result["error"]["code"] == "ApplicationNotFound" and ASM_APP_ID in result["msg"]
