"""onboard_fleet_result: the onboarding role takes the fleet state's word only for the customer it would manage."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudpartner.csp.plugins.filter.onboard_fleet_result import (
    FilterModule, onboard_fleet_result)

PARTNERS = {
    "na": {"tenant_id": "na-tenant", "client_id": "na-app", "client_secret": "s3cret", "regions": ["NA", "SA"]},
    "na2": {"tenant_id": "na2-tenant", "client_id": "na2-app", "regions": ["NA"]},
    "eu": {"tenant_id": "eu-tenant", "client_id": "eu-app", "regions": ["EU"]},
}
ENTRY = {"tenant_id": "t-1", "tenant_region": "NA", "records": ["na"], "relationship": None,
         "healthy": {"partner": "na", "template": "standard", "relationship_id": "rel-1",
                     "relationship_name": "na-contoso-standard", "organization": "Contoso", "ended": ["rel-0"]}}


def result(*entry, **kwargs):
    args = dict(customer="contoso", domain="contoso.com", partner_tenants=PARTNERS, role_template="standard",
                relationship_name="NA-Contoso-Standard", proof_path="/organization", record_partner="", region="",
                check_mode=False)
    args.update(kwargs)
    return onboard_fleet_result(entry[0] if entry else ENTRY, **args)


def test_a_healthy_customer_gets_the_done_result_without_secrets():
    assert result() == {
        "customer": "contoso", "tenant_id": "t-1", "domain": "contoso.com", "status": "onboarded", "partner": "na",
        "region": "NA", "step": "done", "error_code": None,
        "message": "Proven: /organization in the customer tenant answered (Contoso).",
        "relationship_id": "rel-1", "approval_link": None, "missing_apis": [], "admin_consent_url": None,
        "changes": [], "notes": ["ended relationship reported, not reused: rel-0"], "check_mode": False}
    assert "s3cret" not in repr(result())


@pytest.mark.parametrize("entry", [{}, None, {"tenant_id": "t-1"}, dict(ENTRY, healthy=None), dict(ENTRY, healthy={})])
def test_a_customer_the_fleet_state_did_not_find_healthy_has_work(entry):
    assert result(entry) is None


@pytest.mark.parametrize("kwargs", [
    dict(role_template="helpdesk"),  # another template
    dict(relationship_name="na-contoso-other"),  # another relationship
    dict(proof_path="/users"),  # another proof than the fleet state's
    dict(record_partner="eu"),  # the inventory puts the record elsewhere
    dict(region="EU"),  # a region the healthy partner tenant does not serve
    dict(partner_tenants={"eu": PARTNERS["eu"]}),  # the partner tenant is not configured
    dict(partner_tenants={"na2": PARTNERS["na2"], "na": PARTNERS["na"]}),  # another partner tenant serves NA first
])
def test_the_word_is_taken_only_for_what_the_role_would_manage(kwargs):
    assert result(**kwargs) is None


def test_the_given_region_and_record_partner_agree():
    out = result(region="sa", record_partner="na", check_mode=True)
    assert (out["region"], out["partner"], out["check_mode"]) == ("SA", "na", True)


def test_no_region_known_means_work():
    assert result(dict(ENTRY, tenant_region=None)) is None


def test_organization_unknown_and_no_domain():
    healthy = dict(ENTRY["healthy"], organization=None, ended=[])
    out = result(dict(ENTRY, healthy=healthy), domain="")
    assert out["message"] == "Proven: /organization in the customer tenant answered ()."
    assert out["domain"] is None and out["notes"] == []


def test_partner_tenants_must_be_a_dict():
    with pytest.raises(AnsibleFilterError):
        result(partner_tenants=["na"])


def test_registered_as_a_filter():
    assert FilterModule().filters()["onboard_fleet_result"] is onboard_fleet_result
