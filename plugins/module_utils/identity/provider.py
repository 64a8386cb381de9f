# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tokens from the Microsoft identity platform, through MSAL.

Grants: client credentials (secret or certificate) and the Secure Application Model refresh token
(delegated app+user tokens for the partner tenant or any customer tenant). One MSAL
ConfidentialClientApplication per tenant (built by ``msal_apps``), all sharing the cache of their
(login host, app).
"""

import base64
import json
import time
from urllib.parse import urlsplit

from ..cloud import resource_scopes
from ..errors import (
    CspAuthError,
    CspTransportError,
    CspValidationError,
    aadsts_code,
    clean_description,
    register_secret,
)
from ..http import error_from_response
from ..options import check_tenant, is_guid
from .msal_apps import MsalApps
from .token_cache import digest, open_store, require_msal

GRANTS = ("client_credentials", "refresh_token")

# Refresh-token errors after which the refresh token the user gave is worth one more try
# (the cached, rotated one may have been revoked or expired on its own).
_RT_INVALID = frozenset(["700082", "50173", "70043", "70000", "70008", "700084", "9002313"])

# MSAL's margin: an access token with less time left than this is not served from the cache.
_EXPIRY_MARGIN = 5 * 60

USEFUL_CLAIMS = ("aud", "tid", "appid", "azp", "oid", "idtyp", "roles", "scp", "wids", "upn", "exp")


def decode_jwt_claims(token):
    """Claims of a JWT without verifying it (for checks, never for trust); {} if not a JWT."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (AttributeError, IndexError, ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


class AccessToken:
    """A token and what we know about it. ``repr`` never shows the token."""

    __slots__ = ("token", "expires_on", "token_source", "claims", "scopes", "tenant_id", "refresh_token", "grant")

    def __init__(self, token, expires_on, token_source, claims, scopes, tenant_id, refresh_token=None,
                 grant="client_credentials"):
        self.token = token
        self.expires_on = expires_on
        self.token_source = token_source
        self.claims = claims
        self.scopes = scopes
        self.tenant_id = tenant_id
        self.refresh_token = refresh_token
        self.grant = grant

    @property
    def useful_claims(self):
        return {k: self.claims[k] for k in USEFUL_CLAIMS if k in self.claims}

    def __repr__(self):
        return "AccessToken(tenant_id=%r, scopes=%r, expires_on=%r, token_source=%r)" % (
            self.tenant_id, self.scopes, self.expires_on, self.token_source)


def openid_configuration(http, authority_host, tenant):
    """GET the tenant's OpenID configuration. Returns (status, document); errors come back as documents.

    An unknown tenant/domain answers 400 with an AADSTS90002 error body, which callers may want
    to report rather than fail on.
    """
    url = "%s/%s/v2.0/.well-known/openid-configuration" % (authority_host, tenant)
    response = http.send("GET", url)
    if response.status_code == 200 and isinstance(response.json(), dict):
        return 200, response.json()
    if 400 <= response.status_code < 500:
        return response.status_code, error_from_response(response, "login")
    raise error_from_response(response, "login", action="OpenID discovery for %s" % tenant)


def tenant_id_from_configuration(document):
    """The tenant GUID in a discovery document (token endpoint path or issuer)."""
    for key in ("token_endpoint", "issuer", "authorization_endpoint"):
        value = document.get(key)
        if value:
            for segment in urlsplit(value).path.split("/"):
                if is_guid(segment):
                    return segment.lower()
    return None


def auth_error(result, tenant, adapter=None, action=None):
    """CspAuthError from an MSAL error result (AADSTS code, trace id, correlation id, hint)."""
    description = result.get("error_description") or result.get("error") or "token request failed"
    number = aadsts_code(description)
    if not number and result.get("error_codes"):
        number = str(result["error_codes"][0])
    message = clean_description(description)
    status = None
    if adapter is not None and adapter.last_error is not None:
        status = adapter.last_error.status_code
    prefix = action or "Token request for tenant %s" % tenant
    return CspAuthError(
        "%s failed: %s" % (prefix, message),
        code=("AADSTS" + number) if number else result.get("error"),
        status=status,
        request_id=result.get("trace_id"),
        correlation_id=result.get("correlation_id"),
    )


