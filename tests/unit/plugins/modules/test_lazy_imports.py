"""Heavy libraries are imported where they are used: a module that refuses its input, or never needs a token,
does not import MSAL (a fresh interpreter per case, since the test process has imported everything)."""

import json
import subprocess
import sys

import pytest

CODE = r"""
import json, sys
from ansible_collections.cloudpartner.csp.tests.unit.plugins.csp_fakes import patch_module_args  # 2.16 and 2.19
from ansible_collections.cloudpartner.csp.plugins.modules import {module} as mod
with patch_module_args({args}):
    try:
        mod.main()
    except SystemExit:
        pass
sys.stderr.write(json.dumps({{"msal": "msal" in sys.modules, "cryptography": "cryptography" in sys.modules}}))
"""


@pytest.mark.parametrize("module, args", [
    ("gdap_relationship", {"tenant_id": "10000000-0000-4000-8000-000000000001",
                           "client_id": "20000000-0000-4000-8000-000000000001", "client_secret": "s",
                           "display_name": "x" * 51, "customer_tenant_id": "30000000-0000-4000-8000-000000000001",
                           "roles": ["Global Reader"]}),
    ("partner_book_info", {"concurrency": 0}),
])
def test_bad_input_imports_no_msal(module, args):
    done = subprocess.run([sys.executable, "-c", CODE.format(module=module, args=repr(args))],
                          capture_output=True, text=True, check=False, timeout=120)
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded == {"msal": False, "cryptography": False}, done.stdout
