"""Microsoft Graph (v1.0 and beta): directory objects, group membership, apps, grants, ``$batch``.

Every route authenticates the bearer token for the Graph audience and checks permissions from its
claims the way Entra does: application tokens need one of the listed app roles (``roles``),
delegated tokens need one of the listed scopes (``scp``) *and* the signed-in user needs a
directory role (``wids``) that allows the operation. Errors use Graph's body
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import catalog, odata, server, tokens

# --------------------------------------------------------------------------------------------
# Glue to the server: it owns Request/Response; Graph-specific error handling is here.
# --------------------------------------------------------------------------------------------


class GraphError(Exception):
    """A Graph error response (status, code, message, extra headers)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def header(req, name: str) -> str | None:
    return req.headers.get(name)


def query_pairs(req) -> list[tuple[str, str]]:
    return parse_qsl(req.raw_query or "", keep_blank_values=True)


def respond(req, status: int, body: Any = None, headers: dict | None = None) -> server.Response:
    return server.Response(status, body, dict(headers or {}))


def error_body(req, code: str, message: str) -> dict:
    return server.graph_error(req, 400, code, message).body


def error_response(req, err: GraphError) -> server.Response:
    return server.graph_error(req, err.status, err.code, err.message, dict(err.headers)).response()


def json_body(req) -> dict:
    if not (req.body or b"").strip():
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    body = req.json()  # malformed JSON / wrong content type: the server's Graph 400/415
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Invalid request body: a JSON object is expected.")
    return body


def routes(router, method: str, pattern: str) -> Callable:
    """Register ``handler`` for v1.0 and beta; turn GraphError/ODataError into Graph bodies."""

    def deco(fn):
        def wrapped(req, **groups):
            try:
                return fn(req, **groups)
            except GraphError as err:
                return error_response(req, err)
            except odata.ODataError as err:
                return error_response(req, GraphError(err.status, err.code, err.message))

        wrapped.__name__ = fn.__name__
        router.route(method, r"/(?P<version>v1\.0|beta)" + pattern)(wrapped)
        return fn

    return deco


# --------------------------------------------------------------------------------------------
# Authentication and permissions
# --------------------------------------------------------------------------------------------

GRAPH_AUDIENCE = catalog.primary_audience(catalog.MICROSOFT_GRAPH) or "https://graph.microsoft.com"

R = catalog.ROLE_TEMPLATES
GLOBAL_ADMIN = R["Global Administrator"]
# Any built-in role can read the directory (they all include microsoft.directory/*/read basics).
READ_ROLES = frozenset(R.values())
GROUP_MEMBER_WRITE_ROLES = frozenset({
    R["Global Administrator"], R["Groups Administrator"], R["User Administrator"],
    R["Privileged Role Administrator"], R["Directory Writers"],
})
GROUP_WRITE_ROLES = GROUP_MEMBER_WRITE_ROLES
USER_WRITE_ROLES = frozenset({R["Global Administrator"], R["User Administrator"]})
APP_WRITE_ROLES = frozenset({
    R["Global Administrator"], R["Application Administrator"], R["Cloud Application Administrator"],
    R["Hybrid Identity Administrator"],
})
GRANT_WRITE_ROLES = frozenset({
    R["Global Administrator"], R["Privileged Role Administrator"], R["Application Administrator"],
    R["Cloud Application Administrator"],
})

DIR_READ = {"Directory.Read.All", "Directory.ReadWrite.All"}
DIR_RW = {"Directory.ReadWrite.All"}
AS_USER = {"Directory.AccessAsUser.All"}


class Perm:
    """One operation's requirements: app roles, delegated scopes and directory roles."""

    def __init__(self, roles: Iterable[str], scopes: Iterable[str], wids: Iterable[str] | None):
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.wids = frozenset(wids) if wids is not None else None


P_USER_READ = Perm(DIR_READ | {"User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All"},
                   DIR_READ | AS_USER | {"User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All"}, READ_ROLES)
P_USER_WRITE = Perm({"User.ReadWrite.All"}, AS_USER | {"User.ReadWrite.All"}, USER_WRITE_ROLES)
P_GROUP_READ = Perm(DIR_READ | {"Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All",
                                "GroupMember.ReadWrite.All"},
                    DIR_READ | AS_USER | {"Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All",
                                          "GroupMember.ReadWrite.All"}, READ_ROLES)
P_GROUP_CREATE = Perm(DIR_RW | {"Group.Create", "Group.ReadWrite.All"},
                      DIR_RW | AS_USER | {"Group.ReadWrite.All"}, GROUP_WRITE_ROLES)
P_GROUP_WRITE = Perm(DIR_RW | {"Group.ReadWrite.All"}, DIR_RW | AS_USER | {"Group.ReadWrite.All"},
                     GROUP_WRITE_ROLES)
P_MEMBER_WRITE = Perm(DIR_RW | {"GroupMember.ReadWrite.All", "Group.ReadWrite.All"},
                      DIR_RW | AS_USER | {"GroupMember.ReadWrite.All", "Group.ReadWrite.All"},
                      GROUP_MEMBER_WRITE_ROLES)
P_APP_READ = Perm(DIR_READ | {"Application.Read.All", "Application.ReadWrite.All",
                              "Application.ReadWrite.OwnedBy"},
                  DIR_READ | AS_USER | {"Application.Read.All", "Application.ReadWrite.All"}, READ_ROLES)
P_APP_WRITE = Perm({"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"},
                   AS_USER | {"Application.ReadWrite.All"}, APP_WRITE_ROLES)
P_SP_CREATE = Perm({"Application.ReadWrite.All", "Directory.ReadWrite.All"},
                   AS_USER | {"Application.ReadWrite.All", "Directory.ReadWrite.All"}, APP_WRITE_ROLES)
P_GRANT_READ = Perm(DIR_READ | {"DelegatedPermissionGrant.ReadWrite.All", "Application.Read.All"},
                    DIR_READ | AS_USER | {"DelegatedPermissionGrant.ReadWrite.All"}, READ_ROLES)
P_GRANT_WRITE = Perm({"DelegatedPermissionGrant.ReadWrite.All"},
                     AS_USER | {"DelegatedPermissionGrant.ReadWrite.All"}, GRANT_WRITE_ROLES)
P_ROLE_ASSIGN_READ = Perm(DIR_READ | {"Application.Read.All", "AppRoleAssignment.ReadWrite.All"},
                          DIR_READ | AS_USER | {"Application.Read.All", "AppRoleAssignment.ReadWrite.All"},
                          READ_ROLES)
P_ROLE_ASSIGN_WRITE = Perm({"AppRoleAssignment.ReadWrite.All"}, AS_USER | {"AppRoleAssignment.ReadWrite.All"},
                           GRANT_WRITE_ROLES)
P_ORG_READ = Perm(DIR_READ | {"Organization.Read.All", "Organization.ReadWrite.All"},
                  DIR_READ | AS_USER | {"User.Read", "Organization.Read.All", "Organization.ReadWrite.All"}, None)
P_DOMAIN_READ = Perm(DIR_READ | {"Domain.Read.All"}, DIR_READ | AS_USER | {"Domain.Read.All"}, READ_ROLES)
P_DIROBJ_READ = Perm(DIR_READ | {"User.Read.All", "Group.Read.All", "Application.Read.All"},
                     DIR_READ | AS_USER | {"User.Read.All", "Group.Read.All", "User.ReadBasic.All"}, READ_ROLES)
P_DIROBJ_DELETE = Perm(DIR_RW | {"Group.ReadWrite.All", "User.ReadWrite.All", "Application.ReadWrite.All"},
                       AS_USER | DIR_RW | {"Group.ReadWrite.All", "User.ReadWrite.All", "Application.ReadWrite.All"},
                       GROUP_WRITE_ROLES | APP_WRITE_ROLES | USER_WRITE_ROLES)

DENIED = "Insufficient privileges to complete the operation."


def _scopes(claims: dict) -> set[str]:
    scp = claims.get("scp")
    return set(scp.split()) if isinstance(scp, str) else set()


def is_delegated(claims: dict) -> bool:
    idtyp = claims.get("idtyp")
    return idtyp == "user" if idtyp else bool(claims.get("scp"))


def authenticate(req) -> dict:
    """Claims of a valid Graph token (the server raises 401 InvalidAuthenticationToken)."""
    return req.claims or req.authenticate()


def check(claims: dict, perm: Perm, *, extra_wids: Iterable[str] = ()) -> None:
    if is_delegated(claims):
        if not (_scopes(claims) & perm.scopes):
            raise GraphError(403, "Authorization_RequestDenied", DENIED)
        if perm.wids is not None:
            wids = {w.lower() for w in claims.get("wids") or ()}
            if not (wids & (perm.wids | set(extra_wids))):
                raise GraphError(403, "Authorization_RequestDenied", DENIED)
        return
    roles = set(claims.get("roles") or ())
    if not (roles & perm.roles):
        raise GraphError(403, "Authorization_RequestDenied", DENIED)


