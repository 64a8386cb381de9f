"""application_permissions_info: names per API, consent grants, app roles apart."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import application_permissions_info

import csp_fakes
from csp_fakes import APP, CONNECTION

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import GRAPH_APP_ID, PC_APP_ID, FakeDirectoryGraph  # noqa: E402


@pytest.fixture
def warned(monkeypatch):
    # captured at the source: once controller code is imported, Ansible shows module warnings
    # instead of returning them
    from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
    seen = []
    monkeypatch.setattr(CspModule, "warn", lambda self, text: seen.append(text))
    return seen


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def run(args, capsys):
    return csp_fakes.run_module(application_permissions_info, dict(CONNECTION, **args), capsys)


def test_bad_application_id(session, fake, capsys):
    code, result = run({"application_id": "my app"}, capsys)
    assert code == 1 and result["error"]["code"] == "InvalidAppId" and session.calls == []


def test_permissions_grouped_per_api(fake, capsys, warned):
    code, result = run({"application_id": APP}, capsys)
    assert code == 0 and result["changed"] is False
    graph, pc = result["apis"]
    assert graph["app_id"] == GRAPH_APP_ID and graph["display_name"] == "Microsoft Graph"
    assert [p["value"] for p in graph["delegated"]] == ["Directory.AccessAsUser.All"]
    assert [p["value"] for p in graph["application"]] == ["Directory.Read.All"]
    # no Partner Center service principal in this fake tenant: named from the known list, warned about
    assert pc["display_name"] == "Microsoft Partner Center" and pc["service_principal_id"] is None
    assert any("has no service principal" in w for w in warned)
    assert result["consent_grants"] == [{"api": GRAPH_APP_ID, "scopes": ["Directory.AccessAsUser.All"]}]
    assert result["app_role_grants"] == [{"api": GRAPH_APP_ID, "roles": ["Directory.Read.All"]}]
    assert [u["api"] for u in result["unresolved"]] == [PC_APP_ID]
    assert fake.writes() == []


def test_app_roles_in_consent_on_request(fake, capsys):
    code, result = run({"application_id": APP, "consent_include_app_roles": True}, capsys)
    assert result["consent_grants"][0]["scopes"] == ["Directory.AccessAsUser.All", "Directory.Read.All"]
