"""The demo world (worlds/demo.yaml) keeps the fixed identities of the emulator's contract, the
customer states worlds/README.md promises, and works end to end over HTTPS."""

import re
from pathlib import Path

import msal
import pytest
import requests

from csp_emulator import Emulator, catalog
from csp_emulator.certs import load_cert
from csp_emulator.clock import parse_iso

WORLDS = Path(__file__).resolve().parent.parent / "worlds"
PARTNERS = {
    "us": ("NA", "10000000-0000-4000-8000-000000000001", "contosopartnerus.onmicrosoft.com",
           "20000000-0000-4000-8000-000000000001", "demo-us-secret-0001"),
    "eu": ("EU", "10000000-0000-4000-8000-000000000002", "contosopartnereu.onmicrosoft.com",
           "20000000-0000-4000-8000-000000000002", "demo-eu-secret-0002"),
    "apac": ("AS", "10000000-0000-4000-8000-000000000003", "contosopartnerapac.onmicrosoft.com",
             "20000000-0000-4000-8000-000000000003", "demo-apac-secret-0003"),
}
DAY = 86400


def cid(n: int) -> str:
    return f"30000000-0000-4000-8000-{n:012d}"


def readme_table() -> dict[int, dict]:
    """Customer rows of worlds/README.md: {NN: {region, partner, state, result}}."""
    rows = {}
    for line in (WORLDS / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"\d\d", cells[0]):
            region = cells[2].strip("*")
            partner = re.match(r"\**(\w+)", cells[3]).group(1)
            rows[int(cells[0])] = {"region": region, "partner": partner, "state": cells[4], "result": cells[5]}
    return rows


@pytest.fixture(scope="module")
def emu():
    with Emulator(world="demo") as emu:
        yield emu


@pytest.fixture(scope="module")
def world(emu):
    return emu.world


@pytest.fixture(scope="module")
def http(emu):
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_bundle
    yield session
    session.close()


def relationship(world, partner_key: str, n: int) -> dict | None:
    partner = world.tenant(partner_key)
    found = [r for r in partner.gdap_relationships.values() if r["customer"]["tenantId"] == cid(n)]
    assert len(found) <= 1
    return found[0] if found else None


def consent_sp(world, n: int, app_id: str) -> dict | None:
    tenant = world.tenant(cid(n))
    sp = tenant.sp_by_app_id(app_id)
    if sp is None:
        return None
    grants = [g for g in tenant.oauth2_permission_grants.values() if g["clientId"] == sp["id"]]
    return sp if grants else None


# --------------------------------------------------------------------- fixed partner identities
@pytest.mark.parametrize("key", sorted(PARTNERS))
def test_partner_tenant_identities(world, key):
    region, tenant_id, domain, app_id, secret = PARTNERS[key]
    tenant = world.tenant(key)
    assert (tenant.id, tenant.kind, tenant.region, tenant.initial_domain) == (tenant_id, "partner", region, domain)
    home, app = world.application(app_id)
    assert home is tenant and app["signInAudience"] == "AzureADMultipleOrgs"
    assert secret in app["_secrets"].values()
    user = tenant.user_by_upn(f"integration@{domain}")
    assert user["_mfa"] is True
    assert catalog.ROLE_TEMPLATES["Global Administrator"] in user["_directory_roles"]
    for name in ("AdminAgents", "HelpdeskAgents", "GDAP Helpdesk", "GDAP Admins"):
        assert tenant.group_by_name(name) is not None, name
    assert user["id"] in tenant.group_by_name("AdminAgents")["_members"]
    gdap_admins = tenant.group_by_name("GDAP Admins")["_members"]
    assert (user["id"] in gdap_admins) == (key == "eu")
    assert not tenant.group_by_name("GDAP Helpdesk")["_members"]
    for api in (catalog.MICROSOFT_GRAPH, catalog.PARTNER_CENTER, catalog.AZURE_SERVICE_MANAGEMENT,
                catalog.EXCHANGE_ONLINE, catalog.PARTNER_CUSTOMER_DELEGATED_ADMIN, app_id):
        assert tenant.sp_by_app_id(api) is not None, api


