"""Assembles the emulator: routers from the service modules, the TLS context, the runtime;
the ``Emulator`` context manager, its control-API client and the foreground ``serve()``."""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

from . import certs, control, tokens
from .server import Router, Runtime
from .world import World

# Service modules and the router each registers on. A module that does not exist yet is
# skipped (the emulator is built by several people); any other import error is a real error.
SERVICE_MODULES: list[tuple[str, str]] = [
    ("identity", "login"),
    ("gdap", "graph"),  # before graph: its paths are more specific
    ("graph", "graph"),
    ("partner_center", "partner_center"),
    ("keyvault", "keyvault"),
]


def build_routers() -> tuple[dict[str, Router], Router, list[str]]:
    routers = {service: Router(service) for service in ("login", "graph", "partner_center", "keyvault")}
    loaded = []
    for name, service in SERVICE_MODULES:
        full = f"{__package__}.{name}"
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(routers[service])
            loaded.append(name)
    control_router = Router("control")
    control.register(control_router)
    return routers, control_router, loaded


def tls_context(files: certs.TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert_file, files.key_file)
    return ctx


class Emulator:
    """``with Emulator(world="demo") as emu: ...`` runs the three listeners on free ports."""

    def __init__(self, world: str | os.PathLike | dict = "demo", state_dir: str | os.PathLike | None = None,
                 ports: dict[str, int] | None = None, control_token: str | None = None,
                 quiet: bool = True) -> None:
        self._world_source = world
        self._own_state_dir = state_dir is None
        self.state_dir = str(state_dir) if state_dir is not None else ""
        self.ports = ports or {}
        self.control_token = control_token or secrets.token_urlsafe(24)
        self.quiet = quiet
        self.runtime: Runtime | None = None
        self.modules: list[str] = []
        self._control: ControlClient | None = None

    # --- lifecycle ---
    def start(self) -> Emulator:
        if self.runtime is not None:
            return self
        if self._own_state_dir:
            self.state_dir = tempfile.mkdtemp(prefix="csp-emulator-")
        Path(self.state_dir).mkdir(parents=True, exist_ok=True)
        files = certs.create_tls_files(self.state_dir)
        world = World.load(self._world_source, state_dir=self.state_dir)
        routers, control_router, self.modules = build_routers()
        self.runtime = Runtime(world, self.control_token, tls_context(files), routers, control_router,
                               signing_key=tokens.SigningKey(), ca_bundle=files.ca_bundle,
                               state_dir=self.state_dir)
        self.runtime.quiet = self.quiet
        self.runtime.start(self.ports)
        return self

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._own_state_dir and self.state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- what clients need ---
    def _url(self, service: str) -> str:
        if self.runtime is None:
            raise RuntimeError("the emulator is not running")
        return self.runtime.urls[service]

    @property
    def authority_host(self) -> str:
        return self._url("login")

    @property
    def graph_endpoint(self) -> str:
        return self._url("graph")

    @property
    def partner_center_endpoint(self) -> str:
        return self._url("partner_center")

    @property
    def keyvault_endpoint(self) -> str:
        """The Azure Key Vault listener (one listener for every vault of the world; see keyvault.py)."""
        return self._url("keyvault")

    @property
    def control_url(self) -> str:
        return self._url("login")

    @property
    def ca_bundle(self) -> str:
        return self.runtime.ca_bundle if self.runtime else ""

    @property
    def world(self) -> World:
        """The live world (tests may read it; hold ``world.lock`` while doing so)."""
        assert self.runtime is not None
        return self.runtime.world

    def env(self) -> dict[str, str]:
        return {
            "CSP_AUTHORITY_HOST": self.authority_host,
            "CSP_GRAPH_ENDPOINT": self.graph_endpoint,
            "CSP_PARTNER_CENTER_ENDPOINT": self.partner_center_endpoint,
            "CSP_KEYVAULT_ENDPOINT": self.keyvault_endpoint,
            "CSP_CA_BUNDLE": self.ca_bundle,
            "CSP_EMULATOR_CONTROL": self.control_url,
            "CSP_EMULATOR_TOKEN": self.control_token,
        }

    def state(self) -> dict[str, Any]:
        return {
            "authority_host": self.authority_host, "graph_endpoint": self.graph_endpoint,
            "partner_center_endpoint": self.partner_center_endpoint, "keyvault_endpoint": self.keyvault_endpoint,
            "ca_bundle": self.ca_bundle,
            "control_url": self.control_url, "control_token": self.control_token, "pid": os.getpid(),
            "state_dir": self.state_dir,
        }

    @property
    def control(self) -> ControlClient:
        if self._control is None:
            self._control = ControlClient(self.control_url, self.control_token, self.ca_bundle)
        return self._control


