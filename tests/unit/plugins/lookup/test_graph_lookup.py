"""The graph lookup shares the client library through the option adapter."""

import pytest
from ansible.errors import AnsibleLookupError

import csp_fakes
from csp_fakes import APP, PARTNER, SECRET, FakeRaw


DEFAULTS = {"api_version": "v1.0", "all_pages": False, "fresh_token": False, "cloud": "public",
            "tenant_id": PARTNER, "client_id": APP, "client_secret": SECRET,
            "authority_host": csp_fakes.LOGIN, "graph_endpoint": csp_fakes.GRAPH}


@pytest.fixture
def lookup(monkeypatch, session):
    """The plugin with Ansible's option resolution replaced by a dict (ini/env/vars are Ansible's job)."""
    from ansible_collections.cloudpartner.csp.plugins.lookup.graph import LookupModule
    from ansible_collections.cloudpartner.csp.plugins.module_utils import client as client_mod
    monkeypatch.setattr(client_mod, "HttpClient", lambda verify=True, **kw: csp_fakes.make_http(session, verify=verify))
    plugin = LookupModule()
    options = {}

    def set_options(var_options=None, direct=None):
        options.clear()
        options.update(DEFAULTS)
        options.update(direct or {})
    plugin.set_options = set_options
    plugin.get_option = options.get
    return plugin


def test_lookup_values_and_query(lookup, session, idp):
    session.queue("GET", "/v1.0/users", FakeRaw(200, {"value": [{"userPrincipalName": "a@x"}]}))
    assert lookup.run(["/users"], variables={}) == [[{"userPrincipalName": "a@x"}]]
    assert lookup.run(["/users"], variables={}, query="[].userPrincipalName", all_pages=True) == [["a@x"]]


def test_lookup_other_tenant_and_env(lookup, session, idp):
    session.queue("GET", "/v1.0/organization", FakeRaw(200, {"id": "org"}))
    lookup.run(["/organization"], variables={}, tenant_id=csp_fakes.CUSTOMER)
    assert "/%s/oauth2" % csp_fakes.CUSTOMER in [c.url for c in session.calls if c.method == "POST"][0]


def test_lookup_bad_query(lookup, session):
    with pytest.raises(AnsibleLookupError, match="JMESPath"):
        lookup.run(["/users"], variables={}, query="[?")
    assert session.calls == []


def test_lookup_error_has_code_and_no_secret(lookup, session, idp):
    with pytest.raises(AnsibleLookupError) as info:
        lookup.run(["/users"], variables={}, client_secret="bad-secret-value-1")
    assert "AADSTS7000215" in str(info.value) and "bad-secret-value-1" not in str(info.value)


def test_lookup_empty_options_are_unset(lookup, session, idp, monkeypatch):
    """AWX's injections: "" from the environment, csp_* variables or keywords never reaches ansible-core's option
    resolution (which would make a path the working directory and fail `choices`)."""
    import os
    seen = {}
    original = lookup.set_options

    def set_options(var_options=None, direct=None):
        seen.update(var_options=dict(var_options), direct=dict(direct), env=os.environ.get("CSP_CA_BUNDLE"))
        original(var_options=var_options, direct=direct)
    lookup.set_options = set_options
    monkeypatch.setenv("CSP_CA_BUNDLE", "")
    session.queue("GET", "/v1.0/organization", FakeRaw(200, {"id": "org"}))
    lookup.run(["/organization"], variables={"csp_cloud": "", "csp_token_cache": "", "other": ""},
               client_certificate_path="", tenant_id=PARTNER)
    assert seen["var_options"] == {"other": ""} and seen["direct"] == {"tenant_id": PARTNER}
    assert seen["env"] is None and os.environ["CSP_CA_BUNDLE"] == ""
