#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# playbooks/renew_refresh_tokens.yml (run as cloudpartner.csp.renew_refresh_tokens) against the
# emulator, on its clock: renewed on day 0 and day 80 it lives; unused for 91 days it fails with
# AADSTS700082 and the report says to redo the consent. Every run is -vvv and its output must hold
# no refresh token, client secret or JWT. The emulator is reset at the end (its clock moved).
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
work=$(mktemp -d)
cleanup() {
  "$python" renew_check.py reset "$config" || true
  rm -rf "$work"
}
trap cleanup EXIT

"$python" renew_check.py setup "$work"
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=true ANSIBLE_DISPLAY_OK_HOSTS=true
export_endpoints

run() {  # run NAME [ansible-playbook args]: output in $work/NAME.log, report in $work/NAME.json
  local name=$1
  shift
  ansible-playbook -vvv -i "$work/inventory.yml" cloudpartner.csp.renew_refresh_tokens \
    -e "renew_report_path=$work/$name.json" -e renew_fail_on_problem=false "$@" >"$work/$name.log" 2>&1 || {
    tail -50 "$work/$name.log" | "$python" renew_check.py mask "$work"
    exit 1
  }
}

run day0
"$python" renew_check.py expect "$work/day0.json" us ok 1
"$python" renew_check.py expect "$work/day0.json" eu ok 1
# the us app's secret "rotate-me" expires in 20 days: replaced (add, store, verify, remove the old one)
run rotate -l us,localhost -e renew_rotate_secrets=true
"$python" renew_check.py expect "$work/rotate.json" us ok 2
"$python" renew_check.py rotated "$work/rotate.json" us rotate-me "$work/us.client_secret.json"
"$python" renew_check.py advance "$config" 80
run day80 -l us,localhost
"$python" renew_check.py expect "$work/day80.json" us ok 3
"$python" renew_check.py advance "$config" 91
run day171 -l us,localhost
"$python" renew_check.py expect "$work/day171.json" us expired 3 AADSTS700082 redo_consent
"$python" renew_check.py leaks "$config" "$work" day0.log rotate.log day80.log day171.log
echo "renew_refresh_tokens: day 0 and day 80 renewed, a secret rotated, day 171 AADSTS700082 reported," \
  "no secret in -vvv output"
