#!/usr/bin/env python
"""AWX-like jobs with ansible-runner against the emulator (see runme.sh).

The credentials are docs/awx's credential types rendered as AWX renders them (tests/unit/awx/awx_render.py:
every field the credential leaves empty arrives as ""): a "Microsoft CSP partner app" holding only the us
partner tenant's ids, secret, refresh token, name and region, and a "Microsoft CSP endpoints" holding the
emulator's hosts and CA. The inventory is what an inventory update of docs/awx/project's customers source
gives under the same credential (ansible-inventory --list --export), handed to each job as an inventory
script, sliced as AWX slices (hosts[k-1::N]). Checked:

1. one job over six customers, one of which (Relecloud, a region without partner tenant) fails: the job
   ends failed (rc 2), only that host failed, set_stats carries the summary and every result, report.json
   covers exactly the six, failed customers first with a next step;
2. the Limit of one customer only (no localhost): the job is successful and still writes its report and
   publishes its stats;
3. the same six over 3 slices: each slice reports its own hosts, the same statuses as the one job, and the
   merge playbook over the slices' artifacts (merged as AWX merges a workflow's artifacts) makes one report
   with the one job's customers and statuses;
4. the fleet report job template (docs/awx/project/playbooks/fleet_report.yml, no report directory given):
   without a Limit it reports the partner tenant by the credential's name and region, every customer of the
   inventory among its customers, its files under the job's artifacts directory and its summary in set_stats;
   with a Limit exactly the Limit's customers; a partner tenant it cannot read (a wrong secret) fails the job;
5. no secret (client secret, refresh token, access token) in any job event or artifact.
"""

import json
import os
import shutil
import sys
import tempfile

import yaml
from awx_runner import AwxJobError, inventory_update, job_outputs, run_job
from emulator_control import config as read_config

PARTNER_US = {"tenant_id": "10000000-0000-4000-8000-000000000001", "client_id": "20000000-0000-4000-8000-000000000001",
              "client_secret": "demo-us-secret-0001", "refresh_token": "demo-us-refresh-token-seed",
              "partner_name": "us", "partner_region": "NA"}
SECRETS = ("demo-us-secret-0001", "demo-us-refresh-token-seed")
CUSTOMERS = ["customer01.onmicrosoft.com", "customer02.onmicrosoft.com", "customer04.onmicrosoft.com",
             "customer06.onmicrosoft.com", "customer09.onmicrosoft.com", "customer10.onmicrosoft.com"]
LIMIT = ",".join(CUSTOMERS)
LIMIT_FLEET = "customer01.onmicrosoft.com,customer02.onmicrosoft.com"
EXPECTED = {"customer01.onmicrosoft.com": "onboarded", "customer02.onmicrosoft.com": "awaiting_approval",
            "customer04.onmicrosoft.com": "onboarded", "customer06.onmicrosoft.com": "awaiting_approval",
            "customer09.onmicrosoft.com": "onboarded", "customer10.onmicrosoft.com": "failed"}


def fail(message):
    sys.exit("awx_jobs: " + message)


def job(cfg, work, name, playbook, hosts_data, hosts, limit=None, extravars=None, job_id=1):
    """One AWX job (awx_runner.run_job) with the us partner app's credential; its stats, failed hosts, report."""
    extra = {"onboard_customer_approval_wait": 0,
             "onboard_integration_user": "integration@contosopartnerus.onmicrosoft.com"}
    extra.update(extravars or {})
    runner, pdd = run_job(cfg, work, name, playbook, PARTNER_US, inventory=hosts_data, hosts=hosts, limit=limit,
                          extravars=extra, job_id=job_id)
    with open(os.path.join(pdd, "env", "envvars"), encoding="utf-8") as handle:
        empty = sorted(k for k, v in yaml.safe_load(handle).items() if v == "")
    if "CSP_CLOUD" not in empty or "CSP_CLIENT_CERTIFICATE_PATH" not in empty:
        fail("the rendering should leave CSP_CLOUD and CSP_CLIENT_CERTIFICATE_PATH empty: %s" % empty)
    stats, report = stats_and_report(runner, pdd, name, "onboard_report")
    failed_hosts = sorted(h for h, n in (runner.stats or {}).get("failures", {}).items() if n)
    with open(os.path.join(pdd, "artifacts", str(job_id), "stdout"), encoding="utf-8", errors="replace") as handle:
        lines = [line for line in handle.read().splitlines() if "fatal:" in line or "FAILED!" in line
                 or "ERROR" in line]
    for line in lines[:10]:
        print("awx_jobs: job %s: %s" % (name, line[:1500]))
    print("awx_jobs: job %s: %s rc %s, failed hosts %s, summary %s" % (name, runner.status, runner.rc, failed_hosts,
                                                                       stats.get("onboard_summary")))
    return runner, stats, failed_hosts, report


