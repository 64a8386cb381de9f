"""The Key Vault refresh-token store against the emulator's Key Vault: the token provider reads the
token from the vault and writes every rotated one back as a new secret version."""

import sys

from conftest import US_SEED, connection, newest_valid

from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import ConnectionOptions


def client_for(emu, store):
    return CspClient(ConnectionOptions.from_dict(dict(connection(emu), refresh_token_store=store), use_env=False))


def test_token_provider_rotates_through_key_vault(emu):
    store_uri = "keyvault+https://%s/us-refresh-token" % emu.keyvault_endpoint.split("://", 1)[1]
    client = client_for(emu, store_uri)
    store = client.tokens.refresh_store
    assert store.load() is None
    store.save(US_SEED, None, metadata={"source": "imported"})  # the first token, as a consent would store it

    token = client.tokens.get_token(tenant="30000000-0000-4000-8000-000000000001")
    assert token.grant == "refresh_token" and token.refresh_token is None
    assert token.claims["upn"] == "integration@contosopartnerus.onmicrosoft.com"
    again = client_for(emu, store_uri).tokens.get_token(resource="partner_center")
    assert again.claims["aud"] == "https://api.partnercenter.microsoft.com"

    stored = client_for(emu, store_uri).tokens.refresh_store.load()
    newest, records = newest_valid(emu)
    assert stored.version == 3 and stored.token == newest and records[newest]["state"] == "valid"
    log = [e for e in emu.control.requests_log() if e["service"] == "keyvault"]
    puts = [e for e in log if e["method"] == "PUT"]
    assert len(puts) == 3 and all(e["status"] == 200 for e in puts)
    # hygiene: the first version was disabled once the third was stored; only the newest two stay readable
    patches = [e for e in log if e["method"] == "PATCH"]
    assert len(patches) == 1 and patches[0]["status"] == 200
    # only the empty store at first: the load, and the compare-and-swap re-read of the first save
    assert [e["status"] for e in log if e["method"] == "GET"].count(404) == 2
    assert {e["app_id"] for e in log} == {"20000000-0000-4000-8000-000000000001"}


def test_second_vault_by_path_and_rbac_refusal_is_reported(emu):
    eu = dict(connection(emu), tenant_id="10000000-0000-4000-8000-000000000002",
              client_id="20000000-0000-4000-8000-000000000002", client_secret="demo-eu-secret-0002",
              refresh_token_store="keyvault+https://%s/contoso-eu-kv/eu-rt" % emu.keyvault_endpoint.split("://")[1])
    client = CspClient(ConnectionOptions.from_dict(eu, use_env=False))
    saved = client.tokens.refresh_store.save("demo-eu-refresh-token-seed", None)
    assert saved.version == 1
    # the us app has no role on the eu vault (and its token is from another tenant)
    us = client_for(emu, "keyvault+https://%s/contoso-eu-kv/eu-rt" % emu.keyvault_endpoint.split("://")[1])
    try:
        us.tokens.refresh_store.load()
    except Exception as exc:  # noqa: B902 - checked below
        assert exc.code == "Unauthorized" and exc.status == 401
        assert "AKV10032" in str(exc)
    else:
        raise AssertionError("the us app read the eu vault")
    assert "demo-eu-refresh-token-seed" not in repr(saved)
    assert sys.modules  # keep flake quiet about the import used for path setup


def test_key_vault_keeps_only_the_newest_two_versions_readable(emu):
    """After four rotations a reader of the vault finds two tokens, not four (issue: superseded versions
    stayed enabled, so every master refresh token of the last 90 days was readable)."""
    from csp_emulator import keyvault

    store_uri = "keyvault+https://%s/us-hygiene" % emu.keyvault_endpoint.split("://", 1)[1]
    store = client_for(emu, store_uri).tokens.refresh_store
    store.save(US_SEED, None, metadata={"source": "imported"})
    for _round in range(4):
        client_for(emu, store_uri).tokens.get_token(resource="graph", fresh=True)
    with emu.world.lock:
        versions = list(keyvault.vaults(emu.world)["contoso-us-kv"].secrets["us-hygiene"])
    assert len(versions) == 5
    enabled = [v for v in versions if v["attributes"]["enabled"]]
    assert [v["version"] for v in enabled] == [v["version"] for v in versions[-2:]]
    newest, records = newest_valid(emu)
    assert enabled[-1]["value"] == newest and records[newest]["state"] == "valid"
    reader = client_for(emu, store_uri).tokens.refresh_store
    assert reader.load().token == newest and reader.enabled_versions is None
    last = client_for(emu, store_uri).tokens
    last.get_token(resource="graph", fresh=True)
    assert last.refresh_store.enabled_versions == 2
