"""Refresh-token stores: compare-and-swap, versions, previous kept, 0600, locks, crash safety, specs."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity import refresh_token_store as rts
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError

import csp_fakes

TOKEN_A = "refresh-token-value-aaaa"
TOKEN_B = "refresh-token-value-bbbb"


def store_at(tmp_path, name="rt.json"):
    return rts.FileRefreshTokenStore(str(tmp_path / name))


def test_first_save_then_versions_grow_and_previous_is_kept(tmp_path):
    store = store_at(tmp_path)
    assert store.load() is None
    first = store.save(TOKEN_A, None, metadata={"user": "u@example.com"}, consented=True)
    second = store.save(TOKEN_B, first.version)
    assert (first.version, second.version) == (1, 2)
    document = json.loads((tmp_path / "rt.json").read_text())
    assert document["refresh_token"] == TOKEN_B
    assert document["previous"] == {"version": 1, "refresh_token": TOKEN_A, "stored_at": document["previous"]["stored_at"]}
    assert document["metadata"]["user"] == "u@example.com"  # metadata carries over
    assert document["consented_at"]  # the chain start is kept
    assert os.stat(str(tmp_path / "rt.json")).st_mode & 0o777 == 0o600
    assert TOKEN_B not in repr(store.load())


def test_compare_and_swap_rejects_a_stale_version(tmp_path):
    store = store_at(tmp_path)
    first = store.save(TOKEN_A, None)
    store.save(TOKEN_B, first.version)
    with pytest.raises(rts.RefreshTokenStoreConflict) as err:
        store.save("an-older-exchange-result", first.version)
    assert err.value.code == "RefreshTokenStoreConflict"
    assert "an-older" not in str(err.value)
    assert store.load().token == TOKEN_B
    with pytest.raises(rts.RefreshTokenStoreConflict):
        store.save(TOKEN_A, None)  # "nothing stored" is a version too


@pytest.mark.parametrize("bad", ["", "short", "has space in it-xxxxxxx", "line\nbreak-xxxxxxxxx", None, 42])
def test_a_broken_token_is_never_stored(tmp_path, bad):
    store = store_at(tmp_path)
    store.save(TOKEN_A, None)
    with pytest.raises(rts.RefreshTokenStoreError) as err:
        store.save(bad, 1)
    assert err.value.code == "InvalidRefreshToken"
    assert store.load().token == TOKEN_A


def test_a_bare_token_file_is_adopted_as_version_zero(tmp_path):
    (tmp_path / "rt.json").write_text(TOKEN_A + "\n")
    store = store_at(tmp_path)
    current = store.load()
    assert (current.token, current.version) == (TOKEN_A, 0)
    assert store.save(TOKEN_B, 0).version == 1


def test_a_damaged_file_is_an_error_not_an_empty_store(tmp_path):
    (tmp_path / "rt.json").write_text('{"version": 3, "refresh_tok')
    with pytest.raises(rts.RefreshTokenStoreError) as err:
        store_at(tmp_path).load()
    assert err.value.code == "RefreshTokenStoreDamaged"


def test_rotate_stores_the_exchanged_token_under_the_lock(tmp_path):
    store = store_at(tmp_path)
    store.save(TOKEN_A, None)
    seen = []

    def exchange(token):
        seen.append(token)
        return TOKEN_B, {"ok": True}

    result, stored = store.rotate(exchange, metadata=lambda result: {"source": "exchange"})
    assert seen == [TOKEN_A] and result == {"ok": True}
    assert (stored.token, stored.version, stored.metadata["source"]) == (TOKEN_B, 2, "exchange")


def test_rotate_on_an_empty_store_says_to_consent(tmp_path):
    with pytest.raises(rts.RefreshTokenStoreError) as err:
        store_at(tmp_path).rotate(lambda token: (TOKEN_B, None))
    assert err.value.code == "RefreshTokenStoreEmpty"
    assert "sam_device_code" in str(err.value)


def test_a_failed_exchange_leaves_the_store_alone(tmp_path):
    store = store_at(tmp_path)
    store.save(TOKEN_A, None)

    def exchange(token):
        raise RuntimeError("identity platform said no")

    with pytest.raises(RuntimeError):
        store.rotate(exchange)
    assert (store.load().token, store.load().version) == (TOKEN_A, 1)


def test_fifty_threads_rotate_in_turn(tmp_path):
    store = store_at(tmp_path)
    store.save("token-0000000000", None)
    used = []
    counter = iter(range(1, 1000))
    guard = threading.Lock()

    def exchange(token):
        with guard:
            used.append(token)
            value = "token-%010d" % next(counter)
        time.sleep(0.001)
        return value, None

    threads = [threading.Thread(target=lambda: rts.FileRefreshTokenStore(store.path).rotate(exchange))
               for _thread in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.load()
    assert final.version == 51
    assert final.token == "token-%010d" % 50
    assert len(set(used)) == 50  # nobody redeemed a token twice


def test_leftover_temp_files_of_a_killed_writer_are_removed(tmp_path):
    store = store_at(tmp_path)
    store.save(TOKEN_A, None)
    leftover = tmp_path / ".rt.json.abc123.tmp"
    leftover.write_text("half")
    store.save(TOKEN_B, 1)
    assert not leftover.exists()


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import FileRefreshTokenStore
    store = FileRefreshTokenStore(sys.argv[2])
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        store.rotate(lambda token: ("written-token-%08d-" % n + "x" * 2000, None))
""")


