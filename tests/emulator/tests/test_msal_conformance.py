"""MSAL Python's ConfidentialClientApplication against the emulator, TLS verification on.

These machines set REQUESTS_CA_BUNDLE, which requests lets override ``Session.verify`` when a
call passes no ``verify`` (MSAL passes none), so the http_client forces ``verify`` per request.
MSAL caches throttling and error responses per app instance: every test builds its own app.
"""

from __future__ import annotations

import os

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

PARTNER = "10000000-0000-4000-8000-0000000000a1"
APP = "20000000-0000-4000-8000-0000000000a1"
CONSENTED = "30000000-0000-4000-8000-0000000000a1"
GRAPH = ["https://graph.microsoft.com/.default"]


class VerifyingSession(requests.Session):
    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, method, url, **kwargs):
        kwargs["verify"] = self.ca_bundle
        return super().request(method, url, **kwargs)


@pytest.fixture
def http(minimal_emulator):
    session = VerifyingSession(minimal_emulator.ca_bundle)
    yield session
    session.close()


def make_app(emu, http, credential, tenant=PARTNER, **kwargs):
    return msal.ConfidentialClientApplication(
        APP, client_credential=credential, authority=f"{emu.authority_host}/{tenant}",
        instance_discovery=False, http_client=http, **kwargs)


def certificate_credential(emu, with_public_cert: bool) -> dict:
    pem = open(os.path.join(emu.state_dir, "min-app-cert.pem")).read()
    cert_pem = pem[pem.index("-----BEGIN CERTIFICATE"):]
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    cred = {"private_key": pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
    if with_public_cert:
        cred["public_certificate"] = cert_pem
    return cred


def test_environment_ca_bundle_is_not_the_emulator_ca(minimal_emulator):
    # The trap this suite guards against: a plain session would trust only the env bundle.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    if bundle:
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(minimal_emulator.authority_host + "/common/v2.0/.well-known/openid-configuration",
                         timeout=10)


def test_secret(minimal_emulator, http):
    app = make_app(minimal_emulator, http, "min-secret-a1")
    result = app.acquire_token_for_client(GRAPH)
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    again = app.acquire_token_for_client(GRAPH)
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]


def test_secret_by_domain_authority(minimal_emulator, http):
    app = make_app(minimal_emulator, http, "min-secret-a1", tenant="minpartner.onmicrosoft.com")
    assert "access_token" in app.acquire_token_for_client(GRAPH)


def test_wrong_secret_surfaces_aadsts(minimal_emulator, http):
    app = make_app(minimal_emulator, http, "wrong-secret")
    result = app.acquire_token_for_client(GRAPH)
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215")


@pytest.mark.parametrize("with_public_cert", [False, True])
def test_certificate(minimal_emulator, http, with_public_cert):
    app = make_app(minimal_emulator, http, certificate_credential(minimal_emulator, with_public_cert))
    result = app.acquire_token_for_client(GRAPH)
    assert "access_token" in result, result


def test_certificate_in_customer_tenant(minimal_emulator, http):
    app = make_app(minimal_emulator, http, certificate_credential(minimal_emulator, False), tenant=CONSENTED)
    result = app.acquire_token_for_client(GRAPH)
    assert "access_token" in result, result


def test_refresh_token(fresh_minimal):
    http = VerifyingSession(fresh_minimal.ca_bundle)
    app = make_app(fresh_minimal, http, "min-secret-a1")
    result = app.acquire_token_by_refresh_token("min-refresh-token-seed", scopes=GRAPH)
    assert "access_token" in result, result
    assert result["refresh_token"] != "min-refresh-token-seed"
    assert result["id_token_claims"]["preferred_username"] == "integration@minpartner.onmicrosoft.com"
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["integration@minpartner.onmicrosoft.com"]
    # the cached account then serves acquire_token_silent from the refresh token MSAL stored
    silent = app.acquire_token_silent(GRAPH, account=accounts[0], force_refresh=True)
    assert silent and "access_token" in silent, silent
    # a customer tenant through the same partner refresh token
    customer = make_app(fresh_minimal, http, "min-secret-a1", tenant=CONSENTED)
    result = customer.acquire_token_by_refresh_token(result["refresh_token"], scopes=GRAPH)
    assert "access_token" in result, result
    http.close()


def test_refresh_token_errors_surface(minimal_emulator, http):
    app = make_app(minimal_emulator, http, "min-secret-a1")
    result = app.acquire_token_by_refresh_token("min-refresh-token-nomfa", scopes=GRAPH)
    assert result["error"] == "invalid_grant" and 50076 in result["error_codes"]


def test_serializable_cache_round_trip(minimal_emulator, http):
    cache = msal.SerializableTokenCache()
    app = make_app(minimal_emulator, http, "min-secret-a1", token_cache=cache)
    assert "access_token" in app.acquire_token_for_client(GRAPH)
    assert cache.has_state_changed
    restored = msal.SerializableTokenCache()
    restored.deserialize(cache.serialize())
    app2 = make_app(minimal_emulator, http, "min-secret-a1", token_cache=restored)
    assert app2.acquire_token_for_client(GRAPH)["token_source"] == "cache"



def _public_app(emu, http):
    return msal.PublicClientApplication(APP, authority=f"{emu.authority_host}/organizations",
                                        instance_discovery=False, http_client=http)


def test_device_flow_public_client(fresh_minimal):
    emu = fresh_minimal
    with emu.world.lock:  # "Allow public client flows" on the app registration
        emu.world.application(APP)[1]["isFallbackPublicClient"] = True
    http = VerifyingSession(emu.ca_bundle)
    app = _public_app(emu, http)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
    assert flow["user_code"] in flow["message"], flow
    emu.control.approve_device_code(flow["user_code"], "integration@minpartner.onmicrosoft.com")
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["tid"] == PARTNER
    assert [a["username"] for a in app.get_accounts()] == ["integration@minpartner.onmicrosoft.com"]
    http.close()


def test_device_flow_needs_a_public_client(fresh_minimal):
    emu = fresh_minimal
    http = VerifyingSession(emu.ca_bundle)
    app = _public_app(emu, http)
    flow = app.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
    emu.control.approve_device_code(flow["user_code"], "integration@minpartner.onmicrosoft.com")
    result = app.acquire_token_by_device_flow(flow)
    assert result.get("error") == "invalid_client" and 7000218 in result["error_codes"], result
    http.close()
