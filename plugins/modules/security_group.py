#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: security_group
short_description: Ensure a Microsoft Entra security group exists (or not) in a tenant, by display name
version_added: 0.1.0
description:
  - Creates a security group (not mail-enabled) by display name, with a description, for example the partner
    security groups that GDAP access assignments use; updates its description; or deletes it.
  - A group is matched by its exact display name and, when O(id) is given, also by its object id. The module
    never touches a group it did not match. Several groups with the name (and no O(id)) is an error naming
    their ids; a matched group that is not a security group (mail-enabled or a Microsoft 365 group) is an
    error too, and is left alone.
  - The C(mailNickname) Graph requires is derived from the display name (ASCII letters, digits, C(.-_), plus a
    short digest of the name) unless O(mail_nickname) is given. It is only set when the group is created.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: Reads run; nothing is created, changed or deleted. RV(group) shows the group as it would be.
  diff_mode:
    support: full
    details: The group's properties before and after.
options:
  display_name:
    description:
      - Exact display name of the group (1 to 256 characters).
    type: str
    required: true
    aliases: [name]
  description:
    description:
      - Description of the group. Not managed when omitted.
    type: str
  mail_nickname:
    description:
      - C(mailNickname) for a new group. Default derived from O(display_name).
    type: str
  id:
    description:
      - Object id the matched group must also have. Use it to pick one of several groups with the same name,
        or to make sure O(state=absent) deletes exactly that group.
    type: str
  state:
    description:
      - V(present) creates the group when no group matches, V(absent) deletes the matching group.
    type: str
    choices: [present, absent]
    default: present
  tenant:
    description:
      - Tenant of the group (GUID or domain). Default the connection's O(tenant_id).
    type: str
notes:
  - The app needs C(Group.ReadWrite.All) (or C(Group.Create) to create only).
seealso:
  - module: cloudpartner.csp.group_member
"""

EXAMPLES = r"""
- name: Partner security groups for GDAP access assignments
  cloudpartner.csp.security_group:
    display_name: "{{ item.name }}"
    description: "{{ item.description }}"
  loop:
    - {name: GDAP Admins, description: Partner administrators, assigned to admin roles through GDAP.}
    - {name: GDAP Helpdesk, description: Partner helpdesk staff, assigned to helpdesk roles through GDAP.}
  register: groups

- name: Delete exactly this group (name and id must both match)
  cloudpartner.csp.security_group:
    display_name: GDAP Old Admins
    id: 12000000-0000-4000-8000-000000010009
    state: absent
"""

RETURN = r"""
group:
  description:
    - The group after the change (in check mode, as it would be; RV(group.id) is null for a group not yet
      created). Null when no group remains.
  returned: success
  type: dict
  contains:
    id:
      description: Object id.
      type: str
    display_name:
      description: Display name.
      type: str
    description:
      description: Description.
      type: str
    mail_nickname:
      description: Mail nickname.
      type: str
    security_enabled:
      description: Always true for a group this module manages.
      type: bool
    mail_enabled:
      description: Always false for a group this module manages.
      type: bool
    group_types:
      description: Empty for a security group.
      type: list
      elements: str
  sample: {"id": "5d0e0c4a-0000-4000-8000-000000000001", "display_name": "GDAP Admins", "description": "Partner administrators",
           "mail_nickname": "GDAP-Admins-1a2b3c", "security_enabled": true, "mail_enabled": false, "group_types": []}
error:
  description: Microsoft's error when the module failed (C(code) is Graph's C(error.code), with its C(request_id)).
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import (
    MAX_DISPLAY_NAME_LENGTH,
    Directory,
    check_mail_nickname,
    derive_mail_nickname,
    group_view,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant, is_guid


def argument_spec():
    return dict(
        display_name=dict(type="str", required=True, aliases=["name"]),
        description=dict(type="str"),
        mail_nickname=dict(type="str"),
        id=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        tenant=dict(type="str"),
    )


def validate(params):
    name = params["display_name"]
    if not name or not name.strip() or len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise CspValidationError("display_name must be 1 to %d characters" % MAX_DISPLAY_NAME_LENGTH,
                                 code="InvalidDisplayName")
    if params["id"] is not None and not is_guid(params["id"]):
        raise CspValidationError("id %r is not a group object id (a GUID)" % params["id"], code="InvalidGroupId")
    if params["mail_nickname"] is not None:
        check_mail_nickname(params["mail_nickname"])
    if params["tenant"]:
        check_tenant(params["tenant"], name="tenant")


def find(directory, name, group_id):
    """The group matching the name (and id, when given), or None; never a group it did not match."""
    matches = directory.groups_named(name)
    if group_id:
        matches = [g for g in matches if g["id"].lower() == group_id.lower()]
    elif len(matches) > 1:
        raise CspValidationError("%d groups are named %r in tenant %s (%s); give id to pick one" % (
            len(matches), name, directory.tenant, ", ".join(sorted(g["id"] for g in matches))),
            code="AmbiguousGroup")
    group = matches[0] if matches else None
    if group is not None and (not group.get("securityEnabled") or group.get("mailEnabled")
                              or "Unified" in (group.get("groupTypes") or [])):
        raise CspValidationError("group %r (%s) is not a security group (mail-enabled or Microsoft 365); "
                                 "it is left alone" % (name, group["id"]), code="NotSecurityGroup")
    return group


def ensure_present(module, directory, group):
    params = module.params
    if group is None:
        if params["id"]:
            existing = directory.get_group(params["id"].lower())
            why = ("it is named %r" % existing.get("displayName")) if existing else "no group has that id"
            raise CspValidationError("no group named %r with id %s in tenant %s (%s); a group cannot be created "
                                     "with a chosen id" % (params["display_name"], params["id"], directory.tenant, why),
                                     code="GroupNotFound")
        nickname = params["mail_nickname"] or derive_mail_nickname(params["display_name"])
        if module.check_mode:
            return True, {"id": None, "displayName": params["display_name"], "description": params["description"],
                          "mailNickname": nickname, "securityEnabled": True, "mailEnabled": False, "groupTypes": []}
        created = directory.create_security_group(params["display_name"], params["description"], nickname)
        return True, created
    return update_description(module, directory, group)


def update_description(module, directory, group):
    """Returns (changed, group as it is or would be); None means not managed."""
    wanted = module.params["description"]
    if wanted is None or (group.get("description") or "") == wanted:
        return False, group
    after = dict(group, description=wanted)
    if module.check_mode:
        return True, after
    directory.update_group(group["id"], {"description": wanted})
    return True, after


def ensure_absent(module, directory, group):
    if group is None:
        return False, None
    if not module.check_mode:
        directory.delete_group(group["id"])
    return True, None


def run(module, directory):
    params = module.params
    group = find(directory, params["display_name"], params["id"])
    if params["state"] == "present":
        changed, after = ensure_present(module, directory, group)
    else:
        changed, after = ensure_absent(module, directory, group)
    result = dict(changed=changed, group=group_view(after))
    if module.diff_mode:
        result["diff"] = {"before": group_view(group) or {}, "after": group_view(after) or {}}
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        validate(module.params)
        graph = module.client.graph(tenant=module.params["tenant"])
        directory = Directory(graph, tenant=module.params["tenant"] or module.params["tenant_id"])
        result = run(module, directory)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