class ControlClient:
    """A small client of ``/_emulator/``; raises ``requests.HTTPError`` on failure."""

    def __init__(self, base_url: str, token: str, ca_bundle: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.ca_bundle = ca_bundle
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace our CA
        self.session.verify = ca_bundle
        self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 30)
        resp = self.session.request(method, f"{self.base_url}/_emulator/{path.lstrip('/')}", **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def health(self) -> dict:
        return self.call("GET", "health")

    def requests_log(self, since: int = 0) -> list[dict]:
        return self.call("GET", "requests", params={"since": since})["requests"]

    def clear_log(self) -> None:
        self.call("DELETE", "requests")

    def advance_clock(self, seconds: float = 0, days: float = 0) -> dict:
        return self.call("POST", "clock/advance", json={"seconds": seconds, "days": days})

    def clock(self) -> dict:
        return self.call("GET", "clock")

    def approve_gdap(self, relationship_id: str) -> dict:
        return self.call("POST", f"gdap/{relationship_id}/approve")

    def approve_device_code(self, user_code: str, upn: str) -> dict:
        return self.call("POST", "devicecode/approve", json={"user_code": user_code, "user": upn})

    def revoke_refresh_tokens(self, upn: str) -> dict:
        return self.call("POST", "refresh-tokens/revoke", json={"user": upn})

    def refresh_tokens(self, upn: str) -> dict:
        return self.call("GET", "refresh-tokens", params={"user": upn})

    def issued_tokens(self) -> dict:
        """Every access, id and refresh token handed out since the world was loaded (and the seeds)."""
        return self.call("GET", "issued-tokens")

    def set_faults(self, faults: dict) -> dict:
        return self.call("PUT", "faults", json=faults)

    def concurrent_write(self, path: str, changes: dict, count: int = 1) -> dict:
        """The next ``count`` If-Match writes to a path matching ``path`` meet a changed object."""
        return self.call("POST", "concurrent-writes", json={"path": path, "changes": changes, "count": count})

    def settings(self, **changes: Any) -> dict:
        """The world's settings (faults apart); keyword arguments change them until the next reset."""
        if changes:
            return self.call("PATCH", "settings", json=changes)
        return self.call("GET", "settings")

    def reset(self) -> dict:
        return self.call("POST", "reset")

    def load_world(self, world: dict | str | os.PathLike) -> dict:
        if isinstance(world, dict):
            return self.call("PUT", "world", json=world)
        data = Path(world).read_bytes()
        return self.call("PUT", "world", data=data, headers={"Content-Type": "application/yaml"})

    def counters(self) -> dict:
        return self.call("GET", "counters")

    def tenants(self) -> list[dict]:
        return self.call("GET", "tenants")["tenants"]


def export_lines(emu: Emulator) -> str:
    return "\n".join(f"export {k}={v}" for k, v in emu.env().items())


def serve(world: str, state_file: str | None = None, state_dir: str | None = None,
          ports: dict[str, int] | None = None, verbose: bool = False) -> int:
    """Run in the foreground until SIGINT/SIGTERM."""
    emu = Emulator(world=world, state_dir=state_dir, ports=ports, quiet=not verbose)
    emu.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(export_lines(emu), flush=True)
        if state_file:
            tmp = f"{state_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(emu.state(), fh, indent=2)
            os.replace(tmp, state_file)
        modules = ", ".join(emu.modules) or "none"
        print(f"# csp_emulator serving world {world!r} (modules: {modules}); Ctrl-C stops it",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        if state_file:
            try:
                os.unlink(state_file)
            except OSError:
                pass
    return 0
