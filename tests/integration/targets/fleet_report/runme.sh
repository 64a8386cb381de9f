#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# playbooks/fleet_report.yml over the emulator's demo world: the report in three formats, every customer in
# it, no write request, at most 3 network requests per customer (the request log is the witness), no secret
# anywhere; then through the customers inventory (cloudpartner.csp.customers): --limit naming two customers
# reads only theirs (no whole-book read in the request log) and reports exactly them, no limit reports the
# whole book; then with a wrong secret for one partner tenant: the report still written, that tenant reported
# with Microsoft's error, the job ended failed.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run NAME [ansible-playbook args]: the playbook's exit code; its report in $work/NAME
  local name=$1
  shift
  set +e
  ansible-playbook cloudpartner.csp.fleet_report -i "${inventory:-localhost,}" -c local \
    -e "ansible_python_interpreter=$python" -e "@$config" -e @partners.yml -e "fleet_test_dir=$work" \
    -e "fleet_report_dir=$work/$name" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  set -e
  return $rc
}

seq_now() { "$python" -c 'import sys; from emulator_control import config, last_seq; print(last_seq(config(sys.argv[1])))' "$config"; }
mark=$(seq_now)
run first || { tail -n 40 "$work/first.log"; echo "fleet report failed" >&2; exit 1; }
for file in report.json report.md report.html; do test -s "$work/first/$file"; done
grep -q '<html' "$work/first/report.html"
grep -q '## Relationships ending within 30 days' "$work/first/report.md"
"$python" - "$config" "$mark" "$work/first/report.json" <<'PY'
import json, sys
from emulator_control import config, requests_since, writes_since
cfg, mark, report = config(sys.argv[1]), int(sys.argv[2]), json.load(open(sys.argv[3]))
summary, customers = report["summary"], report["customers"]
domains = {c["domain"] for c in customers}
missing = {"customer%02d.onmicrosoft.com" % n for n in range(1, 26)} - domains
assert not missing, "customers missing from the report: %s" % sorted(missing)
assert summary["customers"] == len(customers) and summary["unreadable_partners"] == 0, summary
assert [p["name"] for p in report["partners"]] == ["us", "eu", "apac"], report["partners"]
c01 = next(c for c in customers if c["domain"] == "customer01.onmicrosoft.com")
assert c01["state"] == "healthy" and c01["consent"]["state"] == "ok", c01
assert not writes_since(cfg, mark), writes_since(cfg, mark)
wire = [r for r in requests_since(cfg, mark)["requests"] if not r.get("batch_step")]
per_customer = len(wire) / len(customers)
print("fleet report: %d customers, %d requests (%.2f per customer)" % (len(customers), len(wire), per_customer))
assert per_customer <= 3, per_customer
PY
if grep -rqE 'demo-(us|eu|apac)-(secret|refresh-token)' "$work/first" "$work/first.log"; then
  echo "a secret is in the report or the output" >&2; exit 1
fi

# --- through the customers inventory, as partners run it (and AWX, with the job's Limit). The inventory's
# own reads (the books, for its hosts) go to its cache first: the request log then shows the playbook's alone.
export_endpoints
inventory=$work/customers.csp_customers.yml
cat >"$inventory" <<EOF
plugin: cloudpartner.csp.customers
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: $work/inventory_cache
cache_timeout: 3600
partner_tenants:
  - {name: us, region: NA, tenant_id: 10000000-0000-4000-8000-000000000001,
     client_id: 20000000-0000-4000-8000-000000000001, client_secret: demo-us-secret-0001}
  - {name: eu, region: EU, tenant_id: 10000000-0000-4000-8000-000000000002,
     client_id: 20000000-0000-4000-8000-000000000002, client_secret: demo-eu-secret-0002}
  - {name: apac, region: AS, tenant_id: 10000000-0000-4000-8000-000000000003,
     client_id: 20000000-0000-4000-8000-000000000003, client_secret: demo-apac-secret-0003}
EOF
ansible-inventory -i "$inventory" --list >"$work/inventory.json"
check_run() {  # check_run NAME MARK [domain...]: exactly those customers reported and no whole-book read since
  # MARK; without domains every customer reported and the books read; no write
  "$python" - "$config" "$2" "$work/$1/report.json" "${@:3}" <<'PY'
import json, sys
from emulator_control import book_reads, config, requests_since, writes_since
cfg, mark, report, wanted = config(sys.argv[1]), int(sys.argv[2]), json.load(open(sys.argv[3])), set(sys.argv[4:])
domains = {c["domain"] for c in report["customers"]}
reads = book_reads(cfg, mark)
wire = [r for r in requests_since(cfg, mark)["requests"] if not r.get("batch_step")]
print("fleet report %s: %d customers, %d requests, %d whole-book reads" % (sys.argv[3].split("/")[-2], len(domains),
                                                                          len(wire), reads))
if wanted:
    assert domains == wanted and len(report["customers"]) == len(wanted), (
        "the report lists %s, not %s" % ([c["domain"] for c in report["customers"]], sorted(wanted)))
    assert report["summary"]["customers"] == len(report["customers"]), report["summary"]
    assert reads == 0, "a run limited to %s read whole books %d times" % (sorted(wanted), reads)
else:
    missing = {"customer%02d.onmicrosoft.com" % n for n in range(1, 26)} - domains
    assert not missing, "customers missing from the report: %s" % sorted(missing)
    assert reads > 0, "no whole-book read"
assert not writes_since(cfg, mark), writes_since(cfg, mark)
PY
}
mark=$(seq_now)
run limited --limit 'customer01.onmicrosoft.com,customer11.onmicrosoft.com' || {
  tail -n 40 "$work/limited.log"; echo "fleet report with --limit failed" >&2; exit 1; }
test -s "$work/limited/report.json" || { tail -n 40 "$work/limited.log"; echo "--limit wrote no report" >&2; exit 1; }
check_run limited "$mark" customer01.onmicrosoft.com customer11.onmicrosoft.com
mark=$(seq_now)
run inventory || { tail -n 40 "$work/inventory.log"; echo "fleet report over the inventory failed" >&2; exit 1; }
check_run inventory "$mark"
unset inventory

# --- a partner tenant that cannot be read: reported, the report written, the job failed
if run wrong -e '{"onboard_customer_partner_tenants": {"eu": {"regions": ["EU"], "tenant_id": "10000000-0000-4000-8000-000000000002", "client_id": "20000000-0000-4000-8000-000000000002", "client_secret": "not-the-eu-secret"}}}'; then
  echo "the fleet report with an unreadable partner tenant did not fail" >&2; exit 1
fi
grep -q 'AADSTS7000215' "$work/wrong/report.md"
grep -q 'Partner tenants not read: eu' "$work/wrong.log"
if grep -rq 'not-the-eu-secret' "$work/wrong" "$work/wrong.log"; then echo "the wrong secret leaked" >&2; exit 1; fi
echo "fleet_report: as expected"
