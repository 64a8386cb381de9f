#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: group_member
short_description: Add members to or remove them from a Microsoft Entra group (AdminAgents, GDAP security groups)
version_added: 0.1.0
description:
  - Makes users, service principals and groups members of a group, or no longer members, for example the
    integration user in C(AdminAgents) and in the partner security groups that GDAP access assignments use.
  - The group is given by object id or display name. No group, or several groups with that name, is an error
    that names them.
  - Membership is checked directly for each member (C(GET /groups/{id}/members/{member id})). The v1.0 member
    listing has been reported to omit service principal members, so it is never used to decide that something
    is missing. A member that is already there is left alone (C(changed=false)); Microsoft's answers
    "already exist" (add) and "do not exist" (remove) count as success.
  - Many members are added with C(members@odata.bind), 20 a request; when such a request is refused because one
    of them is already a member, those members are added one at a time.
  - Members are removed with C(DELETE /groups/{id}/members/{member id}/$ref) only. The module never deletes a
    user, service principal, group or any other directory object.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: Reads run; no member is added or removed. RV(added) and RV(removed) say what would change.
  diff_mode:
    support: full
    details: The members before and after, by name (user principal name, service principal or group display name).
options:
  group:
    description:
      - The group, by object id or by exact display name (for example V(AdminAgents)).
    type: str
    required: true
  members:
    description:
      - The members, each a dict with exactly one key saying what it is.
      - An empty list with O(exclusive=true) and O(state=present) removes every member, and is refused unless
        O(allow_empty=true) says so.
    type: list
    elements: dict
    required: true
    suboptions:
      user:
        description: A user by user principal name (V(integration@contoso.onmicrosoft.com)) or object id.
        type: str
      service_principal:
        description:
          - The service principal of an application, by the application (client) id.
          - The service principal must exist in the tenant (consent creates it).
        type: str
      group:
        description: A group by exact display name or object id (a nested group).
        type: str
      id:
        description: Any directory object by object id.
        type: str
  state:
    description:
      - V(present) makes them members, V(absent) makes them no longer members.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also remove every member not in O(members).
      - The current members are listed through the beta API, which includes service principals. Only members
        that listing names are removed; a member Graph does not list is never removed blindly.
    type: bool
    default: false
  allow_empty:
    description:
      - Confirms that O(exclusive=true) with an empty O(members) list is meant to remove every member of the group
        (for V(AdminAgents), every user and app holding DAP admin rights).
      - Without it that combination is refused before any request, so an empty variable cannot empty a group.
    type: bool
    default: false
  tenant:
    description:
      - Tenant whose group is managed (GUID or domain). Default the connection's O(tenant_id).
    type: str
notes:
  - The app needs C(GroupMember.ReadWrite.All) (or C(Group.ReadWrite.All)) and C(Directory.Read.All) to resolve
    members; a delegated token also needs a directory role that may change the group.
  - Putting the partner app's service principal into C(AdminAgents) is the legacy DAP pre-consent. GDAP with
    application consent replaces it.
seealso:
  - module: cloudpartner.csp.security_group
  - module: cloudpartner.csp.service_principal_info
"""

EXAMPLES = r"""
- name: The integration user is an admin agent and in the GDAP admin group
  cloudpartner.csp.group_member:
    group: "{{ item }}"
    members:
      - user: integration@contosopartnerus.onmicrosoft.com
  loop: [AdminAgents, GDAP Admins]

- name: Legacy DAP pre-consent of the partner app (its service principal into AdminAgents)
  cloudpartner.csp.group_member:
    group: AdminAgents
    members:
      - service_principal: 20000000-0000-4000-8000-000000000001

- name: Exactly these members in the helpdesk group, nothing else
  cloudpartner.csp.group_member:
    group: 12000000-0000-4000-8000-000000010003
    exclusive: true
    members:
      - user: helpdesk@contosopartnerus.onmicrosoft.com
      - group: Tier 2 Support
      - id: 11000000-0000-4000-8000-000000010002

- name: DAP to GDAP migration - the app's service principal leaves AdminAgents
  cloudpartner.csp.group_member:
    group: AdminAgents
    state: absent
    members:
      - service_principal: 20000000-0000-4000-8000-000000000001
"""

RETURN = r"""
group:
  description: The group.
  returned: success
  type: dict
  contains:
    id:
      description: Object id.
      type: str
    display_name:
      description: Display name.
      type: str
  sample: {"id": "12000000-0000-4000-8000-000000010001", "display_name": "AdminAgents"}
added:
  description: Members added (in check mode, that would be added).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Object id.
      type: str
    type:
      description: V(user), V(servicePrincipal), V(group) or another directory object type.
      type: str
    name:
      description: Readable name (user principal name, service principal or group display name).
      type: str
    display_name:
      description: Display name.
      type: str
    user_principal_name:
      description: For users.
      type: str
    app_id:
      description: For service principals, the application (client) id.
      type: str
