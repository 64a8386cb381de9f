#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: gdap_relationship_info
short_description: List the partner's GDAP relationships, filtered by customer, status or expiry
version_added: 0.1.0
description:
  - Reads every GDAP relationship of the partner tenant (following C(@odata.nextLink)) and returns the ones
    that match all given filters.
  - Each relationship comes with its role names, its approval link while it awaits approval and the days
    left while it is active.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  customer_tenant_id:
    description:
      - Only relationships with this customer (tenant id, a GUID).
    type: str
  display_name:
    description:
      - Only the relationship with this display name (case-insensitive).
    type: str
  status:
    description:
      - Only relationships in one of these statuses, for example V(active), V(approvalPending), V(expired).
    type: list
    elements: str
    choices: [activating, active, approvalPending, approved, created, expired, expiring, terminated, terminating,
              terminationRequested]
  expiring_within_days:
    description:
      - Only active relationships that end within this many days and are not auto-extended.
    type: int
  include_assignments:
    description:
      - Also read the access assignments of each returned relationship (one more request per relationship).
    type: bool
    default: false
seealso:
  - module: cloudpartner.csp.gdap_relationship
"""

EXAMPLES = r"""
- name: Relationships that run out within 30 days
  cloudpartner.csp.gdap_relationship_info:
    expiring_within_days: 30
  register: expiring

- name: Everything about one customer, with the access assignments
  cloudpartner.csp.gdap_relationship_info:
    customer_tenant_id: 30000000-0000-4000-8000-000000000001
    include_assignments: true
  register: fabrikam

- name: Approvals still pending
  cloudpartner.csp.gdap_relationship_info:
    status: [approvalPending]
  register: pending
"""

RETURN = r"""
relationships:
  description:
    - Matching relationships as Microsoft returns them, plus C(role_names), C(approval_link) (created or
      awaiting approval), C(expires_in_days) (active) and C(access_assignments) (O(include_assignments)).
  returned: always
  type: list
  elements: dict
count:
  description: Number of matching relationships.
  returned: always
  type: int
  sample: 3
"""

from datetime import datetime, timedelta, timezone

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.gdap import (
    ACTIVE,
    GdapClient,
    check_display_name,
    parse_time,
    relationship_result,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.graph import filter_eq
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import is_guid


def argument_spec():
    return dict(
        customer_tenant_id=dict(type="str"),
        display_name=dict(type="str"),
        status=dict(type="list", elements="str", choices=STATUSES),
        expiring_within_days=dict(type="int"),
        include_assignments=dict(type="bool", default=False),
    )


def matches(rel, params, now):
    customer = params["customer_tenant_id"]
    if customer and ((rel.get("customer") or {}).get("tenantId") or "").lower() != customer.strip().lower():
        return False
    if params["display_name"] and str(rel.get("displayName", "")).lower() != params["display_name"].lower():
        return False
    if params["status"] and rel.get("status") not in params["status"]:
        return False
    days = params["expiring_within_days"]
    if days is not None:
        end = parse_time(rel.get("endDateTime"))
        if rel.get("status") not in ACTIVE or end is None or end > now + timedelta(days=days):
            return False
        if (rel.get("autoExtendDuration") or "PT0S") not in ("PT0S", "P0D"):
            return False  # renews itself
    return True


# the delegatedAdminRelationship status values Microsoft documents (unknownFutureValue aside)
STATUSES = ["activating", "active", "approvalPending", "approved", "created", "expired", "expiring", "terminated",
            "terminating", "terminationRequested"]


def check_params(params):
    """Everything that can be checked before the first request."""
    if params["expiring_within_days"] is not None and params["expiring_within_days"] < 0:
        raise CspValidationError("expiring_within_days must be >= 0", code="InvalidOption")
    if params["customer_tenant_id"] and not is_guid(params["customer_tenant_id"].strip()):
        raise CspValidationError("customer_tenant_id %r is not a GUID (the customer's tenant id)"
                                 % params["customer_tenant_id"], code="InvalidTenant")
    if params["display_name"] is not None:
        check_display_name(params["display_name"])


def run(params, gdap):
    check_params(params)
    # the display name is the one filter worth sending to the service; the others are applied here
    odata_filter = filter_eq("displayName", params["display_name"]) if params["display_name"] else None
    now = datetime.now(timezone.utc)
    found = [relationship_result(r) for r in gdap.list_relationships(odata_filter) if matches(r, params, now)]
    if params["include_assignments"]:
        for rel in found:
            rel["access_assignments"] = gdap.list_assignments(rel["id"])
    return dict(changed=False, relationships=found, count=len(found))


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        check_params(module.params)
        result = run(module.params, GdapClient(module.client.graph()))
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
