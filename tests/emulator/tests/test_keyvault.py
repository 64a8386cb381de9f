"""Azure Key Vault secrets on the keyvault listener: set/get/versions, Key Vault error bodies,
audience and tenant of the token, RBAC from the world file."""

import pytest

US_APP, US_SECRET = "20000000-0000-4000-8000-000000000001", "demo-us-secret-0001"
EU_APP, EU_SECRET = "20000000-0000-4000-8000-000000000002", "demo-eu-secret-0002"
APAC_APP, APAC_SECRET = "20000000-0000-4000-8000-000000000003", "demo-apac-secret-0003"
VAULT_SCOPE = "https://vault.azure.net/.default"
API = {"api-version": "7.4"}


def vault_token(client, tenant, app, secret, scope=VAULT_SCOPE):
    r = client.token_request(tenant, grant_type="client_credentials", client_id=app, client_secret=secret, scope=scope)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def kv(client, emu, method, path, token=None, params=API, **kwargs):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return client.session.request(method, emu.keyvault_endpoint + path, params=params, headers=headers, timeout=30,
                                  **kwargs)


@pytest.fixture
def us(fresh_emulator, client_for):
    client = client_for(fresh_emulator)
    return fresh_emulator, client, vault_token(client, "contosopartnerus.onmicrosoft.com", US_APP, US_SECRET)


def test_set_get_and_versions(us, claims_of):
    emu, client, token = us
    first = kv(client, emu, "PUT", "/secrets/us-rt", token, json={"value": "one", "tags": {"csp-version": "1"}})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["value"] == "one" and body["tags"] == {"csp-version": "1"}
    assert body["id"].startswith(emu.keyvault_endpoint + "/secrets/us-rt/") and len(body["id"].rsplit("/", 1)[1]) == 32
    assert body["attributes"]["enabled"] is True and isinstance(body["attributes"]["created"], int)
    second = kv(client, emu, "PUT", "/secrets/us-rt", token, json={"value": "two"}).json()
    latest = kv(client, emu, "GET", "/secrets/us-rt", token).json()
    assert latest["value"] == "two" and latest["id"] == second["id"]
    old = kv(client, emu, "GET", "/secrets/us-rt/" + body["id"].rsplit("/", 1)[1], token).json()
    assert old["value"] == "one"
    versions = kv(client, emu, "GET", "/secrets/us-rt/versions", token).json()
    assert [v["id"] for v in versions["value"]] == [body["id"], second["id"]]
    assert all("value" not in v for v in versions["value"]) and versions["nextLink"] is None
    # the request log names the service and the caller
    entries = [e for e in emu.control.requests_log() if e["service"] == "keyvault"]
    assert entries and entries[-1]["app_id"] == US_APP
    assert claims_of(token)["aud"] == "https://vault.azure.net"


def test_versions_page_with_next_link(us):
    emu, client, token = us
    for i in range(3):
        kv(client, emu, "PUT", "/secrets/paged", token, json={"value": str(i)})
    page = kv(client, emu, "GET", "/secrets/paged/versions", token, params={"api-version": "7.4", "maxresults": 2}).json()
    assert len(page["value"]) == 2 and page["nextLink"]
    rest = client.session.get(page["nextLink"], headers={"Authorization": "Bearer " + token}, timeout=30).json()
    assert len(rest["value"]) == 1 and rest["nextLink"] is None


def test_not_found_and_bad_input_are_key_vault_errors(us):
    emu, client, token = us
    missing = kv(client, emu, "GET", "/secrets/nothing-here", token)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SecretNotFound"
    assert "A secret with (name/id) nothing-here was not found" in missing.json()["error"]["message"]
    version = kv(client, emu, "GET", "/secrets/nothing-here/" + "0" * 32, token)
    assert version.json()["error"]["code"] == "SecretNotFound"
    no_api = kv(client, emu, "GET", "/secrets/x", token, params={})
    assert no_api.status_code == 400 and no_api.json()["error"]["code"] == "BadParameter"
    bad_name = kv(client, emu, "PUT", "/secrets/bad_name", token, json={"value": "v"})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == "BadParameter"
    no_value = kv(client, emu, "PUT", "/secrets/ok-name", token, json={"tags": {}})
    assert no_value.status_code == 400


