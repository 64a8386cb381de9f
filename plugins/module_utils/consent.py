# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partner Center application consent of a partner app in a customer tenant.

What is consented is read from the customer tenant through Graph (the app's service principal and
its ``oauth2PermissionGrants``), because Partner Center documents no read of consents. Writes go to
Partner Center: ``POST /customers/{id}/applicationconsents`` and ``DELETE .../{appId}``; different
scopes are replaced by DELETE then POST, as Microsoft's sample does. ``AccessProof`` is the Graph call
with a new token that proves the consent lets the app into the customer tenant.
"""

import time
import uuid

from .errors import CspAuthError, CspError, CspHttpError, CspValidationError
from .graph import filter_eq, odata_quote
from .options import is_guid
from .query import apply_query, compile_query

# Names accepted for ``api`` besides an appId (the appIds of Microsoft's first-party APIs).
KNOWN_APIS = {
    "microsoft_graph": "00000003-0000-0000-c000-000000000000",
    "partner_center": "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd",
    "azure_service_management": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    "exchange_online": "00000002-0000-0ff1-ce00-000000000000",
    "sharepoint_online": "00000003-0000-0ff1-ce00-000000000000",
    "azure_active_directory_graph": "00000002-0000-0000-c000-000000000000",
}
API_NAMES = {app_id: name for name, app_id in KNOWN_APIS.items()}

# A token for the customer tenant is refused with these while the app is not (yet) present there,
# which means: nothing is consented, and the service principals cannot be checked beforehand.
APP_NOT_IN_TENANT = frozenset(["AADSTS90099", "AADSTS65001", "AADSTS700016", "AADSTS650052"])
MISSING_SP_MARKERS = ("lacks a service principal", "AADSTS650052")
ALREADY_EXISTS_MARKERS = ("already exists",)


def admin_consent_url(login_host, customer_tenant_id, application_id):
    return "%s/%s/adminconsent?client_id=%s" % (login_host.rstrip("/"), customer_tenant_id, application_id)


def api_label(app_id):
    name = API_NAMES.get(app_id)
    return "%s (%s)" % (name, app_id) if name else app_id


def normalize_grants(grants):
    """``[{api, scopes}]`` -> ``{appId: sorted scopes}``; names resolved, duplicates merged, bad input refused."""
    if not grants:
        raise CspValidationError("grants must list at least one {api, scopes}", code="InvalidGrants")
    out = {}
    for index, grant in enumerate(grants, 1):
        api = str((grant or {}).get("api") or "").strip()
        app_id = api.lower() if is_guid(api) else KNOWN_APIS.get(api.lower().replace(" ", "_").replace("-", "_"))
        if not app_id:
            raise CspValidationError("grants[%d].api %r is neither an appId nor one of %s"
                                     % (index, api, ", ".join(sorted(KNOWN_APIS))), code="InvalidGrants")
        scopes = grant.get("scopes")
        if isinstance(scopes, str):
            scopes = scopes.replace(",", " ").split()
        scopes = [str(s).strip() for s in scopes or [] if str(s).strip()]
        if not scopes:
            raise CspValidationError("grants[%d] (%s) has no scopes" % (index, api), code="InvalidGrants")
        bad = [s for s in scopes if "," in s or " " in s]
        if bad:
            raise CspValidationError("grants[%d] scope names cannot contain commas or spaces: %s" % (index, bad),
                                     code="InvalidGrants")
        out[app_id] = sorted(set(out.get(app_id, [])) | set(scopes))
    return out


def grants_view(grants):
    """``{label: scopes}`` for diff and results."""
    return {api_label(k): v for k, v in sorted((grants or {}).items())}


def consent_body(application_id, grants, display_name=None):
    body = {"applicationId": application_id,
            "applicationGrants": [{"enterpriseApplicationId": api, "scope": ",".join(scopes)}
                                  for api, scopes in sorted(grants.items())]}
    if display_name:
        body["displayName"] = display_name
    return body


def _is_missing_sp(err):
    return any(m.lower() in (err.message or "").lower() for m in MISSING_SP_MARKERS)


def _is_already_exists(err):
    return err.status == 409 or any(m in (err.message or "").lower() for m in ALREADY_EXISTS_MARKERS)


class ConsentClient:
    """Reads the consent from the customer's Graph and writes it through Partner Center."""

    def __init__(self, customer_graph, partner_center, customer_tenant_id, application_id, login_host,
                 on_change=None, sleep=time.sleep, clock=time.monotonic):
        self.graph = customer_graph
        self.pc = partner_center
        self.customer = customer_tenant_id
        self.application_id = application_id
        self.login_host = login_host
        self.readable = True
        self.unreadable_reason = None
        self.unreadable_code = None
        # called after every consent write: the customer tenant's cached tokens carry the old claims
        self.on_change = on_change or (lambda: None)
        self.sleep = sleep
        self.clock = clock
        self._known = None  # the service principals the last read found: {"asked", "found"}

    def manual_url(self):
        return admin_consent_url(self.login_host, self.customer, self.application_id)

    def missing_sp_error(self, apis, cause=None):
        details = {"missing_apis": [{"app_id": a, "name": API_NAMES.get(a)} for a in apis],
                   "admin_consent_url": self.manual_url(), "customer_tenant_id": self.customer,
                   "application_id": self.application_id}
        if cause is not None:  # Microsoft's own answer stays visible next to the clearer message
            details.update(code=cause.code, message=cause.message)
        return CspError(
            "the customer tenant %s has no service principal for %s, so Partner Center cannot consent to app %s. "
            "A Global Administrator of the customer can consent once through %s (which creates the missing "
            "service principals), or remove those APIs from grants"
            % (self.customer, ", ".join(api_label(a) for a in apis), self.application_id, self.manual_url()),
            code="MissingServicePrincipal", status=getattr(cause, "status", None),
            request_id=getattr(cause, "request_id", None), service=getattr(cause, "service", None),
            correlation_id=getattr(cause, "correlation_id", None), details=details)

    def _service_principals(self, app_ids):
        """appId -> service principal for those of ``app_ids`` the tenant has, in one read (``appId in``)."""
        wanted = sorted({str(a).lower() for a in app_ids})
        if len(wanted) == 1:
            flt = filter_eq("appId", wanted[0])
        else:
            flt = "appId in (%s)" % ",".join(odata_quote(a) for a in wanted)
        found = self.graph.get_all("/servicePrincipals", params={"$filter": flt, "$select": "id,appId,displayName"})
        out = {}
        for sp in found:
            out.setdefault(str(sp.get("appId") or "").lower(), sp)
        return out

    def read(self, apis=()):
        """``{api appId: sorted scopes}`` consented to the app now, or None when the app is not in the tenant.

        The app's service principal and those of ``apis`` (the APIs the consent needs) are read in one
        request, kept for ``missing_service_principals``. When the customer tenant refuses a token for the
        app (not authorized there yet), the consent is taken as absent and ``readable`` is False.
        """
        self.readable, self.unreadable_reason = True, None
        self._known = None
        try:
            sps = self._service_principals([self.application_id] + list(apis))
        except CspAuthError as err:
            if err.code in APP_NOT_IN_TENANT:
                self.readable = False
                self.unreadable_reason = str(err)
                self.unreadable_code = err.code
                return None
            raise
        self._known = {"asked": {str(a).lower() for a in apis}, "found": sps}
        sp = sps.get(self.application_id)
        if sp is None:
            return None
        grants = self.graph.get_all("/oauth2PermissionGrants", params={"$filter": filter_eq("clientId", sp["id"])})
        current = {}
        resources = {str(s.get("id")): app_id for app_id, s in sps.items()}
        for grant in grants:
            if grant.get("consentType") not in (None, "AllPrincipals"):
                continue  # a single user's consent is not what Partner Center gives
            rid = grant.get("resourceId")
            if rid not in resources:  # an API the consent does not ask for
                resources[rid] = str(self.graph.get("/servicePrincipals/%s" % rid,
                                                    params={"$select": "id,appId"}).get("appId", rid)).lower()
            scopes = str(grant.get("scope") or "").split()
            current[resources[rid]] = sorted(set(current.get(resources[rid], [])) | set(scopes))
        return current

    def wait_listed(self, timeout, interval):
        """Read the consent until Graph lists grants of the app (a consent Partner Center already has can
        take a while to show in the customer's Graph); ``(grants or None, seconds waited)``."""
        start = self.clock()
        while True:
            current = self.read()
            waited = self.clock() - start
            if current or waited >= timeout:
                return current or None, int(waited)
            self.sleep(max(0.0, min(interval, timeout - waited)))

    def not_verified_error(self, waited):
        return CspError(
            "Partner Center answers that app %s is already consented in customer %s (HTTP 409), but Microsoft Graph "
            "in the customer tenant did not list the app's permission grants within %d s, so the consented scopes "
            "could not be compared with grants; nothing was changed. Graph can take longer to show a new consent: "
            "run again later" % (self.application_id, self.customer, waited),
            code="ConsentNotVerified", status=409, service="partner_center",
            details={"customer_tenant_id": self.customer, "application_id": self.application_id,
                     "waited_seconds": waited, "admin_consent_url": self.manual_url()})

    def missing_service_principals(self, apis):
        """APIs without a service principal in the customer (empty when it cannot be read); no second
        read when the last ``read`` asked for them."""
        if not self.readable:
            return []
        wanted = [str(a).lower() for a in apis]
        if self._known is not None and set(wanted) <= self._known["asked"]:
            found = self._known["found"]
        else:
            found = self._service_principals(wanted) if wanted else {}
        return [api for api in apis if str(api).lower() not in found]

    def create(self, grants, display_name=None):
        """POST the consent; returns False when Partner Center says it already exists."""
        try:
            self.pc.request("POST", "customers/%s/applicationconsents" % self.customer,
                            body=consent_body(self.application_id, grants, display_name),
                            request_id=str(uuid.uuid4()))
        except CspHttpError as err:
            if _is_missing_sp(err):
                missing = [a for a in grants if a in (err.message or "").lower()] or sorted(grants)
                raise self.missing_sp_error(missing, cause=err) from None
            if _is_already_exists(err):
                return False
            raise
        self.on_change()
        return True

    def delete(self):
        """DELETE the consent; returns False when there was none."""
        try:
            self.pc.request("DELETE", "customers/%s/applicationconsents/%s" % (self.customer, self.application_id))
        except CspHttpError as err:
            if err.status == 404:
                return False
            raise
        self.on_change()
        return True


