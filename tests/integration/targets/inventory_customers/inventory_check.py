#!/usr/bin/env python
"""Helpers of runme.sh: seed customers, write inventory files, read the emulator log, check results.

    inventory_check.py seed CONFIG N              N more customers per partner tenant (Partner Center POST)
    inventory_check.py write CONFIG OUT [--broken [--warn]] [--page-size N] [--cache-dir DIR]
    inventory_check.py mark CONFIG                 print the emulator log's last sequence number
    inventory_check.py check CONFIG JSON ERR MARK MIN_HOSTS
    inventory_check.py cached CONFIG FIRST SECOND MARK
    inventory_check.py awx CONFIG JSON ERR         the env-only source under AWX's injections
"""

import argparse
import json
import sys

import requests
import yaml

# The demo world's fixed partner tenants (tests/emulator/worlds/README.md); emulator fixtures, not secrets.
PARTNERS = [
    {"name": "us", "region": "NA", "tenant_id": "10000000-0000-4000-8000-000000000001",
     "client_id": "20000000-0000-4000-8000-000000000001", "client_secret": "{{ lookup('env', 'US_SECRET') }}",
     "secret": "demo-us-secret-0001"},
    {"name": "eu", "region": "EU", "tenant_id": "10000000-0000-4000-8000-000000000002",
     "client_id": "20000000-0000-4000-8000-000000000002", "client_secret": "demo-eu-secret-0002",
     "refresh_token": "demo-eu-refresh-token-seed", "secret": "demo-eu-secret-0002"},
    {"name": "apac", "region": "AS", "tenant_id": "10000000-0000-4000-8000-000000000003",
     "client_id": "20000000-0000-4000-8000-000000000003", "client_secret": "demo-apac-secret-0003",
     "secret": "demo-apac-secret-0003"},
]
COUNTRY = {"us": "US", "eu": "DE", "apac": "JP"}


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def fail(message):
    sys.exit("inventory_customers: " + message)


def control(config, path):
    response = requests.get(config["emulator_control_url"] + path, verify=config["csp_ca_bundle"], timeout=30,
                            headers={"Authorization": "Bearer " + config["emulator_control_token"]})
    response.raise_for_status()
    return response.json()


def seed(config, count):
    for partner in PARTNERS:
        token = requests.post(
            "%s/%s/oauth2/v2.0/token" % (config["csp_authority_host"], partner["tenant_id"]),
            data={"grant_type": "client_credentials", "client_id": partner["client_id"],
                  "client_secret": partner["secret"], "scope": "https://api.partnercenter.microsoft.com/.default"},
            verify=config["csp_ca_bundle"], timeout=30).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + token
        for n in range(count):
            domain = "inv%s%03d.onmicrosoft.com" % (partner["name"], n)
            body = {"CompanyProfile": {"Domain": domain},
                    "BillingProfile": {"Culture": "en-US", "Email": "billing@%s" % domain, "Language": "en",
                                       "CompanyName": "Inventory %s %03d" % (partner["name"].upper(), n),
                                       "DefaultAddress": {"Country": COUNTRY[partner["name"]],
                                                          "AddressLine1": "1 Main Street", "City": "Capital"}}}
            response = session.post(config["csp_partner_center_endpoint"] + "/v1/customers", json=body,
                                    verify=config["csp_ca_bundle"], timeout=30)
            if response.status_code not in (201, 409):  # 409: seeded by an earlier run
                fail("seeding %s failed: %s %s" % (domain, response.status_code, response.text[:300]))


def write(config, out, broken, page_size, cache_dir, warn=False):
    partners = [{k: v for k, v in p.items() if k != "secret"} for p in PARTNERS]
    if broken:
        partners.append({"name": "broken", "region": "OC", "tenant_id": PARTNERS[2]["tenant_id"],
                         "client_id": PARTNERS[2]["client_id"], "client_secret": "not-the-secret-000"})
    data = {
        "plugin": "cloudpartner.csp.customers",
        "authority_host": config["csp_authority_host"],
        "graph_endpoint": config["csp_graph_endpoint"],
        "partner_center_endpoint": config["csp_partner_center_endpoint"],
        "ca_bundle": config["csp_ca_bundle"],
        "page_size": page_size,
        "partner_tenants": partners,
        "keyed_groups": [{"key": "csp_relationship_to_partner", "prefix": "relationship"}],
        "groups": {"dap_customers": "csp_dap"},
        "compose": {"gdap_relationship_count": "csp_gdap.relationships | length"},
    }
    if warn:
        data["partner_tenant_errors"] = "warn"
    if cache_dir:
        data.update({"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": cache_dir,
                     "cache_timeout": 600})
    with open(out, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)


def mark(config):
    print(control(config, "/_emulator/requests?since=999999999")["last_seq"])


def log_since(config, since):
    return [r for r in control(config, "/_emulator/requests?since=%d" % (int(since) + 1))["requests"]
            if not r["path"].startswith("/_emulator/")]


