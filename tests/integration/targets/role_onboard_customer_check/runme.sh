#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config comes from ../setup_emulator/files/runme_prelude.sh
# The cloudpartner.csp.onboard_customer role in check mode (ansible-playbook --check: the role reads
# ansible_check_mode, which a task-level check_mode does not set) for a customer that does not exist yet:
# it must end `undetermined` at step customer with the reason, plan only the creation, and send no write
# (the emulator's request log is the witness); and that input the argument spec cannot check fails at step
# input with InvalidInput before any request. See check_new_customer.yml.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ANSIBLE_ROLES_PATH=.. ansible-playbook --check -i check_inventory.yml check_new_customer.yml -e "@$config" \
  -e "rocc_dir=$work" "$@"
