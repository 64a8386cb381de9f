# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Secure Application Model lifecycle: one-time consent by device code, exchange-and-store, health.

- ``SamClient.start_device_code`` / ``poll_device_code``: the device authorization grant for the
  integration user's one-time MFA sign-in (works on a headless server: a human opens the link on any
  device). The pending flow (with its device code) is kept in a private 0600 file between tasks, never
  in a task result.
- ``SamClient.exchange``: redeem the stored refresh token at the identity platform (through MSAL) and
  store the new one in the same locked step (see ``refresh_token_store``).
- ``classify``: what an AADSTS error means for the refresh token and what to do about it.
"""

import datetime
import hashlib
import json
import os
import time

from .provider import TokenProvider, auth_error, decode_jwt_claims
from ..cloud import resource_scopes
from ..errors import CspAuthError, CspValidationError, aadsts_code, clean_description, register_secret
from ..files import atomic_write, ensure_private_dir, read_text

INACTIVITY_DAYS = 90
CONSENT_SCOPES_EXTRA = ["offline_access", "openid", "profile"]
_PENDING = ("authorization_pending", "slow_down")

# AADSTS code -> (status, what it means, action). Statuses are stable values reports can filter on.
HEALTH = {
    "700082": ("expired", "The refresh token expired: it was not used for 90 days (or is otherwise no longer valid).",
               "redo_consent"),
    "50173": ("revoked", "The refresh token was revoked: the integration user's password was changed or reset, or "
              "their sessions were revoked.", "redo_consent"),
    "70043": ("conditional_access", "A Conditional Access sign-in frequency policy ended the refresh token.",
              "review_conditional_access"),
    "53003": ("conditional_access", "Conditional Access blocked the sign-in of the integration user.",
              "review_conditional_access"),
    "50076": ("mfa_required", "The integration user's token does not carry MFA: the sign-in that created it did "
              "not use multi-factor authentication.", "redo_consent_with_mfa"),
    "50079": ("mfa_required", "The integration user must register for multi-factor authentication.",
              "redo_consent_with_mfa"),
    "65001": ("consent_missing", "The app lacks consent for the requested permissions in the tenant.",
              "grant_consent"),
    "90099": ("consent_missing", "The partner app is not authorized in the customer tenant.", "grant_consent"),
    "9002313": ("invalid", "The stored value is not a refresh token the identity platform knows.", "redo_consent"),
    "70000": ("invalid", "The refresh token was issued to another app or is malformed.", "redo_consent"),
    "50057": ("user_disabled", "The integration user account is disabled.", "enable_user"),
    "7000215": ("credential_invalid", "The app's client secret is wrong.", "fix_app_credential"),
    "7000222": ("credential_expired", "The app's client secret has expired.", "rotate_app_credential"),
    "700027": ("credential_invalid", "The app's certificate is not registered or does not match.",
               "fix_app_credential"),
    "700016": ("app_not_found", "The app is not registered or consented in the tenant.", "fix_app_registration"),
    "7000112": ("app_disabled", "The app is disabled in the tenant.", "fix_app_registration"),
}

ACTIONS = {
    "none": "Nothing to do.",
    "renew": "Run the renewal (playbooks/renew_refresh_tokens.yml) now: the token is close to its 90-day limit.",
    "redo_consent": "Sign the integration user in again with MFA (playbooks/sam_consent.yml) to store a new "
                    "refresh token.",
    "redo_consent_with_mfa": "Make sure the integration user signs in with multi-factor authentication, then run "
                             "the consent again (playbooks/sam_consent.yml).",
    "review_conditional_access": "Exclude the integration user/app from the Conditional Access policy (sign-in "
                                 "frequency or block) as Microsoft's Secure Application Model guidance says, then "
                                 "run the consent again.",
    "grant_consent": "Give the app consent in that tenant (application consent through Partner Center for a "
                     "customer, admin consent in the partner tenant).",
    "enable_user": "Enable the integration user account, then run the consent again.",
    "fix_app_credential": "Check the app's client secret or certificate (client_secret / client_certificate_path).",
    "rotate_app_credential": "Add a new client secret (cloudpartner.csp.app_secret_rotate) and update the "
                             "stored credential.",
    "fix_app_registration": "Check client_id and tenant_id and that the app is enabled and multitenant.",
    "investigate": "See the error message and Microsoft's error code.",
}


def classify(error=None, days_left=None, warn_days=14):
    """The health of a refresh token: ``{status, code, meaning, action, action_text}``.

    ``error``: a ``CspError`` (or an AADSTS code/description string) from the last exchange, or None
    when the exchange worked; ``days_left``: days before the stored token expires if unused.
    """
    if error is None:
        if days_left is not None and days_left <= warn_days:
            status, meaning, action = "expiring", "The refresh token expires in %s days if unused." % days_left, "renew"
        else:
            status, meaning, action = "ok", "The refresh token works.", "none"
        return {"status": status, "code": None, "meaning": meaning, "action": action, "action_text": ACTIONS[action]}
    code = getattr(error, "code", None) or str(error)
    number = aadsts_code(code) or aadsts_code(getattr(error, "message", None) or "")
    if number and number in HEALTH:
        status, meaning, action = HEALTH[number]
        code = "AADSTS" + number
    elif getattr(error, "kind", None) == "store":
        status, meaning, action = "store_error", getattr(error, "message", str(error)), "investigate"
        if getattr(error, "code", None) == "RefreshTokenStoreEmpty":
            status, action = "not_consented", "redo_consent"
    else:
        status, meaning, action = "error", getattr(error, "message", str(error)), "investigate"
    return {"status": status, "code": code, "meaning": meaning, "action": action, "action_text": ACTIONS[action]}


def parse_graph_time(text):
    """Epoch seconds of a Graph date-time (7 fractional digits allowed), or None."""
    if not text:
        return None
    value = str(text).replace("Z", "+00:00")
    if "." in value:  # Graph sends 7 fractional digits; Python takes 6
        head, _sep, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits):]
        value = "%s.%s%s" % (head, digits[:6], zone)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def flow_path_for(directory, authority_host, tenant, client_id):
    key = hashlib.sha256(("%s|%s|%s" % (authority_host, tenant, client_id)).lower().encode("utf-8")).hexdigest()[:20]
    return os.path.join(directory, "device-flow-%s.json" % key)


def default_flow_dir():
    return os.path.join(os.path.expanduser("~"), ".ansible", "cloudpartner.csp")


class DeviceFlow:
    """A pending device authorization (kept in a 0600 file; ``public()`` leaves out the device code)."""

    def __init__(self, data):
        self.data = data

    @property
    def expires_at(self):
        return float(self.data.get("expires_at") or 0)

    def expired(self, now=None):
        return (time.time() if now is None else now) >= self.expires_at

    def public(self):
        return {
            "user_code": self.data.get("user_code"),
            "verification_uri": self.data.get("verification_uri"),
            "message": self.data.get("message"),
            "expires_at": int(self.expires_at),
            "interval": self.data.get("interval"),
            "tenant": self.data.get("tenant"),
        }

    @classmethod
    def load(cls, path):
        try:
            text = read_text(path)
        except OSError as exc:
            raise CspValidationError("cannot read the device code state %s: %s" % (path, exc.strerror),
                                     code="DeviceFlowUnreadable") from None
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return cls(data) if isinstance(data, dict) and data.get("device_code") else None

    def save(self, path):
        ensure_private_dir(os.path.dirname(os.path.abspath(path)))
        atomic_write(path, json.dumps(self.data), mode=0o600)

    @staticmethod
    def remove(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class SamClient:
    """Device code consent and refresh-token exchange for one app (validated ``ConnectionOptions``)."""

    def __init__(self, options, http, clock=time.time, sleep=time.sleep, tokens=None):
        # the TokenProvider every refresh token exchange goes through (its rotation is the only one); it
        # validates the options, needs MSAL and owns the MSAL apps, the HTTP adapter and the discovery cache.
        # A module passes its CspClient's, so a run has one provider (one discovery, one token cache).
        self.tokens = tokens if tokens is not None else TokenProvider(options, http, clock=clock)
        self.options = options
        self.http = http
        self.clock = clock
        self.sleep = sleep
        self.adapter = self.tokens.adapter  # keeps the last error response for auth_error

    def _app(self, tenant):
        """The device code sign-in's MSAL app, built where every MSAL app is (``msal_apps``), with a private
        token cache: the sign-in's refresh token goes to a refresh token store only."""
        return self.tokens.apps.get(tenant, private_cache=True)

    # --- exchange ----------------------------------------------------------------------
    def exchange(self, store, tenant=None, resource="graph"):
        """Redeem the stored refresh token for an access token in ``tenant``; store the new refresh token.

        Goes through ``TokenProvider.rotate`` (lock, compare-and-swap, atomic write), always exchanging
        (a renewal must reach the identity platform). Returns ``(AccessToken, StoredToken)``; the
        AccessToken's ``refresh_token`` is never set.
        """
        tokens = self.tokens
        tokens.last_stored = None
        token = tokens.get_token(tenant=tenant or self.options.tenant_id, resource=resource, fresh=True,
                                 grant="refresh_token", refresh_store=store)
        return token, tokens.last_stored or store.load()

    # --- device code ---------------------------------------------------------------------
    def start_device_code(self, tenant=None, resource="graph"):
        """Ask for a device code; returns a ``DeviceFlow`` (holding the device code: keep it private)."""
        tenant = tenant or self.options.tenant_id
        scopes = resource_scopes(self.options.cloud, resource, True) + CONSENT_SCOPES_EXTRA
        app = self._app(tenant)
        try:
            flow = app.client.initiate_device_flow(scope=scopes)
        except ValueError as exc:  # no device_authorization_endpoint in the discovery document
            raise CspAuthError("The identity platform offers no device code flow for %s: %s" % (tenant, exc),
                               code="DeviceFlowUnavailable") from None
        if "device_code" not in flow:
            raise auth_error(flow, tenant, self.adapter, action="Device code request for tenant %s" % tenant)
        flow["tenant"] = tenant
        flow["client_id"] = self.options.client_id
        flow["authority_host"] = self.options.authority_host
        flow["resource"] = resource if isinstance(resource, str) else " ".join(resource)
        flow["started_at"] = self.clock()
        flow["expires_at"] = self.clock() + int(flow.get("expires_in") or 900)
        return DeviceFlow(flow)

    def poll_device_code(self, flow, timeout=None):
        """Poll until the user signed in, the code expired or ``timeout`` seconds passed.

        Returns the token response (with ``refresh_token``) or None when still pending at the timeout.
        Raises ``CspAuthError`` for anything else (declined, expired: AADSTS70020, ...).
        """
        data = flow.data
        app = self._app(data["tenant"])
        deadline = self.clock() + (timeout if timeout is not None else max(0, flow.expires_at - self.clock()))
        interval = max(1, int(data.get("interval") or 5))
        while True:
            attempt = dict(data)
            attempt["expires_at"] = 0  # one request per call; we do the waiting ourselves
            result = app.client.obtain_token_by_device_flow(
                attempt, exit_condition=lambda _flow: True, data={"code": data["device_code"]})
            error = result.get("error")
            if error not in _PENDING:
                if "access_token" not in result:
                    raise auth_error(result, data["tenant"], self.adapter,
                                     action="Device code sign-in for tenant %s" % data["tenant"])
                register_secret(result.get("access_token"))
                register_secret(result.get("refresh_token"))
                return result
            if error == "slow_down":
                interval += 5
            if self.clock() + interval > deadline:
                return None
            self.sleep(interval)

    def store_consent(self, store, result, require_mfa=True):
        """Store the refresh token of a completed sign-in as the start of a new chain; returns StoredToken."""
        token = result.get("refresh_token")
        if not token:
            raise CspAuthError("The sign-in returned no refresh token (was offline_access granted?)",
                               code="NoRefreshToken")
        claims = decode_jwt_claims(result.get("access_token") or "")
        id_claims = decode_jwt_claims(result.get("id_token") or "")
        amr = claims.get("amr") or id_claims.get("amr") or []
        if require_mfa and "mfa" not in amr:
            raise CspAuthError("The integration user signed in without multi-factor authentication; its refresh "
                               "token would fail with AADSTS50076. Sign in again with MFA.", code="AADSTS50076")
        user = claims.get("upn") or id_claims.get("preferred_username") or claims.get("unique_name")
        current = store.load()
        return store.save(token, current.version if current else None, consented=True, metadata={
            "user": user, "client_id": self.options.client_id, "tenant_id": claims.get("tid"),
            "source": "device_code"})


