#!/usr/bin/env bash
# shellcheck disable=SC2154 # $config and $python come from ../setup_emulator/files/runme_prelude.sh
# The collection run the way AWX runs it: ansible-runner over private_data_dirs laid out as AWX lays them
# (env/envvars from docs/awx's credential types rendered with "" for every empty field, env/extravars,
# an inventory script from an inventory update of the customers source, the job's Limit, 3 slices), running
# the project's playbooks (docs/awx/project) against the emulator. awx_job.py says what it checks.
set -euo pipefail

# shellcheck disable=SC1091
source ../setup_emulator/files/runme_prelude.sh
reset() { "$python" -c 'import sys, emulator_control as e; e.control(e.config(sys.argv[1]), "POST", "reset")' "$config"; }
trap 'reset || true' EXIT
reset
"$python" awx_job.py "$config"
