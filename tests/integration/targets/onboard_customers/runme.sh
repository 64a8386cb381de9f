#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# playbooks/onboard_customers.yml over the emulator's demo world (25 customers, 3 regional partner
# tenants) and a 26th customer created during the run: the expected status of every customer, then a
# rerun (same statuses, zero writes), a --check run (zero writes), and the first run again from the
# start with faults on (5% throttled, 2% 503, 12% of writes done but their answer lost, 12% done but
# answered 5xx): the same statuses and the same objects created, no duplicate. The emulator is reset
# before and after.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
emu() { "$python" emulator.py "$config" "$@"; }

work=$(mktemp -d)
propagator=
cleanup() {
  if [ -n "$propagator" ]; then kill "$propagator" 2>/dev/null || true; fi
  emu reset || true
  rm -rf "$work"
}
trap cleanup EXIT
new_customer=customer26.onmicrosoft.com
# A new customer's tenant issues no token for 180 s of the emulator's clock (Microsoft: about 3
# minutes). The clock is moved on once the role's first fresh token has been refused, so the role
# always meets a tenant that has not propagated, then one that has (see onboard_vars.yml).
# Northwind Traders (02), Woodgrove Bank (06) and the new customer approve a relationship the moment
# it is locked (the emulator plays their admin, so no race with the role's approval wait); GDAP steps
# finish 1 s after approval. Every other pending relationship stays pending.
start_world() {
  emu reset
  emu settings propagation_delay=180 gdap_activation_delay=1 \
    "gdap_approving_customers=[30000000-0000-4000-8000-000000000002, 30000000-0000-4000-8000-000000000006, $new_customer]"
}
start_world
# Woodgrove Bank and Fourth Coffee lack an API's service principal: their consent is attempted on every run
# and refused by Partner Center (see emulator.py writes_and_refused_consents).
blocked=(30000000-0000-4000-8000-000000000006 30000000-0000-4000-8000-000000000014)

run() {  # run NAME [ansible-playbook args]: one run of the playbook, its report kept in $work/NAME
  local name=$1
  shift
  local rc=0
  ansible-playbook cloudpartner.csp.onboard_customers -i inventory.yml -f 25 \
    -e "@$config" -e @onboard_vars.yml -e "onboard_test_dir=$work" -e "onboard_report_dir=$work/$name" \
    "$@" >"$work/$name.log" 2>&1 || rc=$?
  # The world has customers that must fail (Relecloud, Humongous Insurance, Consolidated Messenger): the
  # job tells the truth (rc 2, those hosts failed=1), and nothing else failed.
  if [ "$rc" != 2 ]; then tail -n 80 "$work/$name.log"; echo "run $name: rc $rc, expected 2" >&2; exit 1; fi
  failed_hosts=$(grep -E '^[a-z0-9.]+ +: .*failed=1' "$work/$name.log" | awk '{print $1}' | sort | tr '\n' ' ')
  if [ "$failed_hosts" != "customer10 customer16 customer24 " ]; then
    tail -n 40 "$work/$name.log"
    # why each of them ended as it did (the report is written before the hosts are failed)
    "$python" -c 'import json, sys; [print(c["customer"], c["status"], c["step"], c.get("error_code"), c.get("message"), file=sys.stderr) for c in json.load(open(sys.argv[1]))["customers"] if c["customer"] + " " in sys.argv[2]]' "$work/$name/report.json" "$failed_hosts" || true
    echo "run $name: failed hosts are '$failed_hosts'" >&2; exit 1
  fi
  tail -n 3 "$work/$name.log"
}

first_run() {  # first_run NAME [ansible-playbook args]: from the world's start; 26 propagated after its
  # first refused token (the watcher ends as soon as it has moved the clock on)
  local name=$1
  shift
  mark=$(emu mark)
  emu propagate-after-refusal "$mark" "$new_customer" 900 181 &
  propagator=$!
  ANSIBLE_STRATEGY=free run "$name" "$@"
  "$python" check_report.py "$work/$name" "$name"
  wait "$propagator"
  propagator=
}