@pytest.mark.parametrize("key", sorted(PARTNERS))
def test_partner_app_requires_the_documented_permissions(world, key):
    _, app = world.application(PARTNERS[key][3])
    need = {(r["resourceAppId"], catalog.permission_value(r["resourceAppId"], a["id"], a["type"]), a["type"])
            for r in app["requiredResourceAccess"] for a in r["resourceAccess"]}
    graph = catalog.MICROSOFT_GRAPH
    assert need == {
        (graph, "Directory.AccessAsUser.All", "Scope"), (graph, "DelegatedAdminRelationship.ReadWrite.All", "Scope"),
        (graph, "Application.ReadWrite.All", "Scope"), (graph, "Directory.Read.All", "Role"),
        (graph, "Group.ReadWrite.All", "Role"), (graph, "DelegatedAdminRelationship.ReadWrite.All", "Role"),
        (graph, "Application.ReadWrite.All", "Role"),
        (catalog.PARTNER_CENTER, "user_impersonation", "Scope"),
        (catalog.AZURE_SERVICE_MANAGEMENT, "user_impersonation", "Scope"),
    }


def test_us_app_specials(emu, world):
    us = world.tenant("us")
    app_id = PARTNERS["us"][3]
    # Legacy DAP pre-consent: the app's service principal is an admin agent.
    assert us.sp_by_app_id(app_id)["id"] in us.group_by_name("AdminAgents")["_members"]
    for key in ("eu", "apac"):
        other = world.tenant(key)
        assert other.sp_by_app_id(PARTNERS[key][3])["id"] not in other.group_by_name("AdminAgents")["_members"]
    _, app = world.application(app_id)
    now = world.clock.now()
    ends = sorted(parse_iso(p["endDateTime"]) - now for p in app["passwordCredentials"])
    assert ends[0] < 0  # one expired secret
    assert 0 < ends[1] < 30 * DAY  # one running out within 30 days: renewal reports have something to say
    assert ends[2] > 365 * DAY
    (key_credential,) = app["keyCredentials"]
    pem = (Path(emu.state_dir) / "us-app-cert.pem").read_text()
    assert "PRIVATE KEY" in pem and "BEGIN CERTIFICATE" in pem
    assert load_cert(pem.encode()).thumbprint == key_credential["customKeyIdentifier"]


# ------------------------------------------------------------------------ customers vs README
def test_readme_lists_every_customer_with_its_region_and_partner(world):
    rows = readme_table()
    assert sorted(rows) == list(range(1, 26))
    for n, row in rows.items():
        tenant = world.tenant(f"customer{n:02d}")
        assert tenant is not None and tenant.id == cid(n) and tenant.kind == "customer"
        assert tenant.initial_domain == f"customer{n:02d}.onmicrosoft.com"
        assert tenant.region == row["region"], n
        holders = [k for k in PARTNERS if cid(n) in world.tenant(k).customers]
        assert holders == [row["partner"]], n
        assert 3 <= len(tenant.users) <= 5


def test_every_region_has_partner_tenant_except_the_documented_ones(world):
    served = {world.tenant(k).region for k in PARTNERS}
    orphans = {n for n in range(1, 26) if world.tenant(cid(n)).region not in served}
    assert orphans == {10, 24}
    assert {world.tenant(cid(n)).region for n in orphans} == {"SA", "OC"}


def test_wrong_partner_customer(world):
    assert world.tenant(cid(16)).region == "NA"
    assert cid(16) in world.tenant("eu").customers
    assert cid(16) not in world.tenant("us").customers


@pytest.mark.parametrize("n, partner, status", [
    (1, "us", "active"), (3, "us", "approvalPending"), (4, "us", "active"), (5, "us", "expired"),
    (8, "us", "terminated"), (9, "us", "active"), (11, "eu", "active"), (13, "eu", "approvalPending"),
    (14, "eu", "active"), (15, "eu", "expired"), (17, "eu", "active"), (19, "apac", "active"),
    (21, "apac", "approvalPending"), (22, "apac", "active"), (23, "apac", "terminated"), (25, "apac", "active"),
])
def test_relationship_states(world, n, partner, status):
    rel = relationship(world, partner, n)
    assert rel is not None and rel["status"] == status
    assert rel["displayName"] == f"{partner}-customer{n:02d}-standard"
    assert rel["id"].endswith(cid(n))
    now = world.clock.now()
    if status == "expired":
        assert parse_iso(rel["endDateTime"]) < now
    if status == "active":
        assert parse_iso(rel["endDateTime"]) > now
        assignments = rel["_access_assignments"].values()
        if n == 9:
            assert not assignments
        else:
            assert {a["status"] for a in assignments} == {"active"}
            assert len(assignments) == 2


