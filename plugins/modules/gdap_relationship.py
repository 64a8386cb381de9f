#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: gdap_relationship
short_description: Create, lock for approval, wait for, or end a GDAP relationship with a customer
version_added: 0.1.0
description:
  - Manages one granular delegated admin privileges (GDAP) relationship of the partner tenant with one customer
    tenant through Microsoft Graph (C(/tenantRelationships/delegatedAdminRelationships)).
  - The relationship is found by O(display_name) (unique per partner) and must belong to O(customer_tenant_id).
    Relationships with the same name that are C(expired) or C(terminated) are reported in
    RV(ended_relationships) and as warnings, never reused.
  - O(state=present) creates the relationship, locks it for approval and returns the link the customer's
    Global Administrator opens to approve it (RV(approval_link)). While it is still C(created), differences
    are patched (with C(If-Match)).
  - Microsoft does not let the roles or the duration of a relationship change once the customer approved it,
    with one exception, the Global Administrator role can be removed from an active relationship. When O(roles)
    are the relationship's roles minus Global Administrator, the module sends one C(PATCH) (with C(If-Match)),
    follows Microsoft's long-running operation to its end (an answer of C(202) with the operation) or takes the
    updated relationship from an answer of C(200), the two answers Microsoft documents, and keeps the
    relationship (same id, no new approval); O(auto_extend) can then be set in the same run. For any other difference the module fails, says
    what differs (also in C(error.details)), unless O(replace=true).
  - O(state=active) does the same and then waits until the customer has approved and the relationship is
    C(active). When O(wait_timeout) passes first it returns normally with RV(status=approvalPending), so a
    playbook can act on it.
  - O(state=absent) deletes a relationship that is still C(created) and terminates an active one.
  - An update that meets a stale ETag (HTTP 412, the relationship changed in between) reads the
    relationship again and retries once.
  - With O(access_assignments), once the relationship is active (already, or after the wait of O(state=active)),
    the same module run gives the partner's security groups their roles in it, as
    M(cloudpartner.csp.gdap_access_assignment) does with several groups. It reads the relationship's assignments
    once, creates the new ones in one C($batch) and waits once until all are active. The groups are resolved,
    and their roles checked against O(roles), before anything is written. A relationship that is not active yet
    gets no assignment; each is reported C(pending), for a later run (or the assignment module) to make.
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
  display_name:
    description:
      - Display name of the relationship, at most 50 characters, unique among the partner's relationships.
    type: str
    required: true
  customer_tenant_id:
    description:
      - Tenant id of the customer (a GUID), or one of its verified domains, which is resolved to the tenant id
        through the domain's OpenID configuration.
      - Required with O(state=present) and O(state=active).
    type: str
  roles:
    description:
      - Microsoft Entra built-in roles the relationship grants, by display name (V(User Administrator)) or role
        template id. Unknown names fail before any request.
      - Required with O(state=present) and O(state=active).
    type: list
    elements: str
  duration:
    description:
      - How long the relationship lasts once approved, an ISO 8601 duration from V(P1D) to V(P2Y) (V(P730D)).
    type: str
    default: P730D
  auto_extend:
    description:
      - V(P180D) renews the relationship by 180 days each time it would expire; V(PT0S) does not.
      - Not possible together with the Global Administrator role.
      - When not set, a new relationship is not auto-extended and an existing one is left as it is.
      - Can be changed while the relationship is created or active.
    type: str
    choices: [PT0S, P180D]
  state:
    description:
      - V(present) creates the relationship and locks it for approval.
      - V(active) also waits for the customer's approval.
      - V(absent) deletes (while created) or terminates (while active) it.
    type: str
    choices: [present, active, absent]
    default: present
  replace:
    description:
      - When an approved relationship differs in roles or duration, terminate it and create a new one with the
        same name that the customer has to approve again. Access through the old relationship ends at once.
    type: bool
    default: false
  wait_timeout:
    description:
      - With O(state=active), how many seconds to wait for the approval. V(0) checks once.
      - With O(replace=true), also how long to wait for the old relationship to be terminated.
      - When Global Administrator is removed, also how long to follow that operation.
    type: int
    default: 300
  wait_interval:
    description:
      - Seconds between two reads while waiting.
    type: int
    default: 10
  access_assignments:
    description:
      - The partner security groups that get roles in the relationship once it is active, each with its roles
        (a subset of O(roles)); the same group may not appear twice.
      - Only with O(state=present) and O(state=active). Existing assignments of other groups are left alone.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      group:
        description: The partner tenant's security group, by object id or display name.
        type: str
        required: true
      roles:
        description: Roles the group gets, by built-in role name or role template id.
        type: list
        elements: str
        required: true
  access_wait_timeout:
    description:
      - How many seconds to wait until every assignment of O(access_assignments) is C(active). V(0) reads them
        once after the writes and does not wait.
    type: int
    default: 300
    version_added: 0.2.0
  access_wait_interval:
    description:
      - Seconds between two reads of the assignments while waiting.
    type: int
    default: 5
    version_added: 0.2.0
