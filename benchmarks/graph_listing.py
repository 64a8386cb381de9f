#!/usr/bin/env python3
"""Benchmark of a large Graph listing: the collection's module against the floor and msgraph-sdk.

One customer tenant with N users (10,000 and 100,000 by default) on the emulator, a world from
tests/emulator/worlds/generate.py. For each size, side by side in one run:

  module      ``ansible localhost -m cloudpartner.csp.graph_request`` (the real ansible process and
              its module process), ``all_pages`` + ``query: length(@)``, and ``dest`` (JSON Lines)
  requests    a bare requests loop over the same nextLinks (the floor: HTTP + JSON parsing)
  msgraph-sdk Microsoft's Python SDK and its PageIterator (same emulator, same token); a benchmark
              extra (benchmarks/requirements.txt), skipped with a note when it is not installed

Figures per run: wall seconds, CPU seconds (user+sys of the whole process tree), peak memory of the
whole process tree sampled every 20 ms (the sum of RSS, which counts the pages a forked ansible
worker shares with its parent twice, and the sum of PSS, which splits them), bytes printed on stdout,
the number of Graph requests the emulator logged and the CPU seconds the emulator spent serving
them (is the emulator the bottleneck?). Not a timed test; it always exits 0.

    .venv/bin/python benchmarks/graph_listing.py [--users 10000,100000] [--select id] [--sdk-max 10000]
                                                 [--repeat N]

The module runs from the collection copy in .build (``make collection-link`` first) or from
``--collections-path``.
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import emulator_bench  # noqa: E402 - the sibling benchmark's emulator start/stop helpers

PAGE = 999  # Graph's largest $top for users


# ------------------------------------------------------------------------------- the world
def world(users: int) -> tuple[dict, dict]:
    """A generated world whose one customer tenant has ``users`` users and consents to its partner's app."""
    sys.path.insert(0, str(emulator_bench.EMULATOR_DIR / "worlds"))
    import generate  # noqa: E402 - worlds/generate.py

    data = generate.build_world(customers=1, users=users)
    tenant = data["customer_tenants"][0]
    partner = next(p for p in data["partner_tenants"] if any(c["tenant"] == tenant["key"] for c in p["customers"]))
    app = partner["applications"][0]
    tenant["application_consents"] = [{"app": app["appId"], "grants": [
        {"api": generate.GRAPH, "scopes": ["Directory.Read.All"]}]}]
    number = int(partner["id"][-1])
    creds = {"tenant_id": tenant["id"], "client_id": app["appId"],
             "client_secret": f"demo-{partner['key']}-secret-{number:04d}"}
    return data, creds


# ------------------------------------------------------------------------------- measuring
def _pss(pid: int) -> int:
    """Proportional set size: shared pages (a forked ansible worker's) split between their sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss(root: int) -> tuple[int, int]:
    """Sums of VmRSS and of PSS over ``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    rss, pss, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        rss += emulator_bench._rss(pid)  # noqa: SLF001 - shared helper of the sibling benchmark
        pss += _pss(pid)
        todo.extend(children.get(pid, []))
    return rss, pss


def measure(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; wall, CPU of the process tree, peak tree RSS, stdout bytes, the last stdout line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = _tree_rss(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = out.decode("utf-8", errors="replace")
    return {"wall": wall, "cpu": cpu, "rss": peak[0], "pss": peak[1], "printed": len(out), "rc": proc.returncode,
            "tail": text.strip().splitlines()[-1][-300:] if text.strip() else "",
            "stderr": err.decode("utf-8", errors="replace")[-1500:]}


def _log(state: dict, since: int) -> dict:
    import requests

    response = requests.get(state["control_url"] + "/_emulator/requests", params={"since": since},
                            verify=state["ca_bundle"], timeout=60,
                            headers={"Authorization": "Bearer " + state["control_token"]})
    response.raise_for_status()
    return response.json()


def process_cpu(pid: int) -> float:
    """CPU seconds (user+sys) a live process has used: the emulator's share of a run."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_mark(state: dict) -> int:
    return _log(state, 0)["last_seq"]


def graph_requests(state: dict, mark: int) -> int:
    """Graph requests the emulator logged after ``mark`` (its request log is the witness)."""
    return sum(1 for e in _log(state, mark)["requests"] if e.get("service") == "graph")


def token(state: dict, creds: dict) -> str:
    import requests

    response = requests.post(f"{state['authority_host']}/{creds['tenant_id']}/oauth2/v2.0/token",
                             verify=state["ca_bundle"], timeout=60, data={
                                 "grant_type": "client_credentials", "client_id": creds["client_id"],
                                 "client_secret": creds["client_secret"],
                                 "scope": "https://graph.microsoft.com/.default"})
    response.raise_for_status()
    return response.json()["access_token"]


# ------------------------------------------------------------------------------- the clients
def _requests_loop(url: str, token_: str, ca: str) -> None:
    """The floor: one session, follow nextLink, parse each page, count the items."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token_
    count = 0
    while url:
        page = session.get(url, verify=ca, timeout=60).json()
        count += len(page.get("value") or [])
        url = page.get("@odata.nextLink")
    print(json.dumps({"count": count}))


def _sdk_loop(endpoint: str, token_: str, ca: str, select: str) -> None:
    """msgraph-sdk: GraphServiceClient + PageIterator, the SDK's documented way to read every page."""
    import asyncio

    import httpx
    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core import GraphClientFactory
    from msgraph_core.tasks.page_iterator import PageIterator

    class StaticToken(AccessTokenProvider):
        async def get_authorization_token(self, uri, additional_authentication_context=None):  # noqa: ARG002
            return token_

        def get_allowed_hosts_validator(self):
            return AllowedHostsValidator([])

    async def run() -> int:
        http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=ca, timeout=60))
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken()), client=http)
        adapter.base_url = endpoint + "/v1.0"
        client = GraphServiceClient(request_adapter=adapter)
        params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=PAGE)
        if select:
            params.select = select.split(",")
        first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=params))
        count = [0]

        def take(_user) -> bool:
            count[0] += 1
            return True

        await PageIterator(first, adapter).iterate(take)
        return count[0]

    print(json.dumps({"count": asyncio.run(run())}))


