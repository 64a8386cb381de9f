#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: service_principal
short_description: Make sure an application has a service principal in a tenant
version_added: 0.1.0
description:
  - Creates the service principal (enterprise application) of an application in a tenant when it has none, through
    Microsoft Graph (C(POST /servicePrincipals) with the C(appId)). An existing one is left as it is.
  - Used for the partner-managed app in its home (partner) tenant, and for an API the app needs in a customer
    tenant, where application consent through Partner Center fails without it.
  - A service principal that another run created in between (Graph answers 409) counts as present.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: The service principal is looked up; nothing is created.
  diff_mode:
    support: full
options:
  app_id:
    description:
      - Application (client) id whose service principal must exist.
    type: str
    required: true
  tenant:
    description:
      - Tenant to create it in (GUID or domain). Default the connection's O(tenant_id).
    type: str
notes:
  - Creating a service principal needs C(Application.ReadWrite.All) (or C(Application.ReadWrite.OwnedBy) for the
    app's own) in the tenant.
seealso:
  - module: cloudpartner.csp.service_principal_info
"""

EXAMPLES = r"""
- name: The partner app's service principal in its home tenant
  cloudpartner.csp.service_principal:
    app_id: 20000000-0000-4000-8000-000000000001
  register: app_sp

- name: Show it
  ansible.builtin.debug:
    msg: "{{ app_sp.service_principal.id }} ({{ 'created' if app_sp.changed else 'already there' }})"
"""

RETURN = r"""
service_principal:
  description:
    - The service principal (C(id), C(app_id), C(display_name)). C(id) is null in check mode when it would be
      created.
  returned: success
  type: dict
  sample: {"id": "5a0e3c8b-...", "app_id": "20000000-0000-4000-8000-000000000001", "display_name": "Contoso CSP App"}
tenant:
  description: The tenant looked in, as given.
  returned: success
  type: str
error:
  description: Microsoft's error when the module failed (C(code) is Graph's C(error.code)).
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import Directory, normalize_app_ids
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant


def argument_spec():
    return dict(
        app_id=dict(type="str", required=True),
        tenant=dict(type="str"),
    )


def view(sp, app_id):
    if not sp:
        return {}
    return {"id": sp.get("id"), "app_id": str(sp.get("appId") or app_id).lower(), "display_name": sp.get("displayName")}


def run(module, directory, app_id):
    current = directory.service_principals([app_id]).get(app_id)
    changed = current is None
    after = current
    if changed:
        after = {"id": None, "appId": app_id} if module.check_mode else directory.create_service_principal(app_id)[0]
    result = dict(changed=changed, service_principal=view(after, app_id),
                  tenant=module.params["tenant"] or module.params["tenant_id"])
    if module.diff_mode:
        result["diff"] = dict(before=view(current, app_id), after=view(after, app_id))
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        app_id = normalize_app_ids([params["app_id"]], name="app_id")[0]
        if params["tenant"]:
            check_tenant(params["tenant"], name="tenant")
        graph = module.client.graph(tenant=params["tenant"])
        result = run(module, Directory(graph, tenant=params["tenant"] or params["tenant_id"]), app_id)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
