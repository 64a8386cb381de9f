"""Shared fixtures: a fake transport, a fake identity platform and clean secret registry."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import csp_fakes  # noqa: E402


@pytest.fixture(autouse=True)
def _no_csp_env(monkeypatch):
    # The CSP_* variables of a developer shell must not leak into unit tests.
    for name in list(os.environ):
        if name.startswith("CSP_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session():
    return csp_fakes.FakeSession()


@pytest.fixture
def http(session):
    return csp_fakes.make_http(session)


@pytest.fixture
def idp(session):
    return csp_fakes.FakeIdentityPlatform(session)
