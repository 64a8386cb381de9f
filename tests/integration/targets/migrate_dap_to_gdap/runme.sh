#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# playbooks/migrate_dap_to_gdap.yml (run as cloudpartner.csp.migrate_dap_to_gdap) over two DAP customers of
# the us partner tenant (customer01: GDAP and consent in place; customer07: DAP only) and one customer without
# DAP (customer04, out of scope). The emulator's request log and Graph itself are the witnesses:
#   --check: the plan, zero writes;
#   for real: customer07's relationship awaits approval, so the app's service principal stays in AdminAgents;
#   approved through the control API, rerun: both proven, the service principal leaves AdminAgents by
#   DELETE .../members/{id}/$ref; again: zero writes. The emulator is reset at the end.
# Each run prints its request counts and writes; a proven customer's proof must be an app-only Graph call
# (no user), and the report lists the onboarding role's changes per customer.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
work=$(mktemp -d)
cleanup() {
  "$python" migrate_check.py reset "$config" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$python" migrate_check.py setup "$work"
export_endpoints
export CSP_TOKEN_CACHE=$work/token_cache

run() {  # run NAME [ansible-playbook args]: output in $work/NAME.log, report in $work/NAME.json
  local name=$1 start=$SECONDS
  shift
  ansible-playbook -i "$work/inventory.yml" cloudpartner.csp.migrate_dap_to_gdap -e "@$work/partners.json" \
    -e "migrate_dap_report_path=$work/$name.json" -e migrate_dap_approval_wait=0 -e migrate_dap_wait_interval=1 \
    "$@" >"$work/$name.log" 2>&1 || {
    tail -60 "$work/$name.log"
    exit 1
  }
  echo "$name: $((SECONDS - start)) s"
}
mark() { "$python" migrate_check.py mark "$config"; }

since=$(mark)
run check1 --check
"$python" migrate_check.py writes "$config" "$since" none
"$python" migrate_check.py app_only_proof "$config" "$since" customer01.onmicrosoft.com
"$python" migrate_check.py report "$work/check1.json" customer01.onmicrosoft.com=proven \
  customer07.onmicrosoft.com=awaiting_approval customer04.onmicrosoft.com=absent removed=
grep -q "stays in AdminAgents" "$work/check1.log"

since=$(mark)
run first
"$python" migrate_check.py writes "$config" "$since" pending
"$python" migrate_check.py report "$work/first.json" customer01.onmicrosoft.com=proven \
  customer07.onmicrosoft.com=awaiting_approval removed=
"$python" migrate_check.py changes "$work/first.json" customer07.onmicrosoft.com "relationship: create, lockForApproval"
"$python" migrate_check.py member "$config" yes

# the customer approves customer07's relationship
"$python" migrate_check.py approve "$config" "$work/first.json" customer07.onmicrosoft.com
sleep 6  # approved -> activating -> active takes the emulator's gdap_activation_delay (5 s)

since=$(mark)
run check2 --check
"$python" migrate_check.py writes "$config" "$since" none
"$python" migrate_check.py report "$work/check2.json" customer07.onmicrosoft.com=planned removed=

since=$(mark)
run second -e migrate_dap_approval_wait=30
"$python" migrate_check.py writes "$config" "$since" migrated
"$python" migrate_check.py app_only_proof "$config" "$since" customer01.onmicrosoft.com customer07.onmicrosoft.com
"$python" migrate_check.py report "$work/second.json" customer01.onmicrosoft.com=proven \
  customer07.onmicrosoft.com=proven removed=us
"$python" migrate_check.py changes "$work/second.json" customer07.onmicrosoft.com "access assignment: GDAP Admins" \
  "access assignment: GDAP Helpdesk" "consent: create"
"$python" migrate_check.py changes "$work/second.json" customer01.onmicrosoft.com
"$python" migrate_check.py member "$config" no

since=$(mark)
run third
"$python" migrate_check.py writes "$config" "$since" none
"$python" migrate_check.py report "$work/third.json" customer01.onmicrosoft.com=proven \
  customer07.onmicrosoft.com=proven removed=
grep -q "changed=0 " "$work/third.log"
echo "migrate_dap_to_gdap: check mode wrote nothing, an unproven customer kept DAP, all proven removed it by \$ref," \
  "the rerun wrote nothing"
