#!/usr/bin/env bash
# The cloudpartner.csp.customers inventory plugin over the emulator's three partner tenants with
# hundreds of customers, through `ansible-inventory --list`; the emulator's request log is the witness.
set -euo pipefail

# ansible-test copies tests/integration/integration_config.yml two levels up from this target.
config=../../integration_config.yml
if [ ! -f "$config" ]; then
  echo "no $config: run this target through 'make integration'" >&2
  exit 1
fi

python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Hundreds of customers: 100 more per partner tenant, created through Partner Center.
"$python" inventory_check.py seed "$config" 100

# All three partner tenants plus one with a wrong secret, 50 customers per page.
"$python" inventory_check.py write "$config" "$work/all.csp_customers.yml" --broken --page-size 50
"$python" inventory_check.py mark "$config" >"$work/mark"
US_SECRET=demo-us-secret-0001 ansible-inventory -i "$work/all.csp_customers.yml" --list \
  >"$work/all.json" 2>"$work/all.err"
"$python" inventory_check.py check "$config" "$work/all.json" "$work/all.err" "$(cat "$work/mark")" 300

# Caching: the second run is served from the cache and sends nothing.
"$python" inventory_check.py write "$config" "$work/cached.csp_customers.yml" --cache-dir "$work/cache"
US_SECRET=demo-us-secret-0001 ansible-inventory -i "$work/cached.csp_customers.yml" --list >"$work/cached1.json"
"$python" inventory_check.py mark "$config" >"$work/mark"
US_SECRET=demo-us-secret-0001 ansible-inventory -i "$work/cached.csp_customers.yml" --list >"$work/cached2.json"
"$python" inventory_check.py cached "$config" "$work/cached1.json" "$work/cached2.json" "$(cat "$work/mark")"
echo "inventory_customers: all checks passed"
