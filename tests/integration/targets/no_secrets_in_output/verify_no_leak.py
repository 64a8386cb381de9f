"""Fail if a secret or token recorded by use_secrets.yml appears in the playbook output.

Usage: verify_no_leak.py SECRETS_JSON OUTPUT_LOG PLAYBOOK_STATUS

SECRETS_JSON is written by the playbook (with no_log) and holds the secrets it
used, the results it registered and the refresh tokens the emulator says it
issued. Every string found there under a key naming a token, secret or
assertion, and every JWT-shaped string anywhere in it, must be absent from
OUTPUT_LOG; so must any JWT-shaped string at all.
"""

import json
import re
import sys

JWT = re.compile(r'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*')
# Keys whose values are secrets: access_token, refresh_token, client_secret,
# secrets, issued_refresh_tokens ... but not token_source or refresh_token_path.
SECRET_KEY = re.compile(r'(?:^|_)(?:tokens?|secrets?|assertion|password)$', re.I)
# Placeholders Ansible and the modules print instead of a value.
MASKS = {'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', '********'}
MIN_LENGTH = 8


def collect(node, key='', found=None):
    found = set() if found is None else found
    if isinstance(node, dict):
        for k, v in node.items():
            collect(v, str(k), found)
    elif isinstance(node, list):
        for v in node:
            collect(v, key, found)
    elif isinstance(node, str):
        found.update(JWT.findall(node))
        if SECRET_KEY.search(key) and len(node) >= MIN_LENGTH and node not in MASKS:
            found.add(node)
    return found


def mask(text, secrets):
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, '<redacted>')
    return JWT.sub('<redacted-jwt>', text)


def main(argv):
    secrets_path, output_path, status = argv[1], argv[2], int(argv[3])
    with open(output_path, encoding='utf-8', errors='replace') as handle:
        output = handle.read()
    try:
        with open(secrets_path, encoding='utf-8') as handle:
            recorded = json.load(handle)
    except FileNotFoundError:
        recorded = {}

    # Top-level keys name what they hold (secrets, issued_refresh_tokens, ...);
    # inside registered results the module's own key names tell.
    secrets = collect(recorded)

    problems = []
    if not recorded:
        problems.append('the playbook recorded nothing (%s missing)' % secrets_path)
    leaked = sorted(s for s in secrets if s in output)
    if leaked:
        problems.append('%d known secret(s) or token(s) appear in the -vvv output' % len(leaked))
    jwts = set(JWT.findall(output))
    if jwts:
        problems.append('%d JWT-shaped string(s) appear in the -vvv output' % len(jwts))
    issued = int(recorded.get('issued_access_tokens', 0))
    if recorded and issued < 3:
        problems.append('the emulator issued only %d access token(s): the check proves nothing' % issued)

    print('checked %d bytes of -vvv output against %d secret(s) and token(s); the emulator issued %d access token(s)'
          % (len(output), len(secrets), issued))
    if status:
        problems.append('use_secrets.yml failed with exit status %d' % status)
        print('--- end of the playbook output, secrets masked ---')
        print('\n'.join(mask(output, secrets).splitlines()[-80:]))
    if problems:
        # Where, not what: the line numbers of leaks, never the values.
        for value in leaked:
            lines = [str(n) for n, line in enumerate(output.splitlines(), 1) if value in line]
            print('leak at output line(s) %s' % ', '.join(lines[:10]))
        for problem in problems:
            print('FAIL: %s' % problem)
        return 1
    print('no secret or token in the output')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