class TokenProvider:
    """Access tokens for (tenant, resource), from the cache when still good (> 5 min left)."""

    def __init__(self, options, http, clock=time.time):
        require_msal()
        if not options._validated:
            options.validate()
        self.options = options
        self.http = http
        self.clock = clock
        self.store = open_store(options, options.authority_host)
        self.apps = MsalApps(options, http, self.store)
        self.adapter = self.apps.adapter  # keeps the last error response for auth_error
        self._refresh_store = None
        self._seed_store = None
        self.last_stored = None  # the StoredToken of the last rotation this provider ran
        self._tenant_ids = {}

    # --- tenants ---------------------------------------------------------------------
    def resolve_tenant(self, tenant=None):
        """Tenant GUID for a GUID or domain (domains through OpenID discovery, memoized)."""
        tenant = check_tenant(tenant or self.options.tenant_id)
        if is_guid(tenant):
            return tenant
        if tenant not in self._tenant_ids:
            status, document = openid_configuration(self.http, self.options.authority_host, tenant)
            if status != 200:
                raise CspAuthError("Tenant %s was not found: %s" % (tenant, document.message), code=document.code,
                                   status=status, request_id=document.request_id,
                                   correlation_id=document.correlation_id)
            resolved = tenant_id_from_configuration(document)
            if not resolved:
                raise CspAuthError("OpenID configuration of %s names no tenant id" % tenant, code="InvalidDiscovery")
            self._tenant_ids[tenant] = resolved
        return self._tenant_ids[tenant]

    # --- tokens ----------------------------------------------------------------------
    def get_token(self, tenant=None, resource="graph", fresh=False, grant=None, refresh_store=None):
        """An ``AccessToken`` for ``tenant`` (default: the connection's) and ``resource``.

        ``resource``: ``graph``, ``partner_center``, ``azure_management``, a scope/URI or a list of
        scopes. ``fresh=True`` ignores every cached access token (needed right after a customer or
        a consent was created) but still uses — and stores — the newest refresh token.
        ``grant`` defaults to ``refresh_token`` when a refresh token is configured.
        ``refresh_store``: a refresh token store to use instead of the configured one (``SamClient``).
        """
        grant = grant or ("refresh_token" if refresh_store is not None else self.options.grant)
        if grant not in GRANTS:
            raise CspValidationError("grant must be one of %s" % ", ".join(GRANTS), code="InvalidGrant")
        if grant == "refresh_token" and refresh_store is None and not (
                self.options.refresh_token or self.options.refresh_token_store_spec):
            raise CspValidationError("a refresh_token (or refresh_token_store) is needed for delegated (app+user) "
                                     "tokens", code="MissingRefreshToken")
        delegated = grant == "refresh_token"
        scopes = resource_scopes(self.options.cloud, resource, delegated)
        tenant_id = self.resolve_tenant(tenant)
        user_key = digest(self._user_identity(refresh_store))[:16] if delegated else "app"
        key = "|".join([grant, tenant_id, " ".join(sorted(scopes)), user_key])
        try:
            with self.store.transaction(key):
                app = self.apps.get(tenant_id)
                if fresh:
                    self.apps.forget(tenant_id)  # MSAL replays a token 400 for 60 s otherwise
                if delegated:
                    result = self._delegated(app, tenant_id, scopes, fresh, digest(key)[:32], refresh_store)[0]
                else:
                    if fresh:
                        self._forget_app_tokens(app, tenant_id, scopes)
                    result = app.acquire_token_for_client(scopes)
                if not result or "access_token" not in result:
                    raise auth_error(result or {}, tenant_id, self.adapter)
                refresh_token = None
                if delegated and refresh_store is None and self.seed_store is not None:
                    newest = self.seed_store.load()  # the rotated token, for return_refresh_token
                    refresh_token = newest.token if newest else None
        except ValueError as exc:  # MSAL's input checks (e.g. reserved scopes)
            raise CspValidationError("Invalid token request: %s" % exc, code="InvalidTokenRequest") from None
        except OSError as exc:
            raise CspTransportError("Token cache I/O failed: %s" % exc, code="TokenCacheError") from None
        token = result["access_token"]
        register_secret(token)
        register_secret(refresh_token)
        claims = decode_jwt_claims(token)
        # the token's own exp is exact; expires_in of a cache hit is rounded against "now"
        expires_on = claims.get("exp") if isinstance(claims.get("exp"), int) else None
        if expires_on is None:
            expires_on = int(self.clock()) + int(result.get("expires_in") or 0)
        return AccessToken(
            token=token,
            expires_on=expires_on,
            token_source=result.get("token_source") or "identity_provider",
            claims=claims,
            scopes=scopes,
            tenant_id=tenant_id,
            refresh_token=refresh_token,
            grant=grant,
        )

    def forget_tenant(self, tenant):
        """Drop every cached access token for ``tenant`` (any resource, app-only or delegated) and any refusal
        MSAL would replay for it: after a consent or role change there the next request gets a token with the
        new claims. Refresh tokens stay."""
        tenant_id = self.resolve_tenant(tenant)
        self.apps.forget(tenant_id)
        try:
            with self.store.transaction("forget|" + tenant_id):
                cache = self.store.cache
                query = {"client_id": self.options.client_id, "realm": tenant_id}
                for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN, query=query)):
                    cache.remove_at(entry)
        except OSError as exc:
            raise CspTransportError("Token cache I/O failed: %s" % exc, code="TokenCacheError") from None

    def _forget_app_tokens(self, app, tenant_id, scopes):
        cache = self.store.cache
        query = {"client_id": self.options.client_id, "realm": tenant_id, "home_account_id": None,
                 "environment": app.authority.instance}
        for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN, target=scopes, query=query)):
            cache.remove_at(entry)

    # --- refresh token store -------------------------------------------------------------
    def _user_identity(self, refresh_store=None):
        """What identifies the delegated user's token chain: the store, or the refresh token given."""
        if refresh_store is not None:
            return "store:" + refresh_store.describe()
        if self.options.refresh_token_store_spec:
            return "store:" + json.dumps(self.options.refresh_token_store_spec, sort_keys=True, default=str)
        return self.options.refresh_token

    @property
    def refresh_store(self):
        """The ``refresh_token_store`` (opened on first use) or None."""
        spec = self.options.refresh_token_store_spec
        if spec is None:
            return None
        if self._refresh_store is None:
            from .refresh_token_store import open_store as open_refresh_store
            self._refresh_store = open_refresh_store(spec, http=self.http, cloud=self.options.cloud.name,
                                                     access_token=self.keyvault_token)
        return self._refresh_store

    def keyvault_token(self):
        """An app-only access token for Azure Key Vault in the connection's cloud (a Key Vault store's)."""
        from .refresh_token_store import KEYVAULT_AUDIENCE
        audience = KEYVAULT_AUDIENCE.get(self.options.cloud.name, KEYVAULT_AUDIENCE["public"])
        return self.get_token(resource=audience + "/.default", grant="client_credentials").token

    @property
    def seed_store(self):
        """The store a plain ``refresh_token`` option seeds, or None (a ``refresh_token_store`` is set, or no
        refresh token): a file beside the token cache when ``token_cache_path`` is set, else memory, named
        by a digest of the option's token. The option's token is saved into it when it is empty; from
        then on the token is only redeemed and saved by ``rotate``, as with any store."""
        if self.options.refresh_token_store_spec or not self.options.refresh_token:
            return None
        if self._seed_store is None:
            from .refresh_token_store import FileRefreshTokenStore, MemoryRefreshTokenStore
            name = digest(self.options.refresh_token)[:16]
            path = getattr(self.store, "path", None)
            if getattr(self.store, "persistent", False) and path:
                store = FileRefreshTokenStore("%s.rt-%s.json" % (path[:-5] if path.endswith(".json") else path, name))
            else:
                store = MemoryRefreshTokenStore(name)
            if store.load() is None:
                self._seed(store, None)
            self._seed_store = store
        return self._seed_store

    def _seed(self, store, current):
        """Save the option's refresh token into ``store`` over ``current`` (None: the store is empty)."""
        from .refresh_token_store import RefreshTokenStoreConflict
        try:
            store.save(self.options.refresh_token, None if current is None else current.version,
                       metadata={"client_id": self.options.client_id, "source": "seed"}, consented=True)
        except RefreshTokenStoreConflict:
            pass  # another run stored a token first: that one is newer

    def _delegated_from_store(self, app, tenant_id, scopes, fresh, target_key, store):
        """Delegated token with a refresh token store as the only home of the refresh token.

        A cached access token is used when it is good (MSAL's cache holds no refresh token for this user,
        so a silent call cannot rotate behind the store's back); otherwise the stored token is
        exchanged and the new one stored, in one locked step with compare-and-swap (``rotate``).
        The store a plain ``refresh_token`` seeded refreshes an aging access token (keeping it should
        that fail) and goes back to the option's token once when the stored one is no longer valid.
        """
        seeded = store is self._seed_store
        identity = digest(self._user_identity(None if seeded or store is self.refresh_store else store))
        account = self._account(app, identity)
        aging = None
        if account is not None and not fresh:
            # a refresh token another configuration left in the cache must not rotate behind the store's back
            self._drop_cached_refresh_tokens(app, account["home_account_id"])
            # no refresh token here, so an aging token is served as MSAL's silent call would serve it
            result = self._cached_access_token(app, account, target_key)
            if result is not None and not (seeded and result.get("aging")):
                return result, account["home_account_id"]
            aging = result
            if result is None:
                result = app.acquire_token_silent_with_error(scopes, account)
                if result and "access_token" in result:
                    return result, account["home_account_id"]

        try:
            result, self.last_stored = self.rotate(store, app, tenant_id, scopes)
        except CspAuthError as err:
            if aging is not None:
                return aging, account["home_account_id"]
            current = store.load() if seeded else None
            if (current is None or current.token == self.options.refresh_token
                    or str(err.code or "").replace("AADSTS", "") not in _RT_INVALID):
                raise
            # the rotated token was revoked or expired on its own: the option's token is worth one more try
            self._seed(store, current)
            result, self.last_stored = self.rotate(store, app, tenant_id, scopes)
        home_account_id = self._home_account_id(result)
        if home_account_id:
            self.store.set_account(identity, home_account_id)
            self._drop_cached_refresh_tokens(app, home_account_id)
        return result, home_account_id

    def rotate(self, store, app, tenant_id, scopes):
        """The one place a stored refresh token is redeemed: under the store's lock, read the token,
        exchange it, store its successor with compare-and-swap. Returns (MSAL result, StoredToken)."""
        def redeem(refresh_token):
            result = app.acquire_token_by_refresh_token(refresh_token, scopes)
            if not result or "access_token" not in result:
                raise auth_error(result or {}, tenant_id, self.adapter,
                                 action="Refresh token exchange for tenant %s" % tenant_id)
            register_secret(result.get("access_token"))
            register_secret(result.get("refresh_token"))
            return result.get("refresh_token"), result

        def metadata(result):
            claims = decode_jwt_claims(result.get("access_token") or "")
            return {"user": claims.get("upn"), "client_id": self.options.client_id, "source": "exchange"}

        return store.rotate(redeem, metadata=metadata)

    def _drop_cached_refresh_tokens(self, app, home_account_id):
        cache = self.store.cache
        query = {"home_account_id": home_account_id, "client_id": self.options.client_id,
                 "environment": app.authority.instance}
        for entry in list(cache.search(cache.CredentialType.REFRESH_TOKEN, query=query)):
            cache.remove_rt(entry)

    def _account(self, app, identity=None):
        home_account_id = self.store.accounts.get(identity or digest(self.options.refresh_token))
        if not home_account_id:
            return None
        for account in app.get_accounts():
            if account.get("home_account_id") == home_account_id:
                return account
        return None

    def _delegated(self, app, tenant_id, scopes, fresh, target_key, refresh_store=None):
        """Delegated token from one refresh token store: the given one (``SamClient``), the configured
        ``refresh_token_store``, or the store a plain ``refresh_token`` seeds (see ``seed_store``).

        ``target_key`` names this (tenant, scopes, user) in the store's index of targets.
        """
        store = refresh_store if refresh_store is not None else (self.refresh_store or self.seed_store)
        result, home_account_id = self._delegated_from_store(app, tenant_id, scopes, fresh, target_key, store)
        if result and "access_token" in result and result.get("token_source") != "cache":
            self._remember_target(app, result["access_token"], home_account_id, target_key)
        return result, home_account_id

    # --- access tokens MSAL's own lookup cannot find ----------------------------------------
    # MSAL files an access token under the scopes the server returns, and the identity platform
    # answers a ".default" request with the granted permission names, so MSAL's silent lookup by
    # the requested scopes never finds a delegated ".default" token again. We remember, per
    # request, the target MSAL filed the token under and look the token up by that target.

    def _at_query(self, app, home_account_id):
        # the same keys MSAL's silent lookup uses
        return {"client_id": self.options.client_id, "environment": app.authority.instance,
                "realm": app.authority.tenant, "home_account_id": home_account_id}

    def _cached_access_token(self, app, account, target_key):
        """An MSAL-like cache hit for the remembered target (``aging`` once past refresh_on), or None."""
        target = self.store.targets.get(target_key)
        if not target:
            return None
        cache = self.store.cache
        now = int(self.clock())
        best = None
        for entry in cache.search(cache.CredentialType.ACCESS_TOKEN, target=target.split(),
                                  query=self._at_query(app, account["home_account_id"])):
            expires_on = int(entry.get("expires_on") or 0)
            if expires_on - now >= _EXPIRY_MARGIN and (best is None or expires_on > int(best["expires_on"])):
                best = entry
        if best is None:
            return None
        refresh_on = int(best.get("refresh_on") or 0)
        return {
            "access_token": best["secret"],
            "token_type": best.get("token_type", "Bearer"),
            "expires_in": int(best["expires_on"]) - now,
            "token_source": "cache",
            "aging": bool(refresh_on) and refresh_on < now,
        }

    def _remember_target(self, app, access_token, home_account_id, target_key):
        if not home_account_id:
            return
        cache = self.store.cache
        for entry in cache.search(cache.CredentialType.ACCESS_TOKEN, query=self._at_query(app, home_account_id)):
            if entry.get("secret") == access_token:
                self.store.set_target(target_key, entry.get("target") or "")
                return

    @staticmethod
    def _home_account_id(result):
        info = result.get("client_info")
        if info:
            try:
                data = json.loads(base64.urlsafe_b64decode((info + "=" * (-len(info) % 4)).encode("ascii")))
                if data.get("uid") and data.get("utid"):
                    return "%s.%s" % (data["uid"], data["utid"])
            except (ValueError, TypeError):
                pass
        claims = result.get("id_token_claims") or {}
        return claims.get("sub")