def tenant_of(req, claims: dict):
    tenant = req.world.tenant(claims.get("tid"))
    if tenant is None:
        raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
    return tenant


def begin(req, perm: Perm | None):
    """Authenticate, check ``perm``; returns (claims, tenant)."""
    claims = authenticate(req)
    if perm is not None:
        check(claims, perm)
    return claims, tenant_of(req, claims)


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------

ODATA_TYPE = {
    "users": "#microsoft.graph.user",
    "groups": "#microsoft.graph.group",
    "service_principals": "#microsoft.graph.servicePrincipal",
    "applications": "#microsoft.graph.application",
}
ENTITY = {"users": "user", "groups": "group", "service_principals": "servicePrincipal", "applications": "application"}
SEGMENT = {"users": "users", "groups": "groups", "service_principals": "servicePrincipals",
           "applications": "applications"}

# Graph returns this default set for users unless $select asks for more.
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")

SCHEMA = {
    "users": {"id", "displayName", "userPrincipalName", "givenName", "surname", "mail", "accountEnabled",
              "userType", "jobTitle", "businessPhones", "mobilePhone", "officeLocation", "preferredLanguage",
              "createdDateTime", "mailNickname", "onPremisesSyncEnabled", "proxyAddresses", "otherMails",
              "assignedLicenses", "companyName", "department", "employeeId", "identities", "usageLocation",
              "deletedDateTime", "signInActivity", "onPremisesImmutableId", "city", "country", "state"},
    "groups": {"id", "displayName", "description", "securityEnabled", "mailEnabled", "mailNickname", "mail",
               "groupTypes", "visibility", "createdDateTime", "isAssignableToRole", "proxyAddresses",
               "deletedDateTime", "classification", "membershipRule", "membershipRuleProcessingState",
               "onPremisesSyncEnabled", "renewedDateTime", "securityIdentifier", "expirationDateTime",
               "resourceProvisioningOptions", "uniqueName"},
    "service_principals": {"id", "appId", "displayName", "appDisplayName", "servicePrincipalType",
                           "accountEnabled", "appOwnerOrganizationId", "servicePrincipalNames", "signInAudience",
                           "appRoles", "oauth2PermissionScopes", "tags", "createdDateTime", "deletedDateTime",
                           "appRoleAssignmentRequired", "homepage", "replyUrls",
                           "keyCredentials", "passwordCredentials", "alternativeNames", "description",
                           "preferredSingleSignOnMode", "notes", "loginUrl", "logoutUrl", "addIns", "info"},
    "applications": {"id", "appId", "displayName", "signInAudience", "requiredResourceAccess",
                     "passwordCredentials", "keyCredentials", "identifierUris", "appRoles", "publisherDomain",
                     "createdDateTime", "deletedDateTime", "tags", "web", "publicClient", "spa", "api",
                     "isFallbackPublicClient", "description", "notes", "uniqueName", "info",
                     "optionalClaims", "parentalControlSettings", "groupMembershipClaims"},
}


def typed(collection: str, obj: dict, select=None) -> dict:
    """A directory object as it appears in a mixed collection (with @odata.type); a selected
    property that its type does not have (appId of a user) is left out rather than null."""
    if select:
        select = [name for name in select if name in SCHEMA[collection]] or ["id"]
    out = shape(collection, obj, select)
    return {"@odata.type": ODATA_TYPE[collection], **out}


# The properties serviceprincipal-list.md shows on every service principal; the stored objects keep
# only what they set (a world of thousands of tenants), the rest is filled on the way out.
# publisherName (in that page's example) and createdDateTime are beta: the v1.0 metadata (the
# model msgraph-sdk is generated from) has neither, so they are not answered.
SP_DEFAULTS = {
    "deletedDateTime": None, "accountEnabled": True, "appDisplayName": None, "appOwnerOrganizationId": None,
    "appRoleAssignmentRequired": False, "homepage": None, "loginUrl": None, "logoutUrl": None,
    "replyUrls": [], "servicePrincipalNames": [], "tags": [], "addIns": [], "appRoles": [],
    "info": {"termsOfServiceUrl": None, "supportUrl": None, "privacyStatementUrl": None, "marketingUrl": None,
             "logoUrl": None},
    "keyCredentials": [], "oauth2PermissionScopes": [], "passwordCredentials": [], "alternativeNames": [],
    "description": None, "notes": None, "preferredSingleSignOnMode": None, "appDescription": None,
    "applicationTemplateId": None, "notificationEmailAddresses": [], "preferredTokenSigningKeyThumbprint": None,
    "tokenEncryptionKeyId": None, "samlSingleSignOnSettings": None, "resourceSpecificApplicationPermissions": [],
    "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
}
SP_NOT_IN_V1 = ("publisherName", "createdDateTime")


def shape(collection: str, obj: dict, select=None) -> dict:
    if select:
        out = odata.select_fields(obj, select)
    elif collection == "users":
        return {k: odata.public(obj.get(k)) for k in USER_DEFAULT}
    else:
        out = odata.public(obj)
        if collection == "service_principals":
            for key in SP_NOT_IN_V1:
                out.pop(key, None)
            for key, value in SP_DEFAULTS.items():
                if key not in out:
                    out[key] = json.loads(json.dumps(value)) if isinstance(value, (list, dict)) else value
    if collection == "applications":
        _hide_secrets(out)  # copies: the stored credentials keep their values
    return out


def _hide_secrets(app: dict) -> None:
    # secretText is only ever returned by addPassword.
    for cred in app.get("passwordCredentials") or ():
        cred["secretText"] = None
    for key in app.get("keyCredentials") or ():
        key["key"] = None


def base_url(req, version: str) -> str:
    root = req.base_url or f"https://{header(req, 'Host') or 'graph.microsoft.com'}"
    return f"{root.rstrip('/')}/{version}"


def collection_page(req, version: str, collection: str, items: Iterable[dict], *, context: str,
                    path: str | None = None, entity: str | None = None,
                    project: Callable | None = None, allowed: set | None = None) -> dict:
    q = odata.parse_query(
        query_pairs(req), req.headers, path=path or req.path, entity=entity or ENTITY.get(collection, "directoryObject"),
        allowed=allowed if allowed is not None else SCHEMA.get(collection),
        page_size=int(req.world.settings.get("graph_page_size", odata.DEFAULT_PAGE_SIZE)),
        empty_pages=bool(req.world.settings.get("graph_empty_pages", False)),
    )
    if project is None:
        def project(o, sel):
            return shape(collection, o, sel)
    return q.page(items, link_base=base_url(req, version) + path_suffix(req, version), context=context,
                  project=project)


def path_suffix(req, version: str) -> str:
    path = req.path
    prefix = f"/{version}"
    return path[len(prefix):] if path.startswith(prefix) else path


def context_url(req, version: str, fragment: str) -> str:
    return f"{base_url(req, version)}/$metadata#{fragment}"


# --------------------------------------------------------------------------------------------
# Look-ups
# --------------------------------------------------------------------------------------------

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    return bool(_GUID_RE.match(value or ""))


def not_found(object_id: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
                      "are not present.")


