#!/usr/bin/env bash
# Run playbooks that use client secrets, certificates, refresh tokens and the
# tokens they yield at -vvv, then fail if any of those values, or anything
# shaped like a JWT, appears anywhere in what ansible-playbook printed.
set -euo pipefail

# ansible-test copies tests/integration/integration_config.yml (the emulator's
# endpoints, written by `make integration`) two levels up from this target.
config=../../integration_config.yml
if [ ! -f "$config" ]; then
  echo "no $config: run this target through 'make integration'" >&2
  exit 1
fi

export ANSIBLE_ROLES_PATH=..
# Show everything a user could see: results of skipped/ok tasks included.
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=true ANSIBLE_DISPLAY_OK_HOSTS=true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
# Ansible's own log file too: what the modules logged of their invocation lands there.
ANSIBLE_LOG_PATH="$work/ansible.log" \
  ansible-playbook -vvv use_secrets.yml -e "@$config" -e "leak_check_dir=$work" "$@" >"$work/output.log" 2>&1 || status=$?
cat "$work/ansible.log" >>"$work/output.log" 2>/dev/null || true

# The verifier checks for leaks first; when the playbook failed it then shows
# the end of its output with every known secret masked, and fails.
python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}
"$python" verify_no_leak.py "$work/secrets.json" "$work/output.log" "$status"
