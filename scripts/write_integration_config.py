#!/usr/bin/env python
"""Write tests/integration/integration_config.yml from a running emulator's state file.

ansible-test passes this file to every integration target as extra vars and
strips most of the caller's environment, so the emulator's endpoints, CA
bundle and control token travel this way rather than as CSP_* variables.
Usage: write_integration_config.py STATE_JSON [OUTPUT]
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, 'tests', 'integration', 'integration_config.yml')


def read_state(path, attempts=50):
    # The emulator may still be writing the file when it first appears.
    for _attempt in range(attempts):
        try:
            with open(path, encoding='utf-8') as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    sys.exit('no readable emulator state file at %s' % path)


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    state_path = os.path.abspath(argv[1])
    output = argv[2] if len(argv) == 3 else DEFAULT_OUTPUT
    state = read_state(state_path)
    state_dir = state.get('state_dir') or os.path.dirname(state_path)
    config = {
        'csp_authority_host': state['authority_host'],
        'csp_graph_endpoint': state['graph_endpoint'],
        'csp_partner_center_endpoint': state['partner_center_endpoint'],
        # Azure Key Vault listener (refresh-token store tests); absent in older emulators
        'csp_keyvault_endpoint': state.get('keyvault_endpoint'),
        'csp_ca_bundle': state['ca_bundle'],
        'csp_token_cache': os.path.join(state_dir, 'token_cache'),
        'emulator_control_url': state['control_url'],
        'emulator_control_token': state['control_token'],
        'emulator_state_dir': state_dir,
    }
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + '.tmp'
    # The control token is a credential of a throwaway local server; still, keep it private.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write('# Written by scripts/write_integration_config.py for one emulator run; not tracked.\n')
        for key in sorted(config):
            # JSON strings are valid YAML scalars and quote anything odd.
            handle.write('%s: %s\n' % (key, json.dumps(config[key])))
    os.replace(tmp, output)
    print('wrote %s' % os.path.relpath(output, ROOT))


if __name__ == '__main__':
    main(sys.argv)