def bad_id(object_id: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Invalid object identifier '{object_id}'.")


def get_obj(tenant, collection: str, object_id: str) -> dict:
    obj = getattr(tenant, collection).get(object_id) or getattr(tenant, collection).get(object_id.lower())
    if obj is None:
        if collection == "users" and "@" in object_id:
            obj = tenant.user_by_upn(object_id)
            if obj is not None:
                return obj
        if not is_guid(object_id) and not (collection == "users" and "@" in object_id):
            raise bad_id(object_id)
        raise not_found(object_id)
    return obj


def find_directory_object(tenant, object_id: str) -> tuple[str, dict] | None:
    found = tenant.object(object_id) or tenant.object(object_id.lower())
    return found


# Public and national-cloud Graph hosts, plus this emulator's own address.
GRAPH_HOSTS = {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
               "microsoftgraph.chinacloudapi.cn", "127.0.0.1", "localhost"}
_REF_RE = re.compile(
    r"^(?:https?://[^/]+/(?:v1\.0|beta)/)?(?:directoryObjects|users|groups|servicePrincipals|devices|contacts|"
    r"orgContacts)/([^/?#]+)$"
)


def ref_to_id(req, ref: Any) -> str:
    """Object id from an ``@odata.id`` reference URL (graph.microsoft.com or this emulator)."""
    if not isinstance(ref, str) or not ref:
        raise GraphError(400, "Request_BadRequest", "Invalid URL format specified in @odata.id or @odata.bind.")
    m = _REF_RE.match(ref.strip())
    if not m:
        raise GraphError(400, "Request_BadRequest", f"Invalid URL format specified in @odata.bind for {ref}.")
    host = urlsplit(ref).hostname
    if host and host not in GRAPH_HOSTS and host != urlsplit(base_url(req, "v1.0")).hostname:
        raise GraphError(400, "Request_BadRequest", f"Invalid URL format specified in @odata.bind for {ref}.")
    oid = m.group(1)
    if not is_guid(oid):
        raise bad_id(oid)
    return oid.lower()


# --------------------------------------------------------------------------------------------
# Route handlers
# --------------------------------------------------------------------------------------------

def register(router) -> None:
    def r(method, pattern):
        return routes(router, method, pattern)

    # ---- /$count segments (first: the get-by-id routes would take "$count" for an id) --------
    @r("GET", r"/(?P<segment>users|groups|servicePrincipals|applications)/\$count")
    def raw_count(req, version, segment):
        collection = {v: k for k, v in SEGMENT.items()}[segment]
        perm = {"users": P_USER_READ, "groups": P_GROUP_READ}.get(collection, P_APP_READ)
        claims, tenant = begin(req, perm)
        if (header(req, "ConsistencyLevel") or "").strip().lower() != "eventual":
            raise GraphError(400, "Request_UnsupportedQuery", "Raw count (/$count) is not supported because the "
                             "'ConsistencyLevel:eventual' header is missing. Refer to "
                             "https://aka.ms/graph-docs/advanced-queries for more information")
        q = odata.parse_query(query_pairs(req), req.headers, allow=("$filter", "$search"), raw_count=True,
                              entity=ENTITY[collection], allowed=SCHEMA[collection])
        with req.world.lock:
            n = sum(1 for _ in q.filtered(getattr(tenant, collection).values()))
        return respond(req, 200, str(n), {"Content-Type": "text/plain"})

    # ---- /me, /organization, /domains ----------------------------------------------------------
    @r("GET", r"/me")
    def me(req, version):
        claims = authenticate(req)
        if not is_delegated(claims):
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        if not (_scopes(claims) & (P_USER_READ.scopes | {"User.Read", "User.ReadWrite"})):
            raise GraphError(403, "Authorization_RequestDenied", DENIED)
        tenant = tenant_of(req, claims)
        with req.world.lock:
            user = tenant.users.get(claims.get("oid"))
            if user is None:  # a partner user in a customer tenant (GDAP) lives in its home tenant
                home = req.world.user_home(claims.get("oid") or "")
                user = home[1] if home else None
            if user is None:
                raise not_found(claims.get("oid") or "")
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",), allowed=SCHEMA["users"],
                                  entity="user")
            body = shape("users", user, q.select)
        return {"@odata.context": context_url(req, version, "users/$entity"), **body}

    @r("GET", r"/organization")
    def organization(req, version):
        claims, tenant = begin(req, P_ORG_READ)
        with req.world.lock:
            org = org_body(req.world, tenant)
        q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",))
        return {"@odata.context": context_url(req, version, "organization"),
                "value": [odata.select_fields(org, q.select)]}

    @r("GET", r"/organization/(?P<oid>[^/]+)")
    def organization_get(req, version, oid):
        claims, tenant = begin(req, P_ORG_READ)
        if oid.lower() != tenant.id:
            raise not_found(oid)
        with req.world.lock:
            org = org_body(req.world, tenant)
        return {"@odata.context": context_url(req, version, "organization/$entity"), **org}

    @r("GET", r"/domains")
    def domains(req, version):
        claims, tenant = begin(req, P_DOMAIN_READ)
        items = [domain_body(tenant, d, i) for i, d in enumerate(tenant.domains)]
        return collection_page(req, version, "domains", items, context=context_url(req, version, "domains"),
                               entity="domain", allowed={"id", "isDefault", "isInitial", "isVerified",
                                                         "authenticationType", "supportedServices"},
                               project=lambda o, sel: odata.select_fields(o, sel))

    @r("GET", r"/domains/(?P<name>[^/]+)")
    def domain_get(req, version, name):
        claims, tenant = begin(req, P_DOMAIN_READ)
        for i, d in enumerate(tenant.domains):
            if d.lower() == name.lower():
                return {"@odata.context": context_url(req, version, "domains/$entity"), **domain_body(tenant, d, i)}
        raise GraphError(404, "Request_ResourceNotFound", f"Domain '{name}' was not found.")

    # ---- users -----------------------------------------------------------------------------
    @r("GET", r"/users")
    def users_list(req, version):
        claims, tenant = begin(req, P_USER_READ)
        with req.world.lock:
            return collection_page(req, version, "users", tenant.users.values(),
                                   context=context_url(req, version, "users"))

    @r("GET", r"/users/(?P<uid>[^/]+)")
    def users_get(req, version, uid):
        claims, tenant = begin(req, P_USER_READ)
        with req.world.lock:
            user = get_obj(tenant, "users", uid)
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",), allowed=SCHEMA["users"],
                                  entity="user")
            return {"@odata.context": context_url(req, version, "users/$entity"), **shape("users", user, q.select)}

    @r("DELETE", r"/users/(?P<uid>[^/]+)")
    def users_delete(req, version, uid):
        claims, tenant = begin(req, P_USER_WRITE)
        with req.world.lock:
            user = get_obj(tenant, "users", uid)
            tenant.remove("users", user["id"])
        return respond(req, 204)

    @r("POST", r"/users/(?P<uid>[^/]+)/revokeSignInSessions")
    def users_revoke_sign_in_sessions(req, version, uid):
        # Invalidates every refresh token issued to the user until now (200 with a boolean).
        claims, tenant = begin(req, P_USER_WRITE)
        with req.world.lock:
            user = get_obj(tenant, "users", uid)
            tokens.revoke_user(req.world, user)
        return {"@odata.context": context_url(req, version, "Edm.Boolean"),
                "value": True}

    @r("GET", r"/users/(?P<uid>[^/]+)/memberOf")
    def users_member_of(req, version, uid):
        claims, tenant = begin(req, P_USER_READ)
        with req.world.lock:
            user = get_obj(tenant, "users", uid)
            return member_of_page(req, version, tenant, user["id"])

    # ---- groups ----------------------------------------------------------------------------
    @r("GET", r"/groups")
    def groups_list(req, version):
        claims, tenant = begin(req, P_GROUP_READ)
        with req.world.lock:
            return collection_page(req, version, "groups", tenant.groups.values(),
                                   context=context_url(req, version, "groups"))

    @r("POST", r"/groups")
    def groups_create(req, version):
        claims, tenant = begin(req, P_GROUP_CREATE)
        body = json_body(req)
        group = new_group(req, tenant, body)
        return respond(req, 201, {"@odata.context": context_url(req, version, "groups/$entity"),
                                  **shape("groups", group)},
                       {"Location": f"{base_url(req, version)}/groups/{group['id']}"})

    @r("GET", r"/groups/(?P<gid>[^/]+)")
    def groups_get(req, version, gid):
        claims, tenant = begin(req, P_GROUP_READ)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",), allowed=SCHEMA["groups"],
                                  entity="group")
            return {"@odata.context": context_url(req, version, "groups/$entity"),
                    **shape("groups", group, q.select)}

    @r("PATCH", r"/groups/(?P<gid>[^/]+)")
    def groups_patch(req, version, gid):
        claims = authenticate(req)
        body = json_body(req)
        binds = body.pop("members@odata.bind", None)
        check(claims, P_MEMBER_WRITE if binds is not None and not body else P_GROUP_WRITE)
        tenant = tenant_of(req, claims)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            updates = validate_group_fields(body, create=False)
            ids = []
            if binds is not None:
                if not isinstance(binds, list):
                    raise GraphError(400, "BadRequest", "members@odata.bind must be an array of URLs.")
                if len(binds) > 20:
                    raise GraphError(400, "Request_BadRequest", "The maximum number of members that can be added "
                                     "in a single request is 20.")
                ids = [ref_to_id(req, ref) for ref in binds]
                for oid in ids:  # all or nothing: validate every reference before changing anything
                    if find_directory_object(tenant, oid) is None:
                        raise not_found(oid)
                members = group.setdefault("_members", set())
                if any(oid in members for oid in ids) or len(set(ids)) != len(ids):
                    raise already_exist()
            group.update(updates)
            group.setdefault("_members", set()).update(ids)
        return respond(req, 204)

    @r("DELETE", r"/groups/(?P<gid>[^/]+)")
    def groups_delete(req, version, gid):
        claims, tenant = begin(req, P_GROUP_WRITE)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            tenant.remove("groups", group["id"])
        return respond(req, 204)

    @r("GET", r"/groups/(?P<gid>[^/]+)/members")
    def group_members(req, version, gid):
        claims, tenant = begin(req, P_GROUP_READ)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            omit_sps = version == "v1.0" and req.world.settings.get("member_list_omits_service_principals", True)
            items, kinds = [], {}
            for oid in sorted(group.get("_members", ())):
                found = tenant.object(oid)
                if found is None or (omit_sps and found[0] == "service_principals"):
                    continue  # the reported v1.0 behaviour: service principal members go missing
                items.append(found[1])
                kinds[oid] = found[0]
            return collection_page(req, version, "directoryObjects", items,
                                   context=context_url(req, version, "directoryObjects"), entity="directoryObject",
                                   allowed=SCHEMA["users"] | SCHEMA["groups"] | SCHEMA["service_principals"],
                                   project=lambda o, sel: typed(kinds[o["id"]], o, sel))

    _MEMBER_CASTS = {"user": ("users", "users"), "group": ("groups", "groups"),
                     "servicePrincipal": ("service_principals", "servicePrincipals")}

    @r("GET", r"/groups/(?P<gid>[^/]+)/members/(?:microsoft\.)?graph\.(?P<cast>user|group|servicePrincipal)")
    def group_members_cast(req, version, gid, cast):
        # OData type cast: only members of that type. Unlike the untyped v1.0 listing, the
        # servicePrincipal cast does list service principals. Graph takes the namespace alias too
        # (`graph.servicePrincipal`, the URL msgraph-sdk builds for members.graph_service_principal).
        claims, tenant = begin(req, P_GROUP_READ)
        collection, context_name = _MEMBER_CASTS[cast]
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            items = []
            for oid in sorted(group.get("_members", ())):
                found = tenant.object(oid)
                if found is not None and found[0] == collection:
                    items.append(found[1])
            return collection_page(req, version, collection, items,
                                   context=context_url(req, version, context_name),
                                   project=lambda o, sel: typed(collection, o, sel))

    @r("GET", r"/groups/(?P<gid>[^/]+)/members/(?P<oid>[^/$][^/]*)")
    def group_member_get(req, version, gid, oid):
        claims, tenant = begin(req, P_GROUP_READ)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            key = oid.lower()
            found = tenant.object(key) if key in group.get("_members", ()) else None
            if found is None:
                if not is_guid(oid):
                    raise bad_id(oid)
                raise not_found(oid)
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",), entity="directoryObject",
                                  allowed=SCHEMA["users"] | SCHEMA["groups"] | SCHEMA["service_principals"])
            return {"@odata.context": context_url(req, version, "directoryObjects/$entity"),
                    **typed(found[0], found[1], q.select)}

    @r("POST", r"/groups/(?P<gid>[^/]+)/members/\$ref")
    def group_member_add(req, version, gid):
        claims, tenant = begin(req, P_MEMBER_WRITE)
        body = json_body(req)
        extra = set(body) - {"@odata.id"}
        if extra or "@odata.id" not in body:
            raise GraphError(400, "Request_BadRequest", "Invalid request body: '@odata.id' is required"
                             + (f"; unexpected properties: {', '.join(sorted(extra))}." if extra else "."))
        oid = ref_to_id(req, body["@odata.id"])
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            if find_directory_object(tenant, oid) is None:
                raise not_found(oid)
            members = group.setdefault("_members", set())
            if oid in members:
                raise already_exist()
            members.add(oid)
        return respond(req, 204)

    @r("DELETE", r"/groups/(?P<gid>[^/]+)/members/(?P<oid>[^/$][^/]*)/\$ref")
    def group_member_remove(req, version, gid, oid):
        claims, tenant = begin(req, P_MEMBER_WRITE)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            key = oid.lower()
            members = group.setdefault("_members", set())
            if key not in members:
                if not is_guid(oid):
                    raise bad_id(oid)
                if find_directory_object(tenant, key) is None:
                    raise not_found(oid)
                raise GraphError(400, "Request_BadRequest", "One or more removed object references do not exist "
                                 "for the following modified properties: 'members'.")
            members.discard(key)
        return respond(req, 204)

    @r("DELETE", r"/groups/(?P<gid>[^/]+)/members/(?P<oid>[^/$][^/]*)")
    def group_member_delete_without_ref(req, version, gid, oid):
        # Not a membership removal: by default (graph_delete_member_without_ref: "delete_object")
        # the directory object itself is deleted, the outcome the documentation warns about;
        # "method_not_allowed" answers 405 instead. The request log shows the call either way.
        claims = authenticate(req)
        mode = req.world.settings.get("graph_delete_member_without_ref", "delete_object")
        check(claims, P_DIROBJ_DELETE if mode == "delete_object" else P_GROUP_READ)
        tenant = tenant_of(req, claims)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            if mode != "delete_object":
                raise GraphError(405, "Request_BadRequest",
                                 "Specified HTTP method is not allowed for the request target.")
            key = oid.lower()
            found = tenant.object(key) if key in group.get("_members", ()) else None
            if found is None:
                raise not_found(oid) if is_guid(oid) else bad_id(oid)
            tenant.remove(found[0], found[1]["id"])
        return respond(req, 204)

    @r("POST", r"/groups/(?P<gid>[^/]+)/checkMemberObjects")
    def group_check_member_objects(req, version, gid):
        return check_member_objects(req, version, "groups", gid)

    @r("GET", r"/groups/(?P<gid>[^/]+)/memberOf")
    def groups_member_of(req, version, gid):
        claims, tenant = begin(req, P_GROUP_READ)
        with req.world.lock:
            group = get_obj(tenant, "groups", gid)
            return member_of_page(req, version, tenant, group["id"])

    # ---- directoryObjects ------------------------------------------------------------------
    @r("GET", r"/directoryObjects/(?P<oid>[^/]+)")
    def dirobj_get(req, version, oid):
        claims, tenant = begin(req, P_DIROBJ_READ)
        with req.world.lock:
            found = find_directory_object(tenant, oid.lower())
            if found is None:
                raise not_found(oid) if is_guid(oid) else bad_id(oid)
            return {"@odata.context": context_url(req, version, "directoryObjects/$entity"),
                    **typed(found[0], found[1])}

    @r("DELETE", r"/directoryObjects/(?P<oid>[^/]+)")
    def dirobj_delete(req, version, oid):
        claims, tenant = begin(req, P_DIROBJ_DELETE)
        with req.world.lock:
            found = find_directory_object(tenant, oid.lower())
            if found is None:
                raise not_found(oid) if is_guid(oid) else bad_id(oid)
            tenant.remove(found[0], found[1]["id"])
        return respond(req, 204)

    @r("POST", r"/directoryObjects/getByIds")
    def dirobj_get_by_ids(req, version):
        claims, tenant = begin(req, P_DIROBJ_READ)
        body = json_body(req)
        ids = body.get("ids")
        if not isinstance(ids, list) or not ids or len(ids) > 1000:
            raise GraphError(400, "Request_BadRequest", "The 'ids' parameter must list 1 to 1000 object ids.")
        wanted = {t.lower() for t in body.get("types") or []}
        coll_by_type = {"user": "users", "group": "groups", "serviceprincipal": "service_principals",
                        "application": "applications"}
        out = []
        with req.world.lock:
            for oid in ids:
                found = find_directory_object(tenant, str(oid).lower())
                if found is None:
                    continue
                if wanted and found[0] not in {coll_by_type.get(w) for w in wanted}:
                    continue
                out.append(typed(found[0], found[1]))
        return {"@odata.context": context_url(req, version, "directoryObjects"), "value": out}

    @r("POST", r"/directoryObjects/(?P<oid>[^/]+)/checkMemberGroups")
    def dirobj_check_member_groups(req, version, oid):
        claims, tenant = begin(req, P_DIROBJ_READ)
        body = json_body(req)
        gids = body.get("groupIds")
        if not isinstance(gids, list) or len(gids) > 20:
            raise GraphError(400, "Request_BadRequest", "groupIds must be an array of at most 20 group ids.")
        with req.world.lock:
            found = find_directory_object(tenant, oid.lower())
            if found is None:
                raise not_found(oid)
            mine = transitive_groups(tenant, found[1]["id"])
            hits = [g for g in gids if str(g).lower() in mine]
        return {"@odata.context": context_url(req, version, "Collection(Edm.String)"), "value": hits}

    @r("POST", r"/(?P<kind>users|servicePrincipals|directoryObjects)/(?P<oid>[^/]+)/checkMemberObjects")
    def other_check_member_objects(req, version, kind, oid):
        coll = {"users": "users", "servicePrincipals": "service_principals"}.get(kind)
        return check_member_objects(req, version, coll, oid)

    # ---- servicePrincipals -----------------------------------------------------------------
    @r("GET", r"/servicePrincipals")
    def sp_list(req, version):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            return collection_page(req, version, "service_principals", tenant.service_principals.values(),
                                   context=context_url(req, version, "servicePrincipals"))

    @r("POST", r"/servicePrincipals")
    def sp_create(req, version):
        claims, tenant = begin(req, P_SP_CREATE)
        body = json_body(req)
        app_id = body.get("appId")
        unknown = set(body) - {"appId", "accountEnabled", "tags", "appRoleAssignmentRequired", "notes",
                               "description"}
        if unknown:
            raise unknown_property(sorted(unknown)[0], "servicePrincipal")
        if not isinstance(app_id, str) or not is_guid(app_id):
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'appId' of resource "
                             "'ServicePrincipal'.")
        with req.world.lock:
            sp = create_service_principal(req.world, tenant, app_id.lower(), body)
        return respond(req, 201, {"@odata.context": context_url(req, version, "servicePrincipals/$entity"),
                                  **shape("service_principals", sp)},
                       {"Location": f"{base_url(req, version)}/servicePrincipals/{sp['id']}"})

    @r("GET", r"/servicePrincipals\(appId='(?P<app_id>[^']*)'\)")
    def sp_by_appid(req, version, app_id):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            sp = tenant.sp_by_app_id(app_id)
            if sp is None:
                raise not_found(f"appId='{app_id}'")
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",),
                                  allowed=SCHEMA["service_principals"], entity="servicePrincipal")
            return {"@odata.context": context_url(req, version, "servicePrincipals/$entity"),
                    **shape("service_principals", sp, q.select)}

    @r("GET", r"/servicePrincipals/(?P<sid>[^/(]+)")
    def sp_get(req, version, sid):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",),
                                  allowed=SCHEMA["service_principals"], entity="servicePrincipal")
            return {"@odata.context": context_url(req, version, "servicePrincipals/$entity"),
                    **shape("service_principals", sp, q.select)}

    @r("DELETE", r"/servicePrincipals/(?P<sid>[^/(]+)")
    def sp_delete(req, version, sid):
        claims, tenant = begin(req, P_APP_WRITE)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            tenant.remove("service_principals", sp["id"])
            for grants in (tenant.oauth2_permission_grants, tenant.app_role_assignments):
                for gid in [k for k, g in grants.items() if sp["id"] in (g.get("clientId"), g.get("principalId"))]:
                    del grants[gid]
        return respond(req, 204)

    @r("GET", r"/servicePrincipals/(?P<sid>[^/(]+)/memberOf")
    def sp_member_of(req, version, sid):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            return member_of_page(req, version, tenant, sp["id"])

    @r("GET", r"/servicePrincipals/(?P<sid>[^/(]+)/appRoleAssignments")
    def sp_app_role_assignments(req, version, sid):
        claims, tenant = begin(req, P_ROLE_ASSIGN_READ)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            items = [a for a in tenant.app_role_assignments.values() if a.get("principalId") == sp["id"]]
            return collection_page(req, version, "appRoleAssignments", items,
                                   context=context_url(req, version, f"servicePrincipals('{sp['id']}')/appRoleAssignments"),
                                   entity="appRoleAssignment",
                                   project=lambda o, sel: odata.select_fields(o, sel), allowed=None)

    @r("POST", r"/servicePrincipals/(?P<sid>[^/(]+)/(?P<nav>appRoleAssignments|appRoleAssignedTo)")
    def sp_app_role_assign(req, version, sid, nav):
        claims, tenant = begin(req, P_ROLE_ASSIGN_WRITE)
        body = json_body(req)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            assignment = create_app_role_assignment(req.world, tenant, body, sp, nav)
        return respond(req, 201, {"@odata.context": context_url(req, version, f"servicePrincipals('{sp['id']}')/{nav}/$entity"),
                                  **odata.public(assignment)},
                       {"Location": f"{base_url(req, version)}/servicePrincipals/{sp['id']}/{nav}/{assignment['id']}"})

    @r("DELETE", r"/servicePrincipals/(?P<sid>[^/(]+)/(?P<nav>appRoleAssignments|appRoleAssignedTo)/(?P<aid>[^/]+)")
    def sp_app_role_unassign(req, version, sid, nav, aid):
        claims, tenant = begin(req, P_ROLE_ASSIGN_WRITE)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            assignment = tenant.app_role_assignments.get(aid)
            side = "principalId" if nav == "appRoleAssignments" else "resourceId"
            if assignment is None or assignment.get(side) != sp["id"]:
                raise not_found(aid)
            del tenant.app_role_assignments[aid]
        return respond(req, 204)

    @r("GET", r"/servicePrincipals/(?P<sid>[^/(]+)/appRoleAssignedTo")
    def sp_app_role_assigned_to(req, version, sid):
        claims, tenant = begin(req, P_ROLE_ASSIGN_READ)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            items = [a for a in tenant.app_role_assignments.values() if a.get("resourceId") == sp["id"]]
            return collection_page(req, version, "appRoleAssignments", items,
                                   context=context_url(req, version, "appRoleAssignments"), entity="appRoleAssignment",
                                   project=lambda o, sel: odata.select_fields(o, sel), allowed=None)

    @r("GET", r"/servicePrincipals/(?P<sid>[^/(]+)/oauth2PermissionGrants")
    def sp_grants(req, version, sid):
        claims, tenant = begin(req, P_GRANT_READ)
        with req.world.lock:
            sp = get_obj(tenant, "service_principals", sid)
            items = [g for g in _listed_grants(req.world, tenant) if g.get("clientId") == sp["id"]]
            return collection_page(req, version, "oauth2PermissionGrants", items,
                                   context=context_url(req, version, "oauth2PermissionGrants"),
                                   entity="oAuth2PermissionGrant", allowed=GRANT_FIELDS,
                                   project=lambda o, sel: odata.select_fields(o, sel))

    # ---- oauth2PermissionGrants ------------------------------------------------------------
    @r("GET", r"/oauth2PermissionGrants")
    def grants_list(req, version):
        claims, tenant = begin(req, P_GRANT_READ)
        with req.world.lock:
            return collection_page(req, version, "oauth2PermissionGrants", _listed_grants(req.world, tenant),
                                   context=context_url(req, version, "oauth2PermissionGrants"),
                                   entity="oAuth2PermissionGrant", allowed=GRANT_FIELDS,
                                   project=lambda o, sel: odata.select_fields(o, sel))

    @r("GET", r"/oauth2PermissionGrants/(?P<grant_id>[^/]+)")
    def grants_get(req, version, grant_id):
        claims, tenant = begin(req, P_GRANT_READ)
        with req.world.lock:
            grant = tenant.oauth2_permission_grants.get(grant_id)
            if grant is None or grant not in _listed_grants(req.world, tenant):
                raise not_found(grant_id)
            return {"@odata.context": context_url(req, version, "oauth2PermissionGrants/$entity"),
                    **odata.public(grant)}

    @r("POST", r"/oauth2PermissionGrants")
    def grants_create(req, version):
        claims, tenant = begin(req, P_GRANT_WRITE)
        body = json_body(req)
        with req.world.lock:
            grant = create_grant(req.world, tenant, body)
        return respond(req, 201, {"@odata.context": context_url(req, version, "oauth2PermissionGrants/$entity"),
                                  **odata.public(grant)},
                       {"Location": f"{base_url(req, version)}/oauth2PermissionGrants/{grant['id']}"})

    @r("PATCH", r"/oauth2PermissionGrants/(?P<grant_id>[^/]+)")
    def grants_patch(req, version, grant_id):
        claims, tenant = begin(req, P_GRANT_WRITE)
        body = json_body(req)
        unknown = set(body) - {"scope"}
        if unknown:
            raise unknown_property(sorted(unknown)[0], "oAuth2PermissionGrant")
        if not isinstance(body.get("scope"), str):
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'scope'.")
        with req.world.lock:
            grant = tenant.oauth2_permission_grants.get(grant_id)
            if grant is None:
                raise not_found(grant_id)
            grant["scope"] = " ".join(body["scope"].split())
        return respond(req, 204)

    @r("DELETE", r"/oauth2PermissionGrants/(?P<grant_id>[^/]+)")
    def grants_delete(req, version, grant_id):
        claims, tenant = begin(req, P_GRANT_WRITE)
        with req.world.lock:
            if tenant.oauth2_permission_grants.pop(grant_id, None) is None:
                raise not_found(grant_id)
        return respond(req, 204)

    # ---- applications ------------------------------------------------------------------------
    @r("GET", r"/applications")
    def apps_list(req, version):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            return collection_page(req, version, "applications", tenant.applications.values(),
                                   context=context_url(req, version, "applications"))

    @r("GET", r"/applications\(appId='(?P<app_id>[^']*)'\)")
    def apps_by_appid(req, version, app_id):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            app = app_by_appid(tenant, app_id)
            return {"@odata.context": context_url(req, version, "applications/$entity"), **app_out(req, app)}

    @r("GET", r"/applications/(?P<aid>[^/(]+)")
    def apps_get(req, version, aid):
        claims, tenant = begin(req, P_APP_READ)
        with req.world.lock:
            app = get_obj(tenant, "applications", aid)
            return {"@odata.context": context_url(req, version, "applications/$entity"), **app_out(req, app)}

    @r("PATCH", r"/applications(?:/(?P<aid>[^/(]+)|\(appId='(?P<app_id>[^']*)'\))")
    def apps_patch(req, version, aid=None, app_id=None):
        claims, tenant = begin(req, P_APP_WRITE)
        body = json_body(req)
        with req.world.lock:
            app = get_obj(tenant, "applications", aid) if aid else app_by_appid(tenant, app_id)
            patch_application(app, body)
        return respond(req, 204)

    @r("POST", r"/applications(?:/(?P<aid>[^/(]+)|\(appId='(?P<app_id>[^']*)'\))/addPassword")
    def apps_add_password(req, version, aid=None, app_id=None):
        claims, tenant = begin(req, P_APP_WRITE)
        body = json_body(req) if (req.body or b"").strip() else {}
        cred = body.get("passwordCredential") or {}
        if not isinstance(cred, dict):
            raise GraphError(400, "Request_BadRequest", "Invalid passwordCredential.")
        now = req.world.clock.now()
        with req.world.lock:
            app = get_obj(tenant, "applications", aid) if aid else app_by_appid(tenant, app_id)
            secret = secrets.token_urlsafe(30)[:40]
            key_id = str(uuid.uuid4())
            entry = {
                "customKeyIdentifier": None, "displayName": cred.get("displayName"),
                "endDateTime": cred.get("endDateTime") or req.world.clock.iso(now + 730 * 86400),
                "hint": secret[:3], "keyId": key_id, "secretText": None,
                "startDateTime": cred.get("startDateTime") or req.world.clock.iso(now),
            }
            app.setdefault("passwordCredentials", []).append(entry)
            app.setdefault("_secrets", {})[key_id] = secret
        return {"@odata.context": context_url(req, version, "microsoft.graph.passwordCredential"),
                **entry, "secretText": secret}

    @r("POST", r"/applications(?:/(?P<aid>[^/(]+)|\(appId='(?P<app_id>[^']*)'\))/removePassword")
    def apps_remove_password(req, version, aid=None, app_id=None):
        claims, tenant = begin(req, P_APP_WRITE)
        body = json_body(req)
        key_id = str(body.get("keyId") or "").lower()
        with req.world.lock:
            app = get_obj(tenant, "applications", aid) if aid else app_by_appid(tenant, app_id)
            creds = app.get("passwordCredentials") or []
            keep = [c for c in creds if c.get("keyId", "").lower() != key_id]
            if len(keep) == len(creds):
                raise GraphError(400, "Request_BadRequest", f"No password credential found with keyId '{key_id}'.")
            app["passwordCredentials"] = keep
            app.get("_secrets", {}).pop(key_id, None)
        return respond(req, 204)

    @r("POST", r"/applications(?:/(?P<aid>[^/(]+)|\(appId='(?P<app_id>[^']*)'\))/addKey")
    def apps_add_key(req, version, aid=None, app_id=None):
        claims, tenant = begin(req, P_APP_WRITE)
        body = json_body(req)
        key = body.get("keyCredential")
        if not isinstance(key, dict) or not key.get("key") or key.get("type") not in ("AsymmetricX509Cert", "X509CertAndPassword"):
            raise GraphError(400, "Request_BadRequest", "keyCredential with type and key is required.")
        with req.world.lock:
            app = get_obj(tenant, "applications", aid) if aid else app_by_appid(tenant, app_id)
            entry = key_credential(req.world, key)
            app.setdefault("keyCredentials", []).append(entry)
        out = dict(entry)
        out["key"] = None
        return {"@odata.context": context_url(req, version, "microsoft.graph.keyCredential"), **out}

    @r("POST", r"/applications(?:/(?P<aid>[^/(]+)|\(appId='(?P<app_id>[^']*)'\))/removeKey")
    def apps_remove_key(req, version, aid=None, app_id=None):
        claims, tenant = begin(req, P_APP_WRITE)
        body = json_body(req)
        key_id = str(body.get("keyId") or "").lower()
        with req.world.lock:
            app = get_obj(tenant, "applications", aid) if aid else app_by_appid(tenant, app_id)
            keys = app.get("keyCredentials") or []
            keep = [k for k in keys if k.get("keyId", "").lower() != key_id]
            if len(keep) == len(keys):
                raise GraphError(404, "Request_ResourceNotFound", f"No key credential found with keyId '{key_id}'.")
            app["keyCredentials"] = keep
        return respond(req, 204)

    # ---- $batch ------------------------------------------------------------------------------
    @r("POST", r"/\$batch")
    def batch(req, version):
        return run_batch(router, req, version)


