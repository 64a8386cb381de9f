"""The customers inventory plugin: GDAP summary, group names, partner tenant options, failures, cache."""

import pytest

from ansible_collections.cloudpartner.csp.plugins.inventory import customers as plugin
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspAuthError


def rel(tid, status):
    return {"id": "%s-%s" % (tid, status), "displayName": status, "status": status, "customer": {"tenantId": tid}}


def test_gdap_summary_picks_the_best_state():
    summary = plugin.gdap_summary([rel("a", "terminated"), rel("a", "active"), rel("b", "approvalPending"),
                                   rel("c", "expired"), rel("c", "terminated"), {"customer": {}}])
    assert summary["a"]["state"] == "active" and len(summary["a"]["relationships"]) == 2
    assert summary["b"]["state"] == "pending"
    assert summary["c"]["state"] == "ended"
    assert set(summary) == {"a", "b", "c"}


@pytest.mark.parametrize("prefix,value,expected", [("region", "NA", "region_na"), ("partner", "eu-west", "partner_eu_west")])
def test_group_name(prefix, value, expected):
    assert plugin.group_name(prefix, value) == expected


class FakeInventory:
    def __init__(self):
        self.hosts, self.groups = {}, {}

    def add_host(self, host):
        self.hosts.setdefault(host, {})

    def set_variable(self, host, key, value):
        self.hosts[host][key] = value

    def add_group(self, group):
        self.groups.setdefault(group, set())

    def add_child(self, group, host):
        self.groups[group].add(host)


class Display:
    def __init__(self):
        self.warnings = []

    def warning(self, text):
        self.warnings.append(text)


def make_plugin(monkeypatch, options, loads):
    inv = plugin.InventoryModule()
    values = dict(options)
    monkeypatch.setattr(inv, "get_option", values.get)
    inv.inventory = FakeInventory()
    inv.display = Display()
    monkeypatch.setattr(inv, "_template", lambda value: value)

    def load(partner, page_size, with_gdap):
        outcome = loads[partner["name"]]
        if isinstance(outcome, Exception):
            raise outcome
        return [dict(h, csp_partner_tenant=partner["name"], csp_region=partner["region"]) for h in outcome]
    monkeypatch.setattr(inv, "_load_partner", load)
    return inv


def host(n, state="active"):
    return {"csp_tenant_id": "t%d" % n, "csp_domain": "c%d.onmicrosoft.com" % n, "csp_company_name": "C%d" % n,
            "csp_gdap": {"state": state, "relationships": []}, "csp_dap": False}


OPTIONS = {"page_size": 500, "local_connection": True, "partner_tenant_errors": "fail",
           "gdap_summary": True, "hostname": "domain", "strict": False, "compose": {},
           "groups": {}, "keyed_groups": [],
           "partner_tenants": [{"name": "us", "region": "NA", "tenant_id": "x", "client_id": "y"},
                               {"name": "eu", "region": "EU", "tenant_id": "x2", "client_id": "y2"}]}


def test_a_failing_partner_tenant_fails_the_inventory(monkeypatch):
    from ansible.errors import AnsibleError
    inv = make_plugin(monkeypatch, dict(OPTIONS, partner_tenant_errors="fail"),
                      {"us": [host(1)], "eu": CspAuthError("bad secret", code="AADSTS7000215")})
    with pytest.raises(AnsibleError, match="partner tenant eu cannot be read.*AADSTS7000215"):
        inv._load()


