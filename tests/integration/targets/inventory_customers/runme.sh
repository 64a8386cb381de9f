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
PYTHONPATH=$(cd ../setup_emulator/files && pwd)${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH
export_endpoints() {
  eval "$("$python" -m emulator_control exports "$config")"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Hundreds of customers: 100 more per partner tenant, created through Partner Center.
"$python" inventory_check.py seed "$config" 100

# A partner tenant that cannot be read fails the source (an AWX inventory update runs with
# ANSIBLE_INVENTORY_UNPARSED_FAILED=True) instead of dropping its customers silently.
"$python" inventory_check.py write "$config" "$work/strict.csp_customers.yml" --broken
if US_SECRET=demo-us-secret-0001 ANSIBLE_INVENTORY_UNPARSED_FAILED=True ansible-inventory \
    -i "$work/strict.csp_customers.yml" --list >"$work/strict.json" 2>"$work/strict.err"; then
  echo "inventory_customers: a partner tenant with a wrong secret did not fail the source" >&2
  exit 1
fi
# (ansible-core 2.16 wraps warnings over several lines)
tr -s '\n ' ' ' <"$work/strict.err" | grep -q "partner tenant broken cannot be read: login HTTP 401 AADSTS7000215" || {
  echo "inventory_customers: the failure does not name the partner tenant and code:" >&2; cat "$work/strict.err" >&2; exit 1; }

# All three partner tenants plus one with a wrong secret (partner_tenant_errors=warn), 50 customers per page.
"$python" inventory_check.py write "$config" "$work/all.csp_customers.yml" --broken --warn --page-size 50
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
# AWX: a source file with only `plugin:`, and the environment a "Microsoft CSP partner app" credential
# holding tenant, client id, secret and partner name injects (docs/awx/credential_types.yml): every field
# it does not hold arrives as "". The endpoints credential sets the emulator's hosts and CA.
export_endpoints
printf 'plugin: cloudpartner.csp.customers\n' >"$work/awx.csp_customers.yml"
awx_env=(CSP_TENANT_ID=10000000-0000-4000-8000-000000000001 CSP_CLIENT_ID=20000000-0000-4000-8000-000000000001
  CSP_CLIENT_SECRET=demo-us-secret-0001 CSP_PARTNER_NAME=us CSP_PARTNER_REGION=NA
  CSP_CLIENT_CERTIFICATE_PATH= CSP_REFRESH_TOKEN= CSP_REFRESH_TOKEN_STORE= CSP_CLOUD= CSP_TOKEN_CACHE=
  ANSIBLE_INVENTORY_UNPARSED_FAILED=True ANSIBLE_INVENTORY_EXPORT=True)
(cd "$work" && env "${awx_env[@]}" ansible-inventory -i awx.csp_customers.yml --list >awx.json 2>awx.err)
"$python" inventory_check.py awx "$config" "$work/awx.json" "$work/awx.err"
# ... and the modules under the same injections, over one customer of that inventory (AWX's Limit)
(cd "$work" && env "${awx_env[@]}" ansible-playbook -i awx.csp_customers.yml --limit customer01.onmicrosoft.com \
  "$OLDPWD/awx_modules.yml")
echo "inventory_customers: all checks passed"