def plain(value):
    """ansible-inventory marks strings from the API as unsafe: {"__ansible_unsafe": "x"} -> "x"."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def check(config, listing, errors, since, minimum):
    with open(listing, encoding="utf-8") as handle:
        data = plain(json.load(handle))
    with open(errors, encoding="utf-8") as handle:
        err_text = handle.read()
    hostvars = data["_meta"]["hostvars"]
    groups = {name: set(value.get("hosts", [])) for name, value in data.items() if name != "_meta"}
    if len(hostvars) < minimum:
        fail("expected at least %d hosts, got %d" % (minimum, len(hostvars)))
    if "partner tenant broken skipped" not in err_text or "AADSTS7000215" not in err_text:
        fail("the broken partner tenant was not reported as a warning: %s" % err_text[:500])
    if "partner_broken" in groups:
        fail("the broken partner tenant has a group")
    for name in ("partner_us", "partner_eu", "partner_apac", "region_na", "region_eu", "region_as",
                 "gdap_active", "gdap_pending", "gdap_ended", "gdap_none", "relationship_reseller", "dap_customers"):
        if not groups.get(name):
            fail("group %s is missing or empty" % name)
    for partner in PARTNERS:
        if len(groups["partner_" + partner["name"]]) < 100:
            fail("partner %s has only %d hosts" % (partner["name"], len(groups["partner_" + partner["name"]])))
    fabrikam = hostvars.get("customer01.onmicrosoft.com") or fail("customer01 is not a host")
    expected = {"csp_tenant_id": "30000000-0000-4000-8000-000000000001", "csp_company_name": "Fabrikam",
                "csp_region": "NA", "csp_partner_tenant": "us", "csp_dap": True, "gdap_relationship_count": 1,
                "csp_partner_tenant_id": PARTNERS[0]["tenant_id"]}
    # compose renders strings on ansible-core before 2.19 (no native types): "1" there, 1 on 2.19
    fabrikam["gdap_relationship_count"] = int(fabrikam.get("gdap_relationship_count", -1))
    for key, value in expected.items():
        if fabrikam.get(key) != value:
            fail("customer01 %s is %r, expected %r" % (key, fabrikam.get(key), value))
    if fabrikam["csp_gdap"]["state"] != "active" or "customer01.onmicrosoft.com" not in groups["gdap_active"]:
        fail("customer01 GDAP summary wrong: %r" % fabrikam["csp_gdap"])
    if hostvars["customer03.onmicrosoft.com"]["csp_gdap"]["state"] != "pending":
        fail("customer03 should be gdap pending")
    if hostvars["customer08.onmicrosoft.com"]["csp_gdap"]["state"] != "ended":
        fail("customer08 should be gdap ended")
    log = log_since(config, since)
    pages = [r for r in log if r["service"] == "partner_center" and r["path"] == "/v1/customers"]
    if len(pages) < 3 * 3:  # >= 100 customers per partner at 50 a page
        fail("expected continuation paging, saw %d customer list requests" % len(pages))
    writes = [r for r in log if r["service"] != "login" and r["method"] not in ("GET", "HEAD")]
    if writes:
        fail("the inventory wrote: %r" % writes[:3])
    print("inventory_customers: %d hosts, %d groups, %d customer pages" % (len(hostvars), len(groups), len(pages)))


def cached(config, first, second, since):
    with open(first, encoding="utf-8") as handle:
        one = plain(json.load(handle))
    with open(second, encoding="utf-8") as handle:
        two = plain(json.load(handle))
    if one["_meta"]["hostvars"] != two["_meta"]["hostvars"]:
        fail("the cached inventory differs from the live one")
    sent = log_since(config, since)
    if sent:
        fail("the cached run sent %d requests (%s)" % (len(sent), sent[0]["path"]))
    print("inventory_customers: cached run sent no request (%d hosts)" % len(two["_meta"]["hostvars"]))


def awx(config, listing, errors):
    """A source with nothing but `plugin:` (AWX's "Sourced from a Project"), everything from the credentials."""
    with open(listing, encoding="utf-8") as handle:
        data = plain(json.load(handle))
    with open(errors, encoding="utf-8") as handle:
        err_text = handle.read()
    hostvars = data["_meta"]["hostvars"]
    if len(hostvars) < 100:
        fail("AWX injections: expected the us partner's 100+ customers, got %d hosts (%s)"
             % (len(hostvars), err_text[:300]))
    wrong = {h: v.get("csp_partner_tenant") for h, v in hostvars.items() if v.get("csp_partner_tenant") != "us"}
    if wrong:
        fail("AWX injections: csp_partner_tenant is not the injected CSP_PARTNER_NAME: %r" % list(wrong.items())[:3])
    fabrikam = hostvars.get("customer01.onmicrosoft.com") or fail("AWX injections: customer01 is not a host")
    expected = {"csp_region": "NA", "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    for key, value in expected.items():
        if fabrikam.get(key) != value:
            fail("AWX injections: customer01 %s is %r, expected %r" % (key, fabrikam.get(key), value))
    if "cloudpartner.csp.customers" in err_text or "Unable to parse" in err_text:
        fail("AWX injections: ansible-inventory warned: %s" % err_text[:500])
    print("inventory_customers: AWX injections, %d hosts of partner us" % len(hostvars))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed", "write", "mark", "check", "cached", "awx"])
    parser.add_argument("config")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--broken", action="store_true")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--cache-dir")
    parser.add_argument("--warn", action="store_true")
    opts = parser.parse_args(argv)
    config = load(opts.config)
    if opts.command == "seed":
        seed(config, int(opts.args[0]))
    elif opts.command == "write":
        write(config, opts.args[0], opts.broken, opts.page_size, opts.cache_dir, opts.warn)
    elif opts.command == "mark":
        mark(config)
    elif opts.command == "awx":
        awx(config, opts.args[0], opts.args[1])
    elif opts.command == "check":
        check(config, opts.args[0], opts.args[1], opts.args[2], int(opts.args[3]))
    else:
        cached(config, opts.args[0], opts.args[1], opts.args[2])


if __name__ == "__main__":
    main(sys.argv[1:])
