"""Partner Center REST routes: customers (list with continuation paging, get, create, domain
availability) and application consents (create, remove).

Shapes follow Microsoft's Partner Center REST documentation ("Create a customer", "Get a list of
customers", "Control panel vendor APIs", "Partner Center REST error codes"). Behaviour the
documentation leaves open is marked "unconfirmed" and, where it matters, is a world setting.
"""

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import quote

from . import catalog
from .server import Request, Response, Router, pc_error
from .world import Tenant, World, customer_record, is_guid

MAX_PAGE_SIZE = 500
# A customer tenant gets the first-party service principals an ordinary Microsoft 365 tenant has.
NEW_TENANT_FIRST_PARTY = (catalog.MICROSOFT_GRAPH, catalog.PARTNER_CENTER,
                          catalog.AZURE_SERVICE_MANAGEMENT, catalog.EXCHANGE_ONLINE)
# Partner Center's documented codes ("Partner Center REST error codes").
INVALID_PROPERTY = 3000
NOT_FOUND = 1000
ACCESS_DENIED = 2032
NO_RELATIONSHIP = 20002
TENANT_NOT_FOUND = 60003
ORG_REGISTRATION_MISSING = 600049
ORG_REGISTRATION_NOT_SUPPORTED = 600002
# Unconfirmed: Microsoft documents 409 for a taken domain but not its code; the emulator's generic
# Partner Center errors use the HTTP status as the code.
CONFLICT = 409