def _module_cmd(args: dict, module: str = "cloudpartner.csp.graph_request") -> list[str]:
    cmd = [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-i", "localhost,", "-m", module]
    return cmd + ["-a", json.dumps(args)] if args else cmd


COLLECTIONS_PATH = [str(ROOT / ".build")]


def _module_env(state: dict, creds: dict, workdir: Path) -> dict:
    env = emulator_bench._env()  # noqa: SLF001
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_PATH[0], "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "CSP_TENANT_ID": creds["tenant_id"], "CSP_CLIENT_ID": creds["client_id"],
        "CSP_CLIENT_SECRET": creds["client_secret"], "CSP_AUTHORITY_HOST": state["authority_host"],
        "CSP_GRAPH_ENDPOINT": state["graph_endpoint"], "CSP_CA_BUNDLE": state["ca_bundle"],
        "CSP_TOKEN_CACHE": str(workdir / "token-cache"),
    })
    return env


# ------------------------------------------------------------------------------- the run
def run_size(users: int, select: str, sdk_max: int, workdir: Path, cpu: int | None, repeat: int = 1) -> list[dict]:
    data, creds = world(users)
    world_file = workdir / f"world-{users}.json"
    world_file.write_text(json.dumps(data, separators=(",", ":")))
    del data
    (workdir / "state.json").unlink(missing_ok=True)
    proc, state, ready = emulator_bench._start_server(str(world_file), workdir, cpu, cli=False)  # noqa: SLF001
    rows = []
    try:
        tok = token(state, creds)
        query = {"$top": PAGE}
        if select:
            query["$select"] = select
        first_url = f"{state['graph_endpoint']}/v1.0/users?" + "&".join(f"{k}={v}" for k, v in query.items())
        env = _module_env(state, creds, workdir)
        me = [sys.executable, str(Path(__file__).resolve())]
        dest = workdir / f"users-{users}.jsonl"
        runs = [
            # what ansible itself costs: the same ansible command with a module that does nothing
            ("ansible ping", _module_cmd({}, module="ansible.builtin.ping")),
            ("module query", _module_cmd({"path": "/users", "params": query, "all_pages": True,
                                          "query": "length(@)"})),
            ("module dest", _module_cmd({"path": "/users", "params": query, "all_pages": True,
                                         "dest": str(dest)})),
            ("requests", me + ["--requests-loop", first_url, "--token", tok, "--ca", state["ca_bundle"]]),
        ]
        if users <= sdk_max:
            runs.append(("msgraph-sdk", me + ["--sdk-loop", state["graph_endpoint"], "--token", tok,
                                              "--ca", state["ca_bundle"], "--select", select]))
        # warm-up: the token cache, the emulator's first pages, the page cache for python and ansible
        measure(_module_cmd({"path": "/organization", "query": "length(value)"}), env)
        for name, cmd in runs:
            tries = []
            for _ in range(1 if name == "msgraph-sdk" else repeat):
                mark, emulator_cpu = log_mark(state), process_cpu(proc.pid)
                result = measure(cmd, env)
                result.update(client=name, users=users, requests=graph_requests(state, mark), ready=ready,
                              emulator_cpu=process_cpu(proc.pid) - emulator_cpu)
                tries.append(result)
            # the least disturbed run of a busy machine: lowest wall, and each figure's minimum
            result = min(tries, key=lambda r: r["wall"])
            for key in ("cpu", "rss", "pss"):
                result[key] = min(r[key] for r in tries)
            if name == "module dest" and dest.exists():
                result["file"] = dest.stat().st_size
                dest.unlink()
            rows.append(result)
    finally:
        emulator_bench._stop_server(proc)  # noqa: SLF001
        world_file.unlink(missing_ok=True)
    return rows


