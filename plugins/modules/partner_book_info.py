#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: partner_book_info
short_description: Read a partner's whole book of customers in one pass and say what must change
version_added: 0.2.0
description:
  - For one or several regional partner tenants, reads in one process, with bounded concurrency, the
    Partner Center customers, every GDAP relationship (paged), their access assignments (Graph C($batch),
    20 a request), C(delegatedAdminCustomers), the partner-managed app's required permissions and the partner
    security groups; then, per customer tenant with an active relationship, one C($batch) with that tenant's
    token (cached when the token cache is set) holding the required APIs' service principals, the admin
    consents and the proof call (C(/organization)).
  - Returns per customer its partner tenant and region, its relationships (status, roles, end date,
    auto-extend, Global Administrator present), its access assignments, its consent compared with the scopes
    the app needs, the APIs without a service principal, and the drift from the desired role template as a
    list of actions (what the C(cloudpartner.csp.onboard_customer) role would have to do).
  - A partner tenant or customer that cannot be read is reported with Microsoft's error code and request id
    (under the C(error) of RV(partners) or the C(errors) of RV(customers)); it is never dropped and never fails the module.
  - Throttling is per app over all tenants, as Microsoft applies it; all threads of one partner tenant's app
    share one limit, which halves and holds every thread for the C(Retry-After) of a 429, then grows again.
  - Read-only; nothing is written.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  partner_tenants:
    description:
      - The regional partner tenants to read. Each entry names the tenant and its app; a credential
        an entry does not give is taken from the connection options (and their C(CSP_*) environment
        variables), so with C(module_defaults) the secrets need not be repeated. Empty strings mean unset.
      - Without this option, the one partner tenant of the connection options is read, named O(partner_name).
    type: list
    elements: dict
    suboptions:
      name:
        description: The partner tenant's short name (as in C(onboard_customer_partner_tenants)), used in results.
        type: str
        required: true
      regions:
        description: The regions the partner tenant serves (C(NA), C(EU), C(AS), ...).
        type: list
        elements: str
        default: []
      tenant_id:
        description: The partner tenant (GUID or domain).
        type: str
        required: true
      client_id:
        description: The partner-managed app of this partner tenant.
        type: str
        required: true
      client_secret:
        description: The app's secret.
        type: str
      client_certificate_path:
        description: PEM file with the app's private key and certificate.
        type: path
      refresh_token:
        description: The integration user's Secure Application Model refresh token.
        type: str
      refresh_token_store:
        description: Where the integration user's refresh token is kept (see the connection options).
        type: raw
  partner_name:
    description: Name of the connection's partner tenant when O(partner_tenants) is not given.
    type: str
  partner_regions:
    description: Regions of the connection's partner tenant when O(partner_tenants) is not given.
    type: list
    elements: str
    default: []
  customers:
    description:
      - Only these customers (tenant ids or domains). Default every customer of every partner tenant.
      - Up to 50 customers are read on their own, not the whole book; per customer its Partner Center record
        (by id, or Partner Center's domain search), then its relationships and its C(delegatedAdminCustomer)
        (Graph C($batch)). A domain without a Partner Center record in a partner tenant is not reported for
        that partner tenant. For more customers the books are read whole, then narrowed.
    type: list
    elements: str
  role_template:
    description:
      - The desired GDAP role template (as in C(onboard_customer_role_templates)). Without it relationships
        are reported but their roles and access assignments are not compared.
    type: dict
    suboptions:
      roles:
        description: Roles of the relationship (names or role definition ids).
        type: list
        elements: str
      duration:
        description:
          - ISO 8601 duration of new relationships. An active relationship with another duration is planned
            C(update_duration), which M(cloudpartner.csp.gdap_relationship) refuses without C(replace).
        type: str
      auto_extend:
        description: C(PT0S) or C(P180D); compared when given.
        type: str
      access_assignments:
        description: Partner security groups (display names) and their roles.
        type: list
        elements: dict
  template_name:
    description: Name of the role template, for the relationship name.
    type: str
    default: standard
  relationship_name:
    description:
      - How the onboarding role names a customer's relationship; C({partner}), C({key}) (the first label of
        the customer's domain) and C({template}) are replaced. The relationship with this name is the one
        compared; without one, the newest live relationship.
    type: str
    default: "{partner}-{key}-{template}"
  consent:
    description: Compare the application consent of each partner tenant's app with what the app requires.
    type: bool
    default: true
  consent_grants:
    description:
      - The consent to expect, as C(application_consent) takes it (C([{api, scopes}])). Default what the
        app registration requires (read once per partner tenant).
    type: list
    elements: dict
  consent_include_app_roles:
    description: With the default consent, include the app's application permissions (as the onboarding role does).
    type: bool
    default: true
  expiring_within_days:
    description: An active relationship that ends within this many days is flagged C(expiring) in RV(customers).
    type: int
    default: 30
  read_customer_tenants:
    description: Read each customer tenant (consent, service principals, proof). V(false) reads the partner tenants only.
    type: bool
    default: true
  tenant_regions:
    description:
      - Also read each customer tenant's own region (C(tenant_region_scope) of its OpenID configuration, one
        unauthenticated request per customer) into C(tenant_region) of RV(customers), to check that the partner
        tenant of its region serves it (what the onboarding role's region step does).
    type: bool
    default: false
  concurrency:
    description: Requests in flight at most per partner tenant's app (1 to 64); halved while throttled.
    type: int
    default: 8
notes:
  - Customers without an active relationship are not read in their own tenant; their consent is C(unknown).
  - With O(token_cache_path) the customer tenants' tokens are taken from and stored in the shared token
    cache, which is read once and written once per partner tenant.
seealso:
  - module: cloudpartner.csp.gdap_relationship_info
  - module: cloudpartner.csp.customer_info
  - module: cloudpartner.csp.application_consent_info
"""

EXAMPLES = r"""
- name: The whole book of every regional partner tenant
  cloudpartner.csp.partner_book_info:
    partner_tenants:
      - name: us
        regions: [NA]
        tenant_id: 10000000-0000-4000-8000-000000000001
        client_id: 20000000-0000-4000-8000-000000000001
      - name: eu
        regions: [EU]
        tenant_id: 10000000-0000-4000-8000-000000000002
        client_id: 20000000-0000-4000-8000-000000000002
    role_template:
      roles: [Cloud Application Administrator, User Administrator, Global Reader]
      access_assignments:
        - group: GDAP Admins
          roles: [Cloud Application Administrator, User Administrator, Global Reader]
    expiring_within_days: 45
  register: book

- name: Customers whose relationship ends soon
  ansible.builtin.debug:
    msg: "{{ book.customers | selectattr('expiring') | map(attribute='domain') | list }}"

- name: One partner tenant from the connection options (module_defaults), one customer
  cloudpartner.csp.partner_book_info:
    partner_name: us
    customers: [fabrikam.example]
  register: one
"""

RETURN = r"""
partners:
  description:
    - One entry per partner tenant, C(name), C(tenant_id), C(regions), C(client_id), C(customers) (how many),
      C(requests) (HTTP requests sent for it), C(required_grants), C(consent_grants) (the same as
      M(cloudpartner.csp.application_consent) takes them), C(groups) (name to object id),
      C(refresh_token) (age of the integration user's refresh token, when known) and C(error)
      (Microsoft's code, message and request id when the tenant could not be read, else null).
  returned: always
  type: list
  elements: dict
customers:
  description:
    - One entry per customer, with C(tenant_id), C(domain), C(company_name), C(partner), C(region) (the partner
      tenant's), C(tenant_region) (with O(tenant_regions)),
      C(in_partner_center), C(delegated_admin_customer), C(relationships) (each with C(id), C(display_name),
      C(status), C(roles), C(end_date), C(days_left), C(auto_extend), C(global_administrator),
      C(auto_extend_blocked)), C(relationship) (the one compared), C(assignments) (C(group), C(group_id),
      C(roles), C(status)), C(consent) (C(state) V(ok), V(missing), V(drifted) or V(unknown), C(current),
      C(required), C(missing_scopes), C(missing_apis)), C(missing_apis), C(proof) (C(ok), C(organization) or
      C(error)), C(expiring), C(actions) (C(step), C(action), C(detail)), C(steps) (the onboarding steps that
      must run, by name C(customer), C(relationship), C(access), C(consent), C(proof)), C(state) (V(healthy),
      V(needs_action), V(awaiting_approval), V(consent_blocked) or V(unreadable)) and C(errors).
  returned: always
  type: list
  elements: dict
summary:
  description:
    - Counts over all customers, by C(state), and C(expiring), C(auto_extend_blocked), C(consent_missing),
      C(consent_drifted), C(assignments_missing), C(unreadable_partners), C(customers), C(requests).
  returned: always
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import CONNECTION_ENV, ConnectionOptions, check_tenant

PARTNER_FIELDS = ("tenant_id", "client_id", "client_secret", "client_certificate_path", "refresh_token",
                  "refresh_token_store")
STATES = ("healthy", "needs_action", "awaiting_approval", "consent_blocked", "unreadable")


def argument_spec():
    return dict(
        partner_tenants=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            regions=dict(type="list", elements="str", default=[]),
            tenant_id=dict(type="str", required=True),
            client_id=dict(type="str", required=True),
            client_secret=dict(type="str", no_log=True),
            client_certificate_path=dict(type="path"),
            refresh_token=dict(type="str", no_log=True),
            refresh_token_store=dict(type="raw", no_log=False),
        )),
        partner_name=dict(type="str"),
        partner_regions=dict(type="list", elements="str", default=[]),
        customers=dict(type="list", elements="str"),
        role_template=dict(type="dict", options=dict(
            roles=dict(type="list", elements="str"),
            duration=dict(type="str"),
            auto_extend=dict(type="str"),
            access_assignments=dict(type="list", elements="dict"),
        )),
        template_name=dict(type="str", default="standard"),
        relationship_name=dict(type="str", default="{partner}-{key}-{template}"),
        consent=dict(type="bool", default=True),
        consent_grants=dict(type="list", elements="dict"),
        consent_include_app_roles=dict(type="bool", default=True),
        expiring_within_days=dict(type="int", default=30),
        read_customer_tenants=dict(type="bool", default=True),
        tenant_regions=dict(type="bool", default=False),
        concurrency=dict(type="int", default=8),
    )


def partner_connections(params):
    """``[(name, regions, ConnectionOptions)]``, each validated before any request."""
    base = {name: params.get(name) for name in CONNECTION_ENV}
    entries = params.get("partner_tenants")
    if not entries:
        options = ConnectionOptions(base).validate()
        return [(params.get("partner_name") or options.tenant_id, list(params.get("partner_regions") or []), options)]
    out, seen = [], set()
    for entry in entries:
        if entry["name"] in seen:
            raise CspValidationError("partner_tenants names %r twice" % entry["name"], code="InvalidOption")
        seen.add(entry["name"])
        values = dict(base)
        if entry.get("client_id") and str(entry["client_id"]).lower() != str(base.get("client_id") or "").lower():
            # another app: none of the connection's credentials belong to it
            for name in ("client_secret", "client_certificate_path", "refresh_token", "refresh_token_store"):
                values[name] = None
        for name in PARTNER_FIELDS:
            if entry.get(name) not in (None, "", {}):
                values[name] = entry[name]
        out.append((entry["name"], [str(r).upper() for r in entry.get("regions") or []],
                    ConnectionOptions(values).validate()))
    return out


def desired_state(params):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.fleet import DesiredState
    template = params.get("role_template") or {}
    return DesiredState(
        template_name=params["template_name"], roles=template.get("roles"), duration=template.get("duration"),
        auto_extend=template.get("auto_extend"), access_assignments=template.get("access_assignments"),
        relationship_name=params["relationship_name"], consent=params["consent"],
        consent_grants=params.get("consent_grants"), consent_include_app_roles=params["consent_include_app_roles"],
        expiring_within_days=params["expiring_within_days"])


def refresh_token_age(client):
    """What is known of the integration user's refresh token before this run used it (no secret)."""
    tokens = client.tokens
    options = client.options
    if options.refresh_token_store_spec:
        stored = tokens.refresh_store.load()
        return dict(stored.describe(), source="store") if stored else {"source": "store", "age_days": None}
    if not options.refresh_token:
        return None
    stored = tokens.seed_store.load()  # the store the option seeds; its token is the newest one
    if stored is None or stored.metadata.get("source") == "seed" or stored.stored_at is None:
        return {"source": "option", "age_days": None, "last_used": None}
    facts = stored.describe()
    return {"source": "option", "age_days": facts["age_days"], "days_left": facts["days_left"],
            "last_used": facts["stored_at"]}


def read_partner(name, regions, options, desired, params):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
    from ansible_collections.cloudpartner.csp.plugins.module_utils.fleet import (
        BookReader,
        BulkTokenStore,
        error_view,
        memory_discovery,
    )
    from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HttpClient, SharedThrottle
    http = HttpClient(verify=options.verify, throttle=SharedThrottle(params["concurrency"]))
    client = CspClient(options, http=http)
    store = None
    discovery = None
    age = None
    try:
        store = client.tokens.store = BulkTokenStore(client.tokens.store)
        adapter = getattr(client.tokens, "adapter", None)
        if adapter is not None and hasattr(adapter, "discovery"):
            discovery = adapter.discovery = memory_discovery(adapter.discovery)
        age = refresh_token_age(client)
        reader = BookReader(client, name, regions, desired, concurrency=params["concurrency"],
                            only=params.get("customers"), read_customers=params["read_customer_tenants"],
                            tenant_regions=params["tenant_regions"])
        partner, customers = reader.read()
    except CspError as err:
        partner = {"name": name, "tenant_id": options.tenant_id, "regions": regions, "client_id": options.client_id,
                   "customers": 0, "requests": http.attempts, "error": error_view(err, "partner")}
        customers = []
    finally:
        for cache in (store, discovery):
            try:
                if cache is not None and hasattr(cache, "flush"):
                    cache.flush()
            except OSError:
                pass  # only a cache: the next run fetches again
    partner["refresh_token"] = age
    partner["throttled"] = http.throttle.throttled
    return partner, customers


def summarize(partners, customers):
    summary = {state: 0 for state in STATES}
    for customer in customers:
        summary[customer["state"]] = summary.get(customer["state"], 0) + 1
    summary.update({
        "customers": len(customers),
        "expiring": sum(1 for c in customers if c.get("expiring")),
        "auto_extend_blocked": sum(1 for c in customers
                                   if (c.get("relationship") or {}).get("auto_extend_blocked")),
        "consent_missing": sum(1 for c in customers if (c.get("consent") or {}).get("state") == "missing"),
        "consent_drifted": sum(1 for c in customers if (c.get("consent") or {}).get("state") == "drifted"),
        "assignments_missing": sum(1 for c in customers
                                   if any(a["action"] == "create_assignment" for a in c.get("actions") or [])),
        "unreadable_partners": sum(1 for p in partners if p.get("error")),
        "requests": sum(p.get("requests") or 0 for p in partners),
    })
    return summary


def run(params):
    if not 1 <= params["concurrency"] <= 64:
        raise CspValidationError("concurrency must be between 1 and 64", code="InvalidOption")
    for value in params.get("customers") or []:
        check_tenant(value, name="customers")
    desired = desired_state(params)
    connections = partner_connections(params)
    partners, customers = [], []
    for name, regions, options in connections:
        partner, found = read_partner(name, regions, options, desired, params)
        partners.append(partner)
        customers.extend(found)
    return dict(changed=False, partners=partners, customers=customers, summary=summarize(partners, customers))


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module.params)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
