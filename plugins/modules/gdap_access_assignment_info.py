#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: gdap_access_assignment_info
short_description: Read the access assignments of GDAP relationships
version_added: 0.2.0
description:
  - Reads the access assignments (security group and roles) of the relationships named in O(relationships)
    (ids or display names), all pages of each; several relationships are read through Graph C($batch), 20 a
    request.
  - The read twin of M(cloudpartner.csp.gdap_access_assignment).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  relationships:
    description: The relationships, by id or display name (a name must match one live relationship).
    type: list
    elements: str
    required: true
  group:
    description: Only the assignments of this partner security group (object id or display name).
    type: str
seealso:
  - module: cloudpartner.csp.gdap_access_assignment
  - module: cloudpartner.csp.gdap_relationship_info
  - module: cloudpartner.csp.partner_book_info
"""

EXAMPLES = r"""
- name: Who has which roles in Fabrikam's relationship
  cloudpartner.csp.gdap_access_assignment_info:
    relationships: [us-fabrikam-standard]
  register: fabrikam_access

- name: The GDAP Admins assignment only
  cloudpartner.csp.gdap_access_assignment_info:
    relationships: [us-fabrikam-standard]
    group: GDAP Admins
"""

RETURN = r"""
assignments:
  description:
    - The assignments, each with C(relationship_id), C(id), C(group_id), C(roles) (names), C(role_ids), C(status),
      C(created) and C(modified).
  returned: always
  type: list
  elements: dict
count:
  description: Number of assignments returned.
  returned: always
  type: int
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.directory import Directory, check_group_ref
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.gdap import (
    RELATIONSHIPS,
    GdapClient,
    check_relationship_ref,
    find_relationship,
    relationship_roles,
    resolve_group,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.roles import role_name


def argument_spec():
    return dict(
        relationships=dict(type="list", elements="str", required=True),
        group=dict(type="str"),
    )


def view(relationship_id, assignment):
    container = assignment.get("accessContainer") or {}
    roles = relationship_roles(assignment)
    return {"relationship_id": relationship_id, "id": assignment.get("id"),
            "group_id": str(container.get("accessContainerId") or "").lower() or None,
            "roles": sorted(role_name(r) for r in roles), "role_ids": sorted(roles),
            "status": assignment.get("status"), "created": assignment.get("createdDateTime"),
            "modified": assignment.get("lastModifiedDateTime")}


def run(params, graph):
    gdap = GdapClient(graph)
    rel_ids = []
    for value in params["relationships"]:
        rid = find_relationship(gdap, value)["id"]
        if rid not in rel_ids:
            rel_ids.append(rid)
    group_id = resolve_group(graph, params["group"])["id"] if params["group"] else None
    urls = {rid: "%s/%s/accessAssignments" % (RELATIONSHIPS, rid) for rid in rel_ids}
    bodies = Directory(graph).read_many(urls)
    out = []
    for rid in rel_ids:
        body = bodies.get(rid) or {}
        items = list(body.get("value") or [])
        if body.get("@odata.nextLink"):
            items.extend(graph.get_all(body["@odata.nextLink"]))
        out.extend(view(rid, a) for a in items)
    if group_id:
        out = [a for a in out if a["group_id"] == group_id]
    return dict(changed=False, assignments=out, count=len(out))


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        if not [r for r in params["relationships"] if str(r or "").strip()]:
            raise CspValidationError("relationships must name at least one relationship", code="InvalidOption")
        for value in params["relationships"]:
            check_relationship_ref(value, option="relationships")
        if params["group"] is not None:
            check_group_ref(params["group"])
        result = run(params, module.client.graph())
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
