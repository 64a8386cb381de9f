#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: group_member_info
short_description: Read the direct members of a group, or whether given objects are members
version_added: 0.2.0
description:
  - Lists the direct members of O(group) (users, service principals, groups) from Graph's beta listing, which
    includes service principals.
  - With O(members), also asks Graph about each of them directly (the listing is never trusted alone, as
    M(cloudpartner.csp.group_member) does) and returns which are members and which are not.
  - The read twin of M(cloudpartner.csp.group_member).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  group:
    description: The group's object id or exact display name.
    type: str
    required: true
  members:
    description:
      - Objects to check, each with exactly one of C(user) (UPN or object id), C(service_principal) (the app's
        client id), C(group) (display name or object id) or C(id) (any object id).
    type: list
    elements: dict
  tenant:
    description: Tenant to read (default the connection's O(tenant_id)).
    type: str
seealso:
  - module: cloudpartner.csp.group_member
  - module: cloudpartner.csp.security_group_info
"""

EXAMPLES = r"""
- name: Is the integration user in GDAP Admins?
  cloudpartner.csp.group_member_info:
    group: GDAP Admins
    members:
      - user: integration@contosopartnerus.onmicrosoft.com
  register: admins

- name: Fail when it is not
  ansible.builtin.assert:
    that: admins.missing | length == 0
"""

RETURN = r"""
group:
  description: The group, C(id) and C(display_name).
  returned: always
  type: dict
members:
  description: The direct members, each with C(id), C(type), C(display_name), C(name) and C(user_principal_name) or C(app_id).
  returned: always
  type: list
  elements: dict
present:
  description: Of O(members), those that are members (described like RV(members)).
  returned: always
  type: list
  elements: dict
missing:
  description: Of O(members), those that are not members.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import Directory, check_group_ref, normalize_member_specs
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant


def argument_spec():
    return dict(
        group=dict(type="str", required=True),
        members=dict(type="list", elements="dict"),
        tenant=dict(type="str"),
    )


def run(params, directory, specs):
    group = directory.find_group(params["group"])
    members = directory.list_members(group["id"])
    present, missing = [], []
    if specs:
        wanted = directory.resolve_members(specs)
        state = directory.membership(group["id"], [obj["id"] for obj in wanted])
        listed = {m["id"] for m in members}
        for obj in wanted:
            (present if state.get(obj["id"]) else missing).append(obj)
            if state.get(obj["id"]) and obj["id"] not in listed:
                members.append(obj)  # a member the listing left out
    return dict(changed=False, group={"id": group["id"], "display_name": group.get("displayName")},
                members=members, present=present, missing=missing)


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        specs = normalize_member_specs(params["members"])  # bad input fails before any request
        check_group_ref(params["group"])
        if params["tenant"]:
            check_tenant(params["tenant"], name="tenant")
        graph = module.client.graph(tenant=params["tenant"])
        beta = module.client.graph(tenant=params["tenant"], api_version="beta")
        directory = Directory(graph, beta=beta, tenant=params["tenant"] or params["tenant_id"])
        result = run(params, directory, specs)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
