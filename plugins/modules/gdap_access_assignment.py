#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: gdap_access_assignment
short_description: Assign partner security groups to roles of an active GDAP relationship
version_added: 0.1.0
description:
  - Manages the access assignment of one partner security group on one GDAP relationship, that is which of
    the relationship's roles the group's members get in the customer tenant.
  - With O(assignments), several groups on the same relationship in one module run; the relationship's
    assignments are read once, the groups resolved in one read, new assignments created in one C($batch),
    and one wait reads the list until all are active.
  - The roles must be a subset of the relationship's roles; this is checked before anything is written.
    Unknown role names fail before any request.
  - A new assignment is created; an existing one with other roles is updated with C(If-Match) and the
    long-running operation the service answers with (HTTP 202) is followed to its end. A stale ETag (HTTP 412)
    is handled by reading the assignment again and retrying once.
  - With O(wait=true) the module waits until the assignment is C(active) (or C(deleted) for O(state=absent)).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: Reads are sent; no write is. RV(actions) lists what would be done.
  diff_mode:
    support: full
options:
  relationship:
    description:
      - Id or display name of the GDAP relationship. A display name must match exactly one relationship that
        has not ended.
    type: str
    required: true
  group:
    description:
      - The partner tenant's security group, by object id or display name.
      - One of O(group) and O(assignments) is required.
    type: str
  roles:
    description:
      - Roles the group gets, by built-in role name or role template id; a subset of the relationship's roles.
      - Required with O(group) and O(state=present).
    type: list
    elements: str
  assignments:
    description:
      - Several groups at once, each with its roles (as O(group) and O(roles)); the same group may not appear
        twice. With O(state=absent) the roles may be left out.
      - Mutually exclusive with O(group) and O(roles).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      group:
        description: The partner tenant's security group, by object id or display name.
        type: str
        required: true
      roles:
        description: Roles the group gets (required with O(state=present)).
        type: list
        elements: str
  state:
    description:
      - V(present) creates or updates the assignment, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait until the assignment is C(active) (C(deleted) with O(state=absent)) and an update's operation has
        finished.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait at most. When they pass, the module returns RV(status) as it is and RV(completed=false).
    type: int
    default: 300
  wait_interval:
    description:
      - Seconds between two reads while waiting.
    type: int
    default: 5
seealso:
  - module: cloudpartner.csp.gdap_relationship
"""

EXAMPLES = r"""
- name: GDAP Admins get the application and user roles
  cloudpartner.csp.gdap_access_assignment:
    relationship: us-customer01-standard
    group: GDAP Admins
    roles: [Cloud Application Administrator, User Administrator, Global Reader]

- name: GDAP Helpdesk, by ids
  cloudpartner.csp.gdap_access_assignment:
    relationship: "{{ gdap.id }}"
    group: 12000000-0000-4000-8000-000000010003
    roles: [729827e3-9c14-49f7-bb1b-9608f156bbb8]

- name: Both partner security groups in one run
  cloudpartner.csp.gdap_access_assignment:
    relationship: us-customer01-standard
    assignments:
      - group: GDAP Admins
        roles: [Cloud Application Administrator, User Administrator, Global Reader]
      - group: GDAP Helpdesk
        roles: [Helpdesk Administrator, Service Support Administrator]
  register: access

- name: Remove the helpdesk assignment
  cloudpartner.csp.gdap_access_assignment:
    relationship: us-customer01-standard
    group: GDAP Helpdesk
    state: absent
"""

RETURN = r"""
id:
  description: Id of the access assignment.
  returned: when the assignment exists (with O(group))
  type: str
status:
  description: Status of the assignment (C(pending), C(active), C(deleting), C(deleted), C(error)); C(absent) when there is none.
  returned: with O(group)
  type: str
  sample: active
completed:
  description: False when O(wait_timeout) passed before the assignment (with O(assignments), every one) reached the wanted status.
  returned: always
  type: bool
assignment:
  description: Microsoft's access assignment object (C(id), C(accessContainer), C(accessDetails), C(status), C(@odata.etag)).
  returned: when the assignment exists (not in check mode for a new one), with O(group)
  type: dict
assignments:
  description:
    - With O(assignments), one entry per group in the given order, with C(group) (as given), C(group_id),
      C(changed), C(actions), C(completed), C(status), C(id) and C(assignment) (as the one-group results).
  returned: with O(assignments)
  type: list
  elements: dict
  version_added: 0.2.0
relationship_id:
  description: Id of the relationship.
  returned: always
  type: str
