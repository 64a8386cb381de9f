"""The identity platform (login) routes: OpenID discovery, JWKS, the v2.0 token endpoint
(client credentials with a secret or a certificate assertion, refresh token, device code) and
the device authorization endpoint, with the cross-tenant rules of CSP partners."""

from __future__ import annotations

import base64
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from . import catalog, tokens
from .clock import iso, parse_iso
from .server import HttpError, Request, Response, Router, identity_error
from .world import ADMIN_AGENTS, HELPDESK_AGENTS, Tenant, World, is_guid

SPECIAL_TENANTS = ("common", "organizations", "consumers")
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REAL_LOGIN = "https://login.microsoftonline.com"
GLOBAL_ADMIN = catalog.ROLE_TEMPLATES["Global Administrator"]
HELPDESK_ADMIN = catalog.ROLE_TEMPLATES["Helpdesk Administrator"]
# Entra treats a token request whose scope is empty or only OIDC scopes as one for Graph.
DEFAULT_RESOURCE = catalog.MICROSOFT_GRAPH


def _err(req: Request, error: str, code: int, message: str, status: int = 400, **extra: Any) -> HttpError:
    return identity_error(req, status, error, code, message, **extra)


def tenant_not_found(req: Request, segment: str) -> HttpError:
    return _err(req, "invalid_request", 90002,
                f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud. Check with your subscription administrator, this may happen "
                "if there are no active subscriptions for the tenant.")


def resolve_tenant(req: Request, segment: str, error: str = "invalid_request") -> Tenant | None:
    """The tenant a URL segment names (id or verified domain); None for common/organizations."""
    segment = unquote(segment)
    if segment.lower() in SPECIAL_TENANTS:
        return None
    tenant = req.world.tenant(segment, by_key=False)
    if tenant is None or not tenant.is_available(req.world.clock.now()):
        exc = tenant_not_found(req, segment)
        exc.body["error"] = error
        raise exc
    return tenant


