"""Every input that can be checked locally is checked before the first request, in every module.

Each case runs a module's ``main()`` with one bad value while the network (requests, urllib3's
adapter, sockets) and MSAL are rigged to trip: the module must fail with a message naming the
option, and nothing may have been sent — not even a token request.
"""

import importlib
import json
import os
import socket

import pytest

from csp_fakes import APP, CONNECTION, CUSTOMER, patch_module_args

MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..",
                                                         "plugins", "modules"))
                 if f.endswith(".py") and not f.startswith("_"))

REL = CUSTOMER + "-" + "50000000-0000-4000-8000-000000000001"
GROUP = "60000000-0000-4000-8000-000000000001"
BAD_GUID = "1234-not-a-guid"
BAD_TENANT = "not a tenant!"
HTTP_URL = "http://insecure.example.test"

# the arguments each module runs with when nothing is wrong ({tmp} is the test's own directory)
BASE = {
    "app_credentials_info": {},
    "app_secret_rotate": {"secret_store": "{tmp}/secret.json"},
    "application_consent": {"customer_tenant_id": CUSTOMER, "application_id": APP,
                            "grants": [{"api": "microsoft_graph", "scopes": ["User.Read"]}]},
    "application_consent_info": {"customer_tenant_id": CUSTOMER, "application_id": APP},
    "application_permissions_info": {"application_id": APP},
    "customer": {"domain": "contoso"},
    "customer_info": {},
    "gdap_access_assignment": {"relationship": REL, "group": GROUP, "roles": ["User Administrator"]},
    "gdap_access_assignment_info": {"relationships": [REL]},
    "gdap_relationship": {"display_name": "contoso-standard", "customer_tenant_id": CUSTOMER,
                          "roles": ["User Administrator"]},
    "gdap_relationship_info": {},
    "graph_request": {"path": "/users"},
    "group_member": {"group": GROUP, "members": [{"user": "ann@contoso.example"}]},
    "group_member_info": {"group": GROUP},
    "partner_book_info": {},
    "refresh_token": {"store": "{tmp}/rt.json"},
    "sam_device_code": {"store": "{tmp}/rt.json", "flow_dir": "{tmp}/flows"},
    "security_group": {"display_name": "Helpdesk"},
    "security_group_info": {"display_name": "Helpdesk"},
    "service_principal": {"app_id": APP},
    "service_principal_info": {"app_ids": [APP]},
    "tenant_info": {"domain": "contoso.example"},
    "token": {},
}

# the connection options every module shares: (overrides, option the message must name)
CONNECTION_CASES = [
    ({"tenant_id": BAD_TENANT}, "tenant_id"),
    ({"client_id": BAD_GUID}, "client_id"),
    ({"authority_host": HTTP_URL}, "authority_host"),
    ({"graph_endpoint": HTTP_URL}, "graph_endpoint"),
    ({"partner_center_endpoint": HTTP_URL}, "partner_center_endpoint"),
    ({"cloud": "germany"}, "cloud"),
    ({"refresh_token_store": "ftp://vault/x"}, "refresh token store"),
]

