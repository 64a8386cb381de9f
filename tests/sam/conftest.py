"""Fixtures for the Secure Application Model tests that need the emulator (run by `make sam-tests`).

They import the collection from the mirrored copy (.build, as the unit tests do) and the emulator
from tests/emulator; each test module gets its own emulator with the demo world.
"""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (os.path.join(ROOT, ".build"), os.path.join(ROOT, "tests", "emulator"), os.path.dirname(__file__)):
    if path not in sys.path:
        sys.path.insert(0, path)

from csp_emulator import Emulator  # noqa: E402

US_TENANT = "10000000-0000-4000-8000-000000000001"
US_APP = "20000000-0000-4000-8000-000000000001"
US_SECRET = "demo-us-secret-0001"
US_USER = "integration@contosopartnerus.onmicrosoft.com"
US_SEED = "demo-us-refresh-token-seed"


@pytest.fixture(autouse=True)
def _no_csp_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CSP_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu():
    with Emulator(world="demo") as emulator:
        yield emulator


def connection(emu):
    """Connection options (a plain dict) for the us partner app against ``emu``."""
    return dict(tenant_id=US_TENANT, client_id=US_APP, client_secret=US_SECRET, authority_host=emu.authority_host,
                graph_endpoint=emu.graph_endpoint, partner_center_endpoint=emu.partner_center_endpoint,
                ca_bundle=emu.ca_bundle)


def newest_valid(emu, user=US_USER, client_id=US_APP):
    """(newest token value, {value: record}) as the emulator sees the user's refresh tokens."""
    data = emu.control.refresh_tokens(user)
    records = {r["value"]: r for r in data["refresh_tokens"] if r["client_id"] == client_id}
    return data["newest"].get(client_id), records


def write_seed(path, token=US_SEED):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)


def dump(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