GRANT_FIELDS = {"id", "clientId", "consentType", "principalId", "resourceId", "scope"}


def already_exist() -> GraphError:
    return GraphError(400, "Request_BadRequest", "One or more added object references already exist for the "
                      "following modified properties: 'members'.")


def unknown_property(name: str, entity: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", f"Property '{name}' does not exist as a declared property or "
                      f"extension property.")


def org_body(world, tenant) -> dict:
    return {
        "id": tenant.id,
        "displayName": tenant.display_name,
        "tenantType": "AAD",
        "countryLetterCode": {"NA": "US", "EU": "DE", "AS": "SG", "OC": "AU", "AF": "ZA", "SA": "BR"}.get(
            tenant.region, "US"),
        "createdDateTime": world.clock.iso(tenant.created_at),
        "verifiedDomains": [
            {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 0, "isInitial": i == 0,
             "name": d, "type": "Managed"} for i, d in enumerate(tenant.domains)
        ],
        "assignedPlans": [],
        "businessPhones": [],
        "city": None, "country": None, "postalCode": None, "state": None, "street": None,
        "marketingNotificationEmails": [],
        "technicalNotificationMails": [],
        "onPremisesSyncEnabled": None,
    }


def domain_body(tenant, name: str, index: int) -> dict:
    return {
        "id": name, "authenticationType": "Managed", "availabilityStatus": None,
        "isAdminManaged": True, "isDefault": index == 0, "isInitial": index == 0, "isRoot": True,
        "isVerified": True, "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        "passwordNotificationWindowInDays": None, "passwordValidityPeriodInDays": None, "state": None,
    }