def stats_and_report(runner, pdd, name, report_dir):
    """The job's set_stats and its report.json under the job's artifacts (None when it is not there); no secret
    in what AWX keeps of it."""
    stats = {}
    for event in runner.events:
        if event.get("event") == "playbook_on_stats":
            stats = event["event_data"].get("artifact_data") or {}
    report_path = os.path.join(pdd, "artifacts", report_dir, "report.json")
    report = None
    if os.path.exists(report_path):
        with open(report_path, encoding="utf-8") as handle:
            report = json.load(handle)
    no_secrets(pdd, name)
    return stats, report


def no_secrets(pdd, name):
    """0 secrets in what AWX keeps of the job (awx_runner.job_outputs). The no_secrets_in_playbooks target
    scans the same outputs at -vvv for every secret and token of the world."""
    paths = [path for path, what in job_outputs(pdd) if what != "AWX inventory"]
    if not any("job_events" in path for path in paths):
        fail("job %s: no job events" % name)
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        for secret in SECRETS:
            if secret in text:
                fail("job %s: a secret is in %s" % (name, os.path.relpath(path, pdd)))
        if "eyJ0eXAi" in text or "eyJhbGci" in text:
            fail("job %s: an access token is in %s" % (name, os.path.relpath(path, pdd)))


def fleet_job(cfg, work, name, hosts_data, hosts, limit=None, partner=None, job_id=1):
    """One "CSP fleet report" job, with no report directory of its own; its runner, stats and report.json."""
    runner, pdd = run_job(cfg, work, name, "playbooks/fleet_report.yml", partner or PARTNER_US,
                          inventory=hosts_data, hosts=hosts, limit=limit, job_id=job_id)
    stats, report = stats_and_report(runner, pdd, name, "fleet_report")
    print("awx_jobs: job %s: %s rc %s, report.json under artifacts: %s, partners %s, set_stats %s" % (
        name, runner.status, runner.rc, report is not None,
        report and [(p["name"], p["regions"], bool(p.get("error"))) for p in report["partners"]],
        stats.get("fleet_report")))
    return runner, stats, report


def check_fleet(cfg, work, data, hosts):
    """4. the fleet report job: the credential's partner tenant, the customers, the artifacts, set_stats."""
    runner, stats, report = fleet_job(cfg, work, "fleet", data, hosts, job_id=401)
    if runner.status != "successful" or report is None:
        fail("job fleet: %s, report.json under artifacts/fleet_report: %s" % (runner.status, report is not None))
    if [(p["name"], p["regions"], p.get("error")) for p in report["partners"]] != [("us", ["NA"], None)]:
        fail("job fleet: the partner tenant is not the credential's us (NA): %s" % report["partners"])
    reported = {c["domain"]: (c["partner"], c["region"]) for c in report["customers"]}
    if any(reported.get(h) != ("us", "NA") for h in hosts):
        fail("job fleet: inventory customers missing or not reported as us (NA): %s" % {
            h: reported.get(h) for h in hosts if reported.get(h) != ("us", "NA")})
    if (stats.get("fleet_report") or {}).get("customers") != len(report["customers"]):
        fail("job fleet: set_stats fleet_report is %s" % stats.get("fleet_report"))

    runner, stats, report = fleet_job(cfg, work, "fleet_limit", data, hosts, limit=LIMIT_FLEET, job_id=402)
    if runner.status != "successful" or report is None or sorted(
            c["domain"] for c in report["customers"]) != LIMIT_FLEET.split(","):
        fail("job fleet_limit: %s, customers %s" % (runner.status, report and [
            c["domain"] for c in report["customers"]]))
    if (stats.get("fleet_report") or {}).get("customers") != 2:
        fail("job fleet_limit: set_stats fleet_report is %s" % stats.get("fleet_report"))

    runner, stats, report = fleet_job(cfg, work, "fleet_unreadable", data, hosts, limit=LIMIT_FLEET, job_id=403,
                                      partner=dict(PARTNER_US, client_secret="not-the-secret"))
    if runner.status != "failed" or report is None or not report["partners"][0].get("error"):
        fail("job fleet_unreadable: %s, expected failed with the partner tenant's error in the report" % (
            runner.status))


