"""onboard_partner_choice: the onboarding role's region step (region, tenant, serving partner tenant or the error)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudpartner.csp.plugins.filter.onboard_partner_choice import (
    FilterModule, onboard_partner_choice)

PARTNERS = {
    "na": {"tenant_id": "NA-TENANT", "client_id": "na-app", "client_secret": "s3cret", "regions": ["NA", "SA"]},
    "eu": {"tenant_id": "eu-tenant", "client_id": "eu-app", "client_secret": "s3cret", "regions": ["EU"]},
    "spare": {"tenant_id": "spare-tenant", "client_id": "spare-app"},
}


def choose(**kwargs):
    kwargs.setdefault("customer", "contoso.com")
    return onboard_partner_choice(PARTNERS, **kwargs)


def test_region_from_the_lookup_picks_the_regional_partner_and_no_secret():
    out = choose(lookup={"tenant_id": "t-1", "tenant_region_scope": "eu"})
    assert out == {"region": "EU", "tenant_id": "t-1", "error_code": None, "message": "", "partner": "eu",
                   "partner_ids": {"tenant_id": "eu-tenant", "client_id": "eu-app"}, "customer_steps": True,
                   "step": "customer"}
    assert "s3cret" not in repr(out)


def test_given_values_win_over_the_lookup_and_the_fleet_entry():
    out = choose(region="NA", tenant_id="t-given", lookup={"tenant_id": "t-1", "tenant_region_scope": "EU"},
                 fleet_entry={"tenant_id": "t-2", "tenant_region": "EU"})
    assert (out["region"], out["tenant_id"], out["partner"]) == ("NA", "t-given", "na")


def test_a_skipped_lookup_falls_back_to_the_fleet_entry():
    entry = {"tenant_id": "t-2", "tenant_region": "SA", "records": ["na"]}
    out = choose(lookup={"skipped": True, "changed": False}, fleet_entry=entry)
    assert (out["region"], out["tenant_id"], out["partner"]) == ("SA", "t-2", "na")
    # the fleet state found the record in the serving partner tenant: no customer step
    assert out["customer_steps"] is False and out["step"] == "gdap"


def test_input_error_keeps_its_message_and_step():
    out = choose(step="input", message="Give onboard_customer_tenant_id ...", region="EU", tenant_id="t")
    assert out["error_code"] == "InvalidInput" and out["message"].startswith("Give ")
    assert out["step"] == "input" and out["partner"] == "" and out["partner_ids"] == {}
    assert out["customer_steps"] is False


@pytest.mark.parametrize("kwargs", [{}, {"region": "EU"}, {"tenant_id": "t"}])
def test_tenant_not_found(kwargs):
    out = choose(**kwargs)
    assert out["error_code"] == "TenantNotFound"
    assert out["message"] == "The tenant of contoso.com was not found."
    assert out["step"] == "region"


def test_a_new_customer_needs_no_tenant_id_yet():
    out = choose(region="EU", create_customer=True)
    assert out["error_code"] is None and out["customer_steps"] is True and out["step"] == "customer"


def test_no_partner_tenant_for_the_region_names_the_partner_tenants():
    out = choose(region="AS", tenant_id="t")
    assert out["error_code"] == "NoPartnerTenantForRegion"
    assert out["message"] == "No partner tenant serves region AS (onboard_customer_partner_tenants: na, eu, spare)."


def test_the_serving_partner_given_needs_no_region():
    out = choose(tenant_id="t", serving_partner="spare")
    assert out["error_code"] is None and out["partner"] == "spare" and out["region"] == ""


@pytest.mark.parametrize("record", [{"record_partner": "na"}, {"record_partner_id": "NA-tenant"}])
def test_a_record_in_another_partner_tenant_is_wrong(record):
    out = choose(region="EU", tenant_id="t", **record)
    assert out["error_code"] == "WrongPartnerTenant"
    assert out["message"] == ("The customer tenant is in region EU, served by eu, but its record is in partner "
                              "tenant %s." % (record.get("record_partner") or record["record_partner_id"]))


@pytest.mark.parametrize("record", [{"record_partner": "eu"}, {"record_partner_id": "EU-TENANT"},
                                    {"record_partner": "eu", "record_partner_id": "other"}])
def test_a_record_in_the_serving_partner_tenant_is_right(record):
    assert choose(region="EU", tenant_id="t", **record)["error_code"] is None


def test_refuses_what_is_no_partner_tenants_dict():
    with pytest.raises(AnsibleFilterError, match="onboard_customer_partner_tenants"):
        onboard_partner_choice(["na"])
    assert FilterModule().filters()["onboard_partner_choice"] is onboard_partner_choice