@pytest.mark.parametrize("n", [2, 6, 7, 10, 12, 16, 18, 20, 24])
def test_customers_without_relationship(world, n):
    assert all(relationship(world, k, n) is None for k in PARTNERS)


def test_dap_customers(world):
    dap = {n for n in range(1, 26) for k in PARTNERS
           if world.tenant(k).customers.get(cid(n), {}).get("allowDelegatedAccess")}
    assert dap == {1, 7}


def test_consents(world):
    apps = {k: PARTNERS[k][3] for k in PARTNERS}
    consented = {n for n in range(1, 26) for app in apps.values() if consent_sp(world, n, app)}
    assert consented == {1, 11, 19, 22}
    tenant = world.tenant(cid(22))
    sp = tenant.sp_by_app_id(apps["apac"])
    graph = tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH)
    drift = [g["scope"] for g in tenant.oauth2_permission_grants.values()
             if g["clientId"] == sp["id"] and g["resourceId"] == graph["id"]]
    assert drift == ["Directory.Read.All"]


@pytest.mark.parametrize("n, missing", [(6, catalog.AZURE_SERVICE_MANAGEMENT), (14, catalog.PARTNER_CENTER)])
def test_missing_api_service_principals(world, n, missing):
    tenant = world.tenant(cid(n))
    assert tenant.sp_by_app_id(missing) is None
    assert tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH) is not None


def test_other_customers_have_all_api_service_principals(world):
    for n in set(range(1, 26)) - {6, 14}:
        tenant = world.tenant(cid(n))
        for api in (catalog.MICROSOFT_GRAPH, catalog.PARTNER_CENTER, catalog.AZURE_SERVICE_MANAGEMENT):
            assert tenant.sp_by_app_id(api) is not None, (n, api)


# ------------------------------------------------------------------------------ end to end
@pytest.mark.parametrize("key", sorted(PARTNERS))
def test_msal_secret_and_refresh_token(emu, http, key):
    _, tenant_id, domain, app_id, secret = PARTNERS[key]
    app = msal.ConfidentialClientApplication(app_id, client_credential=secret,
                                             authority=f"{emu.authority_host}/{tenant_id}",
                                             instance_discovery=False, http_client=http)
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    result = app.acquire_token_by_refresh_token(f"demo-{key}-refresh-token-seed",
                                                scopes=["https://api.partnercenter.microsoft.com/user_impersonation"])
    assert "access_token" in result, result
    assert result["refresh_token"] != f"demo-{key}-refresh-token-seed"  # rotated
    resp = http.get(f"{emu.partner_center_endpoint}/v1/customers",
                    headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=30)
    assert resp.status_code == 200
    assert len(resp.json()["items"]) == len(emu.world.tenant(key).customers)


def test_msal_certificate(emu, http):
    _, tenant_id, _, app_id, _ = PARTNERS["us"]
    pem = (Path(emu.state_dir) / "us-app-cert.pem").read_text()
    credential = {"private_key": pem, "thumbprint": load_cert(pem.encode()).thumbprint, "public_certificate": pem}
    app = msal.ConfidentialClientApplication(app_id, client_credential=credential,
                                             authority=f"{emu.authority_host}/{tenant_id}",
                                             instance_discovery=False, http_client=http)
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result


def test_refresh_token_states(emu, http):
    _, tenant_id, _, app_id, secret = PARTNERS["us"]

    def redeem(value):
        return http.post(f"{emu.authority_host}/{tenant_id}/oauth2/v2.0/token", timeout=30, data={
            "grant_type": "refresh_token", "client_id": app_id, "client_secret": secret, "refresh_token": value,
            "scope": "https://graph.microsoft.com/.default"})

    assert redeem("demo-us-refresh-token-stale").status_code == 200
    expired = redeem("demo-us-refresh-token-expired")
    assert expired.status_code == 400 and expired.json()["error_codes"] == [700082]
    no_mfa = redeem("demo-us-refresh-token-nomfa")
    assert no_mfa.status_code == 400 and no_mfa.json()["error_codes"] == [50076]


@pytest.mark.parametrize("n, region", [(1, "NA"), (10, "SA"), (11, "EU"), (16, "NA"), (19, "AS"), (24, "OC")])
def test_discovery_reports_customer_regions(emu, http, n, region):
    for name in (cid(n), f"customer{n:02d}.onmicrosoft.com"):
        resp = http.get(f"{emu.authority_host}/{name}/v2.0/.well-known/openid-configuration", timeout=30)
        assert resp.status_code == 200
        body = resp.json()
        assert body["tenant_region_scope"] == region and cid(n) in body["issuer"]