def test_kill_9_while_writing_never_leaves_a_broken_store(tmp_path):
    path = str(tmp_path / "rt.json")
    rts.FileRefreshTokenStore(path).save(TOKEN_A, None)
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(rts.__file__)))).rsplit(os.sep + "ansible_collections", 1)[0]
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    last = 0
    for i in range(25):
        child = subprocess.Popen([sys.executable, str(script), root, path], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.005 * (i % 7))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        current = rts.FileRefreshTokenStore(path).load()
        assert current.version >= last
        assert current.token == TOKEN_A or current.token.startswith("written-token-")
        last = current.version


def test_lock_timeout_names_the_store(tmp_path):
    store = store_at(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(30)
    """), store.path + ".lock"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "locked"
        with pytest.raises(rts.RefreshTokenStoreError) as err:
            with store.locked(timeout=0.3):
                pass
        assert err.value.code == "RefreshTokenStoreLocked"
        assert store.path in str(err.value)
    finally:
        other.kill()
        other.wait()
        other.stdout.close()


# --- specs ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("/etc/csp/us.json", {"type": "file", "path": "/etc/csp/us.json"}),
    ("file:///etc/csp/us.json", {"type": "file", "path": "/etc/csp/us.json"}),
    ("ansible-vault:///etc/csp/us.vault", {"type": "ansible_vault", "path": "/etc/csp/us.vault"}),
    ("keyvault://contoso-kv/us-refresh-token", {"type": "keyvault", "vault_name": "contoso-kv",
                                                "secret_name": "us-refresh-token"}),
    ("keyvault+https://127.0.0.1:8445/us-rt", {"type": "keyvault", "vault_url": "https://127.0.0.1:8445",
                                               "secret_name": "us-rt"}),
    ("keyvault+https://127.0.0.1:8445/contoso-eu-kv/eu-rt", {"type": "keyvault", "secret_name": "eu-rt",
                                                             "vault_url": "https://127.0.0.1:8445/contoso-eu-kv"}),
    ({"type": "ansible-vault", "path": "/x", "vault_id": "prod"}, {"type": "ansible_vault", "path": "/x",
                                                                   "vault_id": "prod"}),
])
def test_store_specs(spec, expected):
    assert rts.parse_store_spec(spec) == expected


@pytest.mark.parametrize("spec", ["s3://bucket/key", {"type": "redis"}, {"type": "file"}, "keyvault://vault",
                                  ["file"]])
def test_bad_store_specs(spec):
    with pytest.raises(CspValidationError) as err:
        rts.parse_store_spec(spec)
    assert err.value.code == "InvalidRefreshTokenStore"


@pytest.mark.parametrize("spec, words", [
    ({"type": "keyvault", "vault_url": "http://kv.example.test", "secret_name": "us-rt"}, "must be https"),
    ({"type": "keyvault", "vault_url": "https://", "secret_name": "us-rt"}, "must be https"),
    ({"type": "keyvault", "vault_name": "kv", "secret_name": "us_rt!"}, "secret name"),
    ("keyvault://kv/us.rt", "secret name"),
])
def test_keyvault_specs_are_checked_when_parsed(spec, words):
    """The one Key Vault check (https URL, secret name) runs when the spec is parsed, before any store exists."""
    with pytest.raises(CspValidationError) as err:
        rts.parse_store_spec(spec)
    assert err.value.code == "InvalidRefreshTokenStore" and words in err.value.message


def test_keyvault_url_follows_the_cloud():
    assert rts.keyvault_url({"vault_name": "kv"}, "public") == "https://kv.vault.azure.net"
    assert rts.keyvault_url({"vault_name": "kv"}, "usgov") == "https://kv.vault.usgovcloudapi.net"
    assert rts.keyvault_url({"vault_name": "kv"}, "china") == "https://kv.vault.azure.cn"


# --- Ansible Vault ----------------------------------------------------------------------
def test_ansible_vault_store_round_trip(tmp_path):
    password = tmp_path / "pw"
    password.write_text("correct horse battery staple\n")
    path = str(tmp_path / "rt.vault")
    store = rts.open_store("ansible-vault://" + path, vault_password_file=str(password))
    store.save(TOKEN_A, None)
    store.save(TOKEN_B, 1)
    raw = open(path, encoding="utf-8").read()
    assert raw.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert TOKEN_A not in raw and TOKEN_B not in raw
    again = rts.open_store({"type": "ansible_vault", "path": path, "vault_password_file": str(password)})
    assert (again.load().token, again.load().version) == (TOKEN_B, 2)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_vault_format_interoperates_with_ansible_vaultlib(tmp_path):
    from ansible.parsing.vault import VaultLib, VaultSecret
    lib = VaultLib([("default", VaultSecret(b"pw-1234"))])
    ours = rts.vault_encrypt(b'{"a": 1}', b"pw-1234")
    assert lib.decrypt(ours) == b'{"a": 1}'
    theirs = lib.encrypt(b"from ansible", VaultSecret(b"pw-1234"))
    assert rts.vault_decrypt(theirs.decode("ascii"), b"pw-1234") == b"from ansible"
    labelled = rts.vault_encrypt(b"x", b"pw-1234", vault_id="prod")
    assert labelled.startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert lib.decrypt(labelled) == b"x"


def test_vault_password_from_an_executable(tmp_path):
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\necho scripted-password\n")
    script.chmod(0o700)
    assert rts.read_vault_password(str(script)) == b"scripted-password"


def test_ansible_vault_store_with_a_wrong_password(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("right-password")
    bad.write_text("wrong-password")
    path = str(tmp_path / "rt.vault")
    rts.open_store("ansible-vault://" + path, vault_password_file=str(good)).save(TOKEN_A, None)
    with pytest.raises(rts.RefreshTokenStoreError) as err:
        rts.open_store("ansible-vault://" + path, vault_password_file=str(bad)).load()
    assert err.value.code == "RefreshTokenStoreDecryptFailed"


def test_ansible_vault_store_needs_a_password(tmp_path, monkeypatch):
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    with pytest.raises(CspValidationError) as err:
        rts.open_store("ansible-vault://" + str(tmp_path / "rt.vault"))
    assert err.value.code == "MissingVaultPassword"


# --- Key Vault (fake transport) ----------------------------------------------------------
class FakeVault:
    def __init__(self, session, url="https://kv.vault.azure.net"):
        self.versions = []
        session.route("GET", r"/secrets/[^/?]+", self.get)
        session.route("PUT", r"/secrets/[^/?]+", self.put)

    def get(self, call):
        assert call.params == {"api-version": "7.4"}
        assert call.headers["Authorization"] == "Bearer vault-access-token"
        if not self.versions:
            return csp_fakes.FakeRaw(404, {"error": {"code": "SecretNotFound", "message": "A secret with (name/id) "
                                                     "us-rt was not found in this key vault."}})
        return csp_fakes.FakeRaw(200, self.versions[-1])

    def put(self, call):
        body = dict(call.json, id="https://kv.vault.azure.net/secrets/us-rt/v%d" % (len(self.versions) + 1))
        self.versions.append(body)
        return csp_fakes.FakeRaw(200, body)


def test_keyvault_store_versions_and_cas(http, session):
    vault = FakeVault(session)
    store = rts.open_store("keyvault://kv/us-rt", http=http, access_token=lambda: "vault-access-token")
    assert store.load() is None
    first = store.save(TOKEN_A, None, metadata={"user": "u@example.com"}, consented=True)
    second = store.save(TOKEN_B, first.version)
    assert second.version == 2 and store.load().token == TOKEN_B
    assert vault.versions[-1]["tags"]["csp-version"] == "2"
    assert vault.versions[-1]["tags"]["csp-user"] == "u@example.com"
    with pytest.raises(rts.RefreshTokenStoreConflict):
        store.save("stale-exchange-result", first.version)
    assert len(vault.versions) == 2


def test_keyvault_errors_carry_the_vault_code(http, session):
    session.route("GET", r"/secrets/", lambda call: csp_fakes.FakeRaw(403, {"error": {
        "code": "Forbidden", "message": "Caller is not authorized to perform action on resource.",
        "innererror": {"code": "ForbiddenByRbac"}}}))
    store = rts.open_store("keyvault://kv/us-rt", http=http, access_token=lambda: "vault-access-token")
    with pytest.raises(rts.RefreshTokenStoreError) as err:
        store.load()
    assert err.value.code == "Forbidden" and err.value.status == 403
    assert "ForbiddenByRbac" in err.value.message


def test_a_store_in_a_directory_others_can_write_is_refused(tmp_path):
    import os
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(CspValidationError) as info:
        rts.open_store(str(shared / "rt.json"))
    assert info.value.code == "UnsafeDirectory"


def test_keyvault_store_disables_all_but_the_newest_two_versions(http, session):
    vault = csp_fakes.PagedFakeVault(session)
    store = rts.open_store("keyvault://kv/us-rt", http=http, access_token=lambda: "vault-access-token")
    tokens = ["refresh-token-%d-abcdefgh" % i for i in range(1, 5)]
    stored = store.save(tokens[0], None, consented=True)
    assert store.enabled_versions == 1
    for token in tokens[1:]:
        stored = store.save(token, stored.version)
    # after four writes only the newest and the previous token can be read from the vault
    assert vault.enabled_values() == tokens[2:]
    assert store.enabled_versions == 2 and store.disabled_versions == 2 and store.hygiene_error is None
    assert store.load().token == tokens[-1]
    # a list that needs its nextLink (page size 2) was followed: the oldest version is on the first page
    assert not vault.versions[0]["attributes"]["enabled"]


def test_keyvault_hygiene_failure_keeps_the_new_token_and_says_why(http, session):
    vault = csp_fakes.PagedFakeVault(session)
    session.route("PATCH", r"/secrets/us-rt/", lambda call: csp_fakes.FakeRaw(403, {"error": {
        "code": "Forbidden", "message": "Caller is not authorized to perform action on resource."}}))
    store = rts.open_store("keyvault://kv/us-rt", http=http, access_token=lambda: "vault-access-token")
    stored = None
    for token in ("token-one-abcdefgh", "token-two-abcdefgh", "token-three-abcdefgh"):
        stored = store.save(token, stored.version if stored else None)
    assert store.load().token == "token-three-abcdefgh"
    assert store.enabled_versions is None and "not authorized" in store.hygiene_error
    assert "token-" not in store.hygiene_error
    assert len(vault.versions) == 3


def test_keyvault_next_link_off_the_vault_is_not_followed(http, session):
    csp_fakes.PagedFakeVault(session)
    session.route("GET", r"/secrets/us-rt/versions", lambda call: csp_fakes.FakeRaw(200, {
        "value": [], "nextLink": "https://evil.example/secrets/us-rt/versions"}))
    store = rts.open_store("keyvault://kv/us-rt", http=http, access_token=lambda: "vault-access-token")
    store.save("token-one-abcdefgh", None)
    assert "leads off the vault" in store.hygiene_error
    assert not [c for c in session.calls if "evil.example" in c.url]
