#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# playbooks/fleet_report.yml over the emulator's demo world: the report in three formats, every customer in
# it, no write request, at most 3 network requests per customer (the request log is the witness), no secret
# anywhere; then with a wrong secret for one partner tenant: the report still written, that tenant reported
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
  ansible-playbook cloudpartner.csp.fleet_report -i localhost, -c local \
    -e "ansible_python_interpreter=$python" -e "@$config" -e @partners.yml -e "fleet_test_dir=$work" \
    -e "fleet_report_dir=$work/$name" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  set -e
  return $rc
}

mark=$("$python" -c 'import sys; from emulator_control import config, last_seq; print(last_seq(config(sys.argv[1])))' "$config")
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

# --- a partner tenant that cannot be read: reported, the report written, the job failed
if run wrong -e '{"onboard_customer_partner_tenants": {"eu": {"regions": ["EU"], "tenant_id": "10000000-0000-4000-8000-000000000002", "client_id": "20000000-0000-4000-8000-000000000002", "client_secret": "not-the-eu-secret"}}}'; then
  echo "the fleet report with an unreadable partner tenant did not fail" >&2; exit 1
fi
grep -q 'AADSTS7000215' "$work/wrong/report.md"
grep -q 'Partner tenants not read: eu' "$work/wrong.log"
if grep -rq 'not-the-eu-secret' "$work/wrong" "$work/wrong.log"; then echo "the wrong secret leaked" >&2; exit 1; fi
echo "fleet_report: as expected"