def test_a_failing_partner_tenant_is_a_warning_when_asked(monkeypatch):
    loads = {"us": [host(1), host(2, "none")], "eu": CspAuthError("bad secret", code="AADSTS7000215")}
    inv = make_plugin(monkeypatch, dict(OPTIONS, partner_tenant_errors="warn"), loads)
    data = inv._load()
    assert data["failed_partner_tenants"] == ["eu"] and len(data["hosts"]) == 2
    assert "partner tenant eu skipped" in inv.display.warnings[0] and "AADSTS7000215" in inv.display.warnings[0]
    inv._populate(data)
    assert set(inv.inventory.hosts) == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert inv.inventory.groups["region_na"] == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert inv.inventory.groups["gdap_none"] == {"c2.onmicrosoft.com"}
    assert inv.inventory.groups["partner_us"] == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert inv.inventory.hosts["c1.onmicrosoft.com"]["ansible_connection"] == "local"
    assert inv.inventory.hosts["c1.onmicrosoft.com"]["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"


def test_partner_tenant_options_merge_shared_ones(monkeypatch):
    inv = plugin.InventoryModule()
    values = dict(OPTIONS, authority_host="https://login.test", ca_bundle="/ca.pem")
    monkeypatch.setattr(inv, "get_option", values.get)
    monkeypatch.setattr(inv, "_template", lambda value: value)
    partners = inv._partners()
    assert [p["name"] for p in partners] == ["us", "eu"]
    assert partners[0]["values"]["authority_host"] == "https://login.test"
    assert partners[1]["values"]["tenant_id"] == "x2" and partners[1]["values"]["ca_bundle"] == "/ca.pem"


def test_duplicate_partner_names_refused(monkeypatch):
    from ansible.errors import AnsibleParserError
    inv = plugin.InventoryModule()
    values = dict(OPTIONS, partner_tenants=[{"name": "us"}, {"name": "us"}])
    monkeypatch.setattr(inv, "get_option", values.get)
    monkeypatch.setattr(inv, "_template", lambda value: value)
    with pytest.raises(AnsibleParserError, match="twice"):
        inv._partners()


def test_verify_file_name(tmp_path):
    good = tmp_path / "regions.csp_customers.yml"
    good.write_text("plugin: cloudpartner.csp.customers\n")
    bad = tmp_path / "hosts.yml"
    bad.write_text("all: {}\n")
    inv = plugin.InventoryModule()
    assert inv.verify_file(str(good)) and not inv.verify_file(str(bad))


# What AWX injects for a "Microsoft CSP partner app" credential holding only tenant, client id and secret
# (docs/awx/credential_types.yml rendered with every other field absent), and its endpoints credential
# holding nothing but the emulator's hosts.
AWX_SECRET_ONLY = {
    "CSP_TENANT_ID": "10000000-0000-4000-8000-000000000001", "CSP_CLIENT_ID": "20000000-0000-4000-8000-000000000001",
    "CSP_CLIENT_SECRET": "demo-us-secret-0001", "CSP_CLIENT_CERTIFICATE_PATH": "", "CSP_REFRESH_TOKEN": "",
    "CSP_REFRESH_TOKEN_STORE": "", "CSP_CLOUD": "", "CSP_PARTNER_NAME": "", "CSP_PARTNER_REGION": "",
    "CSP_AUTHORITY_HOST": "", "CSP_GRAPH_ENDPOINT": "", "CSP_PARTNER_CENTER_ENDPOINT": "", "CSP_CA_BUNDLE": "",
    "CSP_TOKEN_CACHE": "",
}


def _plugin_options():
    """The plugin's option definitions as ansible-core reads them (its DOCUMENTATION and the PLUGINS fragment)."""
    import yaml
    from ansible_collections.cloudpartner.csp.plugins.doc_fragments.connection import ModuleDocFragment
    options = dict(yaml.safe_load(ModuleDocFragment.PLUGINS)["options"])
    options.update(yaml.safe_load(plugin.DOCUMENTATION)["options"])
    return options


def _resolve(monkeypatch, tmp_path, env, name, hidden):
    """ansible-core's own resolution of one option (env, type conversion, choices) for the customers plugin."""
    from ansible import constants as C
    from ansible_collections.cloudpartner.csp.plugins.module_utils.options import empty_env_hidden
    C.config.initialize_plugin_configuration_definitions("inventory", "csp_test_customers", _plugin_options())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # where "" as a path would point
    if not hidden:
        return C.config.get_config_value(name, plugin_type="inventory", plugin_name="csp_test_customers")
    with empty_env_hidden():
        return C.config.get_config_value(name, plugin_type="inventory", plugin_name="csp_test_customers")


@pytest.mark.parametrize("name", ["client_certificate_path", "ca_bundle", "token_cache_path"])
def test_awx_empty_path_is_unset_not_the_cwd(monkeypatch, tmp_path, name):
    # without hiding, ansible-core makes "" the working directory (what broke the AWX inventory sync)
    assert _resolve(monkeypatch, tmp_path, AWX_SECRET_ONLY, name, hidden=False) == str(tmp_path)
    assert _resolve(monkeypatch, tmp_path, AWX_SECRET_ONLY, name, hidden=True) is None


def test_awx_empty_cloud_is_the_default(monkeypatch, tmp_path):
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError):
        _resolve(monkeypatch, tmp_path, AWX_SECRET_ONLY, "cloud", hidden=False)
    assert _resolve(monkeypatch, tmp_path, AWX_SECRET_ONLY, "cloud", hidden=True) == "public"
    import os
    assert os.environ["CSP_CLOUD"] == ""  # restored after the options were read


def _awx_plugin(monkeypatch, env, loads=None, **options):
    """The plugin over the options AWX's injections resolve to (the resolution itself is tested above)."""
    values = dict(OPTIONS, partner_tenants=None, partner_name=env.get("CSP_PARTNER_NAME") or None,
                  partner_region=env.get("CSP_PARTNER_REGION") or None, tenant_id=env["CSP_TENANT_ID"],
                  client_id=env["CSP_CLIENT_ID"], client_secret=env["CSP_CLIENT_SECRET"], **options)
    inv = make_plugin(monkeypatch, values, loads or {None: [host(1), host(2)], "us": [host(1), host(2)]})
    return inv


def test_awx_env_only_source_without_a_name(monkeypatch):
    inv = _awx_plugin(monkeypatch, AWX_SECRET_ONLY)
    inv._populate(inv._load())
    one = inv.inventory.hosts["c1.onmicrosoft.com"]
    assert set(inv.inventory.hosts) == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert one["csp_partner_tenant"] is None and not [g for g in inv.inventory.groups if g.startswith("partner_")]
    assert "has no name" in inv.display.warnings[0] and "CSP_PARTNER_NAME" in inv.display.warnings[0]


def test_awx_env_only_source_named(monkeypatch):
    inv = _awx_plugin(monkeypatch, dict(AWX_SECRET_ONLY, CSP_PARTNER_NAME="us", CSP_PARTNER_REGION="NA"))
    inv._populate(inv._load())
    assert inv.inventory.hosts["c1.onmicrosoft.com"]["csp_partner_tenant"] == "us"
    assert inv.inventory.groups["partner_us"] and inv.inventory.groups["region_na"]
    assert inv.display.warnings == []


def test_templates_rendering_empty_leave_options_unset(monkeypatch):
    inv = plugin.InventoryModule()
    values = dict(OPTIONS, partner_tenants=[{"name": "us", "tenant_id": "x", "client_id": "y", "client_secret": "s",
                                             "client_certificate_path": "", "refresh_token_store": ""}])
    monkeypatch.setattr(inv, "get_option", values.get)
    monkeypatch.setattr(inv, "_template", lambda value: value)
    partner = inv._partners()[0]
    assert "client_certificate_path" not in partner["values"] and "refresh_token_store" not in partner["values"]