group_id:
  description: Object id of the security group.
  returned: with O(group)
  type: str
actions:
  description: What was done (or, in check mode, would be done); with O(assignments) prefixed by the group as given.
  returned: always
  type: list
  elements: str
  sample: [update]
etag_retries:
  description: How many writes met a stale ETag (HTTP 412) and were retried after a fresh read.
  returned: always
  type: int
error:
  description:
    - Microsoft's error when the module failed. With O(assignments), C(details.item) names the group (as given)
      that a group or role error is about.
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import check_group_ref
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.gdap import (
    AssignmentEnsurer,
    GdapClient,
    assignment_view,
    check_assignment_set,
    check_relationship_ref,
    ensure_assignment_set,
    find_relationship,
    resolve_group,
    resolve_groups,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.roles import resolve_roles, role_name


def argument_spec():
    return dict(
        relationship=dict(type="str", required=True),
        group=dict(type="str"),
        roles=dict(type="list", elements="str"),
        assignments=dict(type="list", elements="dict", options=dict(
            group=dict(type="str", required=True),
            roles=dict(type="list", elements="str"),
        )),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        wait_interval=dict(type="int", default=5),
    )


def run(module, gdap, graph, role_ids):
    params = module.params
    rel = find_relationship(gdap, params["relationship"])
    group = resolve_group(graph, params["group"])
    ensurer = AssignmentEnsurer(gdap, check_mode=module.check_mode, wait=params["wait"],
                                timeout=params["wait_timeout"], interval=params["wait_interval"])
    if params["state"] == "present":
        ensurer.check_subset(rel, role_ids)  # before any write
        before, after, reached = ensurer.present(rel, group["id"], role_ids)
        wanted = {"group_id": group["id"], "group": group["displayName"], "status": "active",
                  "roles": sorted(role_name(r) for r in role_ids)}
    else:
        before, after, reached = ensurer.absent(rel, group["id"])
        wanted = {}
    result = dict(changed=bool(ensurer.actions), actions=ensurer.actions, etag_retries=gdap.etag_retries,
                  relationship_id=rel["id"], group_id=group["id"], completed=bool(reached))
    shown = after if after is not None else (before if params["state"] == "present" and before else None)
    if shown:
        result.update(assignment=shown, id=shown.get("id"), status=shown.get("status"))
    else:
        result["status"] = "absent" if params["state"] == "absent" or not module.check_mode else "pending"
    if module.diff_mode:
        after_view = assignment_view(after, group) if after is not None else wanted
        result["diff"] = dict(before=assignment_view(before, group), after=after_view)
    return result


def run_set(module, gdap, graph, wanted):
    params = module.params
    rel = find_relationship(gdap, params["relationship"])
    groups = resolve_groups(graph, [g for g, _r in wanted])
    done = ensure_assignment_set(gdap, rel, wanted, groups, present=params["state"] == "present",
                                 check_mode=module.check_mode, wait=params["wait"], timeout=params["wait_timeout"],
                                 interval=params["wait_interval"])
    result = dict(changed=bool(done["actions"]), actions=done["actions"], etag_retries=gdap.etag_retries,
                  relationship_id=rel["id"], completed=done["completed"], assignments=done["items"])
    if module.diff_mode:
        result["diff"] = dict(before={"assignments": done["diff_before"]}, after={"assignments": done["diff_after"]})
    return result


def main():
    module = CspModule(argument_spec=argument_spec(),
                       mutually_exclusive=[("group", "assignments"), ("roles", "assignments")],
                       required_one_of=[("group", "assignments")],
                       required_if=[("state", "present", ("roles", "assignments"), True)],
                       supports_check_mode=True)
    params = module.params
    try:
        if params["wait_timeout"] < 0 or params["wait_interval"] < 1:
            raise CspValidationError("wait_timeout must be >= 0 and wait_interval >= 1", code="InvalidOption")
        check_relationship_ref(params["relationship"])
        if params["assignments"] is not None:
            wanted = check_assignment_set(params["assignments"], present=params["state"] == "present")
            graph = module.client.graph()
            result = run_set(module, GdapClient(graph), graph, wanted)
        else:
            check_group_ref(params["group"])
            if params["state"] == "present" and not params["roles"]:
                raise CspValidationError("roles is required with group and state=present", code="InvalidRoles")
            role_ids = resolve_roles(params["roles"]) if params["state"] == "present" else None
            if role_ids is not None and not role_ids:
                raise CspValidationError("roles must name at least one role", code="InvalidRoles")
            graph = module.client.graph()
            result = run(module, GdapClient(graph), graph, role_ids)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
