#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: customer_info
short_description: List the partner's Partner Center customers, with filters
version_added: 0.1.0
description:
  - Reads the partner's customers from Partner Center, following the continuation token
    (C(MS-ContinuationToken)) over every page.
  - O(domain) and O(company_name) filter on Partner Center's side (the value is a prefix); O(customer_id)
    reads one customer.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  customer_id:
    description:
      - Read only this customer (its tenant id).
    type: str
  domain:
    description:
      - Only customers whose domain starts with this value.
    type: str
  company_name:
    description:
      - Only customers whose company name starts with this value.
    type: str
  page_size:
    description:
      - Customers per page (1 to 500).
    type: int
    default: 500
  max_items:
    description:
      - Stop after this many customers.
    type: int
  relationship_request:
    description:
      - When no customer is found, also return RV(relationship_request_url), the link the tenant's Global
        Administrator opens to accept the partner as its reseller (for an existing tenant that is not yet a
        customer). Needs an app + user token (O(refresh_token)).
    type: bool
    default: false
seealso:
  - module: cloudpartner.csp.customer
  - plugin: cloudpartner.csp.customers
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: All customers
  cloudpartner.csp.customer_info:
  register: all_customers

- name: Customers whose company name starts with "Contoso"
  cloudpartner.csp.customer_info:
    company_name: Contoso
  register: contoso

- name: One customer
  cloudpartner.csp.customer_info:
    customer_id: 30000000-0000-4000-8000-000000000001

- name: An existing tenant that is not a customer yet gets the reseller relationship link
  cloudpartner.csp.customer_info:
    customer_id: 30000000-0000-4000-8000-000000000099
    relationship_request: true
  register: lookup

- name: Hand it to the customer
  ansible.builtin.debug:
    msg: "Please accept us as your partner: {{ lookup.relationship_request_url }}"
  when: lookup.count == 0
"""

RETURN = r"""
customers:
  description:
    - The customers, each with C(id), C(tenant_id), C(domain), C(company_name), C(relationship_to_partner),
      C(allow_delegated_access) and Microsoft's record under C(record).
  returned: always
  type: list
  elements: dict
count:
  description: Number of customers returned.
  returned: always
  type: int
pages:
  description: Number of pages read.
  returned: always
  type: int
relationship_request_url:
  description:
    - Partner Center's reseller relationship request link, which the tenant's Global Administrator opens to
      accept the partner (the tenant then appears among the customers).
  returned: with O(relationship_request=true) when no customer was found
  type: str
  sample: https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship&partnerId=1000...
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.customers import PAGE_SIZE, Customers, check_filters, customer_view
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule


def argument_spec():
    return dict(
        customer_id=dict(type="str"),
        domain=dict(type="str"),
        company_name=dict(type="str"),
        page_size=dict(type="int", default=PAGE_SIZE),
        max_items=dict(type="int"),
        relationship_request=dict(type="bool", default=False),
    )


def run(params, customers):
    result = find(params, customers)
    if params["relationship_request"] and not result["count"]:
        result["relationship_request_url"] = customers.relationship_request_url()
    return result


def check_paging(params):
    if not 1 <= params["page_size"] <= PAGE_SIZE:
        raise CspValidationError("page_size must be between 1 and %d" % PAGE_SIZE, code="InvalidOption")
    if params["max_items"] is not None and params["max_items"] < 1:
        raise CspValidationError("max_items must be at least 1", code="InvalidOption")


def find(params, customers):
    check_paging(params)
    if params["customer_id"]:
        record = customers.get(params["customer_id"])
        found = [dict(customer_view(record), record=record)] if record else []
        return dict(changed=False, customers=found, count=len(found), pages=1)
    found, pages = [], 0
    for page in customers.pages(params["domain"], params["company_name"], params["page_size"]):
        pages += 1
        for record in page.get("items") or []:
            found.append(dict(customer_view(record), record=record))
        if params["max_items"] and len(found) >= params["max_items"]:
            found = found[:params["max_items"]]
            break
    return dict(changed=False, customers=found, count=len(found), pages=pages)


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True,
                       mutually_exclusive=[("customer_id", "domain"), ("customer_id", "company_name"),
                                           ("domain", "company_name")])
    try:
        check_filters(module.params["customer_id"], module.params["domain"])
        check_paging(module.params)
        result = run(module.params, Customers(module.client.partner_center()))
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