def describe_error(err):
    """A short, secret-free text for a report line."""
    return clean_description(getattr(err, "message", None) or str(err))


# --- for modules ------------------------------------------------------------------------
STORE_ARGSPEC = {
    "store": dict(type="raw", required=True),
    "vault_password_file": dict(type="path", no_log=False),
}


def store_hygiene(module, store, result):
    """Put how many Key Vault versions stay readable into ``result``; warn when the clean-up failed."""
    if getattr(store, "type", None) != "keyvault" or store.enabled_versions is None and not store.hygiene_error:
        return result
    result["keyvault_versions"] = {"enabled": store.enabled_versions, "disabled_now": store.disabled_versions}
    if store.hygiene_error:
        module.warn(store.hygiene_error)
    return result


def open_module_store(client, spec, vault_password_file=None):
    """The store a module's ``store`` option names (Key Vault gets an app-only token for the vault from the
    client's ``TokenProvider``, built only then: a file store needs no token)."""
    from .refresh_token_store import open_store, parse_store_spec
    parsed = parse_store_spec(spec)
    if parsed is None:
        raise CspValidationError("store is required: a path, a URI (file://, ansible-vault://, keyvault://) or a dict",
                                 code="InvalidRefreshTokenStore")
    if parsed["type"] != "keyvault":
        return open_store(parsed, vault_password_file=vault_password_file)

    def access_token():  # client.tokens is built here, when the vault is first read
        return client.tokens.keyvault_token()

    return open_store(parsed, http=client.http, access_token=access_token, cloud=client.options.cloud.name)
