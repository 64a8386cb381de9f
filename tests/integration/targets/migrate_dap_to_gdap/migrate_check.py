"""Helpers of runme.sh: inventory, the emulator's request log and control API, report and membership checks."""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from emulator_control import config, control, last_seq, open_json, requests_since, writes_since

US_TENANT = "10000000-0000-4000-8000-000000000001"
US_CLIENT = "20000000-0000-4000-8000-000000000001"
US_SECRET = "demo-us-secret-0001"
US_REFRESH = "demo-us-refresh-token-seed"
ADMIN_AGENTS = "12000000-0000-4000-8000-000000010001"
CUSTOMERS = {  # host: (tenant id, DAP)
    "customer01.onmicrosoft.com": ("30000000-0000-4000-8000-000000000001", True),   # GDAP + consent already
    "customer07.onmicrosoft.com": ("30000000-0000-4000-8000-000000000007", True),   # DAP only
    "customer04.onmicrosoft.com": ("30000000-0000-4000-8000-000000000004", False),  # no DAP: out of scope
}


def setup(work):
    lines = ["all:", "  vars:", "    ansible_connection: local",
             "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"", "  hosts:"]
    for host, (tenant, dap) in CUSTOMERS.items():
        lines += ["    %s:" % host, "      csp_tenant_id: %s" % tenant, "      csp_domain: %s" % host,
                  "      csp_partner_tenant: us", "      csp_dap: %s" % str(dap).lower()]
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    partners = {"migrate_dap_partner_tenants": {"us": {"tenant_id": US_TENANT, "client_id": US_CLIENT,
                                                       "client_secret": US_SECRET, "refresh_token": US_REFRESH}}}
    with open(os.path.join(work, "partners.json"), "w", encoding="utf-8") as handle:
        json.dump(partners, handle)


def mark(cfg_path):
    print(last_seq(config(cfg_path)))


def fail(msg, got):
    sys.exit("%s; writes: %s" % (msg, json.dumps([(w["method"], w["path"], w.get("status")) for w in got], indent=1)))


def expect_writes(cfg_path, since, kind):
    cfg = config(cfg_path)
    got = writes_since(cfg, since)
    logged = [r for r in requests_since(cfg, since)["requests"] if not r["path"].startswith("/_emulator/")]
    print("  requests: %d (Graph/Partner Center %d, token %d), writes: %s" % (
        len(logged), len([r for r in logged if r["service"] in ("graph", "partner_center")]),
        len([r for r in logged if r["path"].endswith("/token")]),
        ", ".join("%s %s" % (w["method"], w["path"].rsplit("/", 1)[-1]) for w in got) or "none"))
    deletes = [w for w in got if w["method"] == "DELETE"]
    failed = [w for w in got if int(w.get("status") or 0) >= 300]
    if kind == "none":
        if got:
            fail("expected no write", got)
    elif kind == "pending":
        # only customer07's relationship: created and locked; nothing removed, nothing for customer04
        paths = [(w["method"], w["path"]) for w in got]
        if len(got) != 2 or deletes or failed or not paths[0][1].endswith("/delegatedAdminRelationships") \
                or not paths[1][1].endswith("/requests"):
            fail("expected create + lockForApproval only", got)
    elif kind == "migrated":
        assignments = [w for w in got if w["method"] == "POST" and w["path"].endswith("/accessAssignments")]
        consents = [w for w in got if w["method"] == "POST" and w["path"].endswith("/applicationconsents")]
        if len(assignments) != 2 or len(consents) != 1 or len(deletes) != 1 or failed:
            fail("expected 2 access assignments, 1 consent, 1 DELETE", got)
        expected = "/v1.0/groups/%s/members/" % ADMIN_AGENTS
        if not (deletes[0]["path"].startswith(expected) and deletes[0]["path"].endswith("/$ref")):
            fail("the DELETE must be AdminAgents' members/{id}/$ref", got)
        if "30000000-0000-4000-8000-000000000004" in json.dumps(got):
            fail("customer04 (no DAP) must not be touched", got)
        if len(got) != 4:
            fail("unexpected writes", got)
    else:
        sys.exit("unknown kind %s" % kind)


def app_only_proof(cfg_path, since, *hosts):
    """Each host's proof was a Graph /organization read in its tenant with the app's own token (no user):
    what "proven" means before the app leaves AdminAgents."""
    logged = requests_since(config(cfg_path), since)["requests"]
    for host in hosts:
        tenant = CUSTOMERS[host][0]
        reads = [r for r in logged if r["service"] == "graph" and r["method"] == "GET"
                 and r["path"].endswith("/organization") and r.get("tenant_id") == tenant]
        if not reads or any(r.get("user") for r in reads) or any(int(r.get("status") or 0) != 200 for r in reads):
            sys.exit("%s: expected the proof with an app-only token, got %s" % (host, json.dumps(reads, indent=1)))


def report(path, *expectations):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    statuses = {c["customer"]: c["status"] for c in data["customers"]}
    for item in expectations:
        key, _sep, want = item.partition("=")
        if key == "removed":
            got = ",".join(data["removed"])
        else:
            got = statuses.get(key, "absent")
        if got != want:
            sys.exit("%s: %s, expected %s (report: %s)" % (key, got, want, json.dumps(data, indent=1)))


def changes(path, customer, *want):
    """The customer's report entry lists exactly these changes (the onboarding role's ``changes``)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    got = [c for c in data["customers"] if c["customer"] == customer][0]["changes"]
    if got != list(want):
        sys.exit("%s changes: %s, expected %s" % (customer, got, list(want)))


def approve(cfg_path, report_path, customer):
    with open(report_path, encoding="utf-8") as handle:
        data = json.load(handle)
    rel = [c for c in data["customers"] if c["customer"] == customer][0]["relationship_id"]
    control(config(cfg_path), "POST", "gdap/%s/approve" % urllib.parse.quote(rel))


def member(cfg_path, want):
    """Is the us app's service principal in AdminAgents? Asked of Graph directly, with an app-only token."""
    cfg = config(cfg_path)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": US_CLIENT,
                                   "client_secret": US_SECRET,
                                   "scope": "https://graph.microsoft.com/.default"}).encode()
    _s, token = open_json(cfg, urllib.request.Request(
        cfg["csp_authority_host"] + "/%s/oauth2/v2.0/token" % US_TENANT, data=form, method="POST"))
    auth = {"Authorization": "Bearer " + token["access_token"]}
    graph = cfg["csp_graph_endpoint"] + "/v1.0"
    query = urllib.parse.quote("appId eq '%s'" % US_CLIENT)
    _s, sps = open_json(cfg, urllib.request.Request(graph + "/servicePrincipals?$filter=" + query, headers=auth))
    sp_id = sps["value"][0]["id"]
    try:
        open_json(cfg, urllib.request.Request(graph + "/groups/%s/members/%s" % (ADMIN_AGENTS, sp_id), headers=auth))
        got = "yes"
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
        got = "no"
    if got != want:
        sys.exit("service principal in AdminAgents: %s, expected %s" % (got, want))


def reset(cfg_path):
    control(config(cfg_path), "POST", "reset")


if __name__ == "__main__":
    commands = {"setup": setup, "mark": mark, "writes": expect_writes, "report": report, "approve": approve,
                "app_only_proof": app_only_proof, "changes": changes,
                "member": member, "reset": reset}
    commands[sys.argv[1]](*sys.argv[2:])