def report(rows: list[dict], select: str) -> None:
    head = ("users", "client", "wall s", "CPU s", "peak RSS MB", "peak PSS MB", "printed B", "graph req",
            "emulator CPU s", "rc", "outcome")
    table = []
    for r in rows:
        outcome = r["tail"] if r["rc"] == 0 else "FAILED: " + (r["tail"] or r["stderr"].strip()[-160:])
        if r.get("file"):
            outcome = f"file {r['file']:,} B; " + outcome
        table.append((f"{r['users']:,}", r["client"], f"{r['wall']:.2f}", f"{r['cpu']:.2f}",
                      f"{r['rss'] / 1e6:.0f}", f"{r['pss'] / 1e6:.0f}", f"{r['printed']:,}", str(r["requests"]),
                      f"{r['emulator_cpu']:.2f}", str(r["rc"]),
                      outcome.replace("\n", " ")[:110]))
    widths = [max(len(str(x[i])) for x in table + [head]) for i in range(len(head))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(f"graph listing benchmark: one customer tenant, $top={PAGE}, $select={select or '(all properties)'}")
    print(line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print(line)
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(line)
    by = {(r["users"], r["client"]): r for r in rows}
    for users in sorted({r["users"] for r in rows}):
        mod, floor, sdk = by.get((users, "module query")), by.get((users, "requests")), by.get((users, "msgraph-sdk"))
        ping = by.get((users, "ansible ping"))
        if mod and floor and ping:
            print(f"- {users:,} users: module query CPU = ansible ping {ping['cpu']:.2f} s + "
                  f"{mod['cpu'] - ping['cpu']:.2f} s (floor {floor['cpu']:.2f} s); peak PSS = ping "
                  f"{ping['pss'] / 1e6:.0f} MB + {(mod['pss'] - ping['pss']) / 1e6:.0f} MB")
        if mod and floor:
            print(f"- {users:,} users: module query wall - floor = {mod['wall'] - floor['wall']:+.2f} s "
                  f"(target <= +2 s), CPU {mod['cpu']:.2f} vs {floor['cpu']:.2f} s ({mod['cpu'] - floor['cpu']:+.2f}), "
                  f"peak RSS {mod['rss'] / 1e6:.0f} MB / PSS {mod['pss'] / 1e6:.0f} MB (target <= 150), "
                  f"printed {mod['printed']:,} B (target < 10 KB)")
        if mod and sdk and sdk["rc"] == 0:
            print(f"- {users:,} users: module / msgraph-sdk wall ratio {mod['wall'] / sdk['wall']:.3f} "
                  f"(target <= 0.05), CPU ratio {mod['cpu'] / max(sdk['cpu'], 1e-9):.3f}")
    dests = sorted((r["users"], r["rss"], r["pss"]) for r in rows if r["client"] == "module dest" and r["rc"] == 0)
    if len(dests) >= 2:
        (small, rss_small, pss_small), (big, rss_big, pss_big) = dests[0], dests[-1]
        print(f"- module dest peak RSS: {rss_small / 1e6:.0f} MB at {small:,} users, {rss_big / 1e6:.0f} MB at "
              f"{big:,} ({(rss_big / rss_small - 1) * 100:+.1f}%, target within 10%); PSS {pss_small / 1e6:.0f} "
              f"-> {pss_big / 1e6:.0f} MB ({(pss_big / pss_small - 1) * 100:+.1f}%)")
    for r in rows:
        if r["rc"] != 0 and r["stderr"].strip():
            print(f"- {r['client']} at {r['users']:,} users, stderr tail: {r['stderr'].strip()[-400:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10000,100000", help="comma-separated tenant sizes")
    parser.add_argument("--select", default="id", help="$select ('' for all properties)")
    parser.add_argument("--sdk-max", type=int, default=10_000,
                        help="run msgraph-sdk only up to this many users (it needs ~5 ms per user)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each client N times and keep each figure's minimum (msgraph-sdk once)")
    parser.add_argument("--collections-path", default=COLLECTIONS_PATH[0],
                        help="where ansible finds cloudpartner.csp (default: the .build copy)")
    parser.add_argument("--requests-loop", help=argparse.SUPPRESS)
    parser.add_argument("--sdk-loop", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.requests_loop:
        _requests_loop(args.requests_loop, args.token, args.ca)
        return 0
    if args.sdk_loop:
        _sdk_loop(args.sdk_loop, args.token, args.ca, args.select)
        return 0
    # a SIGTERM ends the run through the finally blocks, which stop the emulators it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    COLLECTIONS_PATH[0] = args.collections_path
    server_cpu, _ = emulator_bench._cpus()  # noqa: SLF001
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="csp-graph-listing-") as tmp:
        for users in [int(u) for u in args.users.split(",") if u.strip()]:
            try:
                rows.extend(run_size(users, args.select, args.sdk_max, Path(tmp), server_cpu, args.repeat))
            except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could measure
                print(f"- {users:,} users: benchmark error: {exc}")
    report(rows, args.select)
    return 0


if __name__ == "__main__":
    sys.exit(main())
