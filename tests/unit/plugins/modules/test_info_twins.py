"""The _info twins: security_group_info, group_member_info, gdap_access_assignment_info, application_consent_info.
Bad input refused before any request; reads only (no write request), results in the write modules' shapes."""

import os
import sys

import pytest

from ansible_collections.cloudpartner.csp.plugins.modules import (
    application_consent_info,
    gdap_access_assignment_info,
    group_member_info,
    security_group_info,
)

import csp_fakes
from csp_fakes import CONNECTION, CUSTOMER, FakeRaw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils"))
from test_directory import (  # noqa: E402
    APP_ID,
    GRAPH_APP_ID,
    GROUP_ADMIN_AGENTS,
    GROUP_GDAP_ADMINS,
    SP_APP,
    USER_HELPDESK,
    USER_INTEGRATION,
    FakeDirectoryGraph,
)

RELS = r"/v1\.0/tenantRelationships/delegatedAdminRelationships"
REL_ID = "40000000-0000-4000-8000-000000000001-" + CUSTOMER
CAA = "158c047a-c907-4556-b7ef-446551a6b5f7"


def run(module, args, capsys, check_mode=False):
    return csp_fakes.run_module(module, dict(CONNECTION, **args), capsys, check_mode)


@pytest.fixture
def fake(fake_http, idp):
    return FakeDirectoryGraph(fake_http)


def no_writes(session):
    return [c for c in session.calls if c.method not in ("GET",) and not c.url.endswith("/$batch")
            and "/oauth2/" not in c.url]


@pytest.mark.parametrize("module, args, code", [
    (security_group_info, {"id": "not-a-guid"}, "InvalidGroupId"),
    (security_group_info, {"display_name": " "}, "InvalidDisplayName"),
    (security_group_info, {"tenant": "not a tenant"}, "InvalidTenant"),
    (group_member_info, {"group": "G", "members": [{"user": "nobody"}]}, "InvalidMember"),
    (gdap_access_assignment_info, {"relationships": [" "]}, "InvalidOption"),
    (application_consent_info, {"customer_tenant_id": CUSTOMER, "application_id": "x"}, "InvalidApplicationId"),
    (application_consent_info, {"customer_tenant_id": CUSTOMER, "grants": [{"api": "nope", "scopes": ["a"]}]},
     "InvalidGrants"),
])
def test_bad_input_fails_before_any_request(fake_http, capsys, module, args, code):
    rc, result = run(module, args, capsys)
    assert rc == 1 and result["error"]["code"] == code
    assert fake_http.calls == []


def test_security_group_info_by_name_id_and_all(fake, fake_http, capsys):
    rc, result = run(security_group_info, {"display_name": "GDAP Admins"}, capsys, check_mode=True)
    assert rc == 0 and not result["changed"] and result["count"] == 1
    assert result["groups"][0]["id"] == GROUP_GDAP_ADMINS and result["groups"][0]["is_security_group"]
    rc, result = run(security_group_info, {"id": GROUP_ADMIN_AGENTS.upper()}, capsys)
    assert [g["display_name"] for g in result["groups"]] == ["AdminAgents"]
    rc, result = run(security_group_info, {"display_name": "gdap admins"}, capsys)
    # the one directory rule: displayName matches ignoring case, as Graph's $filter eq does
    assert [g["id"] for g in result["groups"]] == [GROUP_GDAP_ADMINS]
    assert no_writes(fake_http) == []


def test_group_member_info_lists_and_checks_directly(fake, fake_http, capsys):
    rc, result = run(group_member_info, {"group": "AdminAgents", "members": [
        {"user": "integration@contoso.onmicrosoft.com"}, {"service_principal": APP_ID},
        {"user": "helpdesk@contoso.onmicrosoft.com"}]}, capsys)
    assert rc == 0 and not result["changed"]
    assert {m["id"] for m in result["present"]} == {USER_INTEGRATION, SP_APP}
    assert [m["id"] for m in result["missing"]] == [USER_HELPDESK]
    assert {m["id"] for m in result["members"]} >= {USER_INTEGRATION, SP_APP}
    assert result["group"]["id"] == GROUP_ADMIN_AGENTS
    assert no_writes(fake_http) == []


