"""Azure Key Vault secrets (data plane, REST API 7.x) on the fourth listener, ``keyvault``.

One listener serves every vault of the world: ``/secrets/...`` is the world's first vault (the
``vault_url`` a client uses is the listener's URL), ``/{vault name}/secrets/...`` any vault by name
(``vault_url`` = listener URL + ``/{vault name}``). Routes: ``PUT /secrets/{name}`` (set: a new
version), ``GET /secrets/{name}[/{version}]``, ``GET /secrets/{name}/versions`` (paged with
``nextLink``, no values), ``PATCH /secrets/{name}[/{version}]`` (Update Secret: attributes ``enabled``,
``nbf``, ``exp``, ``contentType``, ``tags``; never the value; needs the secrets/set permission). A
disabled version cannot be read: 403 ``Forbidden`` with inner code ``SecretDisabled``, as Key Vault
answers. Every call needs ``api-version`` and a bearer token with audience
``https://vault.azure.net`` issued by the vault's tenant; the caller (token ``oid``) needs an Azure
RBAC role on the vault from the world file: ``Key Vault Secrets Officer`` (read, write, list),
``Key Vault Secrets User`` (read), ``Key Vault Reader`` (list versions only). Errors are Key Vault's
``{"error": {"code", "message", "innererror"?}}``.

World file::

    key_vaults:
      - name: contoso-us-kv
        tenant: us                       # the vault's tenant (key, id or domain)
        access:
          - {principal: "app:<appId>", role: Key Vault Secrets Officer}   # or a UPN / object id
        secrets: [{name: seeded, value: x, tags: {k: v}}]
"""

from __future__ import annotations

import re
import secrets as pysecrets
from dataclasses import dataclass, field
from typing import Any

from . import catalog, tokens
from .server import HttpError, Request, Router

SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
OFFICER = "Key Vault Secrets Officer"
USER = "Key Vault Secrets User"
READER = "Key Vault Reader"
ADMIN = "Key Vault Administrator"
ROLE_ACTIONS = {
    OFFICER: {"getSecret", "setSecret", "listSecrets", "update"},
    ADMIN: {"getSecret", "setSecret", "listSecrets", "update"},
    USER: {"getSecret"},
    READER: {"listSecrets"},
}
PAGE_SIZE = 25


@dataclass
class Vault:
    name: str
    tenant_id: str
    grants: dict[str, set[str]] = field(default_factory=dict)  # principal object id -> roles
    secrets: dict[str, list[dict]] = field(default_factory=dict)  # lower name -> versions, oldest first


def _error(status: int, code: str, message: str, inner: str | None = None,
           headers: dict[str, str] | None = None) -> HttpError:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if inner:
        body["error"]["innererror"] = {"code": inner}
    return HttpError(status, body, headers)


def _principal_id(world, tenant, ref: str) -> str | None:
    ref = str(ref or "")
    if ref.lower().startswith("app:"):
        sp = tenant.sp_by_app_id(ref[4:])
        return sp["id"] if sp else None
    if "@" in ref:
        user = tenant.user_by_upn(ref)
        return user["id"] if user else None
    return ref.lower() or None


def vaults(world) -> dict[str, Vault]:
    """The world's vaults by lower-case name, built from the world file on first use."""
    with world.lock:
        built = world.extra.get("key_vaults")
        if built is not None:
            return built
        built = {}
        for spec in world.extra.get("key_vaults_spec") or []:
            tenant = world.tenant(str(spec.get("tenant", "")))
            if tenant is None or not spec.get("name"):
                continue
            vault = Vault(str(spec["name"]), tenant.id)
            for grant in spec.get("access") or []:
                oid = _principal_id(world, tenant, grant.get("principal"))
                if oid:
                    vault.grants.setdefault(oid, set()).add(str(grant.get("role") or OFFICER))
            for item in spec.get("secrets") or []:
                _add_version(world, vault, str(item["name"]), str(item.get("value", "")), item.get("tags") or {},
                             item.get("contentType"))
            built[vault.name.lower()] = vault
        world.extra["key_vaults"] = built
        return built