# module -> [(overrides, option the message must name)]
CASES = {
    "app_credentials_info": [
        ({"app_id": BAD_GUID}, "app_id"),
        ({"within_days": -1}, "within_days"),
    ],
    "app_secret_rotate": [
        ({"app_id": BAD_GUID}, "app_id"),
        ({"key_id": BAD_GUID}, "key_id"),
        ({"rotate_within_days": -1}, "rotate_within_days"),
        ({"validity_days": 0}, "validity_days"),
        ({"validity_days": 731}, "validity_days"),
        ({"verify_timeout": -1}, "verify_timeout"),
        ({"secret_store": "ftp://vault/secret"}, "store"),
        ({"secret_store": "keyvault+http://vault.example/secret"}, "store"),
    ],
    "application_consent": [
        ({"customer_tenant_id": BAD_TENANT}, "customer_tenant_id"),
        ({"customer_tenant_id": BAD_GUID}, "customer_tenant_id"),
        ({"application_id": BAD_GUID}, "application_id"),
        ({"grants": [{"api": "no-such-api", "scopes": ["x"]}]}, "grants"),
        ({"grants": [{"api": "microsoft_graph", "scopes": ["a, b"]}]}, "grants"),
        ({"state": "gone"}, "state"),
        ({"verify_timeout": -1}, "verify_timeout"),
        ({"proof": {"path": "/v1.0/../../x"}}, "proof.path"),
        ({"proof": {"path": "/organization/%2e%2e/x"}}, "proof.path"),
        ({"proof": {"path": "//evil.example/x"}}, "proof.path"),
        ({"proof": {"path": "http://graph.example.test/v1.0/organization"}}, "proof.path"),
        ({"proof": {"path": "https://evil.example.test/v1.0/organization"}}, "proof.path"),
        ({"proof": {"path": "/organization", "query": "[?name=="}}, "proof.query"),
        ({"proof": {"query": "value[0]"}}, "path"),
        ({"proof": {"path": "/organization"}, "state": "absent"}, "proof"),
    ],
    "application_consent_info": [
        ({"customer_tenant_id": BAD_TENANT}, "customer_tenant_id"),
        ({"customer_tenant_id": BAD_GUID}, "customer_tenant_id"),
        ({"application_id": BAD_GUID}, "application_id"),
        ({"grants": [{"api": "no-such-api", "scopes": ["x"]}]}, "grants"),
    ],
    "application_permissions_info": [
        ({"application_id": BAD_GUID}, "application_id"),
        ({"tenant": BAD_TENANT}, "tenant"),
    ],
    "customer": [
        ({"domain": "contoso corp"}, "domain"),
        ({"domain": "a" * 28}, "domain"),
        ({"billing": {"email": "not-an-email"}}, "billing.email"),
        ({"billing": {"address": {"country": "USA"}}}, "billing.address.country"),
        ({"billing": {"culture": "en_US!"}}, "billing.culture"),
        ({"billing": {"language": "english!"}}, "billing.language"),
    ],
    "customer_info": [
        ({"customer_id": BAD_GUID}, "customer_id"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"max_items": 0}, "max_items"),
        ({"domain": "contoso corp/../x"}, "domain"),
    ],
    "gdap_access_assignment": [
        ({"relationship": ""}, "relationship"),
        ({"relationship": "r" * 51}, "relationship"),
        ({"group": ""}, "group"),
        ({"roles": ["No Such Role"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"state": "gone"}, "state"),
        ({"wait_timeout": -1}, "wait_timeout"),
        ({"wait_interval": 0}, "wait_interval"),
    ],
    "gdap_access_assignment_info": [
        ({"relationships": [""]}, "relationships"),
        ({"relationships": ["r" * 51]}, "relationships"),
        ({"group": " "}, "group"),
    ],
    "gdap_relationship": [
        ({"customer_tenant_id": BAD_TENANT}, "customer_tenant_id"),
        ({"customer_tenant_id": BAD_GUID}, "customer_tenant_id"),
        ({"display_name": "x" * 51}, "display_name"),
        ({"display_name": " "}, "display_name"),
        ({"duration": "730 days"}, "duration"),
        ({"duration": "P731D"}, "duration"),
        ({"duration": "PT1H"}, "duration"),
        ({"auto_extend": "P1D"}, "auto_extend"),
        ({"roles": ["No Such Role"]}, "roles"),
        ({"state": "gone"}, "state"),
        ({"wait_timeout": -1}, "wait_timeout"),
        ({"wait_interval": 0}, "wait_interval"),
    ],
    "gdap_relationship_info": [
        ({"customer_tenant_id": BAD_GUID}, "customer_tenant_id"),
        ({"status": ["live"]}, "status"),
        ({"expiring_within_days": -1}, "expiring_within_days"),
        ({"display_name": " "}, "display_name"),
        ({"display_name": "x" * 51}, "display_name"),
    ],
    "graph_request": [
        ({"path": "/v1.0/../../x"}, "path"),
        ({"path": "/users/%2e%2e/x"}, "path"),
        ({"path": "//evil.example/x"}, "path"),
        ({"path": "http://graph.example.test/v1.0/users"}, "path"),
        ({"path": None, "batch": [{"url": "/users/../../x"}]}, "batch"),
        ({"path": None, "batch": [{"url": "/me", "method": "FETCH"}]}, "batch"),
        ({"method": "FETCH"}, "method"),
        ({"api_version": "v2.0"}, "api_version"),
        ({"max_pages": 0, "all_pages": True}, "max_pages"),
        ({"query": "[?name=="}, "query"),
        ({"dest": "{tmp}/out.jsonl", "dest_format": "xml"}, "dest_format"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers"),
    ],
    "group_member": [
        ({"members": [{"id": BAD_GUID}]}, "members"),
        ({"members": [{"service_principal": BAD_GUID}]}, "members"),
        ({"members": [{"user": "nobody"}]}, "members"),
        ({"tenant": BAD_TENANT}, "tenant"),
        ({"state": "gone"}, "state"),
        ({"group": " "}, "group"),
        ({"members": [], "exclusive": True}, "allow_empty"),
    ],
    "group_member_info": [
        ({"members": [{"id": BAD_GUID}]}, "members"),
        ({"tenant": BAD_TENANT}, "tenant"),
        ({"group": " "}, "group"),
    ],
    "partner_book_info": [
        ({"partner_tenants": [{"name": "us", "tenant_id": BAD_TENANT, "client_id": APP,
                               "client_secret": "s3cr3t-value"}]}, "tenant_id"),
        ({"partner_tenants": [{"name": "us", "tenant_id": CUSTOMER, "client_id": BAD_GUID,
                               "client_secret": "s3cr3t-value"}]}, "client_id"),
        ({"customers": [BAD_TENANT]}, "customers"),
        ({"role_template": {"roles": ["No Such Role"]}}, "roles"),
        ({"role_template": {"duration": "730 days"}}, "duration"),
        ({"role_template": {"auto_extend": "P1D"}}, "auto_extend"),
        ({"consent_grants": [{"api": "no-such-api", "scopes": ["x"]}]}, "grants"),
        ({"expiring_within_days": -1}, "expiring_within_days"),
        ({"concurrency": 0}, "concurrency"),
    ],
    "refresh_token": [
        ({"tenant": BAD_TENANT}, "tenant"),
        ({"warn_days": -1}, "warn_days"),
        ({"store": "ftp://vault/x"}, "store"),
        ({"store": {"type": "keyvault", "vault_url": HTTP_URL, "secret_name": "rt"}}, "store"),
        ({"resource": "http://api.example.test"}, "resource"),
    ],
    "sam_device_code": [
        ({"timeout": -1}, "timeout"),
        ({"state": "gone"}, "state"),
        ({"store": "ftp://vault/x"}, "store"),
        ({"resource": "http://api.example.test"}, "resource"),
    ],
    "security_group": [
        ({"id": BAD_GUID}, "id"),
        ({"mail_nickname": "help desk"}, "mail_nickname"),
        ({"tenant": BAD_TENANT}, "tenant"),
        ({"state": "gone"}, "state"),
        ({"display_name": " "}, "display_name"),
        ({"display_name": "x" * 257}, "display_name"),
    ],
    "security_group_info": [
        ({"id": BAD_GUID}, "id"),
        ({"tenant": BAD_TENANT}, "tenant"),
    ],
    "service_principal": [
        ({"app_id": BAD_GUID}, "app_id"),
        ({"tenant": BAD_TENANT}, "tenant"),
    ],
    "service_principal_info": [
        ({"app_ids": [BAD_GUID]}, "app_ids"),
        ({"application_id": BAD_GUID}, "application_id"),
        ({"tenant": BAD_TENANT}, "tenant"),
    ],
    "tenant_info": [
        ({"domain": "contoso corp"}, "domain"),
        ({"domain": "contoso.example/../x"}, "domain"),
        ({"domain": None, "user": "nobody"}, "user"),
    ],
    "token": [
        ({"resource": "http://api.example.test"}, "resource"),
        ({"resource": "User.Read http://api.example.test/.default"}, "resource"),
        ({"resource": " "}, "resource"),
    ],
}


class Tripped(BaseException):
    """Raised by the rigged network; a BaseException, so no ``except Exception`` hides it."""


@pytest.fixture
def rigged(monkeypatch, tmp_path):
    """Every way out of the process trips; returns the list of what was attempted."""
    import msal
    import requests
    attempts = []

    def trip(what):
        def tripped(*args, **kwargs):
            attempts.append(what)
            raise Tripped(what)
        return tripped
    monkeypatch.setattr(requests.Session, "request", trip("requests.Session.request"))
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", trip("HTTPAdapter.send"))
    monkeypatch.setattr(socket.socket, "connect", trip("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", trip("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", trip("socket.getaddrinfo"))
    monkeypatch.setattr(msal.ClientApplication, "__init__", trip("msal application"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no token cache or flow file of the developer's
    return attempts


def _fill(value, tmp):
    if isinstance(value, str):
        return value.replace("{tmp}", tmp)
    if isinstance(value, list):
        return [_fill(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    return value


def _run(name, overrides, attempts, tmp_path, capsys):
    module = importlib.import_module("ansible_collections.cloudpartner.csp.plugins.modules." + name)
    args = dict(CONNECTION, **BASE[name])
    args.update(overrides)
    args = {k: v for k, v in _fill(args, str(tmp_path)).items() if v is not None}
    code = None
    with patch_module_args(args):
        try:
            module.main()
        except SystemExit as exc:
            code = exc.code
        except Tripped:
            code = "tripped"
    out = capsys.readouterr().out
    assert attempts == [], "%s sent a request (%s) before refusing %r" % (name, attempts[0], overrides)
    assert out, "%s printed no result" % name
    return code, json.loads(out)


def _params():
    for name in MODULES:
        for overrides, option in CONNECTION_CASES + CASES.get(name, []):
            yield pytest.param(name, overrides, option, id="%s-%s" % (name, json.dumps(overrides, sort_keys=True)[:60]))


def test_every_module_has_cases():
    assert sorted(BASE) == MODULES
    assert sorted(CASES) == MODULES


@pytest.mark.parametrize("name,overrides,option", list(_params()))
def test_bad_input_refused_before_any_request(name, overrides, option, rigged, tmp_path, capsys):
    code, result = _run(name, overrides, rigged, tmp_path, capsys)
    assert code == 1 and result.get("failed"), "%s accepted %r: %s" % (name, overrides, result)
    assert option in result["msg"], "%s: the message does not name %s: %s" % (name, option, result["msg"])
    error = result.get("error")
    if error is not None:  # refused by our validation (not the argument spec): structured and typed
        assert error["type"] == "validation", result
    assert "Traceback" not in json.dumps(result)
