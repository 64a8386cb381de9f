"""Partner Center customers: domain rules, the create body, continuation paging and lookups."""

import json

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import customers
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspError,
    CspValidationError,
    PartnerCenterError,
)


class Response:
    def __init__(self, status=200, json=None):
        self.status = status
        self.json = json


def record(n, domain=None, company=None):
    tid = "30000000-0000-4000-8000-%012d" % n
    return {"id": tid, "companyProfile": {"tenantId": tid, "domain": domain or "customer%02d.onmicrosoft.com" % n,
                                          "companyName": company or "Company %d" % n},
            "relationshipToPartner": "reseller"}


class FakePartnerCenter:
    def __init__(self, items, page=2, taken=()):
        self.items = items
        self.page = page
        self.taken = set(taken)
        self.calls = []

    def iter_pages(self, path, params=None, max_pages=None):
        self.calls.append(("PAGES", path, params))
        items = self.items
        if params and params.get("filter"):
            spec = json.loads(params["filter"])
            key = "domain" if spec["Field"] == "Domain" else "companyName"
            items = [i for i in items if i["companyProfile"][key].lower().startswith(spec["Value"].lower())]
        for start in range(0, max(len(items), 1), self.page):
            yield {"items": items[start:start + self.page]}

    def paginate(self, path, params=None, max_pages=None):
        for page in self.iter_pages(path, params, max_pages):
            yield from page["items"]

    def request(self, method, path, body=None, request_id=None, expected_status=None):
        self.calls.append((method, path, body, request_id))
        if method == "HEAD":
            return Response(200 if path.split("/")[-1] in self.taken else 404)
        if method == "GET":
            found = [i for i in self.items if i["id"] == path.split("/")[-1]]
            if not found:
                raise PartnerCenterError("Customer not found", code="1000", status=404)
            return Response(200, found[0])
        if body["CompanyProfile"]["Domain"] in self.taken:
            raise PartnerCenterError("The domain already exists.", code="409", status=409, request_id="r-409")
        new = record(99, domain=body["CompanyProfile"]["Domain"], company=body["BillingProfile"]["CompanyName"])
        new["userCredentials"] = {"userName": "admin", "password": "pw-123456"}
        self.items.append(new)
        return Response(201, new)


BILLING = {"email": "b@x.example", "address": {"country": "us", "address_line1": "1 Main", "city": "Redmond"}}


@pytest.mark.parametrize("value,expected", [("contoso", "contoso.onmicrosoft.com"),
                                            ("Contoso.OnMicrosoft.com", "contoso.onmicrosoft.com")])
def test_initial_domain(value, expected):
    assert customers.initial_domain(value) == expected


@pytest.mark.parametrize("value", ["", "con-toso", "contoso.example.com", "a" * 28])
def test_initial_domain_refused(value):
    with pytest.raises(CspValidationError):
        customers.initial_domain(value)


def test_create_body():
    body = customers.build_create_body("x.onmicrosoft.com", "X Ltd", BILLING, registration_number=None)
    assert body["CompanyProfile"] == {"Domain": "x.onmicrosoft.com"}
    assert body["BillingProfile"]["DefaultAddress"] == {"AddressLine1": "1 Main", "City": "Redmond", "Country": "US"}
    assert body["BillingProfile"]["Culture"] == "en-US" and body["BillingProfile"]["Language"] == "en"


def test_create_body_lists_everything_missing():
    with pytest.raises(CspValidationError) as info:
        customers.build_create_body("x.onmicrosoft.com", None, {"address": {"city": "Oslo"}})
    text = str(info.value)
    for name in ("company_name", "billing.email", "billing.address.country", "billing.address.address_line1"):
        assert name in text
    with pytest.raises(CspValidationError, match="two-letter"):
        bad = dict(BILLING, address=dict(BILLING["address"], country="USA"))
        customers.build_create_body("x.onmicrosoft.com", "X", bad)


def test_paging_and_find_by_domain():
    pc = FakePartnerCenter([record(n) for n in range(1, 8)], page=3)
    api = customers.Customers(pc)
    assert len(list(api.iterate())) == 7
    assert api.find_by_domain("customer05.onmicrosoft.com")["id"].endswith("05")
    assert api.find_by_domain("customer55.onmicrosoft.com") is None
    assert json.loads(pc.calls[-1][2]["filter"]) == {"Field": "Domain", "Value": "customer55", "Operator": "starts_with"}


def test_one_filter_at_a_time():
    with pytest.raises(CspValidationError):
        customers.Customers.query("a", "b")


def test_get_missing_is_none():
    api = customers.Customers(FakePartnerCenter([record(1)]))
    assert api.get("30000000-0000-4000-8000-000000000001")["id"].endswith("01")
    assert api.get("30000000-0000-4000-8000-000000000002") is None
    with pytest.raises(CspValidationError):
        api.get("customer01")


def test_create_sends_request_id_and_maps_conflict():
    pc = FakePartnerCenter([], taken={"taken.onmicrosoft.com"})
    api = customers.Customers(pc)
    created = api.create(customers.build_create_body("new.onmicrosoft.com", "New", BILLING))
    assert created["companyProfile"]["domain"] == "new.onmicrosoft.com"
    assert pc.calls[-1][3]  # MS-RequestId
    with pytest.raises(CspError) as info:
        api.create(customers.build_create_body("taken.onmicrosoft.com", "T", BILLING))
    assert info.value.status == 409 and "already taken" in str(info.value) and info.value.request_id == "r-409"
    assert api.domain_taken("taken.onmicrosoft.com") and not api.domain_taken("free.onmicrosoft.com")


def test_customer_view():
    view = customers.customer_view(record(3))
    assert view["tenant_id"].endswith("03") and view["domain"] == "customer03.onmicrosoft.com"