def test_token_audience_tenant_and_presence(us, client_for):
    emu, client, _ = us
    none = kv(client, emu, "GET", "/secrets/x")
    assert none.status_code == 401 and none.json()["error"]["code"] == "Unauthorized"
    assert 'resource="https://vault.azure.net"' in none.headers["WWW-Authenticate"]
    graph = vault_token(client, "contosopartnerus.onmicrosoft.com", US_APP, US_SECRET,
                        scope="https://graph.microsoft.com/.default")
    assert kv(client, emu, "GET", "/secrets/x", graph).status_code == 401
    eu = vault_token(client, "contosopartnereu.onmicrosoft.com", EU_APP, EU_SECRET)
    wrong_tenant = kv(client, emu, "GET", "/secrets/x", eu)  # the default vault is the us tenant's
    assert wrong_tenant.status_code == 401 and "AKV10032" in wrong_tenant.json()["error"]["message"]
    assert kv(client, emu, "PUT", "/contoso-eu-kv/secrets/eu-rt", eu, json={"value": "e"}).status_code == 200


def test_rbac_from_the_token(us, claims_of):
    from csp_emulator import keyvault

    emu, client, token = us
    kv(client, emu, "PUT", "/secrets/rbac", token, json={"value": "v"})
    oid = claims_of(token)["oid"]
    with emu.world.lock:  # demote the app to Key Vault Reader: metadata only
        keyvault.vaults(emu.world)["contoso-us-kv"].grants[oid] = {keyvault.READER}
    denied = kv(client, emu, "GET", "/secrets/rbac", token)
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["code"] == "Forbidden" and error["innererror"]["code"] == "ForbiddenByRbac"
    assert "getSecret" in error["message"] and oid in error["message"]
    assert kv(client, emu, "PUT", "/secrets/rbac", token, json={"value": "w"}).status_code == 403
    assert kv(client, emu, "GET", "/secrets/rbac/versions", token).status_code == 200
    with emu.world.lock:
        keyvault.vaults(emu.world)["contoso-us-kv"].grants.pop(oid)
    assert kv(client, emu, "GET", "/secrets/rbac/versions", token).status_code == 403


def test_unknown_vault_and_apac_without_key_vault_principal(us, client_for):
    emu, client, token = us
    assert kv(client, emu, "GET", "/no-such-kv/secrets/x", token).json()["error"]["code"] == "VaultNotFound"
    r = client.token_request("contosopartnerapac.onmicrosoft.com", grant_type="client_credentials",
                             client_id=APAC_APP, client_secret=APAC_SECRET, scope=VAULT_SCOPE)
    assert r.status_code == 400 and r.json()["error_codes"] == [500011]


def test_update_disables_a_version_which_then_cannot_be_read(us):
    from csp_emulator import keyvault

    emu, client, token = us
    first = kv(client, emu, "PUT", "/secrets/upd", token, json={"value": "one", "tags": {"a": "1"}}).json()
    kv(client, emu, "PUT", "/secrets/upd", token, json={"value": "two"})
    version = first["id"].rsplit("/", 1)[1]
    patched = kv(client, emu, "PATCH", "/secrets/upd/" + version, token, json={"attributes": {"enabled": False}})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["attributes"]["enabled"] is False and "value" not in body and body["tags"] == {"a": "1"}
    denied = kv(client, emu, "GET", "/secrets/upd/" + version, token)
    assert denied.status_code == 403
    assert denied.json()["error"]["innererror"]["code"] == "SecretDisabled"
    assert kv(client, emu, "GET", "/secrets/upd", token).json()["value"] == "two"
    listed = kv(client, emu, "GET", "/secrets/upd/versions", token).json()["value"]
    assert [v["attributes"]["enabled"] for v in listed] == [False, True]
    # the value cannot be changed by an update; an unknown version is Key Vault's 404
    assert kv(client, emu, "PATCH", "/secrets/upd/" + version, token, json={"value": "x"}).status_code == 400
    missing = kv(client, emu, "PATCH", "/secrets/upd/" + "0" * 32, token, json={"attributes": {"enabled": False}})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SecretNotFound"
    # re-enabled, it reads again; a Secrets User may read but not update
    assert kv(client, emu, "PATCH", "/secrets/upd/" + version, token,
              json={"attributes": {"enabled": True}}).status_code == 200
    assert kv(client, emu, "GET", "/secrets/upd/" + version, token).json()["value"] == "one"
    oid = next(iter(keyvault.vaults(emu.world)["contoso-us-kv"].grants))
    with emu.world.lock:
        for key in list(keyvault.vaults(emu.world)["contoso-us-kv"].grants):
            keyvault.vaults(emu.world)["contoso-us-kv"].grants[key] = {keyvault.USER}
    assert oid
    assert kv(client, emu, "PATCH", "/secrets/upd/" + version, token,
              json={"attributes": {"enabled": False}}).status_code == 403
