# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``onboard_partner_choice``: the onboarding role's region step as one function.

The customer's region and tenant id (given, looked up from its domain, or read by the fleet state), the
regional partner tenant that serves it, or why none can (Microsoft's own words for the region are Entra's
``tenant_region_scope``). It returns only names and non-secret ids: the credentials stay in the role's
``onboard_customer_partner_tenants`` and go from there into the modules' no_log options.

One filter call instead of a dozen interdependent Jinja expressions: ansible-core compiles every template
again in every task's worker process, and each reference to a task variable renders it again, so this
decision cost the controller about 200 template compilations per customer.
"""

from ansible.errors import AnsibleFilterError


def _text(value):
    return "" if value is None else str(value)


def _mapping(value):
    return value if isinstance(value, dict) else {}


def onboard_partner_choice(partner_tenants, step="region", region="", tenant_id="", lookup=None, fleet_entry=None,
                           serving_partner="", record_partner="", record_partner_id="", create_customer=False,
                           customer="", message=""):
    """The region step's facts: ``region``, ``tenant_id``, ``error_code``, ``message``, ``partner`` (name),
    ``partner_ids`` ({tenant_id, client_id}), ``customer_steps`` and ``step`` (the next step)."""
    if not isinstance(partner_tenants, dict):
        raise AnsibleFilterError("onboard_partner_choice expects onboard_customer_partner_tenants (a dict), got %s"
                                 % type(partner_tenants).__name__)
    lookup = _mapping(lookup)
    fleet_entry = _mapping(fleet_entry)
    serving_partner = _text(serving_partner)
    region = (_text(region) or _text(lookup.get("tenant_region_scope")).upper()
              or _text(fleet_entry.get("tenant_region")))
    tenant = _text(tenant_id) or _text(lookup.get("tenant_id")) or _text(fleet_entry.get("tenant_id"))
    if serving_partner:
        candidates = [serving_partner]
    else:
        candidates = [name for name, partner in partner_tenants.items()
                      if isinstance(partner, dict) and region in (partner.get("regions") or [])]
    chosen = candidates[0] if candidates else ""
    chosen_ids = _mapping(partner_tenants.get(chosen))
    record_partner = _text(record_partner)
    record_partner_id = _text(record_partner_id)

    if step == "input":
        error, text = "InvalidInput", _text(message)
    elif (not region and not serving_partner) or (not tenant and not create_customer):
        error, text = "TenantNotFound", "The tenant of %s was not found." % customer
    elif not candidates:
        error, text = "NoPartnerTenantForRegion", "No partner tenant serves region %s (onboard_customer_partner_tenants: %s)." % (
            region, ", ".join(partner_tenants))
    elif (record_partner and record_partner != chosen) or (
            not record_partner and record_partner_id
            and record_partner_id.lower() != _text(chosen_ids.get("tenant_id")).lower()):
        error, text = "WrongPartnerTenant", (
            "The customer tenant is in region %s, served by %s, but its record is in partner tenant %s."
            % (region, chosen, record_partner or record_partner_id))
    else:
        error, text = "", ""

    customer_steps = not error and bool(create_customer or (
        tenant and chosen not in (fleet_entry.get("records") or [])))
    return {
        "region": region,
        "tenant_id": tenant,
        "error_code": error or None,
        "message": text,
        "partner": "" if error else chosen,
        "partner_ids": {} if error else {"tenant_id": chosen_ids.get("tenant_id"),
                                         "client_id": chosen_ids.get("client_id")},
        "customer_steps": customer_steps,
        "step": step if error else ("customer" if customer_steps else "gdap"),
    }


class FilterModule:
    def filters(self):
        return {"onboard_partner_choice": onboard_partner_choice}
