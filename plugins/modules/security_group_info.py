#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: security_group_info
short_description: Read security groups of a tenant by name or object id
version_added: 0.2.0
description:
  - Reads the security groups named O(display_name) (exact name; Graph's own match ignores case), the group
    with object id O(id), or every security group of the tenant when neither is given (all pages).
  - The read twin of M(cloudpartner.csp.security_group); it returns groups in the same shape.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  display_name:
    description: Only groups with exactly this display name.
    type: str
    aliases: [name]
  id:
    description: Only the group with this object id.
    type: str
  tenant:
    description: Tenant to read (default the connection's O(tenant_id)), e.g. a customer tenant.
    type: str
seealso:
  - module: cloudpartner.csp.security_group
  - module: cloudpartner.csp.group_member_info
"""

EXAMPLES = r"""
- name: The partner security group GDAP Admins
  cloudpartner.csp.security_group_info:
    display_name: GDAP Admins
  register: admins

- name: Every security group of the partner tenant
  cloudpartner.csp.security_group_info:
  register: all_groups
"""

RETURN = r"""
groups:
  description:
    - The groups found, each with C(id), C(display_name), C(description), C(mail_nickname), C(security_enabled),
      C(mail_enabled), C(group_types) and C(is_security_group) (security-enabled, not mail-enabled, not Microsoft 365).
  returned: always
  type: list
  elements: dict
count:
  description: Number of groups returned.
  returned: always
  type: int
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import GROUP_SELECT, Directory, group_view
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant, is_guid


def argument_spec():
    return dict(
        display_name=dict(type="str", aliases=["name"]),
        id=dict(type="str"),
        tenant=dict(type="str"),
    )


def view(group):
    out = group_view(group)
    out["is_security_group"] = bool(group.get("securityEnabled")) and not group.get("mailEnabled") \
        and "Unified" not in (group.get("groupTypes") or [])
    return out


def run(params, directory):
    if params["id"]:
        group = directory.get_group(params["id"].lower())
        groups = [group] if group is not None else []
        if params["display_name"] is not None:
            groups = [g for g in groups if g.get("displayName") == params["display_name"]]
    elif params["display_name"] is not None:
        groups = directory.groups_named(params["display_name"])
    else:
        groups = list(directory.graph.paginate("/groups", params={
            "$filter": "securityEnabled eq true and mailEnabled eq false", "$select": GROUP_SELECT}))
    found = [view(g) for g in groups]
    return dict(changed=False, groups=found, count=len(found))


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        if params["id"] is not None and not is_guid(params["id"]):
            raise CspValidationError("id %r is not a group object id (a GUID)" % params["id"], code="InvalidGroupId")
        if params["display_name"] is not None and not params["display_name"].strip():
            raise CspValidationError("display_name must not be empty", code="InvalidDisplayName")
        if params["tenant"]:
            check_tenant(params["tenant"], name="tenant")
        directory = Directory(module.client.graph(tenant=params["tenant"]),
                              tenant=params["tenant"] or params["tenant_id"])
        result = run(params, directory)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
