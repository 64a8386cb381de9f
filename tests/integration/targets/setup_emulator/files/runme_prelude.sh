# shellcheck shell=bash
# Sourced by a script target's runme.sh (its aliases hold needs/target/setup_emulator) from the target's
# folder: $config (the emulator's endpoints), $python (what runs the helpers), PYTHONPATH for the
# helpers' `import emulator_control`, and export_endpoints (the modules' CSP_* variables).

# ansible-test copies tests/integration/integration_config.yml (written by `make integration`) two
# levels up from the target.
config=../../integration_config.yml
if [ ! -f "$config" ]; then
  echo "no $config: run this target through 'make integration'" >&2
  exit 1
fi
python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}
PYTHONPATH=$(cd ../setup_emulator/files && pwd)${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH

export_endpoints() {
  eval "$("$python" -m emulator_control exports "$config")"
}