def test_gdap_access_assignment_info(fake_http, idp, capsys):
    rel = {"id": REL_ID, "displayName": "us-c1-standard", "status": "active", "customer": {"tenantId": CUSTOMER}}
    assignment = {"id": "a1", "status": "active", "accessContainer": {"accessContainerId": GROUP_GDAP_ADMINS.upper()},
                  "accessDetails": {"unifiedRoles": [{"roleDefinitionId": CAA}]}}
    fake_http.route("GET", RELS + "$", lambda call: FakeRaw(200, {"value": [rel]}))
    fake_http.route("GET", RELS + "/" + REL_ID + "$", lambda call: FakeRaw(200, rel))
    fake_http.route("GET", RELS + "/[^/]+/accessAssignments", lambda call: FakeRaw(200, {"value": [assignment]}))
    fake_http.route("GET", r"/v1\.0/groups$", lambda call: FakeRaw(200, {"value": [
        {"id": GROUP_GDAP_ADMINS, "displayName": "GDAP Admins", "securityEnabled": True}]}))
    rc, result = run(gdap_access_assignment_info, {"relationships": ["us-c1-standard", REL_ID]}, capsys)
    assert rc == 0 and result["count"] == 1  # the same relationship named twice is read once
    item = result["assignments"][0]
    assert item["relationship_id"] == REL_ID and item["group_id"] == GROUP_GDAP_ADMINS
    assert item["roles"] == ["Cloud Application Administrator"] and item["status"] == "active"
    rc, result = run(gdap_access_assignment_info, {"relationships": [REL_ID], "group": "GDAP Admins"}, capsys)
    assert result["count"] == 1
    fake_http.route("GET", r"/v1\.0/groups$", lambda call: FakeRaw(200, {"value": [
        {"id": GROUP_ADMIN_AGENTS, "displayName": "GDAP Helpdesk", "securityEnabled": True}]}))
    rc, result = run(gdap_access_assignment_info, {"relationships": [REL_ID], "group": "GDAP Helpdesk"}, capsys)
    assert result["count"] == 0
    assert no_writes(fake_http) == []


def test_gdap_access_assignment_info_unknown_relationship(fake_http, idp, capsys):
    fake_http.route("GET", RELS + "$", lambda call: FakeRaw(200, {"value": []}))
    rc, result = run(gdap_access_assignment_info, {"relationships": ["nope"]}, capsys)
    assert rc == 1 and result["error"]["code"] == "RelationshipNotFound"


def test_application_consent_info_reads_and_compares(fake, fake_http, capsys):
    grant_sp = "sp-graph"
    fake_http.route("GET", r"/v1\.0/servicePrincipals$", lambda call: FakeRaw(200, {"value": [
        {"id": SP_APP, "appId": APP_ID}]} if APP_ID in str(call.params) else {"value": [
            {"id": grant_sp, "appId": GRAPH_APP_ID}]}))
    fake_http.route("GET", r"/v1\.0/oauth2PermissionGrants", lambda call: FakeRaw(200, {"value": [
        {"clientId": SP_APP, "resourceId": grant_sp, "consentType": "AllPrincipals", "scope": "Directory.Read.All"}]}))
    fake_http.route("GET", r"/v1\.0/servicePrincipals/sp-graph", lambda call: FakeRaw(200, {
        "id": grant_sp, "appId": GRAPH_APP_ID}))
    rc, result = run(application_consent_info, {"customer_tenant_id": CUSTOMER, "application_id": APP_ID,
                                                "grants": [{"api": "microsoft_graph", "scopes": ["Directory.Read.All"]}]},
                     capsys)
    assert rc == 0 and result["consented"] and result["readable"] and result["in_sync"]
    assert result["missing_service_principals"] == []
    rc, result = run(application_consent_info, {"customer_tenant_id": CUSTOMER, "application_id": APP_ID,
                                                "grants": [{"api": "microsoft_graph", "scopes": ["User.Read.All"]}]},
                     capsys)
    assert result["in_sync"] is False
    assert no_writes(fake_http) == []


def test_application_consent_info_app_not_in_tenant(fake_http, idp, capsys):
    idp.errors[CUSTOMER] = (700016, "unauthorized_client")
    rc, result = run(application_consent_info, {"customer_tenant_id": CUSTOMER}, capsys)
    assert rc == 0 and result["readable"] is False and result["consented"] is False
    assert result["reason"] == "AADSTS700016" and result["grants"] == {}
