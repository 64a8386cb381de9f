"""application_permissions_info: names per API, consent grants, app roles apart."""

import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.cloudpartner.csp.plugins.modules import application_permissions_info

import csp_fakes
from csp_fakes import APP, PARTNER, SECRET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import GRAPH_APP_ID, PC_APP_ID, FakeDirectoryGraph  # noqa: E402

CONNECTION = {"tenant_id": PARTNER, "client_id": APP, "client_secret": SECRET, "authority_host": csp_fakes.LOGIN,
              "graph_endpoint": csp_fakes.GRAPH, "partner_center_endpoint": csp_fakes.PC}


@pytest.fixture
def warned(monkeypatch):
    # captured at the source: once controller code is imported, Ansible shows module warnings
    # instead of returning them
    from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
    seen = []
    monkeypatch.setattr(CspModule, "warn", lambda self, text: seen.append(text))
    return seen


@pytest.fixture
def fake(monkeypatch, session, idp):
    from ansible_collections.cloudpartner.csp.plugins.module_utils import client as client_mod
    monkeypatch.setattr(client_mod, "HttpClient", lambda verify=True, **_kw: csp_fakes.make_http(session, verify=verify))
    return FakeDirectoryGraph(session)


def run(args, capsys):
    with patch_module_args(dict(CONNECTION, **args)):
        with pytest.raises(SystemExit) as info:
            application_permissions_info.main()
    return info.value.code, json.loads(capsys.readouterr().out)


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
