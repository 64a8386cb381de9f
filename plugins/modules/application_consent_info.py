#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: application_consent_info
short_description: Read the application consent of a partner app in a customer tenant
version_added: 0.2.0
description:
  - Reads, from the customer tenant's Graph, the admin consent (C(AllPrincipals) grants) of the app
    O(application_id) per API, the way M(cloudpartner.csp.application_consent) reads it before it writes.
  - With O(grants), also says whether the consent is what is wanted and which APIs have no service principal
    in the customer tenant (a consent through Partner Center would be refused for them).
  - A customer tenant that refuses the app a token (it is not consented there yet) is reported as no consent,
    with C(readable=false) and Microsoft's error code.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  customer_tenant_id:
    description: The customer tenant (GUID or domain).
    type: str
    required: true
  application_id:
    description: The app whose consent is read (default the connection's O(client_id)).
    type: str
  grants:
    description: The consent wanted, C([{api, scopes}]) as M(cloudpartner.csp.application_consent) takes it.
    type: list
    elements: dict
    suboptions:
      api:
        description: An appId or one of the known API names (C(microsoft_graph), C(partner_center), ...).
        type: str
        required: true
      scopes:
        description: The scopes.
        type: list
        elements: str
        required: true
seealso:
  - module: cloudpartner.csp.application_consent
  - module: cloudpartner.csp.partner_book_info
"""

EXAMPLES = r"""
- name: Fabrikam's consent of the partner app, compared with what it needs
  cloudpartner.csp.application_consent_info:
    customer_tenant_id: fabrikam.example
    grants:
      - api: microsoft_graph
        scopes: [Directory.Read.All]
  register: consent

- name: Report drift
  ansible.builtin.debug:
    msg: "{{ consent.in_sync }}"
"""

RETURN = r"""
grants:
  description: The consented scopes per API (C("<name> (<appId>)") or the appId), empty when none.
  returned: always
  type: dict
consented:
  description: Whether the app has any admin consent in the tenant.
  returned: always
  type: bool
readable:
  description: False when the tenant refused the app a token (not consented yet); RV(grants) is then empty.
  returned: always
  type: bool
reason:
  description: Microsoft's error code when RV(readable) is false.
  returned: when not readable
  type: str
in_sync:
  description: Whether the consent equals O(grants).
  returned: when O(grants) is given
  type: bool
missing_service_principals:
  description: APIs of O(grants) without a service principal in the customer tenant.
  returned: when O(grants) is given
  type: list
  elements: str
customer_tenant_id:
  description: The customer tenant's id.
  returned: always
  type: str
application_id:
  description: The app.
  returned: always
  type: str
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.consent import (
    ConsentClient,
    api_label,
    grants_view,
    normalize_grants,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant, is_guid


def argument_spec():
    return dict(
        customer_tenant_id=dict(type="str", required=True),
        application_id=dict(type="str"),
        grants=dict(type="list", elements="dict", options=dict(
            api=dict(type="str", required=True),
            scopes=dict(type="list", elements="str", required=True),
        )),
    )


def run(consents, desired):
    current = consents.read()
    result = dict(changed=False, grants=grants_view(current), consented=bool(current),
                  readable=consents.readable, customer_tenant_id=consents.customer,
                  application_id=consents.application_id)
    if not consents.readable:
        result["reason"] = consents.unreadable_code
    if desired is not None:
        result["in_sync"] = (current or {}) == desired
        result["missing_service_principals"] = [api_label(a) for a in consents.missing_service_principals(sorted(desired))]
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        desired = normalize_grants(params["grants"]) if params["grants"] is not None else None
        app_id = params["application_id"] or params["client_id"]
        if not is_guid(app_id or ""):
            raise CspValidationError("application_id %r is not a GUID" % app_id, code="InvalidApplicationId")
        customer_tenant = check_tenant(params["customer_tenant_id"], name="customer_tenant_id")
        client = module.client
        customer = client.tokens.resolve_tenant(customer_tenant)
        consents = ConsentClient(client.graph(tenant=customer), None, customer, app_id.lower(),
                                 client.options.cloud.authority_host)
        result = run(consents, desired)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
