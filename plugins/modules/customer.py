#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: customer
short_description: Create a customer in Partner Center (idempotent by its initial domain)
version_added: 0.1.0
description:
  - Makes sure the partner has a Partner Center customer with the initial domain O(domain) and returns its
    tenant id. An existing customer of the partner with that domain is returned as it is; otherwise the
    customer (and with it a new Microsoft Entra tenant) is created with O(company_name) and O(billing).
  - The create request carries an C(MS-RequestId), so a retry after a lost response does not create a
    second customer.
  - Partner Center cannot delete customers, so there is no O(ignore:state=absent).
  - A new tenant takes up to about 3 minutes until the partner can get tokens for it; see RV(tenant_available_hint).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: The customer is looked up; a new one is not created.
  diff_mode:
    support: full
options:
  domain:
    description:
      - The customer's initial domain, V(contoso) or V(contoso.onmicrosoft.com) (1 to 27 letters or digits).
    type: str
    required: true
  company_name:
    description:
      - Company name; required to create a customer.
    type: str
  billing:
    description:
      - Billing profile; required to create a customer (O(billing.email) and O(billing.address)).
    type: dict
    suboptions:
      email:
        description: Billing contact email.
        type: str
      culture:
        description: Culture, for example V(en-US).
        type: str
        default: en-US
      language:
        description: Two-letter language code.
        type: str
        default: en
      address:
        description: Default address (V(country) is a two-letter ISO code).
        type: dict
        suboptions:
          first_name:
            description: Contact first name.
            type: str
          last_name:
            description: Contact last name.
            type: str
          address_line1:
            description: First address line.
            type: str
          address_line2:
            description: Second address line.
            type: str
          city:
            description: City.
            type: str
          state:
            description: State or province.
            type: str
          postal_code:
            description: Postal code.
            type: str
          region:
            description: Region.
            type: str
          country:
            description: Two-letter ISO country code.
            type: str
          phone_number:
            description: Phone number.
            type: str
  organization_registration_number:
    description:
      - Organization registration number, required by Partner Center for customers in some countries.
    type: str
  return_admin_password:
    description:
      - Return the initial administrator password Partner Center gives for a new customer in RV(admin_credentials).
        Use C(no_log) on the task when you do.
    type: bool
    default: false
seealso:
  - module: cloudpartner.csp.customer_info
  - module: cloudpartner.csp.gdap_relationship
"""

EXAMPLES = r"""
- name: New customer
  cloudpartner.csp.customer:
    domain: northwindtraders
    company_name: Northwind Traders
    billing:
      email: billing@northwind.example
      address:
        first_name: Nancy
        last_name: Davolio
        address_line1: 1 Main Street
        city: Redmond
        state: WA
        postal_code: "98052"
        country: US
  register: new_customer

- name: Its GDAP relationship
  cloudpartner.csp.gdap_relationship:
    display_name: "us-{{ new_customer.domain | split('.') | first }}-standard"
    customer_tenant_id: "{{ new_customer.tenant_id }}"
    roles: [User Administrator, Global Reader]
"""

RETURN = r"""
tenant_id:
  description: The customer's tenant id (also its Partner Center customer id).
  returned: unless check mode would create the customer
  type: str
domain:
  description: The initial domain.
  returned: always
  type: str
created:
  description: Whether the customer was (or, in check mode, would be) created.
  returned: always
  type: bool
customer:
  description: Microsoft's customer record (C(id), C(companyProfile), C(billingProfile), C(relationshipToPartner), ...).
  returned: unless check mode would create the customer
  type: dict
admin_credentials:
  description: The initial administrator's C(userName) and C(password).
  returned: when a customer was created and O(return_admin_password=true)
  type: dict
tenant_available_hint:
  description: A reminder that the new tenant accepts partner tokens only after the relationship propagated.
  returned: when a customer was created
  type: str
error:
  description: Partner Center's error (its C(code) and the request id) when the module failed.
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.customers import (
    Customers,
    build_create_body,
    check_billing,
    customer_view,
    initial_domain,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule


def argument_spec():
    address = dict(first_name=dict(type="str"), last_name=dict(type="str"), address_line1=dict(type="str"),
                   address_line2=dict(type="str"), city=dict(type="str"), state=dict(type="str"),
                   postal_code=dict(type="str"), region=dict(type="str"), country=dict(type="str"),
                   phone_number=dict(type="str"))
    return dict(
        domain=dict(type="str", required=True),
        company_name=dict(type="str"),
        billing=dict(type="dict", options=dict(
            email=dict(type="str"),
            culture=dict(type="str", default="en-US"),
            language=dict(type="str", default="en"),
            address=dict(type="dict", options=address),
        )),
        organization_registration_number=dict(type="str"),
        return_admin_password=dict(type="bool", default=False, no_log=False),
    )


def run(module, customers, domain):
    params = module.params
    existing = customers.find_by_domain(domain)
    if existing is not None:
        view = customer_view(existing)
        result = dict(changed=False, created=False, domain=domain, tenant_id=view["tenant_id"], customer=existing)
        if module.diff_mode:
            result["diff"] = dict(before=view, after=view)
        return result
    # everything needed for the create is checked before the domain is probed
    body = build_create_body(domain, params["company_name"], params["billing"],
                             params["organization_registration_number"])
    if customers.domain_taken(domain):
        raise CspError("the domain %s belongs to a tenant that is not a customer of this partner; choose another "
                       "initial domain" % domain, code="DomainTaken")
    after = {"domain": domain, "company_name": params["company_name"]}
    result = dict(changed=True, created=True, domain=domain)
    if not module.check_mode:
        record = customers.create(body)
        credentials = record.pop("userCredentials", None)
        after = customer_view(record)
        result.update(tenant_id=after["tenant_id"], customer=record,
                      tenant_available_hint="Partner Center needs up to about 3 minutes before the partner can get "
                                            "tokens in the new tenant; use fresh tokens when you call it.")
        if params["return_admin_password"] and credentials:
            result["admin_credentials"] = credentials
    if module.diff_mode:
        result["diff"] = dict(before={}, after=after)
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        domain = initial_domain(module.params["domain"])
        check_billing(module.params["billing"])  # formats before any request; completeness once a create is due
        result = run(module, Customers(module.client.partner_center()), domain)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
