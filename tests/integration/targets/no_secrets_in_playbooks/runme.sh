#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# The collection's playbooks and roles, as a partner runs them, at -v and -vvv with ANSIBLE_LOG_PATH set,
# on two regional partner tenants of the emulator's demo world (us, eu) and a few of their customers:
#   playbooks/demo.yml (its four acts: tokens and Graph reads, onboarding round one, approvals, round two;
#   onboard_customers.yml is imported twice) -vvv;
#   playbooks/onboard_customers.yml -v, failing: an expired refresh token (us), a wrong client secret (eu);
#   playbooks/renew_refresh_tokens.yml -vvv (a file and an Ansible Vault store), then -v with an expired and
#   a wrong refresh token;
#   playbooks/migrate_dap_to_gdap.yml -vvv with the us app's certificate, then -v with a certificate no app has;
#   the partner_app and offboard_customer roles -vvv, then -v with a wrong client secret and revoked refresh tokens;
#   docs/awx/project's onboarding (a customer fails) and renewal as AWX jobs: ansible-runner, verbosity 3,
#   private data dirs laid out as AWX lays them (setup_emulator's awx_runner.py, shared with awx_jobs).
# Then every output, Ansible log, report, ~/.ansible/tmp leftover, AWX job event and artifact and the token cache is scanned for every
# secret of the world, every token the emulator issued and every JWT-shaped string (leak_scan.py): the
# count must be 0. The emulator is reset between the runs and at the end.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
work=$(mktemp -d)
cleanup() {
  "$python" -c 'import sys, emulator_control as e; e.control(e.config(sys.argv[1]), "POST", "reset")' "$config" || true
  if [ -n "${LEAK_SCAN_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
emu() { "$python" -c 'import json, sys, emulator_control as e
print(json.dumps(e.control(e.config(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4]) if sys.argv[4:] else None)))' \
  "$config" "$@" >/dev/null; }

mkdir -p "$work/logs" "$work/reports" "$work/ansible-tmp" "$work/ansible-local"
"$python" leak_scan.py setup "$config" "$work"
export_endpoints
eval "$("$python" -c 'import shlex, sys, emulator_control as e; c = e.config(sys.argv[1])
print("export CSP_EMULATOR_CONTROL=%s CSP_EMULATOR_TOKEN=%s" % (shlex.quote(c["emulator_control_url"]),
      shlex.quote(c["emulator_control_token"])))' "$config")"
# Ansible's temporary files where the scan finds them (each run has a token cache of its own, so the
# failure paths redeem their refresh tokens instead of finding an access token in the cache).
export ANSIBLE_REMOTE_TMP=$work/ansible-tmp ANSIBLE_LOCAL_TEMP=$work/ansible-local
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=true ANSIBLE_DISPLAY_OK_HOSTS=true ANSIBLE_FORCE_COLOR=false

run() {  # run NAME VERBOSITY EXPECTED_STATUS ansible-playbook-args...: logs/NAME.out and logs/NAME.ansible.log
  local name=$1 verbosity=$2 expected=$3 status=0 start=$SECONDS
  shift 3
  ANSIBLE_LOG_PATH=$work/logs/$name.ansible.log CSP_TOKEN_CACHE=$work/token_cache/$name ansible-playbook "$verbosity" "$@" >"$work/logs/$name.out" 2>&1 \
    || status=$?
  echo "$name ($verbosity): exit status $status in $((SECONDS - start)) s"
  if [ "$status" != "$expected" ]; then
    # the end of the output, masked by the scan's own rules, then stop
    "$python" leak_scan.py collect "$config" "$work" >/dev/null
    "$python" leak_scan.py scan "$config" "$work" || true
    tail -n 40 "$work/logs/$name.out" | sed -e 's/eyJ[A-Za-z0-9_.-]*/<JWT>/g' -e 's/demo-[a-z]*-\(secret\|refresh-token\)-[a-z0-9]*/<secret>/g'
    echo "$name: expected exit status $expected, got $status" >&2
    exit 1
  fi
}
next_world() {  # keep what the emulator issued (a reset forgets it), then the world as it was
  "$python" leak_scan.py collect "$config" "$work"
  emu POST reset
}

emu POST reset
run demo -vvv 0 -f 10 -i "$work/demo_inventory.json" -i "$work/leak.csp_customers.yml" -l "$(cat "$work/demo_limit")" \
  -e "demo_report_dir=$work/reports/demo" cloudpartner.csp.demo
grep -q 'onboarded: [1-9]' "$work/logs/demo.out"
next_world

# every customer fails here, so the job does (onboard_fail_statuses: [failed] is the default)
run onboard_failing -v 2 -f 5 -i "$work/onboard_inventory.json" -e "@$work/onboard_bad.json" \
  -e "onboard_report_dir=$work/reports/onboard_failing" cloudpartner.csp.onboard_customers
next_world

run renew -vvv 0 -i "$work/renew_inventory.json" -e "renew_report_path=$work/reports/renew.json" \
  -e renew_fail_on_problem=false cloudpartner.csp.renew_refresh_tokens
test "$(grep -c '"status": "ok"' "$work/reports/renew.json")" = 2  # the file and the Ansible Vault store renewed
run renew_failing -v 0 -i "$work/renew_expired_inventory.json" -e "renew_report_path=$work/reports/renew_failing.json" \
  -e renew_fail_on_problem=false cloudpartner.csp.renew_refresh_tokens
next_world

run migrate -vvv 0 -i "$work/migrate_inventory.json" -e "@$work/migrate.json" -e "migrate_dap_report_path=$work/reports/migrate.json" \
  -e migrate_dap_approval_wait=0 -e migrate_dap_wait_interval=1 cloudpartner.csp.migrate_dap_to_gdap
run migrate_failing -v 0 -i "$work/migrate_inventory.json" -e "@$work/migrate_bad.json" \
  -e "migrate_dap_report_path=$work/reports/migrate_failing.json" -e migrate_dap_approval_wait=0 cloudpartner.csp.migrate_dap_to_gdap
next_world

run roles -vvv 0 roles.yml -e "@$work/roles.json"
grep -q 'failed roles: none' "$work/logs/roles.out"
next_world

emu POST refresh-tokens/revoke '{"user": "integration@contosopartnereu.onmicrosoft.com"}'
run roles_failing -v 0 roles.yml -e "@$work/roles_bad.json"
grep -q 'failed roles: partner_app, offboard_customer' "$work/logs/roles_failing.out"
next_world

# AWX's path: onboarding (customer10 fails) and renewal (an Ansible Vault store credential) as AWX jobs,
# ansible-runner at verbosity 3; the scan reads their job events, stdout, artifacts and inventory.
start=$SECONDS
"$python" leak_scan.py awx "$config" "$work"
echo "awx jobs: $((SECONDS - start)) s"
next_world

# The failure paths failed for the planned reason (Microsoft's error code in the output).
"$python" leak_scan.py expect "$work" onboard_failing=AADSTS700082 onboard_failing=AADSTS7000215 \
  renew_failing=AADSTS700082 migrate_failing=AADSTS700027 roles_failing=AADSTS7000215 roles_failing=AADSTS50173
"$python" leak_scan.py scan "$config" "$work"
echo "no_secrets_in_playbooks: no secret or token in any output, log, report, temporary file or the token cache index"
