"""pytest fixtures for the emulator: ``emulator`` (one per session) and ``fresh_emulator``
(one per test, for tests that change the world)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from csp_emulator import Emulator  # noqa: E402
from csp_emulator.world import WORLDS_DIR  # noqa: E402


def default_world() -> str:
    """The demo world when it exists, else the minimal one."""
    wanted = os.environ.get("CSP_EMULATOR_WORLD")
    if wanted:
        return wanted
    return "demo" if (WORLDS_DIR / "demo.yaml").exists() else "minimal"


@pytest.fixture(scope="session")
def emulator():
    with Emulator(world=default_world()) as emu:
        yield emu


@pytest.fixture
def fresh_emulator():
    with Emulator(world=default_world()) as emu:
        yield emu


@pytest.fixture(scope="session")
def minimal_emulator():
    """The small world of the emulator's own identity tests (worlds/minimal.yaml)."""
    with Emulator(world="minimal") as emu:
        yield emu


@pytest.fixture
def fresh_minimal():
    with Emulator(world="minimal") as emu:
        yield emu


class EmuClient:
    """HTTP helper for tests: TLS verified against the emulator CA, never the environment's."""

    MINIMAL_APP = "20000000-0000-4000-8000-0000000000a1"
    MINIMAL_SECRET = "min-secret-a1"
    GRAPH_DEFAULT = "https://graph.microsoft.com/.default"

    def __init__(self, emu: Emulator) -> None:
        import requests

        self.emu = emu
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = emu.ca_bundle

    def url(self, service: str, path: str) -> str:
        base = {"login": self.emu.authority_host, "graph": self.emu.graph_endpoint,
                "partner_center": self.emu.partner_center_endpoint}[service]
        return base + path

    def request(self, method: str, service: str, path: str, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url(service, path), headers=headers, **kwargs)

    def token_request(self, tenant: str, **form):
        return self.request("POST", "login", f"/{tenant}/oauth2/v2.0/token", data=form)

    def app_token(self, tenant: str = "minpartner.onmicrosoft.com", client_id: str = MINIMAL_APP,
                  secret: str = MINIMAL_SECRET, scope: str = GRAPH_DEFAULT):
        return self.token_request(tenant, grant_type="client_credentials", client_id=client_id,
                                  client_secret=secret, scope=scope)

    def refresh(self, refresh_token: str, tenant: str = "minpartner.onmicrosoft.com",
                client_id: str = MINIMAL_APP, secret: str = MINIMAL_SECRET,
                scope: str = GRAPH_DEFAULT + " offline_access openid profile"):
        return self.token_request(tenant, grant_type="refresh_token", client_id=client_id,
                                  client_secret=secret, refresh_token=refresh_token, scope=scope)


def jwt_claims(token: str) -> dict:
    import base64
    import json

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def client_for():
    made = []

    def make(emu: Emulator) -> EmuClient:
        client = EmuClient(emu)
        made.append(client)
        return client

    yield make
    for client in made:
        client.session.close()


@pytest.fixture
def claims_of():
    """Decode a JWT's claims without verification (tests look at what was issued)."""
    return jwt_claims
