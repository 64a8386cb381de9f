# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``onboard_fleet_result``: the onboarding role's result for a customer the fleet state vouches for.

The fleet state (``cloudpartner.csp.partner_book_info``) marks a customer ``healthy`` when its relationship,
access assignments, consent and proof are as a role template wants them. The role takes that word (and runs no
module for the customer) only when it is about the same partner tenant, role template and relationship name the
role would use, and the customer's region is served by that partner tenant. This filter makes that decision and
returns the customer's ``onboard_result``, or None when the role has work to do.

One filter call instead of a Jinja expression: ansible-core resolves every variable a template names before it
renders (so a short-circuit ``and`` still renders the other side), and compiles each template again in every
task's worker, which cost every customer, new ones too, the whole test.
"""

from ansible.errors import AnsibleFilterError

ENDED_NOTE = "ended relationship reported, not reused: "


def _text(value):
    return "" if value is None else str(value)


def _mapping(value):
    return value if isinstance(value, dict) else {}


def onboard_fleet_result(fleet_entry, customer="", domain="", partner_tenants=None, role_template="",
                         relationship_name="", proof_path="/organization", record_partner="", region="",
                         check_mode=False):
    """The ``onboard_result`` (status onboarded, step done) when the fleet state's word can be taken, else None."""
    if partner_tenants is not None and not isinstance(partner_tenants, dict):
        raise AnsibleFilterError("onboard_fleet_result expects partner_tenants as a dict, got %s"
                                 % type(partner_tenants).__name__)
    entry = _mapping(fleet_entry)
    healthy = entry.get("healthy")
    if not isinstance(healthy, dict) or not healthy:
        return None
    partners = partner_tenants or {}
    partner = _text(healthy.get("partner"))
    region = _text(region).upper() or _text(entry.get("tenant_region"))
    serving = [name for name, value in partners.items()
               if isinstance(value, dict) and region in (value.get("regions") or [])]
    if not (partner in partners
            and _text(healthy.get("template")) == _text(role_template)
            and _text(healthy.get("relationship_name")).lower() == _text(relationship_name).lower()
            and _text(proof_path) == "/organization"  # the fleet state's proof call
            and _text(record_partner) in ("", partner)
            and region
            and serving and serving[0] == partner):
        return None
    return {
        "customer": _text(customer),
        "tenant_id": entry.get("tenant_id"),
        "domain": _text(domain) or None,
        "status": "onboarded",
        "partner": partner,
        "region": region,
        "step": "done",
        "error_code": None,
        "message": "Proven: %s in the customer tenant answered (%s)." % (proof_path, _text(healthy.get("organization"))),
        "relationship_id": healthy.get("relationship_id"),
        "approval_link": None,
        "missing_apis": [],
        "admin_consent_url": None,
        "changes": [],
        "notes": [ENDED_NOTE + _text(rel_id) for rel_id in healthy.get("ended") or []],
        "check_mode": bool(check_mode),
    }


class FilterModule:
    def filters(self):
        return {"onboard_fleet_result": onboard_fleet_result}