def statuses(report):
    return {c["customer"]: c["status"] for c in report["customers"]}


def main(config_path):
    cfg = read_config(config_path)
    work = tempfile.mkdtemp(prefix="awx_jobs-")
    try:
        data = inventory_update(cfg, work, PARTNER_US)
        hosts = sorted(data["_meta"]["hostvars"])
        if not set(CUSTOMERS) <= set(hosts):
            fail("the inventory update is missing customers: %s" % sorted(set(CUSTOMERS) - set(hosts)))

        # 1. one job, six customers, one failing
        runner, stats, failed, report = job(cfg, work, "one", "playbooks/onboard_customers.yml", data, hosts,
                                            limit=LIMIT, job_id=101)
        if runner.status != "failed" or runner.rc != 2 or failed != ["customer10.onmicrosoft.com"]:
            fail("job one: expected failed with rc 2 and only customer10 failed")
        if report is None or statuses(report) != EXPECTED:
            fail("job one: report statuses %s" % (report and statuses(report)))
        if report["customers"][0]["status"] != "failed" or not report["customers"][0]["next_step"]:
            fail("job one: the failed customer is not first, with a next step")
        summary = stats.get("onboard_summary") or {}
        if summary.get("failed") != 1 or summary.get("onboarded") != 3 or summary.get("customers") != 6:
            fail("job one: set_stats onboard_summary is %s" % summary)
        if statuses(stats.get("onboard_report_101") or {"customers": []}) != EXPECTED:
            fail("job one: set_stats onboard_report_101 does not carry every result")
        if report["meta"]["job_id"] != [101] or report["meta"]["partner_tenants"] != ["us"]:
            fail("job one: report meta %s" % report["meta"])

        # 2. the Limit names one customer only: the report and the stats still come
        runner, stats, failed, report = job(cfg, work, "limit", "playbooks/onboard_customers.yml", data, hosts,
                                            limit="customer01.onmicrosoft.com", job_id=102)
        if runner.status != "successful" or report is None or statuses(report) != {
                "customer01.onmicrosoft.com": "onboarded"}:
            fail("job limit: %s, report %s" % (runner.status, report and statuses(report)))
        if (stats.get("onboard_summary") or {}).get("customers") != 1:
            fail("job limit: no set_stats")

        # 3. three slices (hosts[k-1::3] of the limited inventory), then the merge
        limited = [h for h in hosts if h in CUSTOMERS]
        merged_artifacts = {}
        for k in range(1, 4):
            part = limited[k - 1::3]
            runner, stats, failed, report = job(cfg, work, "slice%d" % k, "playbooks/onboard_customers.yml", data,
                                                part, job_id=200 + k)
            if report is None or set(statuses(report)) != set(part):
                fail("slice %d reports %s, its hosts are %s" % (k, report and sorted(statuses(report)), part))
            if any(EXPECTED[h] != s for h, s in statuses(report).items()):
                fail("slice %d: statuses differ from the one job: %s" % (k, statuses(report)))
            expected_status = "failed" if "customer10.onmicrosoft.com" in part else "successful"
            if runner.status != expected_status:
                fail("slice %d ended %s, expected %s" % (k, runner.status, expected_status))
            merged_artifacts.update(stats)  # AWX merges the parents' artifacts into a node's extra vars
        runner, stats, failed, report = job(cfg, work, "merge", "playbooks/onboard_report_merge.yml", data, [],
                                            extravars=merged_artifacts, job_id=300)
        if runner.status != "successful" or report is None or statuses(report) != EXPECTED:
            fail("merge: %s, report %s" % (runner.status, report and statuses(report)))
        if sorted(report["meta"]["job_id"]) != [201, 202, 203]:
            fail("merge: the report does not name the slices' jobs: %s" % report["meta"]["job_id"])

        # 4. the fleet report
        check_fleet(cfg, work, data, hosts)
        print("awx_jobs: all checks passed")
    except AwxJobError as err:
        fail(str(err))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
