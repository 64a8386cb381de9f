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


OPTIONS = {"page_size": 500, "gdap_summary": True, "hostname": "domain", "strict": False, "compose": {},
           "groups": {}, "keyed_groups": [],
           "partner_tenants": [{"name": "us", "region": "NA", "tenant_id": "x", "client_id": "y"},
                               {"name": "eu", "region": "EU", "tenant_id": "x2", "client_id": "y2"}]}


def test_a_failing_partner_tenant_is_a_warning(monkeypatch):
    inv = make_plugin(monkeypatch, OPTIONS, {"us": [host(1), host(2, "none")],
                                             "eu": CspAuthError("bad secret", code="AADSTS7000215")})
    data = inv._load()
    assert data["failed_partner_tenants"] == ["eu"] and len(data["hosts"]) == 2
    assert "partner tenant eu skipped" in inv.display.warnings[0] and "AADSTS7000215" in inv.display.warnings[0]
    inv._populate(data)
    assert set(inv.inventory.hosts) == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert inv.inventory.groups["region_na"] == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}
    assert inv.inventory.groups["gdap_none"] == {"c2.onmicrosoft.com"}
    assert inv.inventory.groups["partner_us"] == {"c1.onmicrosoft.com", "c2.onmicrosoft.com"}


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