removed:
  description: Members removed (in check mode, that would be removed); same fields as RV(added).
  returned: success
  type: list
  elements: dict
members:
  description:
    - The names of the members after the change (in check mode, as they would be).
    - Only when the members were listed, that is with O(exclusive=true) or in diff mode.
  returned: when O(exclusive=true) or diff mode is on
  type: list
  elements: str
  sample: ["integration@contosopartnerus.onmicrosoft.com", "service principal Contoso CSP App (us) (20000000-0000-4000-8000-000000000001)"]
error:
  description: Microsoft's error when the module failed (C(code) is Graph's C(error.code), with its C(request_id)).
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import Directory, check_group_ref, normalize_member_specs
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant


def argument_spec():
    return dict(
        group=dict(type="str", required=True),
        members=dict(type="list", elements="dict", required=True, options=dict(
            user=dict(type="str"),
            service_principal=dict(type="str"),
            group=dict(type="str"),
            id=dict(type="str"),
        ), mutually_exclusive=[("user", "service_principal", "group", "id")],
            required_one_of=[("user", "service_principal", "group", "id")]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        exclusive=dict(type="bool", default=False),
        allow_empty=dict(type="bool", default=False),
        tenant=dict(type="str"),
    )


def plan(directory, group_id, wanted, state, exclusive, list_members):
    """What is a member now and what has to change. Reads only.

    Returns ``(current, to_add, to_remove)``; ``current`` is the listing (plus members found directly)
    when ``list_members`` is set, else None.
    """
    listing = directory.list_members(group_id) if list_members else None
    listed = {m["id"]: m for m in listing or []}
    # whatever the listing did not show is asked about directly (service principals go missing there)
    unknown = [m["id"] for m in wanted if m["id"] not in listed]
    direct = directory.membership(group_id, unknown)
    is_member = {m["id"]: m["id"] in listed or direct.get(m["id"], False) for m in wanted}
    if listing is not None:
        current = list(listing) + [m for m in wanted if direct.get(m["id"]) and m["id"] not in listed]
    else:
        current = None
    if state == "present":
        to_add = [m for m in wanted if not is_member[m["id"]]]
        wanted_ids = {m["id"] for m in wanted}
        to_remove = [m for m in listing if m["id"] not in wanted_ids] if exclusive else []
    else:
        to_add = []
        to_remove = [m for m in wanted if is_member[m["id"]]]
    return current, to_add, to_remove


def check_params(params):
    """Everything checked before the first request; returns the normalized member specs."""
    specs = normalize_member_specs(params["members"])
    check_group_ref(params["group"])
    if params["exclusive"] and params["state"] == "absent":
        raise CspValidationError("exclusive=true only works with state=present", code="InvalidOption")
    if params["exclusive"] and not specs and not params["allow_empty"]:
        raise CspValidationError("exclusive=true with an empty members list would remove every member of %s; "
                                 "set allow_empty=true if that is meant" % params["group"], code="EmptyMembers")
    if params["tenant"]:
        check_tenant(params["tenant"], name="tenant")
    return specs


def run(module, directory):
    params = module.params
    specs = check_params(params)
    group = directory.find_group(params["group"])
    gid = group["id"]
    wanted = directory.resolve_members(specs)
    list_members = params["exclusive"] or module.diff_mode
    current, to_add, to_remove = plan(directory, gid, wanted, params["state"], params["exclusive"], list_members)

    added, removed = to_add, to_remove
    if not module.check_mode:
        added_ids = set(directory.add_members(gid, [m["id"] for m in to_add])) if to_add else set()
        removed_ids = {m["id"] for m in to_remove if directory.remove_member(gid, m["id"])}
        added = [m for m in to_add if m["id"] in added_ids]
        removed = [m for m in to_remove if m["id"] in removed_ids]

    result = dict(changed=bool(added or removed), group={"id": gid, "display_name": group.get("displayName")},
                  added=added, removed=removed)
    if current is not None:
        before = sorted({m["name"] for m in current})
        gone = {m["id"] for m in removed}
        after_objs = [m for m in current if m["id"] not in gone] + added
        after = sorted({m["name"] for m in after_objs})
        result["members"] = after
        if module.diff_mode:
            result["diff"] = {"before": {"members": before}, "after": {"members": after},
                              "before_header": "group %s" % group.get("displayName"),
                              "after_header": "group %s" % group.get("displayName")}
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        check_params(module.params)  # bad input fails before any request
        graph = module.client.graph(tenant=module.params["tenant"])
        beta = module.client.graph(tenant=module.params["tenant"], api_version="beta")
        directory = Directory(graph, beta=beta, tenant=module.params["tenant"] or module.params["tenant_id"])
        result = run(module, directory)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
