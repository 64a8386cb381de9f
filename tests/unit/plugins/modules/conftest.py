"""Fixtures of the module tests: a clean warning registry and the fake transport behind every HttpClient."""

import pytest

import csp_fakes


@pytest.fixture(autouse=True)
def _fresh_warnings():
    # AnsibleModule keeps warnings process-wide (deduplicated); each test is a new "process"
    from ansible.module_utils.common import warnings
    warnings._global_warnings.clear()
    yield
    warnings._global_warnings.clear()


@pytest.fixture
def fake_http(monkeypatch, session):
    """Every HttpClient the modules build talks to the fake session."""
    from ansible_collections.cloudpartner.csp.plugins.module_utils import client as client_mod
    from ansible_collections.cloudpartner.csp.plugins.modules import tenant_info as tenant_info_mod

    def factory(verify=True, **_kwargs):
        return csp_fakes.make_http(session, verify=verify)
    monkeypatch.setattr(client_mod, "HttpClient", factory)
    monkeypatch.setattr(tenant_info_mod, "HttpClient", factory)
    return session