_DOMAIN = re.compile(r"^(?P<prefix>[a-z0-9]{1,27})\.onmicrosoft\.com$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# Countries whose customers must give organizationRegistrationNumber (documented error 600049).
_REGISTRATION_COUNTRIES = frozenset({"AM", "AZ", "BY", "HU", "KZ", "KG", "MD", "RU", "TJ", "UZ", "UA"})

# ISO 3166 country -> Entra `tenant_region_scope` (NA, SA, EU, AF, AS, OC).
_REGIONS = {
    "NA": "US CA MX PR GT CR PA HN SV NI DO JM TT BS BB BZ BM KY",
    "SA": "BR AR CL CO PE VE EC UY PY BO GY SR",
    "EU": "GB IE FR DE NL BE LU AT CH LI IT ES PT SE NO DK FI IS PL CZ SK HU RO BG GR CY MT SI HR "
          "RS BA ME MK AL EE LV LT UA BY MD AM AZ GE RU TR MC SM VA AD",
    "AF": "ZA NG KE EG MA DZ TN GH ET TZ UG SN CI CM AO MU BW NA ZM ZW RW",
    "AS": "JP CN HK MO TW KR IN SG MY TH VN PH ID PK BD LK NP KZ KG UZ TJ AE SA QA KW BH OM IL JO LB",
    "OC": "AU NZ FJ PG WS TO",
}
COUNTRY_REGION = {c: region for region, codes in _REGIONS.items() for c in codes.split()}


def register(router: Router) -> None:
    router.route("GET", r"/v1/customers")(list_customers)
    router.route("POST", r"/v1/customers")(create_customer)
    router.route("GET", r"/v1/customers/(?P<customer_id>[^/]+)")(get_customer)
    router.route("HEAD", r"/v1/domains/(?P<domain>[^/]+)")(domain_exists)
    # Only POST and DELETE are documented; a GET of consents stays unknown (404), as in reality
    # no such read exists to rely on.
    router.route("GET", r"/v1/customers/(?P<customer_id>[^/]+)/applicationconsents")(consents_unknown)
    router.route("POST", r"/v1/customers/(?P<customer_id>[^/]+)/applicationconsents")(create_consent)
    router.route("DELETE", r"/v1/customers/(?P<customer_id>[^/]+)/applicationconsents/(?P<app_id>[^/]+)")(
        delete_consent)


# ------------------------------------------------------------------------------------ helpers
def _partner(req: Request) -> Tenant:
    """Authenticate and return the calling partner tenant (the token's `tid`)."""
    claims = req.authenticate(catalog.PARTNER_CENTER)
    tenant = req.world.tenant(str(claims.get("tid", "")))
    if tenant is None or tenant.kind != "partner":
        raise pc_error(req, 403, ACCESS_DENIED, "Access denied: the signed-in tenant is not a partner "
                       "in the Cloud Solution Provider program.")
    return tenant


def _is_app_user(claims: dict) -> bool:
    return claims.get("idtyp") == "user" or "scp" in claims


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _customer_json(record: dict, listing: bool = False) -> dict:
    body = _public(record)
    if listing:
        body.pop("billingProfile", None)  # collections carry the company profile only
    body["links"] = {"self": {"uri": f"/v1/customers/{record['id']}", "method": "GET", "headers": []}}
    return body


def _field(obj: dict, name: str):
    """A property by name, case-insensitively (Partner Center accepts PascalCase and camelCase)."""
    if not isinstance(obj, dict):
        return None
    low = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == low:
            return value
    return None


def _text(obj: dict, name: str) -> str:
    value = _field(obj, name)
    return value.strip() if isinstance(value, str) else ""


def _body_object(req: Request) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise pc_error(req, 400, INVALID_PROPERTY, "The request body must be a JSON object.")
    return body


def _customer_tenant(req: Request, partner: Tenant, customer_id: str) -> tuple[dict, Tenant]:
    """The partner's customer record and the customer tenant, or the documented errors."""
    if not is_guid(customer_id):
        raise pc_error(req, 400, INVALID_PROPERTY, f"The customer id '{customer_id}' is not a valid GUID.")
    record = partner.customers.get(customer_id.lower())
    tenant = req.world.tenant(customer_id.lower())
    if record is None or tenant is None:
        raise pc_error(req, 403, NO_RELATIONSHIP, f"The partner id {partner.id} has no commerce "
                       f"relationship with the customer id {customer_id.lower()}.")
    return record, tenant


# ---------------------------------------------------------------------- MS-RequestId idempotency
def _idempotent(req: Request, partner: Tenant, handler):
    """Replay the first result of a POST for the same partner, MS-RequestId and body: a client
    that retries after a lost response must not create a second customer or consent."""
    request_id = (req.header("MS-RequestId") or "").strip()
    if not request_id:
        return handler()
    world = req.world
    cache = world.extra.setdefault("partner_center.requests", {})
    key = (partner.id, req.path.lower(), request_id)
    digest = hashlib.sha256(req.body or b"").hexdigest()
    with world.lock:
        seen = cache.get(key)
        if seen is not None:
            if seen[0] != digest:
                # Unconfirmed: the documentation only says MS-RequestId is for idempotency.
                raise pc_error(req, 409, CONFLICT, f"The MS-RequestId '{request_id}' was already used "
                               "for a different request.")
            req.log_replay = True  # the log tells a replay from a second creation
            return Response(seen[1], json.loads(seen[2]), dict(seen[3]))
        # Only successes are replayed: a retry after e.g. the propagation 404 must be tried again.
        result = handler()
        cache[key] = (digest, result.status, json.dumps(result.body), dict(result.headers))
        return result


# ------------------------------------------------------------------------------------ customers
def _encode_token(partner: Tenant, offset: int) -> str:
    raw = json.dumps({"p": partner.id, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(req: Request, partner: Tenant, token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
        if data["p"] != partner.id or offset < 0:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise pc_error(req, 400, INVALID_PROPERTY, "The continuation token is not valid.") from None
    return offset


def _page_size(req: Request) -> int:
    raw = req.param("size")
    if raw is None or raw == "":
        return MAX_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size == 0:
        # Microsoft's SDK asks for all customers with size=0: the service's own page size.
        return MAX_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise pc_error(req, 400, INVALID_PROPERTY, f"The size must be between 1 and {MAX_PAGE_SIZE}.")
    return size


def _search_filter(req: Request):
    """The documented `filter` query: {"Field": "Domain"|"CompanyName", "Value", "Operator":
    "starts_with"} (URL-encoded JSON). Returns a predicate or None."""
    raw = req.param("filter")
    if raw is None:
        return None
    try:
        spec = json.loads(raw)
        field = str(_field(spec, "Field") or "").lower()
        value = str(_field(spec, "Value") or "").lower()
        operator = str(_field(spec, "Operator") or "").lower()
    except (ValueError, TypeError, AttributeError):
        raise pc_error(req, 400, INVALID_PROPERTY, "The filter is not valid JSON.") from None
    if operator != "starts_with" or field not in ("domain", "companyname") or not value:
        raise pc_error(req, 400, INVALID_PROPERTY, "The filter must have Field Domain or CompanyName, a Value "
                       "and Operator starts_with.")
    key = "domain" if field == "domain" else "companyName"
    return lambda rec: str(rec.get("companyProfile", {}).get(key, "")).lower().startswith(value)


def list_customers(req: Request) -> dict:
    partner = _partner(req)
    size = _page_size(req)
    match = _search_filter(req)
    token = req.header("MS-ContinuationToken")
    documented = req.world.settings.get("partner_center_paging", "documented") != "lenient"
    seek = (req.param("seekOperation") or "").lower()
    if token and token.strip() and documented and seek != "next":
        # The continuation token is only read together with seekOperation=Next, the query the
        # documented next link carries.
        raise pc_error(req, 400, INVALID_PROPERTY, "A continuation token needs the query parameter "
                       "seekOperation=Next; follow links.next as given.")
    offset = _decode_token(req, partner, token.strip()) if token and token.strip() else 0
    with req.world.lock:
        records = list(partner.customers.values())
    if match is not None:
        records = [r for r in records if match(r)]
    page = records[offset:offset + size]
    query = f"size={size}" + (f"&filter={quote(req.param('filter') or '')}" if match is not None else "")
    links: dict = {"self": {"uri": f"/v1/customers?{query}", "method": "GET", "headers": []}}
    if offset + size < len(records):
        # The documented next link: no /v1 prefix, seekOperation=Next (the "lenient" setting keeps
        # the emulator's former /v1/customers?size=N).
        uri = f"/customers?{query}&seekOperation=Next" if documented else f"/v1/customers?{query}"
        links["next"] = {"uri": uri, "method": "GET",
                         "headers": [{"key": "MS-ContinuationToken",
                                      "value": _encode_token(partner, offset + size)}]}
    # totalCount is the number of items in this page, as in Microsoft's seek-based collections.
    return {"totalCount": len(page), "items": [_customer_json(r, listing=True) for r in page], "links": links,
            "attributes": {"objectType": "Collection"}}


def get_customer(req: Request, customer_id: str) -> dict:
    partner = _partner(req)
    if not is_guid(customer_id):
        raise pc_error(req, 400, INVALID_PROPERTY, f"The customer id '{customer_id}' is not a valid GUID.")
    with req.world.lock:
        record = partner.customers.get(customer_id.lower())
    if record is None:
        raise pc_error(req, 404, NOT_FOUND, f"Customer {customer_id} not found.")
    return _customer_json(record)


def domain_exists(req: Request, domain: str) -> Response:
    """Verify domain availability: 200 when the domain is taken, 404 when it is free."""
    _partner(req)
    if req.world.tenant(domain.strip().lower()) is not None:
        return Response(200)
    raise pc_error(req, 404, NOT_FOUND, f"Domain {domain} not found.")


def _billing_profile(req: Request, billing: dict) -> tuple[dict, str]:
    """Validated, camelCased billing profile and the customer's region."""
    if not isinstance(billing, dict):
        raise pc_error(req, 400, INVALID_PROPERTY, "BillingProfile is required.")
    missing = [n for n in ("Email", "Culture", "Language", "CompanyName") if not _text(billing, n)]
    address = _field(billing, "DefaultAddress")
    if not isinstance(address, dict):
        missing.append("DefaultAddress")
        address = {}
    else:
        missing += [f"DefaultAddress.{n}" for n in ("Country", "AddressLine1", "City") if not _text(address, n)]
    if missing:
        raise pc_error(req, 400, INVALID_PROPERTY, "The billing profile is missing required properties: "
                       + ", ".join(missing) + ".")
    email = _text(billing, "Email")
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise pc_error(req, 400, INVALID_PROPERTY, f"The email address '{email}' is not valid.")
    country = _text(address, "Country").upper()
    if not _COUNTRY.match(country) or country not in COUNTRY_REGION:
        raise pc_error(req, 400, INVALID_PROPERTY, f"The country '{country}' is not supported.")
    language = _text(billing, "Language")
    if not re.fullmatch(r"[A-Za-z]{2}", language):
        raise pc_error(req, 400, INVALID_PROPERTY, f"The language '{language}' is not a two-letter code.")
    address_out = {name[0].lower() + name[1:]: _text(address, name) for name in (
        "Country", "Region", "City", "State", "AddressLine1", "AddressLine2", "PostalCode",
        "FirstName", "LastName", "PhoneNumber") if _text(address, name) or name == "PhoneNumber"}
    address_out["country"] = country
    profile = {
        "id": None, "email": email, "culture": _text(billing, "Culture"), "language": language.lower(),
        "companyName": _text(billing, "CompanyName"), "defaultAddress": address_out,
        "attributes": {"objectType": "CustomerBillingProfile"},
    }
    return profile, COUNTRY_REGION[country]


def create_customer(req: Request) -> Response:
    partner = _partner(req)
    body = _body_object(req)
    return _idempotent(req, partner, lambda: _create_customer(req, partner, body))


def _create_customer(req: Request, partner: Tenant, body: dict) -> Response:
    company = _field(body, "CompanyProfile")
    if not isinstance(company, dict):
        raise pc_error(req, 400, INVALID_PROPERTY, "CompanyProfile is required.")
    domain = _text(company, "Domain").lower()
    found = _DOMAIN.match(domain)
    if found is None:
        raise pc_error(req, 400, INVALID_PROPERTY, f"The domain '{domain}' is not valid: it must be "
                       "<prefix>.onmicrosoft.com with 1-27 letters or digits.")
    billing, region = _billing_profile(req, _field(body, "BillingProfile"))
    country = billing["defaultAddress"]["country"]
    registration = _text(company, "OrganizationRegistrationNumber")
    if country in _REGISTRATION_COUNTRIES and not registration:
        raise pc_error(req, 400, ORG_REGISTRATION_MISSING, "Organization registration id information is missing.")
    if country not in _REGISTRATION_COUNTRIES and registration:
        raise pc_error(req, 400, ORG_REGISTRATION_NOT_SUPPORTED,
                       "Organization registration id value is not supported.")
    world: World = req.world
    with world.lock:
        if world.tenant(domain) is not None:
            raise pc_error(req, 409, CONFLICT, f"The domain {domain} already exists.")
        tenant = world.create_tenant("customer", billing["companyName"], [domain], region=region,
                                     key=found.group("prefix"), first_party_apps=NEW_TENANT_FIRST_PARTY)
        password = _admin_user(world, tenant, domain)
        record = customer_record(tenant, "reseller", False)
        record["commerceId"] = world.new_id()
        billing["id"] = world.new_id()
        billing["attributes"]["etag"] = str(int.from_bytes(secrets.token_bytes(7), "big"))
        record["billingProfile"] = billing
        if registration:
            record["companyProfile"]["organizationRegistrationNumber"] = registration
        partner.customers[tenant.id] = record
        world.count("partner_center.customers_created")
    out = _customer_json(record)
    out["userCredentials"] = {"userName": "admin", "password": password}
    return Response(201, out)


def _admin_user(world: World, tenant: Tenant, domain: str) -> str:
    """The customer's first Global Administrator, as Partner Center creates it."""
    password = secrets.token_urlsafe(12)
    uid = world.new_id()
    tenant.add("users", {
        "id": uid, "userPrincipalName": f"admin@{domain}", "displayName": "admin", "givenName": None,
        "surname": None, "mail": None, "accountEnabled": True, "userType": "Member", "jobTitle": None,
        "businessPhones": [], "mobilePhone": None, "officeLocation": None, "preferredLanguage": None,
        "createdDateTime": world.clock.iso(), "_mfa": False,
        "_directory_roles": [catalog.ROLE_TEMPLATES["Global Administrator"]], "_password": password,
    })
    return password


# ---------------------------------------------------------------------- application consents
def _consent_caller(req: Request, app_id: str) -> dict:
    claims = req.claims or {}
    if not _is_app_user(claims):
        raise pc_error(req, 403, ACCESS_DENIED, "Access denied: application consent needs an app + user "
                       "token; app-only tokens are not supported for this operation.")
    caller = str(claims.get("appid") or claims.get("azp") or "").lower()
    if caller != app_id.lower():
        raise pc_error(req, 403, ACCESS_DENIED, f"Access denied: the calling application {caller} is not "
                       f"the application {app_id} whose consent is requested.")
    return claims


def _user_can_consent(world: World, partner: Tenant, customer: Tenant, user_id: str) -> bool:
    """Whether the signed-in partner user holds Global, Application or Cloud Application
    Administrator in the customer: the same roles a token for that user would carry there
    (active GDAP access assignments of its groups, or legacy DAP agent groups)."""
    from . import identity  # late: identity pulls in the token machinery

    user = partner.users.get(user_id)
    if user is None:
        return False
    return bool(set(identity.user_roles(world, user, partner, customer)) & catalog.CONSENT_ROLES)


def _parse_grants(req: Request, body: dict) -> list[dict]:
    grants_in = _field(body, "applicationGrants")
    if not isinstance(grants_in, list) or not grants_in:
        raise pc_error(req, 400, INVALID_PROPERTY, "applicationGrants must be a non-empty list.")
    grants = []
    for item in grants_in:
        api = _text(item, "enterpriseApplicationId").lower() if isinstance(item, dict) else ""
        scope = _text(item, "scope") if isinstance(item, dict) else ""
        if not is_guid(api):
            raise pc_error(req, 400, INVALID_PROPERTY, "Each application grant needs an enterpriseApplicationId GUID.")
        scopes = [s.strip() for s in scope.split(",") if s.strip()]
        if not scopes:
            raise pc_error(req, 400, INVALID_PROPERTY, f"The application grant for {api} has no scope.")
        grants.append({"api": api, "scopes": scopes})
    return grants


def _check_scopes(req: Request, resource: dict, grant: dict) -> None:
    """Each scope must be a delegated permission or app role of the API (when it declares any)."""
    known = {s.get("value") for s in resource.get("oauth2PermissionScopes") or ()}
    known |= {r.get("value") for r in resource.get("appRoles") or ()}
    api = catalog.API_BY_APPID.get(grant["api"])
    if api is not None:
        known |= {s["value"] for s in api["oauth2PermissionScopes"]} | {r["value"] for r in api["appRoles"]}
    if not known:
        return
    unknown = [s for s in grant["scopes"] if s not in known]
    if unknown:
        raise pc_error(req, 400, INVALID_PROPERTY, f"The scope(s) {', '.join(unknown)} are not permissions of "
                       f"{resource.get('displayName') or grant['api']} ({grant['api']}).")


def _has_consent(customer: Tenant, sp: dict | None) -> bool:
    if sp is None:
        return False
    return any(g["clientId"] == sp["id"] for g in customer.oauth2_permission_grants.values()) or any(
        a["principalId"] == sp["id"] for a in customer.app_role_assignments.values())


def create_consent(req: Request, customer_id: str) -> Response:
    partner = _partner(req)
    body = _body_object(req)
    app_id = _text(body, "applicationId").lower()
    if not is_guid(app_id):
        raise pc_error(req, 400, INVALID_PROPERTY, "applicationId must be the GUID of the application.")
    claims = _consent_caller(req, app_id)
    return _idempotent(req, partner, lambda: _create_consent(req, partner, claims, customer_id, app_id, body))


def _create_consent(req: Request, partner: Tenant, claims: dict, customer_id: str, app_id: str,
                    body: dict) -> Response:
    grants = _parse_grants(req, body)
    world: World = req.world
    with world.lock:
        _, customer = _customer_tenant(req, partner, customer_id)
        if not customer.is_available(world.clock.now()):
            raise pc_error(req, 404, TENANT_NOT_FOUND, "Tenant not found.")
        if world.settings.get("consent_requires_admin_role", True) and not _user_can_consent(
                world, partner, customer, str(claims.get("oid", ""))):
            raise pc_error(req, 403, ACCESS_DENIED, "Access denied: the signed-in user needs the Global "
                           "Administrator, Application Administrator or Cloud Application Administrator role "
                           "in the customer tenant (GDAP) to consent to an application.")
        for grant in grants:
            resource = customer.sp_by_app_id(grant["api"])
            if resource is None:
                name = catalog.API_BY_APPID.get(grant["api"], {}).get("displayName", grant["api"])
                raise pc_error(req, 400, INVALID_PROPERTY, f"AADSTS650052: The app is trying to access a service "
                               f"'{grant['api']}'({name}) that your organization '{customer.id}' lacks a service "
                               f"principal for. Contact your IT Admin to review the configuration of your "
                               f"service subscriptions or consent to the application in order to create the "
                               f"required service principal.")
            _check_scopes(req, resource, grant)
        if _has_consent(customer, customer.sp_by_app_id(app_id)) and \
                world.settings.get("existing_consent", "conflict") == "conflict":
            raise pc_error(req, 409, CONFLICT, "Permission entry already exists.")
        display_name = _text(body, "displayName") or None
        world.apply_consent(customer, app_id, grants, display_name)
        world.count("partner_center.consents_created")
    out = {
        "applicationId": app_id,
        "displayName": display_name,
        "applicationGrants": [{"enterpriseApplicationId": g["api"], "scope": ",".join(g["scopes"])} for g in grants],
        "attributes": {"objectType": "ApplicationConsent"},
    }
    return Response(201, out)


def delete_consent(req: Request, customer_id: str, app_id: str) -> None:
    partner = _partner(req)
    if not is_guid(app_id):
        raise pc_error(req, 400, INVALID_PROPERTY, f"The application id '{app_id}' is not a valid GUID.")
    _consent_caller(req, app_id)
    world: World = req.world
    with world.lock:
        _, customer = _customer_tenant(req, partner, customer_id)
        sp = customer.sp_by_app_id(app_id)
        if sp is None:
            raise pc_error(req, 404, NOT_FOUND, f"No consent for application {app_id} in customer {customer.id}.")
        for gid in [g["id"] for g in customer.oauth2_permission_grants.values() if g["clientId"] == sp["id"]]:
            customer.oauth2_permission_grants.pop(gid, None)
        for aid in [a["id"] for a in customer.app_role_assignments.values() if a["principalId"] == sp["id"]]:
            customer.app_role_assignments.pop(aid, None)
        customer.remove("service_principals", sp["id"])
        world.count("partner_center.consents_deleted")
    return None


def consents_unknown(req: Request, customer_id: str) -> None:
    _partner(req)
    raise pc_error(req, 404, NOT_FOUND, f"The resource /v1/customers/{customer_id}/applicationconsents was not found.")