def check_calling_app(token, application_id):
    """Partner Center only consents for the app that calls it, with an app + user token."""
    claims = token.claims or {}
    caller = str(claims.get("appid") or claims.get("azp") or "").lower()
    if caller != application_id:
        raise CspValidationError(
            "the calling token is for app %s but application_id is %s: Partner Center accepts application consent "
            "only from the app being consented; connect with client_id %s (and its credential and refresh token)"
            % (caller or "(unknown)", application_id, application_id), code="CallerIsNotApplication")
    if claims.get("idtyp") == "app" or (not claims.get("scp") and claims.get("roles")):
        raise CspValidationError(
            "application consent needs an app + user token: give the Secure Application Model refresh_token of "
            "the integration user", code="AppPlusUserTokenRequired")


class ConsentEnsurer:
    def __init__(self, consents, check_mode=False):
        self.consents = consents
        self.check_mode = check_mode
        self.actions = []
        self.warnings = []

    def present(self, desired, display_name=None, verify_timeout=60, verify_interval=5):
        """Returns ``(before, after)`` as ``{appId: scopes}`` dicts (None = no consent).

        A 409 from Partner Center ("already exists") while Graph showed no grants is never taken as
        success on its word: the grants are read again for up to ``verify_timeout`` seconds; equal
        means nothing to do, different means delete and create again (Microsoft's way to change
        scopes), still unlisted fails with ``ConsentNotVerified``.
        """
        current = self.consents.read(apis=sorted(desired))
        missing = self.consents.missing_service_principals(sorted(desired))
        if missing:
            raise self.consents.missing_sp_error(missing)
        if not self.consents.readable:
            self.warnings.append("app %s is not authorized in customer %s yet, so its consent and the customer's "
                                 "service principals could not be read; Partner Center checks them"
                                 % (self.consents.application_id, self.consents.customer))
        if current == desired:
            return current, current
        if self.check_mode:
            self.actions.extend((["delete"] if current else []) + ["create"])
            return current, desired
        if current and self.consents.delete():
            self.actions.append("delete")
        if self.consents.create(desired, display_name):
            self.actions.append("create")
            return current, desired
        # 409: Partner Center has a consent that Graph did not show. Look again before deciding anything.
        self.consents.on_change()  # no cached token for the tenant (nor a replayed refusal) in the re-read
        listed, waited = self.consents.wait_listed(verify_timeout, verify_interval)
        if listed is None:
            raise self.consents.not_verified_error(waited)
        if listed == desired:
            self.warnings.append("Partner Center reported the consent as existing; Graph lists the same scopes "
                                 "after %d s" % waited)
            return (current if self.actions else listed), listed
        if self.consents.delete():
            self.actions.append("delete")
        if not self.consents.create(desired, display_name):
            raise CspError("Partner Center still reports a consent of app %s in customer %s after it was deleted; "
                           "run again later" % (self.consents.application_id, self.consents.customer),
                           code="ConsentConflict", status=409, service="partner_center")
        self.actions.append("create")
        return (current if current else listed), desired

    def absent(self):
        current = self.consents.read()
        if current is None:  # no service principal of the app (or not even authorized): nothing consented
            return None, None
        if self.check_mode:
            self.actions.append("delete")
            return current, None
        if self.consents.delete():
            self.actions.append("delete")
        return current, None


class AccessProof:
    """The proof of access after a consent: one Graph GET in the customer tenant with a new token.

    ``graph`` is the customer tenant's ``GraphClient`` built with ``fresh_token=True``, the path a Graph
    request with ``fresh_token`` takes: the cached access token for the tenant is bypassed and replaced by
    a new one, which carries the claims of the consent just given. With ``grant="client_credentials"``
    the token is the app's own (app-only) instead of the integration user's app + user token.
    The path and the query are checked here, before any request is sent.
    """

    def __init__(self, graph, path, query=None):
        self.graph = graph
        self.path = path
        self.url = graph.url(path, name="proof.path")  # refuses foreign hosts and dot segments
        self.compiled = compile_query(query, name="proof.query")

    def failed(self):
        """What a result says of a proof that did not answer (the error itself is the module's ``error``)."""
        return {"path": self.path, "failed": True}

    def run(self):
        """``{path, result, token_source, request_id}``; ``result`` is the query's value, or the answer's JSON."""
        response = self.graph.request("GET", self.url)
        return {"path": self.path, "result": apply_query(self.compiled, response.json),
                "token_source": self.graph.last_token.token_source, "request_id": response.request_id}