def test_vanity_domains_resolve(emu, http):
    resp = http.get(f"{emu.authority_host}/fabrikam.example/v2.0/.well-known/openid-configuration", timeout=30)
    assert resp.status_code == 200 and cid(1) in resp.json()["token_endpoint"]


def test_app_only_graph_in_a_consented_customer(emu, http):
    _, _, _, app_id, secret = PARTNERS["eu"]
    resp = http.post(f"{emu.authority_host}/{cid(11)}/oauth2/v2.0/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": app_id, "client_secret": secret,
        "scope": "https://graph.microsoft.com/.default"})
    assert resp.status_code == 200, resp.text
    org = http.get(f"{emu.graph_endpoint}/v1.0/organization", timeout=30,
                   headers={"Authorization": f"Bearer {resp.json()['access_token']}"})
    assert org.status_code == 200, org.text
    assert org.json()["value"][0]["id"] == cid(11)


# ----------------------------------------------------------------------- the catalog behind it
def test_catalog_has_the_well_known_apis_and_ids():
    graph = catalog.MICROSOFT_GRAPH
    assert catalog.app_role(graph, "Directory.Read.All")["id"] == "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
    assert catalog.oauth2_scope(graph, "User.Read")["id"] == "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
    for value in ("Directory.Read.All", "Directory.ReadWrite.All", "User.Read.All", "Group.ReadWrite.All",
                  "GroupMember.ReadWrite.All", "Application.ReadWrite.All", "Organization.Read.All",
                  "DelegatedAdminRelationship.ReadWrite.All", "DelegatedAdminRelationship.Read.All"):
        role = catalog.app_role(graph, value)
        assert role["allowedMemberTypes"] == ["Application"] and role["isEnabled"], value
    for value in ("User.Read", "Directory.AccessAsUser.All", "Directory.Read.All", "Directory.ReadWrite.All",
                  "Group.ReadWrite.All", "Application.ReadWrite.All", "DelegatedAdminRelationship.ReadWrite.All",
                  "offline_access", "openid", "profile"):
        assert catalog.oauth2_scope(graph, value)["type"] in ("Admin", "User"), value
    ids = [p["id"] for api in catalog.API_BY_APPID.values() for p in api["appRoles"] + api["oauth2PermissionScopes"]]
    assert len(ids) == len(set(ids))
    for name, app_id in catalog.NAME_TO_APPID.items():
        assert catalog.resolve_api(name) == app_id
        assert app_id in catalog.API_BY_APPID
    assert catalog.appid_for_audience("https://api.partnercenter.microsoft.com/") == catalog.PARTNER_CENTER
    assert catalog.oauth2_scope(catalog.PARTNER_CENTER, "user_impersonation") is not None
    assert catalog.oauth2_scope(catalog.AZURE_SERVICE_MANAGEMENT, "user_impersonation") is not None


def test_catalog_role_templates():
    needed = ["Global Administrator", "Global Reader", "Application Administrator", "Cloud Application Administrator",
              "Exchange Administrator", "Helpdesk Administrator", "User Administrator", "Privileged Role Administrator",
              "Groups Administrator", "Directory Readers", "Security Administrator", "Security Reader",
              "Billing Administrator", "License Administrator", "Teams Administrator", "SharePoint Administrator",
              "Intune Administrator", "Authentication Administrator", "Privileged Authentication Administrator",
              "Service Support Administrator", "Reports Reader", "Directory Writers", "Compliance Administrator",
              "Conditional Access Administrator"]
    assert set(needed) <= set(catalog.ROLE_TEMPLATES)
    assert catalog.ROLE_TEMPLATES["Global Administrator"] == "62e90394-69f5-4237-9190-012177145e10"
    assert len(set(catalog.ROLE_TEMPLATES.values())) == len(catalog.ROLE_TEMPLATES)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", v) for v in catalog.ROLE_TEMPLATES.values())


def test_first_party_service_principals_share_read_only_permission_entries():
    first = catalog.service_principal_body(catalog.MICROSOFT_GRAPH)
    second = catalog.service_principal_body(catalog.MICROSOFT_GRAPH)
    assert first == second and first["appRoles"] is not second["appRoles"]
    assert catalog.service_principal_body("not-an-api") is None