def member_of_page(req, version, tenant, object_id: str) -> dict:
    items = [g for g in tenant.groups.values() if object_id in g.get("_members", ())]
    return collection_page(req, version, "directoryObjects", items, context=context_url(req, version, "directoryObjects"),
                           entity="directoryObject", allowed=SCHEMA["groups"],
                           project=lambda o, sel: typed("groups", o, sel))


def transitive_groups(tenant, object_id: str) -> set[str]:
    """Ids of every group ``object_id`` belongs to, directly or through nested groups."""
    found: set[str] = set()
    frontier = {object_id}
    while frontier:
        nxt = set()
        for g in tenant.groups.values():
            if g["id"] not in found and g.get("_members", set()) & frontier:
                found.add(g["id"])
                nxt.add(g["id"])
        frontier = nxt
    return found


def check_member_objects(req, version, collection: str | None, oid: str):
    claims, tenant = begin(req, P_DIROBJ_READ)
    body = json_body(req)
    ids = body.get("ids")
    if not isinstance(ids, list) or len(ids) > 20:
        raise GraphError(400, "Request_BadRequest", "ids must be an array of at most 20 object ids.")
    with req.world.lock:
        if collection is None:
            found = find_directory_object(tenant, oid.lower())
            if found is None:
                raise not_found(oid)
            obj = found[1]
        else:
            obj = get_obj(tenant, collection, oid)
        mine = transitive_groups(tenant, obj["id"])
        hits = [i for i in ids if str(i).lower() in mine]
    return {"@odata.context": context_url(req, version, "Collection(Edm.String)"), "value": hits}


