# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partner Center customers: list with continuation paging and filters, find by domain, create.

Partner Center has no delete for customers, so the desired state is "present" only.
"""

import json
import re
import uuid

from .errors import CspError, CspHttpError, CspValidationError
from .options import check_guid

PAGE_SIZE = 500  # Partner Center's largest page
_PREFIX_RE = re.compile(r"^[a-z0-9]{1,27}$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_CULTURE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_DOMAIN_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


def initial_domain(value):
    """``contoso`` or ``contoso.onmicrosoft.com`` -> ``contoso.onmicrosoft.com`` (validated)."""
    text = str(value or "").strip().lower()
    prefix = text[:-len(".onmicrosoft.com")] if text.endswith(".onmicrosoft.com") else text
    if not _PREFIX_RE.match(prefix):
        raise CspValidationError("domain %r must be <prefix>.onmicrosoft.com with 1 to 27 letters or digits "
                                 "(the customer's initial domain)" % value, code="InvalidDomain")
    return prefix + ".onmicrosoft.com"


def check_filters(customer_id=None, domain_prefix=None):
    """The lookups ``customer_info`` sends, checked before any request: an id is a GUID, a domain filter
    is the start of a domain name (letters, digits, dots and dashes)."""
    if customer_id is not None:
        customer_id = check_guid(customer_id, "customer_id", "a GUID (the customer's tenant id)",
                                 code="InvalidCustomerId")
    if domain_prefix is not None and not _DOMAIN_PREFIX_RE.match(str(domain_prefix).strip()):
        raise CspValidationError("domain %r is not the start of a domain name (letters, digits, dots and dashes)"
                                 % domain_prefix, code="InvalidFilter")
    return customer_id


def search_filter(field, value):
    """Partner Center's customer search: ``{"Field": Domain|CompanyName, "Value", "Operator": "starts_with"}``."""
    return json.dumps({"Field": field, "Value": value, "Operator": "starts_with"}, separators=(",", ":"))


def customer_view(record):
    """The fields playbooks use, next to Microsoft's record."""
    profile = record.get("companyProfile") or {}
    return {
        "id": record.get("id"),
        "tenant_id": (profile.get("tenantId") or record.get("id") or "").lower() or None,
        "domain": profile.get("domain"),
        "company_name": profile.get("companyName"),
        "relationship_to_partner": record.get("relationshipToPartner"),
        "allow_delegated_access": record.get("allowDelegatedAccess"),
    }


def check_billing(billing):
    """Check the format of what is given (e-mail, country, culture, language) before any request.

    Whether everything a create needs is there is checked by ``build_create_body``, once it is known
    that the customer has to be created.
    """
    billing = billing or {}
    address = billing.get("address") or {}
    if billing.get("email") and not _EMAIL_RE.match(str(billing["email"]).strip()):
        raise CspValidationError("billing.email %r is not an email address" % billing["email"], code="InvalidEmail")
    if address.get("country") and not _COUNTRY_RE.match(str(address["country"])):
        raise CspValidationError("billing.address.country must be a two-letter ISO code, got %r" % address["country"],
                                 code="InvalidCountry")
    for name in ("culture", "language"):
        if billing.get(name) and not _CULTURE_RE.match(str(billing[name])):
            raise CspValidationError("billing.%s %r is not a language tag such as en-US" % (name, billing[name]),
                                     code="InvalidBillingProfile")
    return billing


def build_create_body(domain, company_name, billing, registration_number=None):
    billing = check_billing(billing)
    address = billing.get("address") or {}
    missing = ["billing.email"] if not billing.get("email") else []
    missing += ["billing.address.%s" % n for n in ("country", "address_line1", "city") if not address.get(n)]
    if not company_name:
        missing.insert(0, "company_name")
    if missing:
        raise CspValidationError("a new customer needs %s" % ", ".join(missing), code="IncompleteBillingProfile")
    names = {"first_name": "FirstName", "last_name": "LastName", "address_line1": "AddressLine1",
             "address_line2": "AddressLine2", "city": "City", "state": "State", "postal_code": "PostalCode",
             "region": "Region", "phone_number": "PhoneNumber"}
    default_address = {pc: address[ours] for ours, pc in names.items() if address.get(ours)}
    default_address["Country"] = str(address["country"]).upper()
    company = {"Domain": domain}
    if registration_number:
        company["OrganizationRegistrationNumber"] = registration_number
    return {
        "CompanyProfile": company,
        "BillingProfile": {
            "Culture": billing.get("culture") or "en-US",
            "Email": billing["email"],
            "Language": billing.get("language") or "en",
            "CompanyName": company_name,
            "DefaultAddress": default_address,
        },
    }


class Customers:
    def __init__(self, partner_center):
        self.pc = partner_center

    @staticmethod
    def query(domain_prefix=None, company_prefix=None, page_size=PAGE_SIZE):
        if domain_prefix and company_prefix:
            raise CspValidationError("Partner Center filters by one field at a time: give domain or company_name",
                                     code="InvalidFilter")
        params = {"size": page_size}
        if domain_prefix:
            params["filter"] = search_filter("Domain", domain_prefix)
        elif company_prefix:
            params["filter"] = search_filter("CompanyName", company_prefix)
        return params

    def pages(self, domain_prefix=None, company_prefix=None, page_size=PAGE_SIZE, max_pages=None):
        """Each page's JSON; the next page follows ``links.next`` with its continuation token."""
        return self.pc.iter_pages("customers", params=self.query(domain_prefix, company_prefix, page_size),
                                  max_pages=max_pages)

    def iterate(self, domain_prefix=None, company_prefix=None, page_size=PAGE_SIZE, max_pages=None):
        for page in self.pages(domain_prefix, company_prefix, page_size, max_pages):
            yield from page.get("items") or []

    def get(self, customer_id):
        customer_id = check_filters(customer_id=customer_id)
        try:
            return self.pc.request("GET", "customers/%s" % customer_id).json
        except CspHttpError as err:
            if err.status == 404:
                return None
            raise

    def find_by_domain(self, domain):
        prefix = domain.split(".", 1)[0]
        for record in self.iterate(domain_prefix=prefix):
            if str((record.get("companyProfile") or {}).get("domain", "")).lower() == domain:
                return record
        return None

    def relationship_request_url(self):
        """The link a tenant's Global Administrator opens to accept this partner as its reseller (Partner Center
        ``GET /customers/relationshiprequests``, app + user tokens only): how an existing tenant becomes a
        customer."""
        return (self.pc.request("GET", "customers/relationshiprequests").json or {}).get("url")

    def domain_taken(self, domain):
        """Partner Center's domain availability check: 200 taken, 404 free."""
        response = self.pc.request("HEAD", "domains/%s" % domain, expected_status=(200, 404))
        return response.status == 200

    def create(self, body):
        # one MS-RequestId for this logical create: a retry after a lost response is deduplicated
        try:
            return self.pc.request("POST", "customers", body=body, request_id=str(uuid.uuid4())).json
        except CspHttpError as err:
            if err.status == 409:
                raise CspError("the domain %s is already taken by another tenant; choose another initial domain"
                               % body["CompanyProfile"]["Domain"], code=err.code, status=409,
                               request_id=err.request_id, correlation_id=err.correlation_id,
                               service="partner_center") from None
            raise
