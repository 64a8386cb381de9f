#!/usr/bin/env python3
"""Benchmark of the local Microsoft cloud (tests/emulator): is it ever the bottleneck?

Prints, for a generated world of 5,000 customers and 100,000 users (worlds/generate.py):
  (a) time to load the world and start serving it (target < 20 s), with the pure model build
      from already-parsed JSON as a breakdown,
  (b) resident memory of the serving emulator (target < 1 GiB),
  (c) simple Graph GETs per second with keep-alive, emulator pinned to one core and the client in
      a separate process on another core (target >= 500),
  (d) token requests (client credentials) per second, same setup.

    python benchmarks/emulator_bench.py [--customers N] [--users M] [--duration S] [--clients C]

Always exits 0; the table says which targets were met.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_DIR = ROOT / "tests" / "emulator"
US_TENANT = "10000000-0000-4000-8000-000000000001"
US_APP = "20000000-0000-4000-8000-000000000001"
US_SECRET = "demo-us-secret-0001"
INTEGRATION_USER = "11000000-0000-4000-8000-000000010001"
GIB = 1024 ** 3


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EMULATOR_DIR), env.get("PYTHONPATH")]))
    return env


def _pin(cpu: int | None) -> list[str]:
    """A `taskset -c N` prefix when taskset exists and the CPU is ours to use."""
    if cpu is None or not shutil.which("taskset"):
        return []
    try:
        if cpu not in os.sched_getaffinity(0):
            return []
    except AttributeError:
        return []
    return ["taskset", "-c", str(cpu)]


def _cpus() -> tuple[int | None, int | None]:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cpus) >= 2:
        return cpus[0], cpus[1]
    return cpus[0], None


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ------------------------------------------------------------------------------- client side
def _client(state_file: str, mode: str, duration: float, clients: int) -> None:
    """Runs in its own process: hammer one endpoint with keep-alive connections, print JSON."""
    import http.client
    import ssl
    from urllib.parse import urlencode, urlsplit

    state = json.loads(Path(state_file).read_text())
    ctx = ssl.create_default_context(cafile=state["ca_bundle"])
    login = urlsplit(state["authority_host"])
    graph = urlsplit(state["graph_endpoint"])
    form = urlencode({"grant_type": "client_credentials", "client_id": US_APP, "client_secret": US_SECRET,
                      "scope": "https://graph.microsoft.com/.default"})
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    token_path = f"/{US_TENANT}/oauth2/v2.0/token"

    conn = http.client.HTTPSConnection(login.hostname, login.port, context=ctx, timeout=30)
    conn.request("POST", token_path, body=form, headers=form_headers)
    resp = conn.getresponse()
    token = json.loads(resp.read())["access_token"]
    conn.close()
    auth = {"Authorization": f"Bearer {token}"}
    paths = [f"/v1.0/users/{INTEGRATION_USER}", "/v1.0/organization", "/v1.0/groups?$top=5"]

    counts = [0] * clients
    errors = [0] * clients
    deadline = [0.0]
    start = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        target = login if mode == "token" else graph
        c = http.client.HTTPSConnection(target.hostname, target.port, context=ctx, timeout=30)
        n = 0
        start.wait()
        while time.perf_counter() < deadline[0]:
            try:
                if mode == "token":
                    c.request("POST", token_path, body=form, headers=form_headers)
                else:
                    c.request("GET", paths[n % len(paths)], headers=auth)
                    n += 1
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                c.close()
                c = http.client.HTTPSConnection(target.hostname, target.port, context=ctx, timeout=30)
        c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    print(json.dumps({"ok": sum(counts), "errors": sum(errors), "seconds": elapsed}))


# ------------------------------------------------------------------------------- server side
def _serve_json(world_file: str, state_file: str, state_dir: str) -> None:
    """Runs in its own process: the Python API way to serve a JSON world (json.load + Emulator)."""
    from csp_emulator import Emulator

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(world_file, encoding="utf-8") as fh:
        world = json.load(fh)
    with Emulator(world=world, state_dir=state_dir) as emu:
        tmp = f"{state_file}.tmp"
        Path(tmp).write_text(json.dumps(emu.state()))
        os.replace(tmp, state_file)
        stop.wait()


def _start_server(world: str, workdir: Path, cpu: int | None, cli: bool) -> tuple[subprocess.Popen, dict, float]:
    state_file = workdir / "state.json"
    if cli:
        cmd = _pin(cpu) + [sys.executable, "-m", "csp_emulator", "serve", "--world", world,
                           "--state-file", str(state_file), "--state-dir", str(workdir / "state")]
    else:
        cmd = _pin(cpu) + [sys.executable, str(Path(__file__).resolve()), "--serve-json", world, "--state-file",
                           str(state_file), "--state-dir", str(workdir / "state")]
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not state_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator stopped: {proc.stderr.read()[-2000:]}")
        if time.perf_counter() - began > 600:
            proc.kill()
            raise RuntimeError("the emulator did not start within 600 s")
        time.sleep(0.05)
    ready = time.perf_counter() - began
    return proc, json.loads(state_file.read_text()), ready


def _stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _model_build(world_file: Path) -> tuple[float, float, int]:
    """In a fresh process: seconds for json.load, seconds for World.load(dict), peak RSS."""
    code = (
        "import json, time, resource, sys\n"
        "from csp_emulator.world import World\n"
        f"t = time.perf_counter(); d = json.load(open({str(world_file)!r})); p = time.perf_counter() - t\n"
        "t = time.perf_counter(); w = World.load(d); b = time.perf_counter() - t\n"
        "print(json.dumps([p, b, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    parse, build, peak = json.loads(out.stdout)
    return parse, build, peak


def _run_client(state_file: Path, mode: str, duration: float, clients: int, cpu: int | None) -> dict:
    cmd = _pin(cpu) + [sys.executable, str(Path(__file__).resolve()), "--client", mode, "--state-file",
                       str(state_file), "--duration", str(duration), "--clients", str(clients)]
    out = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=duration + 120)
    if out.returncode != 0:
        return {"ok": 0, "errors": -1, "seconds": duration, "stderr": out.stderr[-1000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("measure", "value", "target", "met")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = [line, "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |", line]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per throughput measure")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections of the client process")
    parser.add_argument("--format", choices=("json", "yaml"), default="json", help="world file format")
    parser.add_argument("--client", choices=("graph", "token"), help=argparse.SUPPRESS)
    parser.add_argument("--state-file", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--serve-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_json:
        _serve_json(args.serve_json, args.state_file, args.state_dir)
        return 0
    if args.client:
        _client(args.state_file, args.client, args.duration, args.clients)
        return 0

    sys.path.insert(0, str(EMULATOR_DIR / "worlds"))
    import generate  # noqa: E402 - worlds/generate.py, importable once its folder is on the path

    server_cpu, client_cpu = _cpus()
    workdir = Path(tempfile.mkdtemp(prefix="csp-emulator-bench-"))
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    proc = None
    try:
        began = time.perf_counter()
        world_file = workdir / f"world.{args.format}"
        generate.write_world(generate.build_world(args.customers, args.users), str(world_file))
        gen = time.perf_counter() - began
        size = f"{args.customers:,} customers / {args.users:,} users"
        notes.append(f"world: {size}, {world_file.stat().st_size / 1e6:.1f} MB {args.format}, generated in {gen:.1f} s")

        parse, build, peak = _model_build(world_file)
        rows.append(("model build from parsed JSON (World.load)", f"{build:.1f} s", "-", "-"))

        # The CLI path (`python -m csp_emulator serve --world FILE`) first, then the Python API path
        # that the measures below use.
        cli_proc, _, cli_ready = _start_server(str(world_file), workdir, server_cpu, cli=True)
        cli_rss = _rss(cli_proc.pid)
        _stop_server(cli_proc)
        (workdir / "state.json").unlink(missing_ok=True)
        proc, state, ready = _start_server(str(world_file), workdir, server_cpu, cli=False)
        rows.insert(0, ("(a) load + serve: json.load + Emulator(world=dict)", f"{ready:.1f} s", "< 20 s",
                        "yes" if ready < 20 else "NO"))
        rows.insert(1, ("(a) load + serve: CLI serve --world FILE", f"{cli_ready:.1f} s", "< 20 s",
                        "yes" if cli_ready < 20 else "NO"))
        rss = _rss(proc.pid)
        rows.append(("(b) RSS of the serving emulator", f"{rss / 2**20:.0f} MiB", "< 1024 MiB",
                     "yes" if 0 < rss < GIB else "NO"))
        rows.append(("(b) RSS, CLI-loaded", f"{cli_rss / 2**20:.0f} MiB", "< 1024 MiB",
                     "yes" if 0 < cli_rss < GIB else "NO"))
        notes.append(f"breakdown: json.load {parse:.1f} s, World.load {build:.1f} s, peak RSS of that "
                     f"process {peak / 2**20:.0f} MiB")
        state_file = workdir / "state.json"
        pinned = "pinned" if _pin(server_cpu) and _pin(client_cpu) else "NOT pinned (taskset or a 2nd CPU missing)"
        notes.append(f"throughput: emulator on CPU {server_cpu}, client process on CPU {client_cpu} ({pinned}), "
                     f"{args.clients} keep-alive connections, {args.duration:.0f} s each")

        graph = _run_client(state_file, "graph", args.duration, args.clients, client_cpu)
        rate = graph["ok"] / graph["seconds"] if graph["seconds"] else 0
        rows.append(("(c) Graph GETs per second (one core)", f"{rate:,.0f}/s ({graph['errors']} errors)", ">= 500/s",
                     "yes" if rate >= 500 and graph["errors"] == 0 else "NO"))
        tok = _run_client(state_file, "token", args.duration, args.clients, client_cpu)
        rate = tok["ok"] / tok["seconds"] if tok["seconds"] else 0
        rows.append(("(d) token requests per second (one core)", f"{rate:,.0f}/s ({tok['errors']} errors)", "-", "-"))
        for result in (graph, tok):
            if result.get("stderr"):
                notes.append("client failed: " + result["stderr"])
        rows.append(("RSS after the throughput runs", f"{_rss(proc.pid) / 2**20:.0f} MiB", "< 1024 MiB",
                     "yes" if _rss(proc.pid) < GIB else "NO"))
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could measure
        notes.append(f"benchmark error: {exc}")
    finally:
        if proc is not None:
            _stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    print("csp_emulator benchmark")
    print(_table(rows) if rows else "(nothing measured)")
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