GROUP_CREATE_FIELDS = {"displayName", "description", "securityEnabled", "mailEnabled", "mailNickname",
                       "groupTypes", "visibility", "isAssignableToRole", "members@odata.bind",
                       "owners@odata.bind", "classification", "membershipRule", "membershipRuleProcessingState",
                       "preferredDataLocation", "uniqueName"}
GROUP_PATCH_FIELDS = {"displayName", "description", "mailNickname", "visibility", "classification",
                      "membershipRule", "membershipRuleProcessingState", "securityEnabled", "mailEnabled"}


def validate_group_fields(body: dict, create: bool) -> dict:
    allowed = GROUP_CREATE_FIELDS if create else GROUP_PATCH_FIELDS
    for key in body:
        if key not in allowed:
            raise unknown_property(key, "group")
    types = {"displayName": str, "description": (str, type(None)), "securityEnabled": bool, "mailEnabled": bool,
             "mailNickname": str, "groupTypes": list, "visibility": (str, type(None)),
             "isAssignableToRole": (bool, type(None))}
    for key, kind in types.items():
        if key in body and not isinstance(body[key], kind):
            raise GraphError(400, "Request_BadRequest", f"Invalid value specified for property '{key}' of "
                             "resource 'Group'.")
    if "displayName" in body and not (0 < len(body["displayName"]) <= 256):
        raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'displayName' of "
                         "resource 'Group'.")
    if "mailNickname" in body and (not body["mailNickname"] or re.search(r"[@()\\\[\]\";:<>,\s]",
                                                                         body["mailNickname"])):
        raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of "
                         "resource 'Group'.")
    return {k: v for k, v in body.items() if "@" not in k}