notes:
  - Creating relationships needs the C(DelegatedAdminRelationship.ReadWrite.All) permission and a signed-in
    user with the Admin Agent role (app + user token through O(refresh_token)), or the application permission
    with the I(Partner Customer Delegated Administration) service principal in the partner tenant.
seealso:
  - module: cloudpartner.csp.gdap_relationship_info
  - module: cloudpartner.csp.gdap_access_assignment
"""

EXAMPLES = r"""
- name: Ask Northwind Traders for least-privilege access
  cloudpartner.csp.gdap_relationship:
    display_name: us-customer02-standard
    customer_tenant_id: 30000000-0000-4000-8000-000000000002
    roles:
      - Cloud Application Administrator
      - User Administrator
      - Global Reader
      - Helpdesk Administrator
      - Service Support Administrator
    duration: P730D
    auto_extend: P180D
  register: gdap

- name: Hand the approval link to the customer
  ansible.builtin.debug:
    msg: "Please approve: {{ gdap.approval_link }}"
  when: gdap.status == 'approvalPending'

- name: Wait up to ten minutes for the approval, then go on either way
  cloudpartner.csp.gdap_relationship:
    display_name: us-customer02-standard
    customer_tenant_id: 30000000-0000-4000-8000-000000000002
    roles: [Cloud Application Administrator, User Administrator]
    state: active
    wait_timeout: 600
    wait_interval: 30
  register: gdap

- name: A relationship and, once it is active, the partner security groups' roles in it (one module run)
  cloudpartner.csp.gdap_relationship:
    display_name: us-customer02-standard
    customer_tenant_id: 30000000-0000-4000-8000-000000000002
    roles: [Cloud Application Administrator, User Administrator, Helpdesk Administrator]
    state: active
    wait_timeout: 0
    access_assignments:
      - group: GDAP Admins
        roles: [Cloud Application Administrator, User Administrator]
      - group: GDAP Helpdesk
        roles: [Helpdesk Administrator]
  register: gdap

- name: Drop Global Administrator once consent is given, then let the relationship auto-extend
  cloudpartner.csp.gdap_relationship:
    display_name: us-customer02-standard
    customer_tenant_id: 30000000-0000-4000-8000-000000000002
    roles: [Cloud Application Administrator, User Administrator]  # the same roles minus Global Administrator
    auto_extend: P180D

- name: End the relationship
  cloudpartner.csp.gdap_relationship:
    display_name: us-customer02-standard
    state: absent
"""

RETURN = r"""
id:
  description: Id of the relationship (of the new one after a replacement).
  returned: when a relationship exists (or was created)
  type: str
  sample: 30000000-0000-4000-8000-000000000002-5d1e6f0c-8b3c-4b7a-9f3e-2c7c2d9a1b11
status:
  description:
    - Status of the relationship, for example C(approvalPending), C(active), C(terminationRequested).
    - C(approvalPending) with O(state=active) means the wait timed out before the customer approved.
    - C(absent) when there is none.
  returned: always
  type: str
  sample: approvalPending
approval_link:
  description: The link the customer's Global Administrator opens to approve the relationship.
  returned: when the relationship is created or awaiting approval
  type: str
  sample: https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/3000...
relationship:
  description:
    - Microsoft's relationship object (C(id), C(displayName), C(customer), C(accessDetails), C(duration),
      C(status), C(autoExtendDuration), C(endDateTime), C(@odata.etag), ...) plus C(role_names),
      C(approval_link) (while awaiting approval) and C(expires_in_days) (while active).
  returned: when a relationship exists (not in check mode for a new one)
  type: dict
actions:
  description:
    - What was done (or, in check mode, would be done), in order, from C(create), C(lockForApproval),
      C(update), C(removeGlobalAdministrator), C(terminate), C(delete).
  returned: always
  type: list
  elements: str
  sample: [create, lockForApproval]
