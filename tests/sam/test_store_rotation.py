"""Rotation that never loses the newest refresh token: 50 parallel exchanges, and kill -9 a hundred times.

The emulator is the witness: it says which refresh tokens are valid and which one it issued last.
Figures are printed (run with -s to see them).
"""

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import FileRefreshTokenStore

import sam_worker
from conftest import US_APP, connection, dump, newest_valid, write_seed

WORKERS = 50
KILLS = 100


def test_fifty_parallel_exchanges_end_with_the_newest_valid_token(emu, tmp_path):
    path = str(tmp_path / "us.rt.json")
    write_seed(path)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(WORKERS)
    conn = connection(emu)
    started = time.monotonic()
    with ctx.Pool(WORKERS) as pool:
        results = pool.starmap(sam_worker.exchange_once, [(conn, path, barrier)] * WORKERS)
    elapsed = time.monotonic() - started
    versions = [r[0] for r in results]
    window = max(r[2] for r in results) - min(r[1] for r in results)

    stored = FileRefreshTokenStore(path).load()
    newest, records = newest_valid(emu)
    # every fork stored its own version, one after the other
    assert sorted(versions) == list(range(1, WORKERS + 1))
    assert stored.version == WORKERS
    # the store holds the token the emulator issued last, and it is valid
    assert stored.token == newest
    assert records[stored.token]["state"] == "valid"
    # no token was redeemed twice: each fork used the token the previous one stored
    used = [r for r in records.values() if r["uses"]]
    assert len(used) == WORKERS and all(r["uses"] == 1 for r in used)
    assert os.stat(path).st_mode & 0o777 == 0o600
    print("\nconcurrency: %d forks released together; all exchanges done in %.2fs (%.1f exchanges/s, "
          "%.1fs with process start-up); final version %d is the emulator's newest, each token redeemed once"
          % (WORKERS, window, WORKERS / window, elapsed, stored.version))


def test_kill_9_during_rotation_always_leaves_a_usable_token(emu, tmp_path):
    path = str(tmp_path / "us.rt.json")
    write_seed(path)
    conn_file = str(tmp_path / "conn.json")
    dump(conn_file, connection(emu))
    rng = random.Random(7)
    last_version = 0
    killed_mid_write = 0
    started = time.monotonic()
    for _kill in range(KILLS):
        child = subprocess.Popen([sys.executable, sam_worker.__file__, conn_file, path],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
        leftovers = [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp")]
        killed_mid_write += bool(leftovers)

        stored = FileRefreshTokenStore(path).load()  # never damaged
        assert stored is not None
        assert stored.version >= last_version  # never goes back
        last_version = stored.version
        _newest, records = newest_valid(emu)
        assert stored.token in records or stored.version == 0
        if stored.version:
            assert records[stored.token]["state"] == "valid"
    elapsed = time.monotonic() - started
    # and the token really works: one more exchange from the store
    final_version = sam_worker.exchange_once(connection(emu), path)[0]
    assert final_version == last_version + 1
    print("\ncrash: %d kill -9 in %.1fs; store at version %d, always loadable and valid; "
          "%d kills left a temp file behind (cleaned by the next write)"
          % (KILLS, elapsed, last_version, killed_mid_write))


def test_cas_rejects_a_writer_that_read_an_older_version(emu, tmp_path):
    path = str(tmp_path / "us.rt.json")
    write_seed(path)
    a = FileRefreshTokenStore(path)
    b = FileRefreshTokenStore(path)
    read_by_a = a.load()
    b.save("token-written-by-b-0001", read_by_a.version)
    try:
        a.save("token-written-by-a-0001", read_by_a.version)
    except Exception as exc:  # noqa: B902 - the type is checked below
        assert exc.code == "RefreshTokenStoreConflict"
    else:
        raise AssertionError("a stale writer was not rejected")
    assert b.load().token == "token-written-by-b-0001"
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    assert document["previous"]["refresh_token"] == read_by_a.token
    assert US_APP  # the us app is the one the seed belongs to


def test_token_provider_forks_in_many_tenants_keep_the_newest_token(emu, tmp_path):
    """refresh_token_store through the token provider, as 30 forks of a playbook over customer tenants."""
    path = str(tmp_path / "us.rt.json")
    write_seed(path)
    ctx = multiprocessing.get_context("spawn")
    forks = 30
    barrier = ctx.Manager().Barrier(forks)
    tenants = ["10000000-0000-4000-8000-000000000001", "30000000-0000-4000-8000-000000000001"]
    args = [(connection(emu), path, tenants[i % 2], barrier) for i in range(forks)]
    with ctx.Pool(forks) as pool:
        results = pool.starmap(sam_worker.provider_token, args)
    assert sorted({r[0] for r in results}) == sorted(tenants)
    assert all(r[1] is None for r in results)  # the refresh token never comes out of the provider
    stored = FileRefreshTokenStore(path).load()
    newest, records = newest_valid(emu)
    assert stored.version == forks and stored.token == newest and records[newest]["state"] == "valid"
    assert all(r["uses"] <= 1 for r in records.values())
