"""The persistent token store: journal replay under concurrent writers, one token request across forks."""

import json
import multiprocessing
import os
import time

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import TokenProvider
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.token_cache import FileTokenStore

import csp_fakes


def _at(realm, secret):
    return {"credential_type": "AccessToken", "secret": secret, "home_account_id": None, "environment": "login",
            "client_id": csp_fakes.APP, "target": "https://graph.microsoft.com/.default", "realm": realm,
            "token_type": "Bearer", "cached_at": "1", "expires_on": str(int(time.time()) + 3000),
            "extended_expires_on": str(int(time.time()) + 3000)}


def _secrets(store):
    store.load()
    return sorted(e["secret"] for e in store.cache.search("AccessToken"))


def test_interleaved_writers_replay_their_journal(tmp_path):
    a = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    b = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    with a.transaction("key-a"):
        # b writes while a holds a stale snapshot
        with b.transaction("key-b"):
            entry = _at("tenant-b", "token-b")
            b.cache.modify("AccessToken", entry, entry)
        entry = _at("tenant-a", "token-a")
        a.cache.modify("AccessToken", entry, entry)
    c = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    assert _secrets(c) == ["token-a", "token-b"]


def test_removals_are_replayed_too(tmp_path):
    a = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    entry = _at("t", "old")
    with a.transaction("k"):
        a.cache.modify("AccessToken", entry, entry)
    with a.transaction("k"):
        a.cache.modify("AccessToken", entry, None)
    assert _secrets(FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")) == []


def test_nothing_written_without_changes(tmp_path):
    a = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    with a.transaction("k"):
        pass
    assert not os.path.exists(a.path)


def _fork_worker(cache_dir, log_path, barrier, overrides):
    session = csp_fakes.FakeSession()
    idp = csp_fakes.FakeIdentityPlatform(session)
    original = idp.token

    def slow_token(call):
        with open(log_path, "a") as handle:
            handle.write("post\n")
        time.sleep(0.3)  # widen the race: every fork is waiting for the token now
        return original(call)
    session.route("POST", r"/oauth2/v2\.0/token", slow_token)
    opts = csp_fakes.options(token_cache_path=cache_dir, **overrides).validate()
    barrier.wait()
    TokenProvider(opts, csp_fakes.make_http(session)).get_token()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# app-only, and delegated Graph ".default" (which MSAL files under the granted names)
@pytest.mark.parametrize("overrides", [{}, {"refresh_token": csp_fakes.RT_SEED}], ids=["app", "delegated"])
def test_forks_wanting_the_same_token_ask_once(tmp_path, overrides):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    log = tmp_path / "posts.log"
    procs = [ctx.Process(target=_fork_worker, args=(str(tmp_path / "cache"), str(log), barrier, overrides))
             for dummy in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert log.read_text().count("post") == 1


def test_interleaved_writers_keep_each_others_targets(tmp_path):
    a = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    b = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    with a.transaction("key-a"):
        with b.transaction("key-b"):
            b.set_target("b", "B.Read openid")
        a.set_target("a", "A.Read openid")
    c = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    c.load()
    assert c.targets == {"a": "A.Read openid", "b": "B.Read openid"}


def test_an_index_without_targets_still_loads(tmp_path):
    a = FileTokenStore(str(tmp_path), "https://login", csp_fakes.APP, "fp")
    with open(a.accounts_path, "w", encoding="utf-8") as handle:
        json.dump({"version": 1, "accounts": {"rt-digest": "uid.utid"}}, handle)
    a.load()
    assert a.accounts == {"rt-digest": "uid.utid"} and a.targets == {}


# --- a directory others can write is refused ------------------------------------------
def test_a_new_cache_directory_is_created_private(tmp_path):
    path = tmp_path / "new" / "cache"
    FileTokenStore(str(path), "https://login", csp_fakes.APP, "fp")
    assert (os.stat(path).st_mode & 0o777) == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o1777])
def test_a_group_or_world_writable_cache_directory_is_refused(tmp_path, mode):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
    path = tmp_path / "shared"
    path.mkdir()
    os.chmod(path, mode)
    with pytest.raises(CspValidationError) as info:
        FileTokenStore(str(path), "https://login", csp_fakes.APP, "fp")
    assert info.value.code == "UnsafeDirectory" and "writable by group or others" in info.value.message
    assert os.listdir(path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_a_cache_directory_owned_by_another_user_is_refused(tmp_path):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
    path = tmp_path / "theirs"
    path.mkdir(mode=0o700)
    os.chown(path, 4242, -1)
    with pytest.raises(CspValidationError) as info:
        FileTokenStore(str(path), "https://login", csp_fakes.APP, "fp")
    assert info.value.code == "UnsafeDirectory" and "owned by another user" in info.value.message
