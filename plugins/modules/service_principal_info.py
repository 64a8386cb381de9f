#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: service_principal_info
short_description: Which applications (APIs) have a service principal in a tenant
version_added: 0.1.0
description:
  - Tells which of a list of application (client) ids have a service principal in a tenant, and which do not.
  - With O(application_id), the ids checked are the APIs in that application's C(requiredResourceAccess). The
    application is read in its home tenant, the connection's O(tenant_id) (the partner tenant); the service
    principals are looked for in O(tenant) (for example a customer tenant).
  - This is the check to run in a customer tenant before application consent through Partner Center, which
    fails when an API the app needs has no service principal there.
  - Up to 20 look-ups go in one C($batch) request.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  app_ids:
    description:
      - Application (client) ids to look for.
      - At least one of O(app_ids) and O(application_id) is required; with both, all are checked.
    type: list
    elements: str
  application_id:
    description:
      - Application (client) id of an app registered in the connection's tenant; the APIs in its
        C(requiredResourceAccess) are checked.
    type: str
  tenant:
    description:
      - Tenant to look in (GUID or domain). Default the connection's O(tenant_id).
      - The token for it is obtained with the connection's credentials (a Secure Application Model
        O(refresh_token) for a customer tenant reached through GDAP).
    type: str
seealso:
  - module: cloudpartner.csp.application_permissions_info
"""

EXAMPLES = r"""
- name: Does the customer have a service principal for every API the partner app needs?
  cloudpartner.csp.service_principal_info:
    application_id: 20000000-0000-4000-8000-000000000001
    tenant: 30000000-0000-4000-8000-000000000006
  register: sp_check

- name: Stop before consent when an API is missing
  ansible.builtin.fail:
    msg: >-
      The customer lacks service principals for
      {{ sp_check.missing | map(attribute='display_name') | join(', ') }}
  when: sp_check.missing | length > 0

- name: Check two APIs by id
  cloudpartner.csp.service_principal_info:
    app_ids:
      - 00000003-0000-0000-c000-000000000000
      - fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd
"""

RETURN = r"""
found:
  description: Application id -> its service principal in O(tenant).
  returned: success
  type: dict
  sample: {"00000003-0000-0000-c000-000000000000": {"id": "5a0e...", "display_name": "Microsoft Graph"}}
missing:
  description:
    - The application ids without a service principal in O(tenant), with the API's display name where it is a
      well-known Microsoft API (else null).
  returned: success
  type: list
  elements: dict
  contains:
    app_id:
      description: Application (client) id.
      type: str
    display_name:
      description: Name of the API, when known.
      type: str
  sample: [{"app_id": "797f4846-ba00-4fd7-ba43-dac1f8f63013", "display_name": "Windows Azure Service Management API"}]
all_found:
  description: True when every application id has a service principal.
  returned: success
  type: bool
checked:
  description: The application ids checked, in order.
  returned: success
  type: list
  elements: str
application:
  description: The application of O(application_id) (id, app_id, display_name).
  returned: when O(application_id) is given
  type: dict
tenant:
  description: The tenant looked in, as given.
  returned: success
  type: str
admin_consent_url:
  description:
    - The link a Global Administrator of O(tenant) opens to consent to O(application_id) once, which creates the
      missing service principals; on the login host of the configured O(cloud) or O(authority_host).
  returned: with O(application_id), when a service principal is missing
  type: str
  sample: https://login.microsoftonline.com/30000000-0000-4000-8000-000000000006/adminconsent?client_id=2000...
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.consent import admin_consent_url
from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import (
    Directory,
    api_name,
    normalize_app_ids,
    required_app_ids,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant


def argument_spec():
    return dict(
        app_ids=dict(type="list", elements="str"),
        application_id=dict(type="str"),
        tenant=dict(type="str"),
    )


def run(module, home, target):
    params = module.params
    app_ids = normalize_app_ids(params["app_ids"])
    result = dict(changed=False)
    if params["application_id"]:
        app = home.application(normalize_app_ids([params["application_id"]], name="application_id")[0])
        result["application"] = {"id": app.get("id"), "app_id": app.get("appId"), "display_name": app.get("displayName")}
        app_ids += [a for a in required_app_ids(app) if a not in app_ids]
    principals = target.service_principals(app_ids)
    found, missing = {}, []
    for app_id in app_ids:
        sp = principals.get(app_id)
        if sp is None:
            missing.append({"app_id": app_id, "display_name": api_name(app_id)})
        else:
            found[app_id] = {"id": sp.get("id"), "display_name": sp.get("displayName")}
    result.update(found=found, missing=missing, all_found=not missing, checked=app_ids,
                  tenant=params["tenant"] or params["tenant_id"])
    if params["application_id"] and missing:
        # a Global Administrator of the tenant consenting once creates the missing service principals
        result["admin_consent_url"] = admin_consent_url(module.client.options.authority_host,
                                                        params["tenant"] or params["tenant_id"],
                                                        result["application"]["app_id"])
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True,
                       required_one_of=[("app_ids", "application_id")])
    params = module.params
    try:
        normalize_app_ids(params["app_ids"])
        if params["application_id"]:
            normalize_app_ids([params["application_id"]], name="application_id")
        if params["tenant"]:
            check_tenant(params["tenant"], name="tenant")
        home = Directory(module.client.graph(), tenant=params["tenant_id"])
        target = Directory(module.client.graph(tenant=params["tenant"]), tenant=params["tenant"] or params["tenant_id"])
        result = run(module, home, target)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