operation:
  description: Microsoft's long-running operation that removed Global Administrator from the relationship.
  returned: when Global Administrator was removed with a long-running operation (Microsoft answered C(202));
    absent when Microsoft answered C(200) with the updated relationship, and in check mode
  type: dict
  contains:
    id:
      description: Operation id.
      type: str
    status:
      description: C(succeeded), or C(notStarted)/C(running) when O(wait_timeout) passed first.
      type: str
    url:
      description: The operation's URL, to poll.
      type: str
ended_relationships:
  description: Expired or terminated relationships with the same display name (reported, not reused).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Relationship id.
      type: str
    status:
      description: C(expired), C(terminated), C(terminating) or C(terminationRequested).
      type: str
    endDateTime:
      description: When it ended or ends.
      type: str
    customer_tenant_id:
      description: The customer of the ended relationship.
      type: str
replaced:
  description: The relationship that was terminated because O(replace=true).
  returned: when a relationship was replaced
  type: dict
etag_retries:
  description: How many writes met a stale ETag (HTTP 412) and were retried after a fresh read.
  returned: always
  type: int
  sample: 0
access_assignments:
  description:
    - With O(access_assignments), one entry per group in the given order, with C(group) (as given), C(group_id),
      C(changed), C(actions), C(completed), C(status), and C(id) and C(assignment) (Microsoft's object) when the
      assignment exists, as M(cloudpartner.csp.gdap_access_assignment) returns them.
    - C(status) is C(pending) and nothing is written while the relationship is not active.
  returned: with O(access_assignments)
  type: list
  elements: dict
  version_added: 0.2.0
access_completed:
  description:
    - True when every assignment of O(access_assignments) is active (or in check mode, would be made); false while
      the relationship is not active or when O(access_wait_timeout) passed first.
  returned: with O(access_assignments)
  type: bool
  version_added: 0.2.0
error:
  description:
    - Microsoft's error when the module failed (C(code) is Graph's C(error.code)).
    - An error of O(access_assignments) has C(details.option=access_assignments), and C(details.item) names the
      group (as given) that a group or role error is about.
    - When an existing relationship is refused (C(code) C(RelationshipImmutable), C(RelationshipLocked),
      C(RelationshipEnded)), C(details) holds C(relationship_id), C(status), C(approval_link) (while it awaits
      approval) and C(differences) (C(roles_to_add), C(roles_to_remove), C(duration)) where something differs.
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.gdap import (
    ACTIVE,
    GdapClient,
    RelationshipEnsurer,
    RelationshipSpec,
    check_assignment_roles,
    check_assignment_set,
    ensure_assignment_set,
    relationship_result,
    relationship_view,
    resolve_groups,
    unified_roles,
    waiting_assignment_set,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant, is_guid


def argument_spec():
    return dict(
        display_name=dict(type="str", required=True),
        customer_tenant_id=dict(type="str"),
        roles=dict(type="list", elements="str"),
        duration=dict(type="str", default="P730D"),
        auto_extend=dict(type="str", choices=["PT0S", "P180D"]),
        state=dict(type="str", default="present", choices=["present", "active", "absent"]),
        replace=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        wait_interval=dict(type="int", default=10),
        access_assignments=dict(type="list", elements="dict", options=dict(
            group=dict(type="str", required=True),
            roles=dict(type="list", elements="str", required=True),
        )),
        access_wait_timeout=dict(type="int", default=300),
        access_wait_interval=dict(type="int", default=5),
    )


def build_spec(params):
    """Validate everything that needs no request (names, roles, duration, auto-extension)."""
    absent = params["state"] == "absent"
    if params["wait_timeout"] < 0 or params["wait_interval"] < 1:
        raise CspValidationError("wait_timeout must be >= 0 and wait_interval >= 1", code="InvalidOption")
    if params["access_wait_timeout"] < 0 or params["access_wait_interval"] < 1:
        raise CspValidationError("access_wait_timeout must be >= 0 and access_wait_interval >= 1",
                                 code="InvalidOption")
    if absent and params["access_assignments"] is not None:
        raise CspValidationError("access_assignments is for state=present and state=active; end a relationship's "
                                 "assignments with cloudpartner.csp.gdap_access_assignment", code="InvalidOption")
    return RelationshipSpec(
        params["display_name"],
        customer_tenant_id=params["customer_tenant_id"],
        roles=None if absent else params["roles"],
        duration=None if absent else params["duration"],
        auto_extend=None if absent else params["auto_extend"],
    )


def access_plan(params, spec):
    """O(access_assignments) checked before any request: ``[(group, role_ids)]``, every role one of O(roles)."""
    if params["access_assignments"] is None:
        return None
    wanted = check_assignment_set(params["access_assignments"], option="access_assignments")
    check_assignment_roles({"id": None, "displayName": spec.display_name,
                            "accessDetails": unified_roles(spec.role_ids)}, wanted)
    return wanted


def access_part(call, *args, **kwargs):
    """``call`` for O(access_assignments): its error says so in ``details.option`` (a playbook reads the step)."""
    try:
        return call(*args, **kwargs)
    except CspError as err:
        err.details = dict(err.details or {}, option="access_assignments")
        raise


def run(module, gdap, spec, access=None, graph=None, done=None):
    """The module's result. ``done`` gets the actions as they are carried out, for a failure's result."""
    params = module.params
    # the groups are found before anything is written: a missing one fails the run before the relationship
    groups = access_part(resolve_groups, graph, [g for g, _r in access]) if access else None
    ensurer = RelationshipEnsurer(gdap, check_mode=module.check_mode)
    if done is not None:
        done["actions"] = ensurer.actions  # the same list: writes made before a failure are reported
    if params["state"] == "absent":
        before, after, extra = ensurer.absent(spec)
        after_view = relationship_view(after) if after else {}
    else:
        before, after, extra = ensurer.present(spec, replace=params["replace"], wait_timeout=params["wait_timeout"],
                                               interval=params["wait_interval"])
        after_view = relationship_view(after) if after else spec.view(status="approvalPending")
        if params["state"] == "active" and after is not None and not module.check_mode \
                and after.get("status") not in ACTIVE:  # an active one was just read
            after, _reached = ensurer.wait_active(after, params["wait_timeout"], params["wait_interval"])
            after_view = relationship_view(after)
    assigned = None
    if access:
        if after is not None and after.get("status") in ACTIVE:
            assigned = access_part(ensure_assignment_set, gdap, after, access, groups, check_mode=module.check_mode,
                                   timeout=params["access_wait_timeout"], interval=params["access_wait_interval"])
        else:
            assigned = waiting_assignment_set(access, groups)
    changed = bool(ensurer.actions) or bool(assigned and assigned["actions"])
    result = dict(changed=changed, actions=ensurer.actions, etag_retries=gdap.etag_retries,
                  ended_relationships=extra["ended_relationships"])
    if assigned is not None:
        result.update(access_assignments=assigned["items"], access_completed=assigned["completed"])
    for key in ("replaced", "operation"):
        if key in extra:
            result[key] = extra[key]
    shown = relationship_result(after)
    if shown:
        result.update(relationship=shown, id=shown["id"], status=shown.get("status"))
        if shown.get("approval_link"):
            result["approval_link"] = shown["approval_link"]
    elif params["state"] != "absent":
        result["status"] = "approvalPending"  # check mode: what a new relationship would be
    else:
        result["status"] = "absent"
    if module.diff_mode:
        result["diff"] = dict(before=relationship_view(before) if before else {}, after=after_view)
        if assigned is not None:
            result["diff"]["before"] = dict(result["diff"]["before"], access_assignments=assigned["diff_before"])
            result["diff"]["after"] = dict(after_view, access_assignments=assigned["diff_after"])
    for warning in ensurer.warnings:
        module.warn(warning)
    return result


def main():
    module = CspModule(
        argument_spec=argument_spec(),
        required_if=[("state", "present", ("customer_tenant_id", "roles")),
                     ("state", "active", ("customer_tenant_id", "roles"))],
        supports_check_mode=True,
    )
    done = dict(actions=[])
    try:
        spec = build_spec(module.params)
        access = access_part(access_plan, module.params, spec)
        if spec.customer_tenant_id:
            spec.customer_tenant_id = check_tenant(spec.customer_tenant_id, name="customer_tenant_id")
        client = module.client
        if spec.customer_tenant_id and not is_guid(spec.customer_tenant_id):
            spec.customer_tenant_id = client.tokens.resolve_tenant(spec.customer_tenant_id)
        elif spec.customer_tenant_id:
            spec.customer_tenant_id = spec.customer_tenant_id.lower()
        graph = client.graph()
        result = run(module, GdapClient(graph), spec, access=access, graph=graph, done=done)
    except CspError as err:
        module.fail_from_error(err, changed=bool(done["actions"]), **done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