def _add_version(world, vault: Vault, name: str, value: str, tags: dict, content_type: str | None) -> dict:
    now = int(world.clock.now())
    version = {
        "version": pysecrets.token_hex(16),
        "value": value,
        "contentType": content_type,
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
        "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable",
                       "recoverableDays": 90},
        "name": name,
    }
    vault.secrets.setdefault(name.lower(), []).append(version)
    return version


def _vault_for(req: Request, vault_name: str | None) -> Vault:
    found = vaults(req.world)
    if vault_name:
        vault = found.get(vault_name.lower())
    else:
        vault = next(iter(found.values()), None)
    if vault is None:
        raise _error(404, "VaultNotFound", f"The vault {vault_name or '(default)'} does not exist in the emulator's "
                     "world (key_vaults).")
    return vault


def _base(req: Request, vault: Vault, vault_name: str | None) -> str:
    return f"{req.base_url}/{vault.name}" if vault_name else req.base_url


def _challenge(vault: Vault) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
                                'resource="https://vault.azure.net"'}


def _authorize(req: Request, vault: Vault, action: str) -> dict:
    if not (req.param("api-version") or ""):
        raise _error(400, "BadParameter", "The request URI contains an invalid API version (or is missing).")
    token = req.bearer()
    if not token:
        raise _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                     headers=_challenge(vault))
    try:
        claims = tokens.decode_and_verify(req.world, token, catalog.AZURE_KEY_VAULT)
    except tokens.TokenError as exc:
        raise _error(401, "Unauthorized", f"AKV10022: Invalid audience or token: {exc.message}",
                     headers=_challenge(vault)) from None
    req.claims = claims
    if str(claims.get("tid", "")).lower() != vault.tenant_id:
        raise _error(401, "Unauthorized", f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"
                     f"{vault.tenant_id}/, found {claims.get('iss')}.", headers=_challenge(vault))
    oid = str(claims.get("oid", "")).lower()
    with req.world.lock:
        roles = vault.grants.get(oid, set())
    if not any(action in ROLE_ACTIONS.get(role, ()) for role in roles):
        caller = f"appid={claims.get('appid')};oid={oid};iss={claims.get('iss')}"
        raise _error(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\nIf role "
                     "assignments, deny assignments or role definitions were changed recently, please observe "
                     f"propagation time.\r\nCaller: {caller}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/"
                     f"{action}/action'\r\nResource: '{vault.name}'\r\nAssignment: (not found)\r\nDecisionReason: "
                     f"'DeniedWithNoValidRBAC' \r\nVault: {vault.name};location=emulator\r\n",
                     inner="ForbiddenByRbac")
    return claims


def _not_found(name: str, version: str | None = None) -> HttpError:
    ref = f"{name}/{version}" if version else name
    return _error(404, "SecretNotFound", f"A secret with (name/id) {ref} was not found in this key vault. If you "
                  "recently deleted this secret you may be able to recover it using the correct recovery command. "
                  "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")


def _bundle(base: str, version: dict, with_value: bool = True) -> dict:
    out = {
        "id": f"{base}/secrets/{version['name']}/{version['version']}",
        "attributes": dict(version["attributes"]),
        "tags": dict(version["tags"]),
    }
    if version.get("contentType"):
        out["contentType"] = version["contentType"]
    if with_value:
        out["value"] = version["value"]
    return out


