"""Identity platform: discovery, JWKS, every grant, every AADSTS error, rotation, inactivity,
revocation, device code, propagation and the cross-tenant rules of CSP partners.
Runs on worlds/minimal.yaml (ids below)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from csp_emulator import catalog, tokens

PARTNER = "10000000-0000-4000-8000-0000000000a1"
PARTNER_DOMAIN = "minpartner.onmicrosoft.com"
APP = "20000000-0000-4000-8000-0000000000a1"
DAP_APP = "20000000-0000-4000-8000-0000000000a2"
SECRET = "min-secret-a1"
CONSENTED = "30000000-0000-4000-8000-0000000000a1"
DAPCUST = "30000000-0000-4000-8000-0000000000a2"
PLAIN = "30000000-0000-4000-8000-0000000000a3"
NEWCUST = "30000000-0000-4000-8000-0000000000a4"
INTEGRATION = "integration@minpartner.onmicrosoft.com"
GRAPH = "https://graph.microsoft.com/.default"
ROLES = catalog.ROLE_TEMPLATES


def aadsts(resp) -> int:
    body = resp.json()
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)
    return body["error_codes"][0]


# ------------------------------------------------------------------------------------ discovery
@pytest.mark.parametrize("segment", [PARTNER, PARTNER_DOMAIN, "MIN-PARTNER.example"])
def test_discovery_by_id_or_domain(minimal_emulator, client_for, segment):
    emu = minimal_emulator
    r = client_for(emu).request("GET", "login", f"/{segment}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    base = emu.authority_host
    assert doc["issuer"] == f"{base}/{PARTNER}/v2.0"
    assert doc["token_endpoint"] == f"{base}/{PARTNER}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"].startswith("https://")
    assert doc["device_authorization_endpoint"] == f"{base}/{PARTNER}/oauth2/v2.0/devicecode"
    assert doc["jwks_uri"] == f"{base}/{PARTNER}/discovery/v2.0/keys"
    assert doc["tenant_region_scope"] == "NA"
    assert doc["cloud_instance_name"] == "microsoftonline.com"
    assert doc["msgraph_host"]
    assert "code" in doc["response_types_supported"]


def test_discovery_region_and_special_tenants(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    doc = client.request("GET", "login", "/plain.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()
    assert doc["tenant_region_scope"] == "EU"
    for special in ("common", "organizations"):
        r = client.request("GET", "login", f"/{special}/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200
        assert r.json()["issuer"].endswith("/{tenantid}/v2.0")


@pytest.mark.parametrize("segment", ["nobody.example", "us", "00000000-0000-4000-8000-000000000000"])
def test_discovery_unknown_tenant_is_90002(minimal_emulator, client_for, segment):
    # "us" is the partner's key in the world file, not a name Entra knows
    r = client_for(minimal_emulator).request("GET", "login", f"/{segment}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400
    assert aadsts(r) == 90002
    assert r.json()["error"] == "invalid_tenant"
    assert f"Tenant '{segment}' not found" in r.json()["error_description"]


def test_jwks_verifies_issued_tokens(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    keys = client.request("GET", "login", f"/{PARTNER}/discovery/v2.0/keys").json()["keys"]
    token = client.app_token().json()["access_token"]
    head, body, sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big")
    e = int.from_bytes(base64.urlsafe_b64decode(jwk["e"] + "=="), "big")
    RSAPublicNumbers(e, n).public_key().verify(
        base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{body}".encode(),
        padding.PKCS1v15(), hashes.SHA256())
    assert header["alg"] == "RS256"


# ---------------------------------------------------------------------------- client credentials
def test_client_credentials_secret_home_tenant(minimal_emulator, client_for, claims_of):
    r = client_for(minimal_emulator).app_token()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and "refresh_token" not in body
    c = claims_of(body["access_token"])
    assert c["aud"] == "https://graph.microsoft.com"
    assert c["tid"] == PARTNER and c["appid"] == APP and c["azp"] == APP
    assert c["idtyp"] == "app"
    assert c["roles"] == ["Application.ReadWrite.All", "Directory.Read.All"]
    assert "scp" not in c and c["exp"] - c["iat"] == 3599 and c["oid"]


def test_client_credentials_partner_center_audience(minimal_emulator, client_for, claims_of):
    r = client_for(minimal_emulator).app_token(scope="https://api.partnercenter.microsoft.com/.default")
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["aud"] == "https://api.partnercenter.microsoft.com"


def test_client_basic_auth_is_accepted(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    r = client.request("POST", "login", f"/{PARTNER}/oauth2/v2.0/token", auth=(APP, SECRET),
                       data={"grant_type": "client_credentials", "scope": GRAPH})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("form,status,code", [
    ({"client_secret": "wrong"}, 401, 7000215),
    ({"client_secret": "min-expired-secret"}, 401, 7000222),
    ({"client_id": "99999999-0000-4000-8000-000000000000"}, 400, 700016),
    ({"client_secret": None}, 401, 7000218),
    ({"scope": None}, 400, 900144),
    ({"scope": "https://graph.microsoft.com/User.Read.All"}, 400, 1002012),
    ({"scope": f"{GRAPH} https://api.partnercenter.microsoft.com/.default"}, 400, 70011),
    ({"scope": "https://nothing.example/.default"}, 400, 500011),
    ({"grant_type": "password"}, 400, 70003),
    ({"grant_type": None}, 400, 900144),
    ({"client_id": "not-a-guid"}, 400, 700038),
])
def test_client_credentials_errors(minimal_emulator, client_for, form, status, code):
    data = {"grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET, "scope": GRAPH}
    data.update(form)
    data = {k: v for k, v in data.items() if v is not None}
    r = client_for(minimal_emulator).token_request(PARTNER, **data)
    assert r.status_code == status, r.text
    assert aadsts(r) == code


def test_error_codes_map_to_oauth_errors(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    assert client.app_token(secret="wrong").json()["error"] == "invalid_client"
    assert client.app_token(client_id=str(uuid.uuid4())).json()["error"] == "unauthorized_client"
    assert client.app_token(scope="x/User.Read").json()["error"] in ("invalid_scope", "invalid_resource")


def test_unknown_tenant_and_common_for_client_credentials(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    r = client.app_token(tenant="nobody.example")
    assert r.status_code == 400 and aadsts(r) == 90002 and r.json()["error"] == "invalid_request"
    r = client.app_token(tenant="organizations")
    assert r.status_code == 400 and aadsts(r) == 50059


def test_token_endpoint_wants_a_form(minimal_emulator, client_for):
    r = client_for(minimal_emulator).request(
        "POST", "login", f"/{PARTNER}/oauth2/v2.0/token",
        json={"grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET, "scope": GRAPH})
    assert r.status_code == 400 and aadsts(r) == 900144


# ---------------------------------------------------------------------------- certificate assertions
def _cert_material(emu):
    pem = open(f"{emu.state_dir}/min-app-cert.pem", "rb").read()
    key = serialization.load_pem_private_key(pem, password=None)
    cert_pem = pem[pem.index(b"-----BEGIN CERTIFICATE"):]
    from cryptography import x509

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return key, der


def _assertion(key, der, aud, alg="RS256", iss=APP, exp_in=600, thumb=None):
    b64 = tokens.b64url
    header = {"alg": alg, "typ": "JWT"}
    if alg == "RS256":
        header["x5t"] = thumb or b64(hashlib.sha1(der).digest())
    else:
        header["x5t#S256"] = thumb or b64(hashlib.sha256(der).digest())
    now = int(time.time())
    claims = {"aud": aud, "iss": iss, "sub": iss, "jti": str(uuid.uuid4()), "nbf": now, "iat": now,
              "exp": now + exp_in}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
    pad = padding.PKCS1v15() if alg == "RS256" else padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return signing_input.decode() + "." + b64(key.sign(signing_input, pad, hashes.SHA256()))


def _assert_request(client, assertion, tenant=PARTNER):
    return client.token_request(tenant, grant_type="client_credentials", client_id=APP, scope=GRAPH,
                                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                client_assertion=assertion)


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_certificate_assertion(minimal_emulator, client_for, alg):
    emu = minimal_emulator
    key, der = _cert_material(emu)
    aud = f"{emu.authority_host}/{PARTNER}/oauth2/v2.0/token"
    r = _assert_request(client_for(emu), _assertion(key, der, aud, alg=alg))
    assert r.status_code == 200, r.text


def test_certificate_assertion_errors(minimal_emulator, client_for):
    emu = minimal_emulator
    client = client_for(emu)
    key, der = _cert_material(emu)
    aud = f"{emu.authority_host}/{PARTNER}/oauth2/v2.0/token"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # signed by another key, claiming the registered certificate's thumbprint
    r = _assert_request(client, _assertion(other, der, aud))
    assert r.status_code == 401 and aadsts(r) == 700027
    # a thumbprint the app does not know
    r = _assert_request(client, _assertion(key, der, aud, thumb=tokens.b64url(b"\x01" * 20)))
    assert r.status_code == 401 and aadsts(r) == 700027
    assert "key was not found" in r.json()["error_description"]
    # audience is not the token endpoint
    r = _assert_request(client, _assertion(key, der, "https://elsewhere.example/token"))
    assert r.status_code == 401 and aadsts(r) == 700212
    # iss/sub not the client id
    r = _assert_request(client, _assertion(key, der, aud, iss=DAP_APP))
    assert r.status_code == 401 and aadsts(r) == 700021
    # expired
    r = _assert_request(client, _assertion(key, der, aud, exp_in=-3600))
    assert r.status_code == 401 and aadsts(r) == 700024
    # garbage
    r = _assert_request(client, "not.a.jwt")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


# ---------------------------------------------------------------------------- cross-tenant app-only
def test_app_only_in_customer_by_application_consent(minimal_emulator, client_for, claims_of):
    r = client_for(minimal_emulator).app_token(tenant=CONSENTED)
    assert r.status_code == 200, r.text
    c = claims_of(r.json()["access_token"])
    assert c["tid"] == CONSENTED
    assert c["roles"] == ["Directory.Read.All"]  # the consented app roles, not the app's full list


def test_app_only_in_customer_by_dap_preconsent(minimal_emulator, client_for, claims_of):
    client = client_for(minimal_emulator)
    r = client.app_token(tenant=DAPCUST, client_id=DAP_APP, secret="min-secret-a2")
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["roles"] == ["User.Read.All"]
    # same app, customer without DAP: not present there
    r = client.app_token(tenant=PLAIN, client_id=DAP_APP, secret="min-secret-a2")
    assert r.status_code == 400 and aadsts(r) == 700016


def test_app_only_refused_without_consent_or_dap(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    for tenant in (PLAIN, DAPCUST):  # APP's service principal is not in AdminAgents
        r = client.app_token(tenant=tenant)
        assert r.status_code == 400 and aadsts(r) == 700016


def test_missing_resource_service_principal_is_500011(fresh_minimal, client_for):
    emu = fresh_minimal
    with emu.world.lock:
        tenant = emu.world.tenant(CONSENTED)
        sp = tenant.sp_by_app_id(catalog.MICROSOFT_GRAPH)
        tenant.remove("service_principals", sp["id"])
    r = client_for(emu).app_token(tenant=CONSENTED)
    assert r.status_code == 400 and aadsts(r) == 500011


def test_dap_preconsent_needs_the_partner_record(fresh_minimal, client_for):
    emu = fresh_minimal
    with emu.world.lock:
        emu.world.tenant(PARTNER).customers[DAPCUST]["allowDelegatedAccess"] = False
    r = client_for(emu).app_token(tenant=DAPCUST, client_id=DAP_APP, secret="min-secret-a2")
    assert r.status_code == 400 and aadsts(r) == 700016


# ---------------------------------------------------------------------------- refresh tokens
def test_refresh_token_home_tenant(fresh_minimal, client_for, claims_of):
    r = client_for(fresh_minimal).refresh("min-refresh-token-seed")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] and body["refresh_token"] != "min-refresh-token-seed"
    assert body["id_token"] and body["client_info"]
    assert "https://graph.microsoft.com/User.Read" in body["scope"].split()
    c = claims_of(body["access_token"])
    assert c["idtyp"] == "user" and c["upn"] == INTEGRATION and c["tid"] == PARTNER
    assert c["scp"].split() == ["Directory.AccessAsUser.All", "User.Read"]
    assert c["wids"] == [ROLES["Global Administrator"]]
    idt = claims_of(body["id_token"])
    assert idt["aud"] == APP and idt["tid"] == PARTNER and idt["preferred_username"] == INTEGRATION
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": c["oid"], "utid": PARTNER}


def test_refresh_token_rotation_keeps_old_ones_valid(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    first = client.refresh("min-refresh-token-seed").json()["refresh_token"]
    second = client.refresh(first).json()["refresh_token"]
    assert len({first, second, "min-refresh-token-seed"}) == 3
    for value in ("min-refresh-token-seed", first, second):
        assert client.refresh(value).status_code == 200
    listed = emu.control.refresh_tokens(INTEGRATION)
    valid = {t["value"] for t in listed["refresh_tokens"] if t["valid"]}
    assert {"min-refresh-token-seed", first, second} <= valid
    newest = listed["newest"][APP]
    assert newest not in (first, second) and newest in valid


def test_partner_center_delegated_token(fresh_minimal, client_for, claims_of):
    r = client_for(fresh_minimal).refresh(
        "min-refresh-token-seed", scope="https://api.partnercenter.microsoft.com/user_impersonation offline_access")
    assert r.status_code == 200, r.text
    c = claims_of(r.json()["access_token"])
    assert c["aud"] == "https://api.partnercenter.microsoft.com" and c["scp"] == "user_impersonation"


def test_refresh_token_inactivity_90_days(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    assert client.refresh("min-refresh-token-old").status_code == 200  # 89 days unused: still valid
    emu.control.advance_clock(days=91)
    r = client.refresh("min-refresh-token-nomfa")
    assert r.status_code == 400 and aadsts(r) == 700082
    r = client.refresh("min-refresh-token-seed")
    assert r.status_code == 400 and aadsts(r) == 700082
    assert r.json()["error"] == "invalid_grant"


def test_use_resets_the_inactivity_window(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    emu.control.advance_clock(days=60)
    rotated = client.refresh("min-refresh-token-seed").json()["refresh_token"]
    emu.control.advance_clock(days=60)
    assert client.refresh("min-refresh-token-seed").status_code == 200  # used 60 days ago
    assert client.refresh(rotated).status_code == 200
    emu.control.advance_clock(days=91)
    assert aadsts(client.refresh(rotated)) == 700082


def test_revocation_gives_50173(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    rotated = client.refresh("min-refresh-token-seed").json()["refresh_token"]
    emu.control.revoke_refresh_tokens(INTEGRATION)
    for value in ("min-refresh-token-seed", rotated):
        r = client.refresh(value)
        assert r.status_code == 400 and aadsts(r) == 50173
    listed = emu.control.refresh_tokens(INTEGRATION)["refresh_tokens"]
    assert all(t["state"] == "revoked" for t in listed)


@pytest.mark.parametrize("value,code", [
    ("min-refresh-token-nomfa", 50076),
    ("no-such-token", 9002313),
    ("min-refresh-token-dap", 70000),  # issued to another client
])
def test_refresh_token_errors(minimal_emulator, client_for, value, code):
    r = client_for(minimal_emulator).refresh(value)
    assert r.status_code == 400 and aadsts(r) == code


def test_refresh_token_needs_client_credential(minimal_emulator, client_for):
    r = client_for(minimal_emulator).token_request(
        PARTNER, grant_type="refresh_token", client_id=APP, refresh_token="min-refresh-token-seed", scope=GRAPH)
    assert r.status_code == 401 and aadsts(r) == 7000218


def test_refresh_token_unconsented_scope_is_65001(minimal_emulator, client_for):
    r = client_for(minimal_emulator).refresh("min-refresh-token-seed",
                                             scope="https://graph.microsoft.com/Group.ReadWrite.All")
    assert r.status_code == 400 and aadsts(r) == 65001


def test_refresh_token_two_resources_is_rejected(minimal_emulator, client_for):
    r = client_for(minimal_emulator).refresh(
        "min-refresh-token-seed", scope=f"{GRAPH} https://api.partnercenter.microsoft.com/user_impersonation")
    assert r.status_code == 400 and aadsts(r) == 28000


# ---------------------------------------------------------------------------- cross-tenant app+user
def test_gdap_rights_in_customer_tenant(fresh_minimal, client_for, claims_of):
    r = client_for(fresh_minimal).refresh("min-refresh-token-seed", tenant=CONSENTED)
    assert r.status_code == 200, r.text
    c = claims_of(r.json()["access_token"])
    assert c["tid"] == CONSENTED and c["oid"] == "40000000-0000-4000-8000-0000000000a1"
    assert c["wids"] == sorted([ROLES["Helpdesk Administrator"], ROLES["Cloud Application Administrator"]])
    assert set(c["scp"].split()) == {"Directory.Read.All", "Directory.AccessAsUser.All"}


def test_app_not_consented_in_customer_is_90099(minimal_emulator, client_for):
    r = client_for(minimal_emulator).refresh("min-refresh-token-seed", tenant=PLAIN)
    assert r.status_code == 400 and aadsts(r) == 90099


def test_dap_user_and_app_in_customer(fresh_minimal, client_for, claims_of):
    r = client_for(fresh_minimal).refresh("min-refresh-token-dap", tenant=DAPCUST, client_id=DAP_APP,
                                          secret="min-secret-a2")
    assert r.status_code == 200, r.text
    c = claims_of(r.json()["access_token"])
    assert c["wids"] == [ROLES["Global Administrator"]]  # AdminAgents under DAP
    assert c["scp"] == "Directory.AccessAsUser.All"


def test_rights_are_computed_at_issue_time(fresh_minimal, client_for, claims_of):
    emu = fresh_minimal
    client = client_for(emu)
    with emu.world.lock:
        rel = next(iter(emu.world.tenant(PARTNER).gdap_relationships.values()))
        for assignment in rel["_access_assignments"].values():
            assignment["status"] = "pending"  # just created: the service has not applied it yet
            assignment["lastModifiedDateTime"] = emu.world.clock.iso()
    early = client.refresh("min-refresh-token-seed", tenant=CONSENTED)
    assert early.status_code == 200
    assert claims_of(early.json()["access_token"])["wids"] == []
    with emu.world.lock:
        for assignment in rel["_access_assignments"].values():
            assignment["status"] = "active"
    later = client.refresh("min-refresh-token-seed", tenant=CONSENTED)
    assert len(claims_of(later.json()["access_token"])["wids"]) == 2
    assert claims_of(early.json()["access_token"])["wids"] == []


def test_expired_relationship_gives_no_rights(fresh_minimal, client_for, claims_of):
    emu = fresh_minimal
    with emu.world.lock:
        emu.world.apply_consent(emu.world.tenant(PLAIN), APP,
                                [{"api": catalog.MICROSOFT_GRAPH, "scopes": ["Directory.AccessAsUser.All"]}])
    r = client_for(emu).refresh("min-refresh-token-seed", tenant=PLAIN)
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["wids"] == []


def test_no_relationship_at_all_is_50020(fresh_minimal, client_for):
    emu = fresh_minimal
    with emu.world.lock:
        partner = emu.world.tenant(PARTNER)
        del partner.customers[PLAIN]
        partner.gdap_relationships = {k: v for k, v in partner.gdap_relationships.items()
                                      if v["customer"]["tenantId"] != PLAIN}
        emu.world.apply_consent(emu.world.tenant(PLAIN), APP,
                                [{"api": catalog.MICROSOFT_GRAPH, "scopes": ["User.Read"]}])
    r = client_for(emu).refresh("min-refresh-token-seed", tenant=PLAIN)
    assert r.status_code == 400 and aadsts(r) == 50020


# ---------------------------------------------------------------------------- propagation
def test_new_tenant_refuses_tokens_until_propagated(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    r = client.request("GET", "login", f"/{NEWCUST}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and aadsts(r) == 90002
    r = client.refresh("min-refresh-token-seed", tenant=NEWCUST)
    assert r.status_code == 400 and aadsts(r) == 90002
    emu.control.advance_clock(seconds=181)
    r = client.request("GET", "login", "/newcust.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200


def test_create_tenant_uses_the_propagation_delay(fresh_minimal, client_for):
    emu = fresh_minimal
    with emu.world.lock:
        emu.world.create_tenant("customer", "Brand New", ["brandnew.onmicrosoft.com"], region="EU")
    client = client_for(emu)
    url = "/brandnew.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    assert client.request("GET", "login", url).status_code == 400
    emu.control.advance_clock(seconds=179)
    assert client.request("GET", "login", url).status_code == 400
    emu.control.advance_clock(seconds=2)
    doc = client.request("GET", "login", url).json()
    assert doc["tenant_region_scope"] == "EU"


# ---------------------------------------------------------------------------- device code
def _device_code(client, tenant="organizations", scope=f"{GRAPH} offline_access openid profile"):
    r = client.request("POST", "login", f"/{tenant}/oauth2/v2.0/devicecode", data={"client_id": APP, "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()


def _poll(client, flow, tenant="organizations", **extra):
    return client.token_request(tenant, grant_type="urn:ietf:params:oauth:grant-type:device_code", client_id=APP,
                                device_code=flow["device_code"], client_secret=SECRET, **extra)


def test_device_code_flow(fresh_minimal, client_for, claims_of):
    emu = fresh_minimal
    client = client_for(emu)
    flow = _device_code(client)
    assert {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"} <= set(flow)
    assert flow["user_code"] in flow["message"] and flow["expires_in"] == 900
    r = _poll(client, flow)
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending" and aadsts(r) == 70016
    emu.control.approve_device_code(flow["user_code"], "helpdesk@minpartner.onmicrosoft.com")
    r = _poll(client, flow)
    assert r.status_code == 200, r.text
    body = r.json()
    c = claims_of(body["access_token"])
    assert c["upn"] == "helpdesk@minpartner.onmicrosoft.com" and c["tid"] == PARTNER
    assert body["refresh_token"] and body["id_token"]
    # the new refresh token works, also in a customer tenant where GDAP gives the helpdesk role
    r = client.refresh(body["refresh_token"], tenant=CONSENTED)
    assert claims_of(r.json()["access_token"])["wids"] == [ROLES["Helpdesk Administrator"]]
    # a device code is redeemed once
    assert aadsts(_poll(client, flow)) == 70000


def test_device_code_expires(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    flow = _device_code(client, tenant=PARTNER)
    emu.control.advance_clock(seconds=901)
    r = _poll(client, flow, tenant=PARTNER)
    assert r.status_code == 400 and r.json()["error"] == "expired_token"


def test_device_code_unknown_app_and_code(minimal_emulator, client_for):
    client = client_for(minimal_emulator)
    r = client.request("POST", "login", f"/{PARTNER}/oauth2/v2.0/devicecode",
                       data={"client_id": str(uuid.uuid4()), "scope": GRAPH})
    assert r.status_code == 400 and aadsts(r) == 700016
    r = _poll(client, {"device_code": "nope"})
    assert r.status_code == 400 and aadsts(r) == 70000


def test_disabled_user_and_disabled_app(fresh_minimal, client_for):
    emu = fresh_minimal
    client = client_for(emu)
    with emu.world.lock:
        emu.world.tenant(CONSENTED).sp_by_app_id(APP)["accountEnabled"] = False
    r = client.app_token(tenant=CONSENTED)
    assert r.status_code == 400 and aadsts(r) == 7000112
    assert client.app_token().status_code == 200  # home tenant unaffected
    with emu.world.lock:
        emu.world.tenant(PARTNER).user_by_upn(INTEGRATION)["accountEnabled"] = False
    r = client.refresh("min-refresh-token-seed")
    assert r.status_code == 400 and aadsts(r) == 50057
