"""Child processes of the SAM store tests: one exchange (concurrency) or exchanges forever (crash)."""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".build"))

from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HttpClient  # noqa: E402
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import ConnectionOptions  # noqa: E402
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import (  # noqa: E402
    FileRefreshTokenStore,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import SamClient  # noqa: E402


def client(conn):
    options = ConnectionOptions.from_dict(conn, use_env=False).validate()
    return SamClient(options, HttpClient(verify=options.verify))


def exchange_once(conn, store_path, barrier=None):
    """One exchange; returns (version stored, start, end) (a multiprocessing target)."""
    sam = client(conn)
    store = FileRefreshTokenStore(store_path)
    if barrier is not None:
        barrier.wait()
    start = time.time()
    _token, stored = sam.exchange(store)
    return stored.version, start, time.time()


def exchange_forever(conn_file, store_path):
    with open(conn_file, encoding="utf-8") as handle:
        conn = json.load(handle)
    sam = client(conn)
    store = FileRefreshTokenStore(store_path)
    print("ready", flush=True)
    while True:
        sam.exchange(store)


if __name__ == "__main__":
    exchange_forever(sys.argv[1], sys.argv[2])


def provider_token(conn, store_path, tenant, barrier=None):
    """One delegated token through the token provider with refresh_token_store (fresh: always an exchange)."""
    from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient

    options = ConnectionOptions.from_dict(dict(conn, refresh_token_store=store_path), use_env=False)
    client = CspClient(options)
    if barrier is not None:
        barrier.wait()
    token = client.tokens.get_token(tenant=tenant, fresh=True)
    return token.tenant_id, token.refresh_token