def register(router: Router) -> None:
    r = router.route
    prefix = r"(?:/(?P<vault_name>[0-9a-zA-Z-]{3,24}))?/secrets/(?P<name>[^/]+)"

    @r("PUT", prefix)
    def set_secret(req: Request, name: str, vault_name: str | None = None) -> dict:
        vault = _vault_for(req, vault_name)
        _authorize(req, vault, "setSecret")
        if not SECRET_NAME.match(name):
            raise _error(400, "BadParameter", "The request URI contains an invalid name: " + name)
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise _error(400, "BadParameter", "Property 'value' is required and must be a string.")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or len(tags) > 15:
            raise _error(400, "BadParameter", "Tags must be an object of at most 15 string values.")
        with req.world.lock:
            version = _add_version(req.world, vault, name, body["value"], tags, body.get("contentType"))
        return _bundle(_base(req, vault, vault_name), version)

    @r("GET", prefix + r"/versions")
    def list_versions(req: Request, name: str, vault_name: str | None = None) -> dict:
        vault = _vault_for(req, vault_name)
        _authorize(req, vault, "listSecrets")
        try:
            size = max(1, min(PAGE_SIZE, int(req.param("maxresults") or PAGE_SIZE)))
            skip = int(req.param("$skiptoken") or 0)
        except ValueError:
            raise _error(400, "BadParameter", "maxresults and $skiptoken must be integers.") from None
        with req.world.lock:
            versions = list(vault.secrets.get(name.lower(), []))
        if not versions:
            raise _not_found(name)
        base = _base(req, vault, vault_name)
        page = versions[skip:skip + size]
        items = [_bundle(base, v, with_value=False) for v in page]
        next_link = None
        if skip + size < len(versions):
            next_link = (f"{base}/secrets/{name}/versions?api-version={req.param('api-version')}"
                         f"&maxresults={size}&$skiptoken={skip + size}")
        return {"value": items, "nextLink": next_link}

    @r("PATCH", prefix + r"(?:/(?P<version>[0-9a-fA-F]{32}))?")
    def update_secret(req: Request, name: str, vault_name: str | None = None, version: str | None = None) -> dict:
        vault = _vault_for(req, vault_name)
        _authorize(req, vault, "update")
        body = req.json()
        if not isinstance(body, dict):
            raise _error(400, "BadParameter", "The request body must be a JSON object.")
        if "value" in body:
            raise _error(400, "BadParameter", "The value of a secret cannot be changed by an update; set a new "
                         "version instead.")
        attributes = body.get("attributes") or {}
        tags = body.get("tags")
        if not isinstance(attributes, dict) or (tags is not None and (not isinstance(tags, dict) or len(tags) > 15)):
            raise _error(400, "BadParameter", "attributes must be an object; tags an object of at most 15 values.")
        if "enabled" in attributes and not isinstance(attributes["enabled"], bool):
            raise _error(400, "BadParameter", "attributes.enabled must be a boolean.")
        with req.world.lock:
            versions = vault.secrets.get(name.lower(), [])
            if not versions:
                raise _not_found(name)
            match = versions[-1] if not version else next((v for v in versions if v["version"] == version.lower()),
                                                          None)
            if match is None:
                raise _not_found(name, version)
            for key in ("enabled", "nbf", "exp"):
                if key in attributes:
                    match["attributes"][key] = attributes[key]
            if "contentType" in body:
                match["contentType"] = body["contentType"]
            if tags is not None:
                match["tags"] = {str(k): str(v) for k, v in tags.items()}
            match["attributes"]["updated"] = int(req.world.clock.now())
            return _bundle(_base(req, vault, vault_name), match, with_value=False)

    @r("GET", prefix + r"(?:/(?P<version>[0-9a-fA-F]{32}))?")
    def get_secret(req: Request, name: str, vault_name: str | None = None, version: str | None = None) -> dict:
        vault = _vault_for(req, vault_name)
        _authorize(req, vault, "getSecret")
        with req.world.lock:
            versions = list(vault.secrets.get(name.lower(), []))
        if not versions:
            raise _not_found(name)
        if version:
            match = next((v for v in versions if v["version"] == version.lower()), None)
            if match is None:
                raise _not_found(name, version)
        else:
            match = versions[-1]
        if not match["attributes"].get("enabled", True):
            raise _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled")
        return _bundle(_base(req, vault, vault_name), match)