def new_group(req, tenant, body: dict) -> dict:
    fields = validate_group_fields(body, create=True)
    for required in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        if required not in body:
            raise GraphError(400, "Request_BadRequest", f"A value is required for property '{required}' of "
                             "resource 'Group'.")
    if body["mailEnabled"] and "Unified" not in (body.get("groupTypes") or []):
        raise GraphError(400, "Request_BadRequest", "Creating mail-enabled security groups or distribution "
                         "groups is not supported through Microsoft Graph.")
    with req.world.lock:
        members: set[str] = set()
        for key in ("members@odata.bind", "owners@odata.bind"):
            refs = body.get(key) or []
            if not isinstance(refs, list) or len(refs) > 20:
                raise GraphError(400, "Request_BadRequest", f"{key} must be an array of at most 20 URLs.")
            for ref in refs:
                oid = ref_to_id(req, ref)
                if find_directory_object(tenant, oid) is None:
                    raise not_found(oid)
                if key.startswith("members"):
                    members.add(oid)
        gid = req.world.new_id()
        group = {
            "id": gid, "displayName": fields["displayName"], "description": fields.get("description"),
            "securityEnabled": fields["securityEnabled"], "mailEnabled": fields["mailEnabled"],
            "mailNickname": fields["mailNickname"], "groupTypes": list(fields.get("groupTypes") or []),
            "mail": None, "visibility": fields.get("visibility"), "createdDateTime": req.world.clock.iso(),
            "isAssignableToRole": fields.get("isAssignableToRole"), "deletedDateTime": None,
            "_members": members,
        }
        tenant.add("groups", group)
    return group


def create_service_principal(world, tenant, app_id: str, body: dict) -> dict:
    if tenant.sp_by_app_id(app_id) is not None:
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "The service principal cannot be created, "
                         "updated, or restored because the service principal name "
                         f"{app_id} is already in use.")
    first_party = catalog.service_principal_body(app_id)
    if first_party is not None:
        sp = first_party
    else:
        found = world.application(app_id)
        if found is None:
            raise GraphError(400, "Request_BadRequest", f"The appId '{app_id}' of the service principal does not "
                             "reference a valid application object.")
        home, app = found
        if home.id != tenant.id and app.get("signInAudience", "AzureADMyOrg") == "AzureADMyOrg":
            raise GraphError(400, "Request_BadRequest", "The appId of the service principal references an "
                             "application that is not available in this tenant (single-tenant app).")
        from .world import service_principal_for_app  # local: world imports catalog only

        sp = service_principal_for_app(world.new_id(), app_id, app.get("displayName") or app_id, home.id,
                                       world.clock.iso(), app)
        sp["oauth2PermissionScopes"] = [dict(s) for s in (app.get("api") or {}).get("oauth2PermissionScopes", [])]
    sp["id"] = sp.get("id") or world.new_id()
    sp.setdefault("createdDateTime", world.clock.iso())
    for key in ("accountEnabled", "tags", "appRoleAssignmentRequired", "notes", "description"):
        if key in body:
            sp[key] = body[key]
    return tenant.add("service_principals", sp)


def create_grant(world, tenant, body: dict) -> dict:
    unknown = set(body) - GRANT_FIELDS - {"id"}
    if unknown:
        raise unknown_property(sorted(unknown)[0], "oAuth2PermissionGrant")
    for key in ("clientId", "consentType", "resourceId"):
        if not isinstance(body.get(key), str):
            raise GraphError(400, "Request_BadRequest", f"A value is required for property '{key}' of resource "
                             "'OAuth2PermissionGrant'.")
    consent = body["consentType"]
    if consent not in ("AllPrincipals", "Principal"):
        raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'consentType'.")
    principal = body.get("principalId")
    if consent == "Principal" and not principal:
        raise GraphError(400, "Request_BadRequest", "principalId is required when consentType is 'Principal'.")
    if consent == "AllPrincipals" and principal:
        raise GraphError(400, "Request_BadRequest", "principalId must be null when consentType is 'AllPrincipals'.")
    client = tenant.service_principals.get(body["clientId"].lower())
    resource = tenant.service_principals.get(body["resourceId"].lower())
    if client is None:
        raise not_found(body["clientId"])
    if resource is None:
        raise not_found(body["resourceId"])
    scopes = (body.get("scope") or "").split()
    known = {s.get("value") for s in resource.get("oauth2PermissionScopes") or ()}
    for s in scopes:
        if known and s not in known:
            raise GraphError(400, "Request_BadRequest", f"Invalid scope value '{s}' for resource "
                             f"'{resource.get('displayName')}'.")
    for g in tenant.oauth2_permission_grants.values():
        if (g.get("clientId"), g.get("resourceId"), g.get("consentType"), g.get("principalId")) == (
                client["id"], resource["id"], consent, principal):
            # What Graph answers (oauth2permissiongrant-post.md documents no conflict status): 400
            # with the generic Request_BadRequest code, not 409.
            raise GraphError(400, "Request_BadRequest", "Permission entry already exists.")
    gid = secrets.token_urlsafe(32)[:43]
    grant = {"id": gid, "clientId": client["id"], "consentType": consent, "principalId": principal,
             "resourceId": resource["id"], "scope": " ".join(scopes)}
    tenant.oauth2_permission_grants[gid] = grant
    return grant


def create_app_role_assignment(world, tenant, body: dict, sp: dict, nav: str) -> dict:
    """Grant an app role (admin consent to an application permission)."""
    unknown = set(body) - {"principalId", "resourceId", "appRoleId"}
    if unknown:
        raise unknown_property(sorted(unknown)[0], "appRoleAssignment")
    for key in ("principalId", "resourceId", "appRoleId"):
        if not isinstance(body.get(key), str) or not is_guid(body[key]):
            raise GraphError(400, "Request_BadRequest", f"Invalid value specified for property '{key}' of resource "
                             "'AppRoleAssignment'.")
    principal_id, resource_id, role_id = (body[k].lower() for k in ("principalId", "resourceId", "appRoleId"))
    # The path names one side of the assignment; the body must agree with it.
    if (nav == "appRoleAssignments" and principal_id != sp["id"]) or (
            nav == "appRoleAssignedTo" and resource_id != sp["id"]):
        raise GraphError(400, "Request_BadRequest", "The principalId/resourceId in the body does not match the "
                         "service principal in the request URL.")
    principal = find_directory_object(tenant, principal_id)
    resource = tenant.service_principals.get(resource_id)
    if principal is None:
        raise not_found(principal_id)
    if resource is None:
        raise not_found(resource_id)
    role = next((r for r in resource.get("appRoles") or () if r.get("id", "").lower() == role_id), None)
    if role is None:
        raise GraphError(400, "Request_BadRequest", "Permission being assigned was not found on application "
                         f"'{resource.get('displayName')}'.")
    for a in tenant.app_role_assignments.values():
        if (a.get("principalId"), a.get("resourceId"), a.get("appRoleId")) == (principal_id, resource_id, role["id"]):
            raise GraphError(400, "Request_BadRequest", "Permission being assigned already exists on the object")
    kind = {"users": "User", "groups": "Group", "service_principals": "ServicePrincipal"}.get(principal[0])
    if kind is None:
        raise GraphError(400, "Request_BadRequest", "The principal must be a user, group or service principal.")
    assignment = {
        "id": world.new_id(), "appRoleId": role["id"], "createdDateTime": world.clock.iso(),
        "deletedDateTime": None, "principalDisplayName": principal[1].get("displayName"),
        "principalId": principal_id, "principalType": kind,
        "resourceDisplayName": resource.get("displayName"), "resourceId": resource_id,
    }
    tenant.add("app_role_assignments", assignment)
    return assignment


