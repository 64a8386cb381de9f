#!/usr/bin/env python
"""Print shell `export` lines for the CSP_* variables of a running emulator.

Usage: eval "$(emulator_env.py STATE_JSON)". The modules read these variables
as fallbacks of their endpoint options, so playbooks need no emulator-specific
settings.
"""

import json
import os
import shlex
import sys


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: emulator_env.py STATE_JSON')
    with open(argv[1], encoding='utf-8') as handle:
        state = json.load(handle)
    env = {
        'CSP_AUTHORITY_HOST': state['authority_host'],
        'CSP_GRAPH_ENDPOINT': state['graph_endpoint'],
        'CSP_PARTNER_CENTER_ENDPOINT': state['partner_center_endpoint'],
        'CSP_CA_BUNDLE': state['ca_bundle'],
        'CSP_TOKEN_CACHE': os.path.join(os.path.dirname(os.path.abspath(argv[1])), 'token_cache'),
        'CSP_EMULATOR_CONTROL': state['control_url'],
        'CSP_EMULATOR_TOKEN': state['control_token'],
        'CSP_EMULATOR_STATE_DIR': os.path.dirname(os.path.abspath(argv[1])),
    }
    for name, value in env.items():
        print('export %s=%s' % (name, shlex.quote(value)))


if __name__ == '__main__':
    main(sys.argv)
