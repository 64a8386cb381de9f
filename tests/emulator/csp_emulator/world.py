"""The in-memory model of every tenant: loading and validating world files, indexes, settings.

Every stored object is a dict in Microsoft's JSON shape. Keys starting with ``_`` are internal
(never rendered), e.g. ``group["_members"]`` (a set of object ids), ``user["_mfa"]``,
``app["_secrets"]`` ({keyId: secret value}).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import catalog
from .clock import Clock, iso

WORLDS_DIR = Path(__file__).resolve().parent.parent / "worlds"

DEFAULT_FAULTS: dict[str, Any] = {
    "seed": 1,
    "latency_ms": 0,  # number, or {path regex: ms}
    "throttle": None,  # {"requests": N, "per_seconds": S, "retry_after": seconds?, "services": [...]}
    "throttle_rate": 0.0,  # share of Graph / Partner Center requests answered 429 (throttle.services)
    "throttle_retry_after": 1.0,  # Retry-After seconds of those 429s
    "error_rate": 0.0,
    "error_statuses": [503, 504],  # what error_rate answers with (503 carries Retry-After: 1)
    "drop_rate": 0.0,
    # "Act, then lose the answer": the handler runs (the write happens), then the connection is
    # closed unanswered (act_drop_rate) or a 5xx of act_error_statuses replaces the answer.
    "act_drop_rate": 0.0,
    "act_error_rate": 0.0,
    "act_error_statuses": [500, 502, 504],
    "act_methods": ["POST", "PUT", "PATCH", "DELETE"],
    "act_services": ["graph", "partner_center"],
    # Retry-After is whole seconds (RFC 7231, Graph throttling guidance); true keeps fractions.
    "retry_after_fractions": False,
    "services": ["login", "graph", "partner_center"],  # where latency, errors and drops apply
}

DEFAULT_SETTINGS: dict[str, Any] = {
    "access_token_lifetime": 3599,
    "refresh_token_inactivity_days": 90,
    "propagation_delay": 180,
    "gdap_auto_approve_after": None,
    # Customers (tenant ids or domains) whose admin approves a relationship as soon as it is locked.
    "gdap_approving_customers": [],
    # Unconfirmed in the docs: status of an application consent that already exists.
    "existing_consent": "conflict",
    # Unconfirmed: whether a Partner Center application consent also assigns app roles whose
    # value matches a requested scope name (needed for app-only calls in the customer tenant).
    "consent_grants_app_roles": True,
    # Legacy DAP: AdminAgents members act as Global Administrator, HelpdeskAgents as Helpdesk
    # Administrator in customers whose Partner Center record allows delegated access.
    "dap_user_roles": True,
    # Graph: the v1.0 member listing has been reported to omit service-principal members.
    "member_list_omits_service_principals": True,
    # Graph: DELETE /groups/{id}/members/{id} without /$ref deletes the object itself (fact sheet);
    # "method_not_allowed" answers 405 instead.
    "graph_delete_member_without_ref": "delete_object",
    "graph_page_size": 100,
    # Graph may answer empty pages that still carry an @odata.nextLink (paging.md); on by default,
    # so every client is tested against it.
    "graph_empty_pages": True,
    # Unconfirmed: how many days before its end a relationship without auto-extension reads
    # "expiring" (Partner Center shows expiring relationships in their last 30 days); 0 = never.
    "gdap_expiring_days": 30,
    # Partner Center paging: "documented" = next links as Microsoft's examples show them
    # (`/customers?size=N&seekOperation=Next` + MS-ContinuationToken, no /v1 prefix) and a
    # continuation token without seekOperation=Next is refused; "lenient" = the emulator's old links
    # (`/v1/customers?size=N`) and the token honoured alone.
    "partner_center_paging": "documented",
    # Removing Global Administrator from an active relationship (PATCH with If-Match): "operation" = 202 with
    # the long-running operation in Location (delegatedadminrelationshipoperation.md); "updated" = 200 with the
    # updated relationship, as the Response section of delegatedadminrelationship-update.md shows.
    "gdap_global_admin_removal": "operation",
    # Seconds after which GDAP steps finish on their own even if nobody reads them.
    "gdap_activation_delay": 5,
    # Seconds before Graph lists the delegated permission grants a Partner Center consent created
    # (replication between the services; Microsoft names no figure, so 0 by default).
    "consent_graph_delay": 0,
    # Partner Center application consent needs Global / Application / Cloud Application
    # Administrator for the calling user in the customer tenant.
    "consent_requires_admin_role": True,
    "device_code_lifetime": 900,
    "device_code_interval": 5,
    "request_log_limit": 200_000,
    "faults": DEFAULT_FAULTS,
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
DAY = 86400.0

# Partner tenant groups with a legacy DAP meaning.
ADMIN_AGENTS = "AdminAgents"
HELPDESK_AGENTS = "HelpdeskAgents"


class WorldError(ValueError):
    """A world file that cannot be loaded (the message says where)."""


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def parse_duration(value: str) -> float:
    """ISO 8601 duration (``P730D``, ``P2Y``, ``PT0S``) to seconds; years are 365 days."""
    m = _DURATION.match(value or "")
    if not m or value in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    days = g["y"] * 365 + g["mo"] * 30 + g["w"] * 7 + g["d"]
    return days * DAY + g["h"] * 3600 + g["mi"] * 60 + g["s"]


def role_id(value: str) -> str:
    """A directory role template id from an id or a built-in role display name."""
    if is_guid(value):
        return value.lower()
    rid = catalog.ROLE_TEMPLATES.get(value)
    if rid is None:
        raise WorldError(f"unknown directory role {value!r}")
    return rid


def merge_settings(overrides: dict | None) -> dict:
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in (overrides or {}).items():
        if key == "faults" and isinstance(value, dict):
            settings["faults"].update(value)
        else:
            settings[key] = value
    return settings


class Tenant:
    """One Entra tenant. Collections are ``{object id: Graph-shaped dict}``."""

    COLLECTIONS = (
        "users", "groups", "applications", "service_principals",
        "oauth2_permission_grants", "app_role_assignments",
    )

    def __init__(self, id: str, key: str, kind: str, region: str, display_name: str,
                 domains: list[str], created_at: float, available_at: float) -> None:
        self.id = id
        self.key = key
        self.kind = kind
        self.region = region
        self.display_name = display_name
        self.domains = domains
        self.created_at = created_at
        self.available_at = available_at
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.applications: dict[str, dict] = {}
        self.service_principals: dict[str, dict] = {}
        self.oauth2_permission_grants: dict[str, dict] = {}
        self.app_role_assignments: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}  # partner tenants: PC records by customer tenant id
        self.gdap_relationships: dict[str, dict] = {}  # partner tenants: by relationship id
        self.extra: dict[str, Any] = {}  # room for other modules' per-tenant state
        self._upn: dict[str, str] = {}
        self._sp_by_app: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Tenant({self.key!r}, {self.id!r})"

    @property
    def initial_domain(self) -> str:
        return self.domains[0] if self.domains else ""

    def is_available(self, now: float) -> bool:
        return now >= self.available_at

    # --- indexed look-ups (indexes are hints: a stale entry falls back to a scan) ---------------
    def user_by_upn(self, upn: str) -> dict | None:
        low = (upn or "").lower()
        uid = self._upn.get(low)
        user = self.users.get(uid) if uid else None
        if user is not None and user.get("userPrincipalName", "").lower() == low:
            return user
        for user in self.users.values():
            if user.get("userPrincipalName", "").lower() == low:
                self._upn[low] = user["id"]
                return user
        return None

    def sp_by_app_id(self, app_id: str) -> dict | None:
        low = (app_id or "").lower()
        sid = self._sp_by_app.get(low)
        sp = self.service_principals.get(sid) if sid else None
        if sp is not None and sp.get("appId", "").lower() == low:
            return sp
        for sp in self.service_principals.values():
            if sp.get("appId", "").lower() == low:
                self._sp_by_app[low] = sp["id"]
                return sp
        return None

    def object(self, object_id: str) -> tuple[str, dict] | None:
        """(collection name, object) of a directory object by id."""
        for name in ("users", "groups", "service_principals", "applications"):
            obj = getattr(self, name).get(object_id)
            if obj is not None:
                return name, obj
        return None

    def add(self, collection: str, obj: dict) -> dict:
        """Store ``obj`` (it must have ``id``) and keep the indexes right."""
        getattr(self, collection)[obj["id"]] = obj
        if collection == "users" and obj.get("userPrincipalName"):
            self._upn[obj["userPrincipalName"].lower()] = obj["id"]
        elif collection == "service_principals" and obj.get("appId"):
            self._sp_by_app[obj["appId"].lower()] = obj["id"]
        return obj

    def remove(self, collection: str, object_id: str) -> dict | None:
        obj = getattr(self, collection).pop(object_id, None)
        if obj is not None and collection in ("users", "groups", "service_principals"):
            for group in self.groups.values():
                group.get("_members", set()).discard(object_id)
        return obj

    def group_by_name(self, display_name: str) -> dict | None:
        for group in self.groups.values():
            if group.get("displayName") == display_name:
                return group
        return None

    def member_of(self, object_id: str) -> list[dict]:
        """Groups that have ``object_id`` as a direct member."""
        return [g for g in self.groups.values() if object_id in g.get("_members", ())]


class World:
    """All tenants plus the clock, the settings, the request log and token state."""

    def __init__(self, settings: dict | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.settings = merge_settings(settings)
        self.tenants: dict[str, Tenant] = {}
        self._domains: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._apps: dict[str, tuple[str, str]] = {}  # appId -> (home tenant id, object id)
        self.log_lock = threading.Lock()  # guards log, log_seq and counters (hot path: no RLock)
        self.log: list[dict] = []
        self.log_seq = 0
        self.counters: dict[str, int] = {}
        self.refresh_tokens: dict[str, Any] = {}  # value -> tokens.RefreshToken
        self.device_codes: dict[str, Any] = {}  # device_code -> tokens.DeviceCode
        self.source: dict | str | os.PathLike | None = None  # what reset() reloads
        self.state_dir: str | None = None
        self.runtime: Any = None  # server.Runtime when served (urls, signing key, ...)
        self.faults: Any = None  # faults.Faults, created lazily
        self.extra: dict[str, Any] = {}

    # --- ids and counters ---------------------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def count(self, name: str, n: int = 1) -> None:
        with self.log_lock:
            self.counters[name] = self.counters.get(name, 0) + n

    # --- look-ups -------------------------------------------------------------------------------
    def tenant(self, id_or_domain: str | None, by_key: bool = True) -> Tenant | None:
        """A tenant by id or verified domain (case-insensitive), or by world key unless
        ``by_key`` is False (what outside callers such as the login service must use)."""
        if not id_or_domain:
            return None
        t = self.tenants.get(id_or_domain)
        if t is not None:
            return t
        low = id_or_domain.lower()
        tid = self._domains.get(low) or (self._keys.get(low) if by_key else None)
        if tid is None and is_guid(low):
            tid = low if low in self.tenants else None
        return self.tenants.get(tid) if tid else None

    def tenant_by_key(self, key: str) -> Tenant | None:
        tid = self._keys.get((key or "").lower())
        return self.tenants.get(tid) if tid else None

    def object_by_id(self, tenant: Tenant | str, object_id: str) -> dict | None:
        t = tenant if isinstance(tenant, Tenant) else self.tenant(tenant)
        if t is None:
            return None
        found = t.object(object_id)
        return found[1] if found else None

    def application(self, app_id: str) -> tuple[Tenant, dict] | None:
        """The app registration with this appId and its home tenant."""
        low = (app_id or "").lower()
        ref = self._apps.get(low)
        if ref is not None:
            tenant = self.tenants.get(ref[0])
            app = tenant.applications.get(ref[1]) if tenant else None
            if app is not None and app.get("appId", "").lower() == low:
                return tenant, app
        for tenant in self.tenants.values():
            for app in tenant.applications.values():
                if app.get("appId", "").lower() == low:
                    self._apps[low] = (tenant.id, app["id"])
                    return tenant, app
        return None

    def user_home(self, user_id: str) -> tuple[Tenant, dict] | None:
        for tenant in self.tenants.values():
            user = tenant.users.get(user_id)
            if user is not None:
                return tenant, user
        return None

    def find_user(self, upn_or_id: str) -> tuple[Tenant, dict] | None:
        """A user anywhere by UPN (its domain picks the tenant) or by object id."""
        if "@" in (upn_or_id or ""):
            tenant = self.tenant(upn_or_id.rsplit("@", 1)[1])
            if tenant is not None:
                user = tenant.user_by_upn(upn_or_id)
                if user is not None:
                    return tenant, user
            for tenant in self.tenants.values():
                user = tenant.user_by_upn(upn_or_id)
                if user is not None:
                    return tenant, user
            return None
        return self.user_home(upn_or_id)

    def partner_tenants(self) -> list[Tenant]:
        return [t for t in self.tenants.values() if t.kind == "partner"]

    # --- changes --------------------------------------------------------------------------------
    def add_tenant(self, tenant: Tenant) -> Tenant:
        for domain in tenant.domains:
            other = self._domains.get(domain.lower())
            if other is not None and other != tenant.id:
                raise WorldError(f"domain {domain} already belongs to tenant {other}")
        if tenant.id in self.tenants:
            raise WorldError(f"tenant id {tenant.id} is used twice")
        self.tenants[tenant.id] = tenant
        for domain in tenant.domains:
            self._domains[domain.lower()] = tenant.id
        if tenant.key:
            self._keys[tenant.key.lower()] = tenant.id
        return tenant

    def add_domain(self, tenant: Tenant, domain: str) -> None:
        tenant.domains.append(domain)
        self._domains[domain.lower()] = tenant.id

    def index_application(self, tenant: Tenant, app: dict) -> None:
        self._apps[app["appId"].lower()] = (tenant.id, app["id"])

    def create_tenant(self, kind: str, display_name: str, domains: list[str], region: str = "NA",
                      key: str | None = None, tenant_id: str | None = None,
                      propagation_delay: float | None = None,
                      first_party_apps: Iterable[str] = (catalog.MICROSOFT_GRAPH,)) -> Tenant:
        """A new tenant (e.g. a customer created through Partner Center). It issues no tokens
        until the propagation delay has passed."""
        now = self.clock.now()
        delay = self.settings["propagation_delay"] if propagation_delay is None else propagation_delay
        tid = tenant_id or self.new_id()
        tenant = Tenant(tid, key or tid, kind, region, display_name, list(domains), now, now + float(delay))
        for app_id in first_party_apps:
            add_first_party_sp(self, tenant, app_id)
        return self.add_tenant(tenant)

    def apply_consent(self, tenant: Tenant, app_id: str, grants: list[dict],
                      display_name: str | None = None, visible_after: float = 0) -> dict:
        """What a Partner Center application consent does in the customer tenant: the app's
        service principal, one AllPrincipals delegated grant per API and (setting
        ``consent_grants_app_roles``) app role assignments for scope names that are app roles.

        ``grants``: ``[{"api": <appId>, "scopes": ["A", "B"]}]``. Returns the app's service
        principal. Raises ``KeyError(appId)`` when an API has no service principal in the tenant.
        """
        resources = []
        for grant in grants:
            resource = tenant.sp_by_app_id(grant["api"])
            if resource is None:
                raise KeyError(grant["api"])
            resources.append((resource, grant))
        sp = tenant.sp_by_app_id(app_id)
        if sp is None:
            home = self.application(app_id)
            name = display_name or (home[1].get("displayName") if home else None) or app_id
            sp = tenant.add("service_principals", service_principal_for_app(
                self.new_id(), app_id, name, home[0].id if home else None,
                self.clock.iso(), home[1] if home else None))
        for resource, grant in resources:
            scopes = [s for s in grant.get("scopes", []) if s]
            existing = next((g for g in tenant.oauth2_permission_grants.values()
                             if g["clientId"] == sp["id"] and g["resourceId"] == resource["id"]
                             and g.get("consentType") == "AllPrincipals"), None)
            if existing is not None:
                have = existing["scope"].split()
                existing["scope"] = " ".join(have + [s for s in scopes if s not in have])
            else:
                gid = self.new_id()
                record = {"id": gid, "clientId": sp["id"], "consentType": "AllPrincipals",
                          "principalId": None, "resourceId": resource["id"], "scope": " ".join(scopes)}
                if visible_after:
                    record["_visible_at"] = self.clock.now() + float(visible_after)
                tenant.add("oauth2_permission_grants", record)
            if self.settings.get("consent_grants_app_roles"):
                for value in scopes:
                    role = _resource_app_role(resource, value)
                    if role is None:
                        continue
                    if any(a["principalId"] == sp["id"] and a["resourceId"] == resource["id"]
                           and a["appRoleId"] == role["id"] for a in tenant.app_role_assignments.values()):
                        continue
                    aid = self.new_id()
                    tenant.add("app_role_assignments", {
                        "id": aid, "appRoleId": role["id"], "createdDateTime": self.clock.iso(),
                        "principalDisplayName": sp.get("displayName"), "principalId": sp["id"],
                        "principalType": "ServicePrincipal",
                        "resourceDisplayName": resource.get("displayName"), "resourceId": resource["id"],
                        "deletedDateTime": None,
                    })
        return sp

    # --- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, source: str | os.PathLike | dict, state_dir: str | None = None,
             clock: Clock | None = None) -> World:
        """A world from a dict, a YAML path, or a name under ``worlds/`` (``"demo"``)."""
        data = read_world_source(source)
        world = cls(data.get("settings"), clock)
        # A file is re-read on reset rather than kept parsed in memory (big worlds).
        world.source = source if not isinstance(source, dict) else data
        world.state_dir = state_dir
        _Loader(world, data, state_dir).run()
        # Azure Key Vaults (keyvault.py builds them on first use from this spec)
        world.extra["key_vaults_spec"] = list(data.get("key_vaults") or [])
        return world

    def summary(self) -> list[dict]:
        now = self.clock.now()
        return [
            {
                "id": t.id, "key": t.key, "kind": t.kind, "region": t.region,
                "displayName": t.display_name, "domains": list(t.domains),
                "available": t.is_available(now), "availableAt": iso(t.available_at),
                "users": len(t.users), "groups": len(t.groups), "applications": len(t.applications),
                "servicePrincipals": len(t.service_principals), "customers": len(t.customers),
                "oauth2PermissionGrants": len(t.oauth2_permission_grants),
                "appRoleAssignments": len(t.app_role_assignments),
                "gdapRelationships": len(t.gdap_relationships),
                "accessAssignments": sum(len(r.get("_access_assignments") or {}) for r in t.gdap_relationships.values()),
            }
            for t in self.tenants.values()
        ]


def read_world_source(source: str | os.PathLike | dict) -> dict:
    if isinstance(source, dict):
        return source
    path = Path(source)
    if not path.exists() and not str(source).endswith((".yaml", ".yml")) and os.sep not in str(source):
        path = WORLDS_DIR / f"{source}.yaml"
    if not path.exists():
        raise WorldError(f"world file not found: {source}")
    with open(path, "rb") as fh:
        raw = fh.read()
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{":
        # JSON is YAML too, but the json module parses a big world ~50x faster.
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise WorldError(f"{path}: not valid JSON: {exc}") from None
    else:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise WorldError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise WorldError(f"{path}: a world file is a mapping")
    return data


def parse_world_text(text: str | bytes) -> dict:
    """A world given as JSON or YAML text (JSON is YAML)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(data, dict):
        raise WorldError("a world is a mapping")
    return data