# ---------------------------------------------------------------------------------- discovery
def discovery_document(req: Request, tenant: Tenant | None, segment: str) -> dict:
    base = req.base_url
    tid = tenant.id if tenant is not None else segment.lower()
    issuer_tid = tenant.id if tenant is not None else "{tenantid}"
    graph = req.runtime.urls.get("graph", "https://graph.microsoft.com") if req.runtime else ""
    return {
        "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{graph}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                             "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                             "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": tenant.region if tenant is not None else None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlparse(graph).netloc or "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


# ----------------------------------------------------------------------------- client context
@dataclass
class Client:
    app_id: str
    home: Tenant
    app: dict
    display_name: str
    # Set per target tenant:
    sp: dict | None = None  # the app's service principal in the target tenant
    dap: bool = False  # DAP pre-consent applies in the target tenant
    extra: dict = field(default_factory=dict)


def find_client(req: Request, client_id: str, tenant: Tenant | None, segment: str) -> Client:
    with req.world.lock:  # the fallback scan must not race a Graph write
        found = req.world.application(client_id)
    if found is None:
        raise app_not_found(req, client_id, tenant, segment)
    home, app = found
    return Client(client_id.lower(), home, app, app.get("displayName") or client_id)


def app_not_found(req: Request, client_id: str, tenant: Tenant | None, segment: str) -> HttpError:
    name = tenant.display_name if tenant is not None else segment
    return _err(req, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory '{name}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to "
                "the wrong tenant.")


def dap_preconsent(world: World, client: Client, target: Tenant) -> bool:
    """Legacy DAP: the app's service principal is in the partner's AdminAgents group and the
    partner's Partner Center record of the customer allows delegated access."""
    partner = client.home
    if partner.kind != "partner":
        return False
    record = partner.customers.get(target.id)
    if not record or not record.get("allowDelegatedAccess"):
        return False
    sp = partner.sp_by_app_id(client.app_id)
    group = partner.group_by_name(ADMIN_AGENTS)
    return bool(sp and group and sp["id"] in group.get("_members", ()))


def bind_target(world: World, client: Client, target: Tenant) -> bool:
    """Fill in how the app is present in ``target``; False when it is not present at all."""
    client.sp = target.sp_by_app_id(client.app_id)
    client.dap = target is not client.home and dap_preconsent(world, client, target)
    return target is client.home or client.sp is not None or client.dap


def check_enabled(req: Request, client: Client) -> None:
    """A disabled service principal of the app in the target tenant (AADSTS7000112)."""
    if client.sp is not None and client.sp.get("accountEnabled") is False:
        raise _err(req, "unauthorized_client", 7000112,
                   f"Application '{client.app_id}'({client.display_name}) is disabled.")


def check_user_enabled(req: Request, user: dict) -> None:
    if user.get("accountEnabled") is False:
        raise _err(req, "invalid_grant", 50057, "The user account is disabled. The account has been disabled by "
                   "an administrator.")


def _token_endpoints(req: Request, segment: str, target: Tenant | None) -> list[str]:
    names = {segment}
    if target is not None:
        names.add(target.id)
        names.update(target.domains)
    endpoints = []
    for base in {req.base_url, REAL_LOGIN}:
        for name in names:
            endpoints.append(f"{base}/{name}/oauth2/v2.0/token")
            endpoints.append(f"{base}/{name}/oauth2/token")
    return endpoints


def authenticate_client(req: Request, form: dict[str, str], client: Client, segment: str,
                        target: Tenant | None, required: bool = True) -> None:
    """Verify the client secret or the certificate assertion (AADSTS7000215/7000222/700027)."""
    world = req.world
    assertion = form.get("client_assertion")
    secret = form.get("client_secret")
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _err(req, "invalid_request", 50027, "Invalid JWT token. The client_assertion_type must be "
                       f"'{ASSERTION_TYPE}'.")
        try:
            tokens.verify_client_assertion(world, assertion, client.app, client.app_id,
                                           _token_endpoints(req, segment, target))
        except tokens.TokenError as exc:
            raise _err(req, "invalid_client", exc.aadsts or 700027, exc.message, status=401) from None
        return
    if secret is None:
        if not required or client.app.get("isFallbackPublicClient"):
            return
        raise _err(req, "invalid_client", 7000218, "The request body must contain the following parameter: "
                   "'client_assertion' or 'client_secret'.", status=401)
    now = world.clock.now()
    matched_expired = False
    values = client.app.get("_secrets") or {}
    for cred in client.app.get("passwordCredentials") or []:
        value = values.get(cred.get("keyId"))
        if value is None or not hmac.compare_digest(value.encode(), secret.encode()):
            continue
        end = parse_iso(cred.get("endDateTime"))
        start = parse_iso(cred.get("startDateTime"))
        if (end is not None and end <= now) or (start is not None and start > now + 300):
            matched_expired = True
            continue
        return
    if matched_expired:
        raise _err(req, "invalid_client", 7000222,
                   f"The provided client secret keys for app '{client.app_id}' are expired. Visit the Azure "
                   "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                   "certificate credentials for added security: https://aka.ms/certCreds.", status=401)
    raise _err(req, "invalid_client", 7000215,
               "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
               f"value, not the client secret ID, for a secret added to app '{client.app_id}'.", status=401)


# ------------------------------------------------------------------------------------- scopes
@dataclass
class ScopeRequest:
    resource: str  # appId of the API
    audience_text: str  # the resource as the client wrote it (for messages)
    names: list[str]  # requested permission values ('.default' included)
    oidc: set[str]


def parse_scopes(req: Request, scope: str, client_credentials: bool) -> ScopeRequest:
    parts = [p for p in (scope or "").split() if p]
    if client_credentials:
        if not parts:
            raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                       "'scope'.")
        if len(parts) > 1 or not parts[0].endswith("/.default"):
            bad = next((p for p in parts if not p.endswith("/.default")), parts[-1])
            if all(p.endswith("/.default") for p in parts):
                raise _err(req, "invalid_scope", 70011, f"The provided value for the input parameter 'scope' is "
                           f"not valid. The scope {scope} is not valid. Only one resource may be requested.")
            raise _err(req, "invalid_scope", 1002012, f"The provided value for scope {bad} is not valid. Client "
                       "credential flows must have a scope value with /.default suffixed to the resource "
                       "identifier (application ID URI).")
    oidc = {p.lower() for p in parts if p.lower() in OIDC_SCOPES}
    resources: dict[str, tuple[str, list[str]]] = {}
    for part in parts:
        if part.lower() in OIDC_SCOPES:
            continue
        if "/" in part:
            prefix, _, name = part.rpartition("/")
        else:
            prefix, name = "https://graph.microsoft.com", part
        app_id = catalog.appid_for_audience(prefix) or (prefix.lower() if is_guid(prefix) else None)
        if app_id is None:
            raise _err(req, "invalid_resource", 500011, f"The resource principal named {prefix} was not found in "
                       "the tenant. This can happen if the application has not been installed by the "
                       "administrator of the tenant or consented to by any user in the tenant. You might have "
                       "sent your authentication request to the wrong tenant.")
        entry = resources.setdefault(app_id, (prefix, []))
        entry[1].append(name)
    if len(resources) > 1:
        raise _err(req, "invalid_scope", 28000, "Provided value for the input parameter scope is not valid because "
                   f"it contains more than one resource. Scope {scope} is not valid.")
    if not resources:
        return ScopeRequest(DEFAULT_RESOURCE, "https://graph.microsoft.com", [".default"], oidc)
    app_id, (prefix, names) = next(iter(resources.items()))
    return ScopeRequest(app_id, prefix, names, oidc)


def resource_sp(req: Request, target: Tenant, scopes: ScopeRequest) -> dict:
    sp = target.sp_by_app_id(scopes.resource)
    if sp is None:
        raise _err(req, "invalid_resource", 500011,
                   f"The resource principal named {scopes.audience_text} was not found in the tenant named "
                   f"{target.display_name}. This can happen if the application has not been installed by the "
                   "administrator of the tenant or consented to by any user in the tenant. You might have sent "
                   "your authentication request to the wrong tenant.")
    return sp


def _rra_values(client: Client, resource: str, kind: str) -> set[str]:
    values = set()
    for entry in client.app.get("requiredResourceAccess") or []:
        if str(entry.get("resourceAppId", "")).lower() != resource:
            continue
        for item in entry.get("resourceAccess") or []:
            if item.get("type") == kind:
                value = catalog.permission_value(resource, item.get("id"), kind)
                if value:
                    values.add(value)
    return values


def app_roles(world: World, client: Client, target: Tenant, resource: dict) -> list[str]:
    """``roles`` of an app-only token in ``target``."""
    values: set[str] = set()
    if target is client.home or client.dap:
        values |= _rra_values(client, resource["appId"].lower(), "Role")
    if client.sp is not None:
        by_id = {r.get("id"): r.get("value") for r in resource.get("appRoles") or []}
        for assignment in target.app_role_assignments.values():
            if assignment.get("principalId") == client.sp["id"] and assignment.get("resourceId") == resource["id"]:
                value = by_id.get(assignment.get("appRoleId")) or catalog.permission_value(
                    resource["appId"].lower(), assignment.get("appRoleId"), "Role")
                if value:
                    values.add(value)
    return sorted(values)


def delegated_scopes(world: World, client: Client, target: Tenant, resource: dict) -> set[str]:
    """Delegated permissions consented for the app on ``resource`` in ``target``."""
    values: set[str] = set()
    if target is client.home or client.dap:
        values |= _rra_values(client, resource["appId"].lower(), "Scope")
    if client.sp is not None:
        for grant in target.oauth2_permission_grants.values():
            if grant.get("clientId") == client.sp["id"] and grant.get("resourceId") == resource["id"] \
                    and grant.get("consentType", "AllPrincipals") == "AllPrincipals":
                values.update((grant.get("scope") or "").split())
    return values


def user_roles(world: World, user: dict, home: Tenant, target: Tenant) -> list[str]:
    """``wids``: directory roles at home; in a customer tenant the roles of active GDAP access
    assignments whose group contains the user (plus legacy DAP agent groups)."""
    if target is home:
        return list(user.get("_directory_roles") or [])
    now = world.clock.now()
    roles: set[str] = set()
    refresh = _gdap_refresh()
    for rel in home.gdap_relationships.values():
        if (rel.get("customer") or {}).get("tenantId") != target.id:
            continue
        if refresh is not None:
            refresh(world, rel)  # time-driven changes: auto-approval, expiry, auto-extension
        if rel.get("status") not in ("active", "expiring"):  # an expiring relationship is still in force
            continue
        end = parse_iso(rel.get("endDateTime"))
        if end is not None and end <= now:
            continue
        for assignment in (rel.get("_access_assignments") or {}).values():
            if assignment.get("status") != "active":
                continue
            gid = (assignment.get("accessContainer") or {}).get("accessContainerId")
            group = home.groups.get(gid)
            if group is not None and user["id"] in group.get("_members", ()):
                roles.update(r.get("roleDefinitionId") for r in
                             (assignment.get("accessDetails") or {}).get("unifiedRoles") or [])
    record = home.customers.get(target.id)
    if world.settings.get("dap_user_roles") and record and record.get("allowDelegatedAccess"):
        for name, role in ((ADMIN_AGENTS, GLOBAL_ADMIN), (HELPDESK_AGENTS, HELPDESK_ADMIN)):
            group = home.group_by_name(name)
            if group is not None and user["id"] in group.get("_members", ()):
                roles.add(role)
    roles.discard(None)
    return sorted(roles)


def _gdap_refresh() -> Any:
    """``gdap.refresh(world, relationship)`` when the GDAP module is there."""
    try:
        from . import gdap  # noqa: PLC0415 - optional module, imported late
    except ImportError:
        return None
    return getattr(gdap, "refresh", None)


def has_partner_relationship(home: Tenant, target: Tenant) -> bool:
    if target.id in home.customers:
        return True
    return any((rel.get("customer") or {}).get("tenantId") == target.id for rel in home.gdap_relationships.values())


# ------------------------------------------------------------------------------------- grants
def _token_response(access_token: str, expires_in: int, **extra: Any) -> Response:
    body = {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": access_token}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def client_credentials(req: Request, form: dict[str, str], segment: str, target: Tenant | None) -> Response:
    world = req.world
    client_id = form["client_id"]
    if target is None:
        raise _err(req, "invalid_request", 50059, "No tenant-identifying information found in either the request "
                   "or implied by any provided credentials.")
    client = find_client(req, client_id, target, segment)
    with world.lock:
        present = bind_target(world, client, target)
    if not present:
        raise app_not_found(req, client_id, target, segment)
    check_enabled(req, client)
    authenticate_client(req, form, client, segment, target)
    scopes = parse_scopes(req, form.get("scope", ""), client_credentials=True)
    with world.lock:
        resource = resource_sp(req, target, scopes)
        roles = app_roles(world, client, target, resource)
        sp_oid = client.sp["id"] if client.sp else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{target.id}/{client.app_id}"))
    token, expires_in = tokens.issue_access_token(
        world, tenant=target, app_id=client.app_id, resource_app_id=scopes.resource, roles=roles,
        app_display_name=client.display_name, sp_oid=sp_oid)
    req.log_tenant_id = target.id
    return _token_response(token, expires_in)


def _user_token(req: Request, form: dict[str, str], client: Client, user: dict, home: Tenant,
                target: Tenant, scopes: ScopeRequest, mfa: bool) -> tuple[Response, tokens.RefreshToken]:
    """Access token (+ refresh, id token, client_info) for ``user`` in ``target``."""
    world = req.world
    with world.lock:
        if target is not home:
            if not has_partner_relationship(home, target):
                raise _err(req, "invalid_grant", 50020,
                           f"User account '{user.get('userPrincipalName')}' from identity provider "
                           f"'{tokens.access_token_issuer(home.id)}' does not exist in tenant "
                           f"'{target.display_name}' and cannot access the application '{client.app_id}'"
                           f"({client.display_name}) in that tenant. The account needs to be added as an external "
                           "user in the tenant first.")
            if not bind_target(world, client, target):
                raise _err(req, "invalid_grant", 90099,
                           f"The application '{client.app_id}' ({client.display_name}) has not been authorized in "
                           f"the tenant '{target.id}'. Applications must be authorized to access the customer "
                           "tenant before partner delegated administrators can use them. Provide pre-consent or "
                           "execute the appropriate Partner Center API to authorize the application.")
        else:
            bind_target(world, client, target)
        check_enabled(req, client)
        check_user_enabled(req, user)
        resource = resource_sp(req, target, scopes)
        granted = delegated_scopes(world, client, target, resource)
        if ".default" in scopes.names:
            scp = sorted(granted)
            missing = [] if scp else [".default"]
        else:
            scp = sorted(set(scopes.names))
            missing = [s for s in scp if s not in granted]
        if missing:
            raise _err(req, "invalid_grant", 65001,
                       f"The user or administrator has not consented to use the application with ID "
                       f"'{client.app_id}' named '{client.display_name}'. Send an interactive authorization "
                       "request for this user and resource.", suberror="consent_required")
        wids = user_roles(world, user, home, target)
        user_view = dict(user)
        user_view["_home_tenant_id"] = home.id
    access, expires_in = tokens.issue_access_token(
        world, tenant=target, app_id=client.app_id, resource_app_id=scopes.resource, scp=scp, user=user_view,
        wids=wids, app_display_name=client.display_name, amr=["pwd", "mfa"] if mfa else ["pwd"])
    record = tokens.add_refresh_token(world, user=user, tenant=home, client_id=client.app_id, mfa=mfa)
    prefix = catalog.primary_audience(scopes.resource) or scopes.resource
    scope_text = " ".join([f"{prefix}/{s}" for s in scp] + sorted(scopes.oidc - {"offline_access"}))
    extra: dict[str, Any] = {"scope": scope_text, "refresh_token": record.value}
    if "openid" in scopes.oidc or form.get("client_info") == "1":
        extra["id_token"] = tokens.id_token(world, tenant=target, client_id=client.app_id, user=user)
        extra["client_info"] = tokens.client_info(user["id"], home.id)
    req.log_tenant_id = target.id
    req.log_user = user.get("userPrincipalName")
    return _token_response(access, expires_in, **extra), record


def refresh_token_grant(req: Request, form: dict[str, str], segment: str, target: Tenant | None) -> Response:
    world = req.world
    client_id = form["client_id"]
    value = form.get("refresh_token")
    if not value:
        raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                   "'refresh_token'.")
    client = find_client(req, client_id, target, segment)
    authenticate_client(req, form, client, segment, target)
    with world.lock:
        record = world.refresh_tokens.get(value)
    if record is None:
        raise _err(req, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if record.client_id != client.app_id:
        raise _err(req, "invalid_grant", 70000, "Provided grant is invalid or malformed. The refresh token was "
                   "issued to a different client.")
    with world.lock:
        state, valid_from = tokens.refresh_token_state(world, record)
        home = world.tenants.get(record.home_tenant_id)
        user = home.users.get(record.user_id) if home else None
    if state == "expired":
        days = float(world.settings.get("refresh_token_inactivity_days", 90))
        raise _err(req, "invalid_grant", 700082,
                   f"The refresh token has expired due to inactivity. The token was issued on "
                   f"{iso(record.issued_at)} and was inactive for {int(days)}.00:00:00.")
    if state == "revoked" or user is None or home is None:
        raise _err(req, "invalid_grant", 50173,
                   "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
                   "might have changed or reset their password. The grant was issued on "
                   f"'{iso(record.issued_at)}' and the TokensValidFrom date (before which tokens are not valid) "
                   f"for this user is '{iso(valid_from) if valid_from else iso(world.clock.now())}'.")
    req.log_user = user.get("userPrincipalName")
    if not (user.get("_mfa") and record.mfa):
        scopes_text = form.get("scope") or "https://graph.microsoft.com"
        raise _err(req, "invalid_grant", 50076,
                   "Due to a configuration change made by your administrator, or because you moved to a new "
                   f"location, you must use multi-factor authentication to access '{scopes_text.split()[0]}'.",
                   suberror="basic_action",
                   claims='{"access_token":{"capolids":{"essential":true,"values":["emulator-mfa-policy"]}}}')
    scopes = parse_scopes(req, form.get("scope", ""), client_credentials=False)
    tenant = target if target is not None else home
    if not tenant.is_available(world.clock.now()):
        raise tenant_not_found(req, segment)
    response, new = _user_token(req, form, client, user, home, tenant, scopes, record.mfa)
    with world.lock:
        record.last_used = world.clock.now()
        record.used += 1
        record.superseded_by = new.value
    return response


def device_code_grant(req: Request, form: dict[str, str], segment: str, target: Tenant | None) -> Response:
    world = req.world
    client_id = form["client_id"]
    code = form.get("device_code")
    if not code:
        raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                   "'device_code'.")
    client = find_client(req, client_id, target, segment)
    authenticate_client(req, form, client, segment, target)
    with world.lock:
        record = world.device_codes.get(code)
    if record is None or record.client_id != client.app_id or record.redeemed:
        raise _err(req, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
    if world.clock.now() >= record.expires_at:
        raise _err(req, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not "
                   "valid. This device code has expired.")
    if record.user_id is None:
        raise _err(req, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. "
                   "Continue polling.")
    home = world.tenants.get(record.user_tenant_id or "")
    user = home.users.get(record.user_id) if home else None
    if user is None or home is None:
        raise _err(req, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
    tenant = target if target is not None else home
    scopes = parse_scopes(req, record.scope, client_credentials=False)
    response, _ = _user_token(req, form, client, user, home, tenant, scopes, record.mfa)
    with world.lock:
        record.redeemed = True
    return response


def basic_credentials(req: Request, form: dict[str, str]) -> None:
    """client_secret_basic: ``Authorization: Basic base64(client_id:client_secret)``."""
    auth = req.headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return
    cid, sep, secret = decoded.partition(":")
    if sep:
        form.setdefault("client_id", unquote(cid))
        form.setdefault("client_secret", unquote(secret))


# ------------------------------------------------------------------------------------- routes
def register(router: Router) -> None:
    r = router.route
    tenant_seg = r"/(?P<segment>[^/]+)"

    @r("GET", tenant_seg + r"/v2\.0/\.well-known/openid-configuration")
    def openid_configuration(req: Request, segment: str) -> dict:
        tenant = resolve_tenant(req, segment, error="invalid_tenant")
        return discovery_document(req, tenant, unquote(segment))

    @r("GET", tenant_seg + r"/\.well-known/openid-configuration")
    def openid_configuration_v1(req: Request, segment: str) -> dict:
        tenant = resolve_tenant(req, segment, error="invalid_tenant")
        doc = discovery_document(req, tenant, unquote(segment))
        tid = tenant.id if tenant is not None else "{tenantid}"
        doc["issuer"] = tokens.access_token_issuer(tid)
        doc["token_endpoint"] = doc["token_endpoint"].replace("/oauth2/v2.0/", "/oauth2/")
        doc["authorization_endpoint"] = doc["authorization_endpoint"].replace("/oauth2/v2.0/", "/oauth2/")
        doc["jwks_uri"] = doc["jwks_uri"].replace("/discovery/v2.0/keys", "/discovery/keys")
        doc.pop("device_authorization_endpoint", None)
        return doc

    @r("GET", tenant_seg + r"/discovery(?:/v2\.0)?/keys")
    def jwks(req: Request, segment: str) -> dict:
        resolve_tenant(req, segment, error="invalid_tenant")
        return tokens.signing_key(req.world).jwks()

    @r("POST", tenant_seg + r"/oauth2/v2\.0/token")
    def token(req: Request, segment: str) -> Response:
        return _token(req, segment, req.form())

    @r("POST", tenant_seg + r"/oauth2/token")
    def token_v1(req: Request, segment: str) -> Response:
        """The v1.0 endpoint Microsoft still serves (Partner Center's samples use it): `resource`
        instead of `scope`; the answer adds `resource`, `expires_on`, `not_before` and gives the
        lifetimes as strings."""
        form = req.form()
        resource = (form.pop("resource", "") or "").strip()
        if not resource:
            if form.get("grant_type") == "client_credentials":
                raise _err(req, "invalid_request", 900144, "The request body must contain the following "
                           "parameter: 'resource'.")
            resource = "https://graph.microsoft.com"
        form["scope"] = resource.rstrip("/") + "/.default"
        response = _token(req, segment, form)
        body = response.body
        if response.status == 200 and isinstance(body, dict):
            now = int(req.world.clock.now())
            lifetime = int(body["expires_in"])
            body.update(expires_in=str(lifetime), ext_expires_in=str(body.get("ext_expires_in", lifetime)),
                        expires_on=str(now + lifetime), not_before=str(now), resource=resource)
        return response

    def _token(req: Request, segment: str, form: dict) -> Response:
        basic_credentials(req, form)
        grant = form.get("grant_type")
        if not grant:
            raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                       "'grant_type'.")
        client_id = form.get("client_id", "").strip()
        if not client_id:
            raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                       "'client_id'.")
        req.log_app_id = client_id
        if not is_guid(client_id):
            raise _err(req, "unauthorized_client", 700038, f"{client_id} is not a valid application identifier.")
        form["client_id"] = client_id.lower()
        target = resolve_tenant(req, segment)
        seg = unquote(segment)
        if grant == "client_credentials":
            return client_credentials(req, form, seg, target)
        if grant == "refresh_token":
            return refresh_token_grant(req, form, seg, target)
        if grant == DEVICE_CODE_GRANT:
            return device_code_grant(req, form, seg, target)
        raise _err(req, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")

    @r("POST", tenant_seg + r"/oauth2/v2\.0/devicecode")
    def devicecode(req: Request, segment: str) -> dict:
        form = req.form()
        client_id = form.get("client_id", "").strip().lower()
        if not client_id:
            raise _err(req, "invalid_request", 900144, "The request body must contain the following parameter: "
                       "'client_id'.")
        req.log_app_id = client_id
        target = resolve_tenant(req, segment)
        seg = unquote(segment)
        if not is_guid(client_id):
            raise _err(req, "unauthorized_client", 700038, f"{client_id} is not a valid application identifier.")
        find_client(req, client_id, target, seg)
        scope = form.get("scope", "")
        parse_scopes(req, scope, client_credentials=False)  # reject bad scopes now, as Entra does
        record = tokens.new_device_code(req.world, client_id, seg, scope)
        uri = "https://microsoft.com/devicelogin"
        return {
            "user_code": record.user_code, "device_code": record.device_code, "verification_uri": uri,
            "expires_in": int(record.expires_at - req.world.clock.now() + 0.5), "interval": record.interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code "
                       f"{record.user_code} to authenticate.",
        }

    @r("GET", tenant_seg + r"/oauth2/v2\.0/authorize")
    def authorize(req: Request, segment: str) -> Response:
        resolve_tenant(req, segment)
        raise _err(req, "invalid_request", 900561, "Interactive sign-in is not emulated; use the device code "
                   "flow and approve it through the control API.")

    @r("GET", r"/error")
    def error_page(req: Request) -> Response:
        code = req.param("code") or ""
        return Response(200, f"AADSTS{code}: see the error_description of the response that linked here.")
