#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: tenant_info
short_description: Find a domain's Microsoft Entra tenant, region and cloud without credentials
version_added: 0.1.0
description:
  - Reads the tenant's public OpenID Connect configuration
    (C(/{domain}/v2.0/.well-known/openid-configuration)) to find the tenant ID, the region scope
    (C(tenant_region_scope), e.g. C(NA), C(EU), C(AS)) and the cloud of a domain or a user's sign-in name.
  - The region tells which regional partner tenant serves the customer.
  - No credentials are needed. An unknown domain is not a failure; it returns RV(exists=false) and
    Microsoft's error code.
  - Only O(cloud), O(authority_host) and O(ca_bundle) of the connection options are used. The others are
    accepted, so that C(module_defaults) for C(group/cloudpartner.csp.csp) apply to this module too,
    and ignored.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.info_module
options:
  domain:
    description:
      - A domain of the tenant (C(contoso.onmicrosoft.com), a verified custom domain) or a tenant GUID.
      - Exactly one of O(domain) and O(user) is required.
    type: str
  user:
    description:
      - A user's sign-in name (C(someone@contoso.com)); its domain is looked up.
      - Exactly one of O(domain) and O(user) is required.
    type: str
seealso:
  - module: cloudpartner.csp.token
"""

EXAMPLES = r"""
- name: Which region is Fabrikam in?
  cloudpartner.csp.tenant_info:
    domain: fabrikam.example
  register: fabrikam

- name: Pick the regional partner tenant
  ansible.builtin.set_fact:
    partner_region: "{{ {'NA': 'us', 'EU': 'eu'}.get(fabrikam.tenant_region_scope, 'apac') }}"
  when: fabrikam.exists

- name: From a user's sign-in name, against the local emulator
  cloudpartner.csp.tenant_info:
    user: admin@customer01.onmicrosoft.com
    authority_host: https://127.0.0.1:8443
    ca_bundle: /tmp/emulator/ca.pem
"""

RETURN = r"""
exists:
  description: Whether the identity platform knows the domain.
  returned: always
  type: bool
  sample: true
domain:
  description: The domain that was looked up (from O(domain) or the domain part of O(user)).
  returned: always
  type: str
  sample: fabrikam.example
tenant_id:
  description: GUID of the tenant.
  returned: when RV(exists)
  type: str
  sample: 30000000-0000-4000-8000-000000000001
tenant_region_scope:
  description: Region of the tenant (C(NA), C(EU), C(AS), C(OC), C(AF), C(SA), C(WW), ...).
  returned: when RV(exists)
  type: str
  sample: NA
tenant_region_sub_scope:
  description: Sub-scope for national/government clouds (for example C(GCC)), when the document has one.
  returned: when RV(exists) and Microsoft sends it
  type: str
cloud_instance_name:
  description: Cloud instance name of the document (C(microsoftonline.com) in the public cloud).
  returned: when RV(exists)
  type: str
  sample: microsoftonline.com
cloud:
  description: The collection's name for that cloud (V(public), V(usgov), V(china)); the O(cloud) option when unknown.
  returned: when RV(exists)
  type: str
  sample: public
msgraph_host:
  description: Microsoft Graph host for the tenant.
  returned: when RV(exists)
  type: str
  sample: graph.microsoft.com
issuer:
  description: Token issuer of the tenant.
  returned: when RV(exists)
  type: str
  sample: https://login.microsoftonline.com/30000000-0000-4000-8000-000000000001/v2.0
error:
  description: Microsoft's error when the domain is unknown (RV(exists=false)) or the module failed.
  returned: when not RV(exists) or on failure
  type: dict
  contains:
    code:
      description: Microsoft's code, for example C(AADSTS90002).
      type: str
    message:
      description: Microsoft's message.
      type: str
    request_id:
      description: Trace id of the request.
      type: str
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import (
    openid_configuration,
    tenant_id_from_configuration,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.cloud import cloud_from_instance_name
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HttpClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import (
    ConnectionOptions,
    check_tenant,
)


def argument_spec():
    return dict(
        domain=dict(type="str"),
        user=dict(type="str"),
    )


def lookup(module):
    params = module.params
    if params["user"]:
        if params["user"].count("@") != 1 or not params["user"].split("@")[1]:
            raise CspValidationError("user %r is not a sign-in name such as someone@contoso.com" % params["user"],
                                     code="InvalidUser")
        domain = params["user"].split("@")[1]
    else:
        domain = params["domain"]
    domain = check_tenant(domain.strip(), name="user" if params["user"] else "domain")
    options = ConnectionOptions(params).validate(credentials=False)
    http = HttpClient(verify=options.verify)
    status, document = openid_configuration(http, options.authority_host, domain)
    if status != 200:
        # Unknown domains answer 400 AADSTS90002: a fact about the domain, not a failure.
        return dict(changed=False, exists=False, domain=domain, error=document.to_result())
    instance = document.get("cloud_instance_name")
    result = dict(
        changed=False,
        exists=True,
        domain=domain,
        tenant_id=tenant_id_from_configuration(document),
        tenant_region_scope=document.get("tenant_region_scope"),
        cloud_instance_name=instance,
        cloud=cloud_from_instance_name(instance) or options.cloud.name,
        msgraph_host=document.get("msgraph_host"),
        issuer=document.get("issuer"),
    )
    if document.get("tenant_region_sub_scope"):
        result["tenant_region_sub_scope"] = document["tenant_region_sub_scope"]
    return result


def main():
    module = CspModule(
        argument_spec=argument_spec(),
        required_libraries=("requests",),
        required_one_of=[("domain", "user")],
        mutually_exclusive=[("domain", "user")],
        supports_check_mode=True,
    )
    try:
        result = lookup(module)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