def _resource_app_role(resource_sp: dict, value: str) -> dict | None:
    for role in resource_sp.get("appRoles") or ():
        if role.get("value") == value:
            return role
    return catalog.app_role(resource_sp.get("appId", ""), value)


def add_first_party_sp(world: World, tenant: Tenant, app_id: str) -> dict | None:
    body = catalog.service_principal_body(app_id)
    if body is None or tenant.sp_by_app_id(app_id) is not None:
        return None
    body["id"] = world.new_id()
    body["createdDateTime"] = iso(tenant.created_at)
    return tenant.add("service_principals", body)


def service_principal_for_app(sp_id: str, app_id: str, name: str, owner_tenant: str | None,
                              created: str, app: dict | None = None) -> dict:
    return {
        "id": sp_id, "appId": app_id, "displayName": name, "appDisplayName": name,
        "servicePrincipalType": "Application", "accountEnabled": True,
        "appOwnerOrganizationId": owner_tenant, "servicePrincipalNames": [app_id],
        "signInAudience": (app or {}).get("signInAudience", "AzureADMultipleOrgs"),
        "appRoles": copy.deepcopy((app or {}).get("appRoles", [])),
        "oauth2PermissionScopes": [], "tags": [], "createdDateTime": created,
        "deletedDateTime": None,
    }


