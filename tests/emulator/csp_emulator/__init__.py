"""csp_emulator: a local HTTPS emulator of the Microsoft identity platform, Microsoft Graph and
the Partner Center REST API (see ../README.md)."""

from .app import ControlClient, Emulator, serve
from .world import Tenant, World

__all__ = ["ControlClient", "Emulator", "Tenant", "World", "serve"]
