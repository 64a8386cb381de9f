"""A tiny Graph client for the emulator's Graph/GDAP tests: tokens from the emulator's token
endpoint, HTTPS with the emulator's CA (verification on, passed per request so the
REQUESTS_CA_BUNDLE environment cannot override it)."""

from __future__ import annotations

import requests

US = {
    "tenant": "10000000-0000-4000-8000-000000000001",
    "client_id": "20000000-0000-4000-8000-000000000001",
    "secret": "demo-us-secret-0001",
    "refresh_token": "demo-us-refresh-token-seed",
    "domain": "contosopartnerus.onmicrosoft.com",
}
EU = {
    "tenant": "10000000-0000-4000-8000-000000000002",
    "client_id": "20000000-0000-4000-8000-000000000002",
    "secret": "demo-eu-secret-0002",
    "refresh_token": "demo-eu-refresh-token-seed",
    "domain": "contosopartnereu.onmicrosoft.com",
}
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"

US_GROUPS = {
    "AdminAgents": "12000000-0000-4000-8000-000000010001",
    "HelpdeskAgents": "12000000-0000-4000-8000-000000010002",
    "GDAP Helpdesk": "12000000-0000-4000-8000-000000010003",
    "GDAP Admins": "12000000-0000-4000-8000-000000010004",
}
US_USERS = {
    "integration": "11000000-0000-4000-8000-000000010001",
    "ops.admin": "11000000-0000-4000-8000-000000010002",
    "helpdesk": "11000000-0000-4000-8000-000000010003",
}

_token_cache: dict[tuple, str] = {}


class Graph:
    """Calls ``{graph_endpoint}/{version}{path}`` with a bearer token."""

    def __init__(self, emu, token: str, version: str = "v1.0"):
        self.emu = emu
        self.token = token
        self.version = version
        self.session = requests.Session()

    def url(self, path: str) -> str:
        if path.startswith("https://"):
            return path
        return f"{self.emu.graph_endpoint}/{self.version}{path}"

    def call(self, method: str, path: str, *, json=None, headers=None, data=None, token=None) -> requests.Response:
        hdrs = {"Authorization": f"Bearer {token or self.token}"}
        hdrs.update(headers or {})
        return self.session.request(method, self.url(path), json=json, data=data, headers=hdrs,
                                    verify=self.emu.ca_bundle, timeout=30)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, json=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, json=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def all_pages(self, path: str, headers=None) -> list[dict]:
        items, url = [], path
        while url:
            resp = self.get(url, headers=headers)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items.extend(body["value"])
            url = body.get("@odata.nextLink")
        return items


def token_endpoint(emu, tenant: str) -> str:
    return f"{emu.authority_host}/{tenant}/oauth2/v2.0/token"


def app_token(emu, partner=US, tenant: str | None = None, scope: str = GRAPH_DEFAULT, cache: bool = True) -> str:
    """Client-credentials token of the partner app, from the emulator's token endpoint."""
    key = ("app", emu.graph_endpoint, partner["client_id"], tenant or partner["tenant"], scope)
    if not cache:
        _token_cache.pop(key, None)
    if key not in _token_cache and "identity" not in emu.modules:
        # Built in parallel: until the identity module is there, sign what it would issue.
        _token_cache[key] = minted_token(emu, tenant=tenant or partner["tenant"], roles=_consented(emu, partner, "Role"))
    if key not in _token_cache:
        resp = requests.post(token_endpoint(emu, tenant or partner["tenant"]), data={
            "grant_type": "client_credentials", "client_id": partner["client_id"],
            "client_secret": partner["secret"], "scope": scope,
        }, verify=emu.ca_bundle, timeout=30)
        assert resp.status_code == 200, resp.text
        _token_cache[key] = resp.json()["access_token"]
    return _token_cache[key]


def user_token(emu, partner=US, tenant: str | None = None, scope: str = GRAPH_DEFAULT, cache: bool = True) -> str:
    """App + user token of the integration user via its Secure Application Model refresh token
    (``cache=False`` after moving the world clock: the cached token has expired)."""
    key = ("user", emu.graph_endpoint, partner["client_id"], tenant or partner["tenant"], scope)
    if not cache:
        _token_cache.pop(key, None)
    if key not in _token_cache and "identity" not in emu.modules:
        _token_cache[key] = minted_token(emu, tenant=tenant or partner["tenant"], user_upn=f"integration@{partner['domain']}",
                                         scp=_consented(emu, partner, "Scope"))
    if key not in _token_cache:
        resp = requests.post(token_endpoint(emu, tenant or partner["tenant"]), data={
            "grant_type": "refresh_token", "client_id": partner["client_id"],
            "client_secret": partner["secret"], "refresh_token": partner["refresh_token"], "scope": scope,
        }, verify=emu.ca_bundle, timeout=30)
        assert resp.status_code == 200, resp.text
        _token_cache[key] = resp.json()["access_token"]
    return _token_cache[key]


def minted_token(emu, *, tenant=US["tenant"], user_upn: str | None = None, roles=(), scp=(), wids=None) -> str:
    """A token with chosen claims, signed by the emulator's own key (for permission edge cases
    the demo world's apps and users do not cover)."""
    from csp_emulator import catalog, tokens

    world = emu.world
    with world.lock:
        t = world.tenant(tenant)
        user = t.user_by_upn(user_upn) if user_upn else None
        if user is not None and wids is None:
            wids = list(user.get("_directory_roles") or [])
        sp = t.sp_by_app_id(US["client_id"])
        token, _ = tokens.issue_access_token(
            world, tenant=t, app_id=US["client_id"], resource_app_id=catalog.MICROSOFT_GRAPH,
            roles=list(roles), scp=list(scp), user=user, wids=list(wids or []),
            sp_oid=sp["id"] if sp else None)
    return token


def _consented(emu, partner, kind: str) -> list[str]:
    from csp_emulator import catalog

    found = emu.world.application(partner["client_id"])
    out = []
    for entry in found[1]["requiredResourceAccess"]:
        if entry["resourceAppId"] == catalog.MICROSOFT_GRAPH:
            out += [catalog.permission_value(catalog.MICROSOFT_GRAPH, a["id"], kind) for a in entry["resourceAccess"]
                    if a["type"] == kind]
    return [v for v in out if v]