class _Loader:
    """Turns a world dict into tenants. Two passes: objects first, then references."""

    def __init__(self, world: World, data: dict, state_dir: str | None) -> None:
        self.world = world
        self.data = data
        self.state_dir = state_dir
        self.now = world.clock.now()
        self._created_iso: dict[str, str] = {}

    def created_iso(self, tenant: Tenant) -> str:
        # One strftime per tenant, not per object: big worlds have 100k users.
        cached = self._created_iso.get(tenant.id)
        if cached is None:
            cached = self._created_iso[tenant.id] = iso(tenant.created_at)
        return cached

    def fail(self, where: str, message: str) -> WorldError:
        return WorldError(f"{where}: {message}")

    def run(self) -> None:
        parts = [("partner", t) for t in self.data.get("partner_tenants") or []]
        parts += [("customer", t) for t in self.data.get("customer_tenants") or []]
        loaded = []
        for kind, spec in parts:
            loaded.append((self.tenant(kind, spec), spec))
        for tenant, spec in loaded:
            self.groups_members(tenant, spec)
        for tenant, spec in loaded:
            self.consents(tenant, spec)
        for tenant, spec in loaded:
            if tenant.kind == "partner":
                self.customers(tenant, spec)
                self.relationships(tenant, spec)
                self.refresh_tokens(tenant, spec)

    def tenant(self, kind: str, spec: dict) -> Tenant:
        if not isinstance(spec, dict):
            raise WorldError(f"{kind}_tenants: each entry is a mapping")
        key = str(spec.get("key") or spec.get("id") or "")
        where = f"{kind} tenant {key or '?'}"
        tid = str(spec.get("id") or "").lower()
        if not is_guid(tid):
            raise self.fail(where, f"id must be a GUID, got {spec.get('id')!r}")
        domains = [str(d) for d in spec.get("domains") or []]
        if not domains:
            raise self.fail(where, "needs at least one domain")
        created = self.now - float(spec.get("created_days_ago", 365)) * DAY
        available = self.now
        if spec.get("available_at") is not None:
            from .clock import parse_iso

            available = parse_iso(spec["available_at"]) or self.now
        elif spec.get("available_in_seconds") is not None:
            available = self.now + float(spec["available_in_seconds"])
        tenant = Tenant(tid, key or tid, kind, str(spec.get("region", "NA")).upper(),
                        str(spec.get("display_name") or key), domains, created, available)
        self.world.add_tenant(tenant)
        for user in spec.get("users") or []:
            self.user(tenant, user, where)
        for group in spec.get("groups") or []:
            self.group(tenant, group, where)
        for app in spec.get("applications") or []:
            self.application(tenant, app, where)
        for sp in spec.get("service_principals") or []:
            app_id = str(sp["appId"] if isinstance(sp, dict) else sp).lower()
            if tenant.sp_by_app_id(app_id) is not None:
                continue
            if catalog.service_principal_body(app_id) is not None:
                add_first_party_sp(self.world, tenant, app_id)
            else:
                home = self.world.application(app_id)
                name = (sp.get("displayName") if isinstance(sp, dict) else None) or (
                    home[1]["displayName"] if home else app_id)
                tenant.add("service_principals", service_principal_for_app(
                    (sp.get("id") if isinstance(sp, dict) else None) or self.world.new_id(), app_id,
                    name, home[0].id if home else None, iso(created), home[1] if home else None))
        return tenant

    def user(self, tenant: Tenant, spec: dict, where: str) -> None:
        upn = spec.get("userPrincipalName") or spec.get("upn")
        if not upn:
            raise self.fail(where, "a user needs userPrincipalName")
        uid = str(spec.get("id") or self.world.new_id())
        display = spec.get("displayName") or upn.split("@")[0]
        roles = spec.get("directory_roles")
        user = {
            "id": uid, "userPrincipalName": upn, "displayName": display,
            "givenName": spec.get("givenName"), "surname": spec.get("surname"),
            "mail": spec.get("mail", upn), "accountEnabled": spec.get("accountEnabled", True),
            "userType": spec.get("userType", "Member"), "jobTitle": spec.get("jobTitle"),
            "businessPhones": [], "mobilePhone": None, "officeLocation": None,
            "preferredLanguage": spec.get("preferredLanguage"),
            "createdDateTime": self.created_iso(tenant),
            "_mfa": bool(spec.get("mfa", False)),
            "_directory_roles": [role_id(r) for r in roles] if roles else [],
            "_password": spec.get("password"),
        }
        tenant.add("users", user)

    def group(self, tenant: Tenant, spec: dict, where: str) -> None:
        name = spec.get("displayName")
        if not name:
            raise self.fail(where, "a group needs displayName")
        gid = str(spec.get("id") or self.world.new_id())
        security = spec.get("securityEnabled", True)
        mail = spec.get("mailEnabled", False)
        tenant.add("groups", {
            "id": gid, "displayName": name, "description": spec.get("description"),
            "securityEnabled": security, "mailEnabled": mail,
            "mailNickname": spec.get("mailNickname") or re.sub(r"[^A-Za-z0-9]", "", name) or gid[:8],
            "groupTypes": list(spec.get("groupTypes") or []), "mail": None,
            "visibility": spec.get("visibility"), "createdDateTime": self.created_iso(tenant),
            "isAssignableToRole": spec.get("isAssignableToRole"),
            "_members": set(), "_member_refs": list(spec.get("members") or []),
        })

    def application(self, tenant: Tenant, spec: dict, where: str) -> None:
        app_id = str(spec.get("appId") or "").lower()
        if not is_guid(app_id):
            raise self.fail(where, f"application appId must be a GUID, got {spec.get('appId')!r}")
        if self.world.application(app_id) is not None:
            raise self.fail(where, f"appId {app_id} is registered twice")
        oid = str(spec.get("id") or self.world.new_id())
        name = spec.get("displayName") or app_id
        created = iso(tenant.created_at)
        rra = []
        for entry in spec.get("requiredResourceAccess") or []:
            resource = catalog.resolve_api(str(entry.get("resourceAppId", ""))) or entry.get("resourceAppId")
            access = []
            for item in entry.get("resourceAccess") or []:
                kind = item.get("type", "Scope")
                pid = item.get("id")
                if not is_guid(pid):  # a permission value such as "Directory.Read.All"
                    found = (catalog.app_role(resource, pid) if kind == "Role"
                             else catalog.oauth2_scope(resource, pid))
                    if found is None:
                        raise self.fail(where, f"unknown {kind} {pid!r} of {resource}")
                    pid = found["id"]
                access.append({"id": pid, "type": kind})
            rra.append({"resourceAppId": resource, "resourceAccess": access})
        passwords, secrets = [], {}
        for sec in spec.get("secrets") or []:
            key_id = str(sec.get("keyId") or self.world.new_id())
            value = str(sec["value"])
            secrets[key_id] = value
            passwords.append({
                "customKeyIdentifier": None, "displayName": sec.get("displayName"),
                "endDateTime": self.end(sec, self.now + 730 * DAY),
                "hint": value[:3], "keyId": key_id, "secretText": None,
                "startDateTime": _when(sec.get("startDateTime"), tenant.created_at),
            })
        keys = [self.certificate(tenant, app_id, name, c, where) for c in spec.get("certificates") or []]
        app = {
            "id": oid, "appId": app_id, "displayName": name,
            "signInAudience": spec.get("signInAudience", "AzureADMultipleOrgs"),
            "requiredResourceAccess": rra, "passwordCredentials": passwords, "keyCredentials": keys,
            "identifierUris": list(spec.get("identifierUris") or []),
            "appRoles": list(spec.get("appRoles") or []), "publisherDomain": tenant.initial_domain,
            "createdDateTime": created, "deletedDateTime": None, "tags": [],
            "web": {"redirectUris": list(spec.get("redirectUris") or [])},
            "publicClient": {"redirectUris": []}, "isFallbackPublicClient": spec.get("isFallbackPublicClient"),
            "_secrets": secrets,
        }
        tenant.add("applications", app)
        self.world.index_application(tenant, app)
        # The portal creates the app's service principal in its home tenant with the registration.
        tenant.add("service_principals", service_principal_for_app(
            str(spec.get("service_principal_id") or self.world.new_id()), app_id, name, tenant.id,
            created, app))

    def certificate(self, tenant: Tenant, app_id: str, name: str, spec: dict, where: str) -> dict:
        import base64

        from . import certs

        if spec.get("pem"):
            pem = spec["pem"].encode() if isinstance(spec["pem"], str) else spec["pem"]
        elif spec.get("generate"):
            key_pem, pem = certs.generate_app_certificate(f"{name} ({app_id})")
            target = Path(str(spec["generate"]))
            if not target.is_absolute():
                if not self.state_dir:
                    raise self.fail(where, "certificates.generate needs a state dir")
                target = Path(self.state_dir) / target
            certs.write_key_and_cert(target, key_pem, pem)
        else:
            raise self.fail(where, "a certificate needs pem or generate")
        info = certs.load_cert(pem)
        return {
            "customKeyIdentifier": info.thumbprint, "displayName": spec.get("displayName", f"CN={name}"),
            "endDateTime": self.end(spec, info.not_after),
            "key": base64.b64encode(info.der).decode(), "keyId": str(spec.get("keyId") or self.world.new_id()),
            "startDateTime": _when(spec.get("startDateTime"), info.not_before),
            "type": "AsymmetricX509Cert", "usage": "Verify",
        }

    def end(self, spec: dict, default: float) -> str:
        """An expiry: ``end_in_days`` (relative to the world clock; negative = past) wins over an
        absolute ``endDateTime``."""
        if spec.get("end_in_days") is not None:
            return iso(self.now + float(spec["end_in_days"]) * DAY)
        return _when(spec.get("endDateTime"), default)

    def resolve_member(self, tenant: Tenant, ref: str, where: str) -> str:
        ref = str(ref)
        if ref.startswith("app:"):
            sp = tenant.sp_by_app_id(ref[4:])
            if sp is None:
                raise self.fail(where, f"member {ref}: no service principal for that appId")
            return sp["id"]
        if ref.startswith("group:"):
            group = tenant.group_by_name(ref[6:])
            if group is None:
                raise self.fail(where, f"member {ref}: no such group")
            return group["id"]
        if "@" in ref:
            user = tenant.user_by_upn(ref)
            if user is None:
                raise self.fail(where, f"member {ref}: no such user")
            return user["id"]
        if tenant.object(ref) is None:
            raise self.fail(where, f"member {ref}: no such object")
        return ref

    def groups_members(self, tenant: Tenant, spec: dict) -> None:
        for group in tenant.groups.values():
            refs = group.pop("_member_refs", [])
            where = f"tenant {tenant.key}, group {group['displayName']}"
            group["_members"] = {self.resolve_member(tenant, r, where) for r in refs}

    def consents(self, tenant: Tenant, spec: dict) -> None:
        for consent in spec.get("application_consents") or []:
            app_id = str(consent.get("app", "")).lower()
            grants = []
            for grant in consent.get("grants") or []:
                api = catalog.resolve_api(str(grant.get("api", ""))) or str(grant.get("api", "")).lower()
                scopes = grant.get("scopes") or []
                if isinstance(scopes, str):
                    scopes = [s.strip() for s in scopes.replace(",", " ").split() if s.strip()]
                grants.append({"api": api, "scopes": scopes})
            try:
                self.world.apply_consent(tenant, app_id, grants)
            except KeyError as exc:
                raise self.fail(f"tenant {tenant.key}", f"consent for {app_id}: no service principal "
                                f"for API {exc.args[0]} in the tenant") from None

    def customers(self, tenant: Tenant, spec: dict) -> None:
        for rec in spec.get("customers") or []:
            customer = self.world.tenant(str(rec.get("tenant", "")))
            if customer is None:
                raise self.fail(f"partner {tenant.key}", f"customer {rec.get('tenant')!r} is not a tenant")
            tenant.customers[customer.id] = customer_record(
                customer, rec.get("relationship", "reseller"), bool(rec.get("dap", False)))

    def relationships(self, tenant: Tenant, spec: dict) -> None:
        for rel in spec.get("gdap_relationships") or []:
            where = f"partner {tenant.key}, relationship {rel.get('displayName') or rel.get('id')}"
            customer = self.world.tenant(str(rel.get("customer", "")))
            if customer is None:
                raise self.fail(where, f"customer {rel.get('customer')!r} is not a tenant")
            rid = str(rel.get("id") or f"{self.world.new_id()}-{self.world.new_id()}")
            status = rel.get("status", "active")
            duration = str(rel.get("duration", "P730D"))
            seconds = parse_duration(duration)
            created = self.now - float(rel.get("created_days_ago", 30)) * DAY
            activated = end = None
            if status in ("active", "expired", "expiring", "terminated", "terminationRequested",
                          "terminating", "activating", "approved"):
                activated = created + 3600
                end = activated + seconds
                if status == "expired" and end > self.now:
                    end = self.now - DAY
                if status == "active" and end <= self.now:
                    raise self.fail(where, "active but its duration has passed; use status expired")
            roles = [{"roleDefinitionId": role_id(r)} for r in rel.get("roles") or []]
            record = {
                "id": rid, "displayName": rel.get("displayName", rid[:20]), "duration": duration,
                "customer": {"tenantId": customer.id, "displayName": customer.display_name},
                "accessDetails": {"unifiedRoles": roles}, "status": status,
                "autoExtendDuration": rel.get("autoExtendDuration", "PT0S"),
                "createdDateTime": iso(created), "lastModifiedDateTime": iso(activated or created),
                "activatedDateTime": iso(activated) if activated else None,
                "endDateTime": iso(end) if end else None,
                "_etag_version": 1, "_partner_tenant_id": tenant.id,
                "_access_assignments": {}, "_requests": {}, "_operations": {},
            }
            for aa in rel.get("access_assignments") or []:
                group_ref = str(aa.get("group", ""))
                group = tenant.groups.get(group_ref) or tenant.group_by_name(group_ref)
                if group is None:
                    raise self.fail(where, f"access assignment group {group_ref!r} not found")
                aid = str(aa.get("id") or self.world.new_id())
                record["_access_assignments"][aid] = {
                    "id": aid, "status": aa.get("status", "active" if status == "active" else "pending"),
                    "accessContainer": {"accessContainerId": group["id"], "accessContainerType": "securityGroup"},
                    "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role_id(r)}
                                                       for r in aa.get("roles") or []]},
                    "createdDateTime": iso(activated or created), "lastModifiedDateTime": iso(activated or created),
                    "_etag_version": 1,
                }
            tenant.gdap_relationships[rid] = record

    def refresh_tokens(self, tenant: Tenant, spec: dict) -> None:
        from . import tokens

        for rt in spec.get("refresh_tokens") or []:
            user = tenant.user_by_upn(str(rt.get("user", "")))
            if user is None:
                raise self.fail(f"partner {tenant.key}", f"refresh token user {rt.get('user')!r} not found")
            last_used = self.now - float(rt.get("last_used_days_ago", 0)) * DAY
            tokens.add_refresh_token(self.world, user=user, tenant=tenant, client_id=str(rt["client_id"]).lower(),
                                     value=rt.get("value"), issued_at=last_used, mfa=bool(user.get("_mfa")))


def customer_record(customer: Tenant, relationship: str = "reseller", dap: bool = False) -> dict:
    """A Partner Center customer resource for ``customer``."""
    return {
        "id": customer.id,
        "companyProfile": {
            "tenantId": customer.id, "domain": customer.initial_domain,
            "companyName": customer.display_name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "relationshipToPartner": relationship,
        "allowDelegatedAccess": dap,
        "attributes": {"objectType": "Customer"},
    }


def _when(value: Any, default: float) -> str:
    if value is None:
        return iso(default)
    if isinstance(value, (int, float)):
        return iso(float(value))
    from .clock import parse_iso

    ts = parse_iso(value)
    return iso(ts if ts is not None else default)

