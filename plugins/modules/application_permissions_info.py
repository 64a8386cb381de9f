#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: application_permissions_info
short_description: An application's required permissions with friendly names, grouped per API
version_added: 0.1.0
description:
  - Reads an application registration's C(requiredResourceAccess) in its home tenant and resolves every
    permission id to its name through the API's service principal in that tenant (C(oauth2PermissionScopes) for
    delegated permissions, C(appRoles) for application permissions).
  - Returns the permissions grouped per API, and RV(consent_grants), ready to be the grants of a Partner Center
    application consent (M(cloudpartner.csp.application_consent)).
  - Partner Center application consent grants delegated permissions. Application permissions (app roles) are
    returned apart, in RV(app_role_grants), to be granted in the customer tenant as app role assignments; set
    O(consent_include_app_roles=true) to put their names into RV(consent_grants) as well, for a consent that
    lists them too.
  - A permission id the API does not declare, or an API without a service principal in the home tenant, is
    reported in RV(unresolved) with a warning, not a failure.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  application_id:
    description:
      - Application (client) id of the app, registered in O(tenant).
    type: str
    required: true
  tenant:
    description:
      - Home tenant of the application (GUID or domain). Default the connection's O(tenant_id).
    type: str
  consent_include_app_roles:
    description:
      - Also list the application permissions' names in RV(consent_grants).
    type: bool
    default: false
seealso:
  - module: cloudpartner.csp.service_principal_info
"""

EXAMPLES = r"""
- name: What the partner app asks for
  cloudpartner.csp.application_permissions_info:
    application_id: 20000000-0000-4000-8000-000000000001
  register: app_permissions

- name: Show the delegated Microsoft Graph permissions
  ansible.builtin.debug:
    msg: >-
      {{ (app_permissions.apis | selectattr('app_id', 'equalto', '00000003-0000-0000-c000-000000000000')
          | first).delegated | map(attribute='value') | list }}

- name: The grants for a Partner Center application consent, one line per API
  ansible.builtin.debug:
    msg: "{{ item.api }}: {{ item.scopes | join(',') }}"
  loop: "{{ app_permissions.consent_grants }}"
"""

RETURN = r"""
application:
  description: The application (id, app_id, display_name).
  returned: success
  type: dict
apis:
  description: One entry per API in C(requiredResourceAccess), in its order.
  returned: success
  type: list
  elements: dict
  contains:
    app_id:
      description: Application id of the API (C(resourceAppId)).
      type: str
    display_name:
      description: Name of the API (its service principal's, else the well-known name, else null).
      type: str
    service_principal_id:
      description: Object id of the API's service principal in the home tenant (null when there is none).
      type: str
    delegated:
      description: Delegated permissions, each with C(id), C(value) (the scope name) and C(display_name).
      type: list
      elements: dict
    application:
      description: Application permissions (app roles), each with C(id), C(value) and C(display_name).
      type: list
      elements: dict
    unresolved:
      description: Permissions whose id the API does not declare (C(id), C(type)).
      type: list
      elements: dict
consent_grants:
  description:
    - Grants for a Partner Center application consent, one per API with delegated permissions
      (plus app role names with O(consent_include_app_roles=true)).
  returned: success
  type: list
  elements: dict
  sample: [{"api": "00000003-0000-0000-c000-000000000000", "scopes": ["Directory.AccessAsUser.All"]},
           {"api": "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd", "scopes": ["user_impersonation"]}]
app_role_grants:
  description: Application permissions per API (C(api), C(roles)), to be granted as app role assignments.
  returned: success
  type: list
  elements: dict
  sample: [{"api": "00000003-0000-0000-c000-000000000000", "roles": ["Directory.Read.All"]}]
unresolved:
  description: Every permission that could not be named (C(api), C(id), C(type)).
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import (
    Directory,
    normalize_app_ids,
    required_app_ids,
    resolve_permissions,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant

RESOURCE_SELECT = "id,appId,displayName,oauth2PermissionScopes,appRoles"


def argument_spec():
    return dict(
        application_id=dict(type="str", required=True),
        tenant=dict(type="str"),
        consent_include_app_roles=dict(type="bool", default=False),
    )


def run(module, directory):
    params = module.params
    app_id = normalize_app_ids([params["application_id"]], name="application_id")[0]
    app = directory.application(app_id)
    resources = directory.service_principals(required_app_ids(app), select=RESOURCE_SELECT)
    apis, consent, roles, unresolved = resolve_permissions(app, resources, params["consent_include_app_roles"])
    for api in apis:
        if api["service_principal_id"] is None:
            module.warn("API %s (%s) has no service principal in tenant %s; its permissions cannot be named" % (
                api["app_id"], api["display_name"] or "unknown API", directory.tenant))
        elif api["unresolved"]:
            module.warn("API %s (%s) declares no permission with id %s" % (
                api["app_id"], api["display_name"], ", ".join(p["id"] for p in api["unresolved"])))
    return dict(changed=False, application={"id": app.get("id"), "app_id": app.get("appId"),
                                            "display_name": app.get("displayName")},
                apis=apis, consent_grants=consent, app_role_grants=roles, unresolved=unresolved)


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        normalize_app_ids([params["application_id"]], name="application_id")
        if params["tenant"]:
            check_tenant(params["tenant"], name="tenant")
        directory = Directory(module.client.graph(tenant=params["tenant"]), tenant=params["tenant"] or params["tenant_id"])
        result = run(module, directory)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