def app_by_appid(tenant, app_id: str) -> dict:
    low = app_id.lower()
    for app in tenant.applications.values():
        if app.get("appId", "").lower() == low:
            return app
    raise not_found(f"appId='{app_id}'")


def app_out(req, app: dict) -> dict:
    q = odata.parse_query(query_pairs(req), req.headers, allow=("$select",), allowed=SCHEMA["applications"],
                          entity="application")
    return shape("applications", app, q.select)


APP_PATCH_FIELDS = {"displayName", "requiredResourceAccess", "identifierUris", "signInAudience", "web",
                    "publicClient", "spa", "api", "appRoles", "tags", "description", "notes",
                    "isFallbackPublicClient", "info", "optionalClaims", "groupMembershipClaims", "keyCredentials"}


def patch_application(app: dict, body: dict) -> None:
    for key in body:
        if key not in APP_PATCH_FIELDS:
            raise unknown_property(key, "application")
    if "requiredResourceAccess" in body:
        rra = body["requiredResourceAccess"]
        if not isinstance(rra, list):
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property "
                             "'requiredResourceAccess' of resource 'Application'.")
        clean = []
        for entry in rra:
            if not isinstance(entry, dict) or not is_guid(str(entry.get("resourceAppId", ""))):
                raise GraphError(400, "Request_BadRequest", "Invalid value specified for property "
                                 "'requiredResourceAccess' of resource 'Application'.")
            access = []
            for item in entry.get("resourceAccess") or []:
                if (not isinstance(item, dict) or not is_guid(str(item.get("id", "")))
                        or item.get("type") not in ("Scope", "Role")):
                    raise GraphError(400, "Request_BadRequest", "Invalid value specified for property "
                                     "'resourceAccess' of resource 'RequiredResourceAccess'.")
                access.append({"id": item["id"].lower(), "type": item["type"]})
            clean.append({"resourceAppId": entry["resourceAppId"].lower(), "resourceAccess": access})
        body = {**body, "requiredResourceAccess": clean}
    if "signInAudience" in body and body["signInAudience"] not in (
            "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"):
        raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'signInAudience'.")
    app.update(body)


def key_credential(world, key: dict) -> dict:
    import base64
    import hashlib

    try:
        der = base64.b64decode(key["key"], validate=False)
    except (ValueError, TypeError):
        raise GraphError(400, "Request_BadRequest", "Invalid certificate: the key is not base64.") from None
    thumb = base64.b64encode(hashlib.sha1(der).digest()).decode()  # noqa: S324 - x5t is SHA-1 by definition
    now = world.clock.now()
    return {
        "customKeyIdentifier": thumb, "displayName": key.get("displayName"),
        "endDateTime": key.get("endDateTime") or world.clock.iso(now + 365 * 86400),
        "key": key["key"], "keyId": str(uuid.uuid4()),
        "startDateTime": key.get("startDateTime") or world.clock.iso(now),
        "type": key["type"], "usage": key.get("usage", "Verify"),
    }


# --------------------------------------------------------------------------------------------
# $batch
# --------------------------------------------------------------------------------------------

MAX_BATCH = 20


def run_batch(router, req, version: str):
    claims = authenticate(req)  # the outer token also authenticates every sub-request
    body = json_body(req)
    reqs = body.get("requests")
    if not isinstance(reqs, list) or not reqs:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(reqs) > MAX_BATCH:
        raise GraphError(400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.")
    seen: dict[str, dict] = {}
    for item in reqs:
        if not isinstance(item, dict):
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        rid = item.get("id")
        if not isinstance(rid, str) or not rid:
            raise GraphError(400, "BadRequest", "Batch request is missing an id.")
        if rid in seen:
            raise GraphError(400, "BadRequest", "Batch request step id must be unique within a batch.")
        if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
            raise GraphError(400, "BadRequest", f"Batch request '{rid}' is missing method or url.")
        deps = item.get("dependsOn")
        if deps is not None and (not isinstance(deps, list) or not all(isinstance(d, str) for d in deps)):
            raise GraphError(400, "BadRequest", f"Batch request '{rid}': dependsOn must be an array of ids.")
        if not isinstance(item.get("headers") or {}, dict):
            raise GraphError(400, "BadRequest", f"Batch request '{rid}': headers must be an object.")
        seen[rid] = item
    for item in reqs:
        for dep in item.get("dependsOn") or []:
            if dep not in seen:
                raise GraphError(400, "BadRequest", f"Batch request '{item['id']}' depends on unknown id '{dep}'.")
    results: dict[str, dict] = {}
    order = _topological(reqs)
    for item in order:
        deps = item.get("dependsOn") or []
        if any(results[d]["status"] >= 400 for d in deps):
            results[item["id"]] = {"id": item["id"], "status": 424, "headers": {"Content-Type": "application/json"},
                                   "body": error_body(req, "FailedDependency", "Failed dependency.")}
            continue
        results[item["id"]] = _sub_request(router, req, version, claims, item)
    responses = [results[item["id"]] for item in reqs]
    # Graph answers in any order; shuffle deterministically so clients cannot rely on it.
    seed = (req.world.settings.get("faults") or {}).get("seed", 1)
    random.Random(f"{seed}:{','.join(r['id'] for r in responses)}").shuffle(responses)
    return {"responses": responses}


def _topological(reqs: list[dict]) -> list[dict]:
    by_id = {r["id"]: r for r in reqs}
    done: list[dict] = []
    state: dict[str, int] = {}

    def visit(r):
        s = state.get(r["id"])
        if s == 2:
            return
        if s == 1:
            raise GraphError(400, "BadRequest", "Batch request dependencies form a cycle.")
        state[r["id"]] = 1
        for d in r.get("dependsOn") or []:
            visit(by_id[d])
        state[r["id"]] = 2
        done.append(r)

    for r in reqs:
        visit(r)
    return done


def _sub_request(router, req, version: str, claims: dict, item: dict) -> dict:
    url = item["url"]
    if url.startswith(("https://", "http://")):
        return _sub_error(req, item, 400, "BadRequest", "Batch request urls must be relative.")
    path, _, query = url.partition("?")
    if not path.startswith("/"):
        path = "/" + path
    if path.lower().startswith(("/v1.0/", "/beta/")):
        return _sub_error(req, item, 400, "BadRequest", "Batch request urls must be relative to the version.")
    if path.lower() == "/$batch":
        return _sub_error(req, item, 400, "BadRequest", "Nested batch requests are not supported.")
    headers = Message()
    for k, v in (item.get("headers") or {}).items():
        headers[str(k)] = str(v)
    auth = req.headers.get("Authorization")
    del headers["Authorization"]  # every step runs with the outer request's token
    if auth:
        headers["Authorization"] = auth
    raw = b""
    body = item.get("body")
    if body is not None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        if headers.get("Content-Type") is None:
            headers["Content-Type"] = "application/json"
    target = f"/{version}{path}" + (f"?{query}" if query else "")
    sub = server.Request(req.runtime, "graph", item["method"].upper(), target, headers, raw, world=req.world)
    sub.client_request_id = req.client_request_id
    # no latency of its own, and "act, then lose the answer" faults hit the batch, not its steps
    sub.batch_step = True
    # Through the full pipeline: the step is logged and throttled against the app's budget
    # like a request of its own (a throttled step gets its own 429 + Retry-After).
    resp = req.runtime.dispatch(sub) if req.runtime is not None else None
    if resp is None:
        return _sub_error(req, item, 503, "ServiceNotAvailable", "The service is temporarily unavailable.")
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() in (
        "content-type", "location", "retry-after", "etag", "odata-version")}
    if resp.body is not None and "Content-Type" not in out_headers and not isinstance(resp.body, (bytes, str)):
        out_headers["Content-Type"] = "application/json"
    out = {"id": item["id"], "status": resp.status, "headers": out_headers}
    if resp.body is not None:
        b = resp.body
        if isinstance(b, (bytes, bytearray)):
            b = b.decode("utf-8", "replace")
        out["body"] = b
    return out


def _sub_error(req, item, status, code, message):
    return {"id": item["id"], "status": status, "headers": {"Content-Type": "application/json"},
            "body": error_body(req, code, message)}


def _listed_grants(world, tenant) -> list[dict]:
    """The delegated permission grants Graph lists now: a Partner Center consent's grants show up only
    after the ``consent_graph_delay`` setting (the world clock decides)."""
    now = world.clock.now()
    return [g for g in tenant.oauth2_permission_grants.values() if float(g.get("_visible_at") or 0) <= now]