# --- first run: Northwind Traders (02), Woodgrove Bank (06) and the new customer (26) approve while the
# role waits; every other pending relationship stays pending.
first_run first
for file in report.json report.md report.html; do test -s "$work/first/$file"; done
grep -q '<html' "$work/first/report.html"
grep -q 'Region AS' "$work/first/report.md"
test "$(emu writes "$mark")" -gt 0
# The new customer: refused tokens while its tenant propagates, then a fresh token that works (none
# of them from the cache: each one is a request).
tokens=$(emu token-statuses "$mark" "$new_customer")
echo "identity platform requests in the new customer's tenant: $tokens"
if ! [[ "$tokens" =~ ^400( 400)*\ 200 ]]; then echo "expected refused tokens, then a fresh one: $tokens" >&2; exit 1; fi
# Northwind Traders (02) is the path of a new customer: a new relationship, approved within the wait, its
# access assignments in the relationship's module run, then the consent and its proof. Every task costs the
# host a worker process, a skipped one too: the path's task results are counted (ok, changed, skipping,
# included) and the assignments module must not run.
northwind=$(grep -cE '^(ok|changed|skipping|fatal|failed|rescued): \[customer02\]|^included: .* for customer02$' "$work/first.log" || true)
echo "task results of a new customer (customer02): $northwind"
if [ "$northwind" -gt 18 ]; then echo "a new customer took $northwind task results, expected at most 18 (22 before)" >&2; exit 1; fi
if awk '/^TASK \[.*Access assignments for the partner security groups/ {t=1; next} /^TASK / {t=0} t && /^(ok|changed): \[customer02\]/ {found=1} END {exit !found}' "$work/first.log"; then
  echo "the access assignments of customer02 ran in a module process of their own" >&2; exit 1
fi
created_first=$(emu created "$mark")
state_first=$(emu state)
echo "created in the first run: $created_first"

# --- second run: the same statuses, no write request, no task changed
mark=$(emu mark)
ANSIBLE_STRATEGY=free run second
"$python" check_report.py "$work/second" second
writes=$(emu writes "$mark" "${blocked[@]}")
if [ "$writes" != 0 ]; then echo "second run sent $writes write requests" >&2; exit 1; fi
grep -qE 'changed=0 ' "$work/second.log"
# Northwind Traders (02), onboarded by the first run, has nothing to change now: the role takes the fleet
# state's word and ends it after its argument check and its first task, with no module process
northwind=$(grep -cE '^(ok|changed|skipping|fatal|failed|rescued): \[customer02\]|^included: .* for customer02$' "$work/second.log" || true)
echo "task results of a customer with nothing to change (customer02): $northwind"
if [ "$northwind" -gt 2 ]; then echo "the second run took $northwind task results for customer02, expected 2" >&2; exit 1; fi
if grep -E '^customer[0-9]+ .*changed=[1-9]' "$work/second.log"; then echo "second run changed something" >&2; exit 1; fi

# --- --limit: a play on one customer reads that customer, not the partner tenants' whole books
second_mark=$mark
mark=$(emu mark)
rc=0
ansible-playbook cloudpartner.csp.onboard_customers -i inventory.yml --limit customer01 \
  -e "@$config" -e @onboard_vars.yml -e "onboard_test_dir=$work" -e "onboard_report_dir=$work/limit" \
  >"$work/limit.log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then tail -n 60 "$work/limit.log"; echo "run limit: rc $rc" >&2; exit 1; fi
book=$(emu book-reads "$mark")
if [ "$book" != 0 ]; then echo "--limit customer01 read whole books $book times" >&2; exit 1; fi
"$python" -c 'import json, sys; r = json.load(open(sys.argv[1])); c = r["customers"]; sys.exit(0 if [(x["customer"], x["status"]) for x in c] == [("customer01", "onboarded")] else "limit report: %s" % c)' "$work/limit/report.json"
test "$(emu book-reads "$second_mark")" -gt 0  # the second run read the books (the witness sees such reads)

# --- check mode: the plan, no write request
mark=$(emu mark)
ANSIBLE_STRATEGY=free run check --check
"$python" check_report.py "$work/check" check
writes=$(emu writes "$mark" "${blocked[@]}")
if [ "$writes" != 0 ]; then echo "--check sent $writes write requests" >&2; exit 1; fi
test "$(emu created "$mark")" = '{"consents": {}, "customers": 0, "relationships": 0}'

# --- the first run again from the start, with faults: 5% of Graph and Partner Center requests
# throttled (429, Retry-After 1 s), 2% of all requests answered 503, and of the writes the services
# carried out 12% lose their answer (connection closed) and 12% of the rest are answered 500/502/504.
start_world
emu faults '{"seed": 6, "throttle_rate": 0.05, "throttle_retry_after": 1, "error_rate": 0.02, "error_statuses": [503], "act_drop_rate": 0.12, "act_error_rate": 0.12}'
first_run faults
counters=$(emu counters)
echo "faults: $counters"
"$python" -c 'import json, sys; c = json.loads(sys.argv[1]); sys.exit(0 if all(c.get(k) for k in ("faults.throttled", "faults.errors", "faults.act_dropped", "faults.act_errors")) else "a fault kind was never injected")' "$counters"
created_faults=$(emu created "$mark")
if [ "$created_faults" != "$created_first" ]; then
  echo "with faults the run created $created_faults, without $created_first" >&2; exit 1
fi
if [ "$(emu state)" != "$state_first" ]; then
  diff <(echo "$state_first") <(emu state) >&2 || true
  echo "with faults the world ends differently" >&2; exit 1
fi
echo "onboard_customers: all runs as expected"
