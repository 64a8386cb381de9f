#!/usr/bin/env python3
"""Onboarding and the fleet report at scale, on the local emulator: prints figures (not a timed test).

For a generated world (tests/emulator/worlds/generate.py) of N customers over the three regional
partner tenants, with the emulator answering every HTTP request after a fixed latency:

  onboarding   playbooks/onboard_customers.yml over the customers inventory plugin, --forks F,
               strategy free; the first run, then an idempotent rerun. For each: wall, CPU seconds of
               the whole ansible process tree per customer, HTTP requests per customer by service,
               token POSTs and identity-platform discovery GETs per customer.
  fleet        cloudpartner.csp.partner_book_info over every customer of every partner tenant in one
               module process: wall, requests per customer, peak RSS (the largest process of the tree).
  imports      the import time of each module of the collection (a fresh interpreter per module).

    python benchmarks/onboard_scale.py --customers 100 [--customers 1000] [--fleet-customers 5000]
        [--latency-ms 20] [--forks 25] [--onboarded FRACTION] [--timeout SECONDS] [--no-rerun]
        [--skip-onboard] [--skip-fleet] [--skip-imports]

Run it from a clone after `make venv`; it mirrors the collection into .build (scripts/sync_collection.py)
and starts its own emulator on free ports. Requests are counted from the emulator's request log: the
requests that crossed the network (a Graph ``$batch`` counts once; its steps are listed separately).
"""

import argparse
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_DIR = ROOT / "tests" / "emulator"
BUILD = ROOT / ".build"
COLLECTION = BUILD / "ansible_collections" / "cloudpartner" / "csp"
PYTHON = ROOT / ".venv" / "bin" / "python"
BIN = ROOT / ".venv" / "bin"

sys.path.insert(0, str(EMULATOR_DIR / "worlds"))
from generate import build_world, write_world  # noqa: E402  pylint: disable=wrong-import-position

PARTNERS = [  # the generated world's regional partner tenants (fixed emulator test identities)
    ("us", "NA", 1), ("eu", "EU", 2), ("apac", "AS", 3),
]


def partner_tenants():
    out = {}
    for key, region, n in PARTNERS:
        out[key] = {
            "regions": [region],
            "tenant_id": "10000000-0000-4000-8000-%012d" % n,
            "client_id": "20000000-0000-4000-8000-%012d" % n,
            "client_secret": "demo-%s-secret-000%d" % (key, n),
            "refresh_token": "demo-%s-refresh-token-seed" % key,
            "integration_user": "integration@contosopartner%s.onmicrosoft.com" % key,
        }
    return out


class Emulator:
    """The emulator in a child process with a world file; control API calls with its CA."""

    def __init__(self, world_path, state_dir):
        self.state_dir = Path(state_dir)
        env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [str(PYTHON), "-m", "csp_emulator", "serve", "--world", str(world_path),
             "--state-file", str(self.state_dir / "state.json"), "--state-dir", str(self.state_dir)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.state_dir / "emulator.log", "wb"),  # noqa: SIM115
            start_new_session=True)
        deadline = time.monotonic() + 300
        state_file = self.state_dir / "state.json"
        while not (state_file.exists() and state_file.stat().st_size):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the emulator did not start: see %s" % (self.state_dir / "emulator.log"))
            time.sleep(0.2)
        time.sleep(0.2)
        self.state = json.loads(state_file.read_text())
        self.ctx = ssl.create_default_context(cafile=self.state["ca_bundle"])

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.state["control_url"] + "/_emulator/" + path, data=data, method=method,
                                         headers={"Authorization": "Bearer " + self.state["control_token"],
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.ctx, timeout=300) as resp:  # nosec - local emulator
            raw = resp.read()
        return json.loads(raw) if raw else None

    def mark(self):
        return self.control("GET", "requests?since=999999999999")["last_seq"]

    def requests_since(self, seq):
        return self.control("GET", "requests?since=%d" % seq)["requests"]

    def env(self, token_cache):
        return {
            "CSP_AUTHORITY_HOST": self.state["authority_host"],
            "CSP_GRAPH_ENDPOINT": self.state["graph_endpoint"],
            "CSP_PARTNER_CENTER_ENDPOINT": self.state["partner_center_endpoint"],
            "CSP_CA_BUNDLE": self.state["ca_bundle"],
            "CSP_TOKEN_CACHE": str(token_cache),
        }

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request_figures(entries, customers):
    """Requests per customer by service (network requests only), token POSTs and discovery GETs."""
    wire = [e for e in entries if not e.get("batch_step")]
    by_service = Counter(e["service"] for e in wire)
    tokens = sum(1 for e in wire if e["service"] == "login" and e["method"] == "POST" and e["path"].endswith("/token"))
    discovery = sum(1 for e in wire if e["service"] == "login" and e["method"] == "GET"
                    and ("openid-configuration" in e["path"] or "discovery/instance" in e["path"]))
    steps = sum(1 for e in entries if e.get("batch_step"))
    writes = sum(1 for e in entries if e["service"] in ("graph", "partner_center")
                 and e["method"] not in ("GET", "HEAD") and not e["path"].endswith("/$batch"))
    per = float(max(customers, 1))
    return {
        "requests_per_customer": round(len(wire) / per, 2),
        "by_service_per_customer": {k: round(v / per, 2) for k, v in sorted(by_service.items())},
        "token_posts_per_customer": round(tokens / per, 3),
        "discovery_gets_per_customer": round(discovery / per, 3),
        "batch_steps_per_customer": round(steps / per, 2),
        "writes": writes,
        "requests": len(wire),
    }


_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(-[0-9a-fA-F-]{36})?")
_DOMAIN = re.compile(r"/[a-z0-9-]+(\.[a-z0-9-]+)*\.onmicrosoft\.com", re.I)


def endpoint_of(entry):
    """A request's endpoint shape: method, service and path with ids and domains replaced."""
    path = _DOMAIN.sub("/{domain}", _ID.sub("{id}", entry["path"]))
    return "%s %s %s" % (entry["service"], entry["method"], path)


def breakdown(entries, customers, top=25):
    """Requests (network and $batch steps apart) per customer by endpoint shape, the largest first."""
    per = float(max(customers, 1))
    wire = Counter(endpoint_of(e) for e in entries if not e.get("batch_step"))
    steps = Counter(endpoint_of(e) for e in entries if e.get("batch_step"))
    return ([(k, round(v / per, 2)) for k, v in wire.most_common(top)],
            [(k, round(v / per, 2)) for k, v in steps.most_common(top)])


_TASK = re.compile(r"^TASK \[(.*)\] \*+$")
_RESULT = re.compile(r"^(ok|changed|skipping|failed|fatal): \[")


def task_results(log_path):
    """How many task results (per host, skipped ones included) the playbook's output shows."""
    return sum(1 for line in Path(log_path).read_text(errors="replace").splitlines() if _RESULT.match(line))


def task_breakdown(log_path, customers, top=40):
    """Per task name, results per customer that were not skipped (from the playbook's default output)."""
    counts = Counter()
    task = None
    for line in Path(log_path).read_text(errors="replace").splitlines():
        m = _TASK.match(line)
        if m:
            task = m.group(1)
            continue
        m = _RESULT.match(line)
        if m and task and m.group(1) != "skipping":
            counts[task] += 1
    per = float(max(customers, 1))
    return [(k, round(v / per, 2)) for k, v in counts.most_common(top)]


def run_measured(cmd, env, cwd, log_path, timeout=0):
    """Run ``cmd``; wall seconds, CPU seconds (user+sys) of its whole process tree, peak RSS (MB).

    With ``timeout`` (seconds), a run still going then is stopped (its whole process group) and rc is -1.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,  # noqa: SIM115
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            rc = -1
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, wall, cpu, after.ru_maxrss / 1024.0


def start_world(work, customers, latency_ms, name, onboarded=0.0):
    world = build_world(customers=customers, users=customers * 2, onboarded=onboarded)
    world["settings"].update({"gdap_auto_approve_after": 0, "gdap_activation_delay": 1,
                              "request_log_limit": 0})
    world_path = work / ("%s.json" % name)
    write_world(world, str(world_path))
    state_dir = work / ("emulator-%s" % name)
    state_dir.mkdir()
    emulator = Emulator(world_path, state_dir)
    emulator.control("PUT", "faults", {"latency_ms": latency_ms})
    return emulator


def ansible_env(emulator, work, token_cache="token_cache"):
    env = dict(os.environ)
    env.update(emulator.env(work / token_cache))
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(BUILD), "ANSIBLE_STRATEGY": "free",
                "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
                "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                # unbuffered: a run stopped by --timeout still shows every task result it had
                "PYTHONUNBUFFERED": "1",
                "PATH": "%s:%s" % (BIN, env.get("PATH", ""))})
    return env


def write_inputs(work):
    tenants = partner_tenants()
    inventory = work / "book.csp_customers.yml"
    inventory.write_text(json.dumps({
        "plugin": "cloudpartner.csp.customers", "hostname": "domain", "strict": True,
        "groups": {"customers": True},
        "partner_tenants": [{"name": k, "region": v["regions"][0], "tenant_id": v["tenant_id"],
                             "client_id": v["client_id"], "client_secret": v["client_secret"]}
                            for k, v in tenants.items()]}, indent=1))
    variables = work / "partners.json"
    variables.write_text(json.dumps({
        "onboard_customer_partner_tenants": tenants, "onboard_hosts": "customers",
        "onboard_customer_approval_wait": 20, "onboard_customer_approval_interval": 1,
        "onboard_customer_assignment_wait": 60, "onboard_customer_assignment_interval": 1,
        "fleet_report_partner_tenants": tenants}))
    return inventory, variables


def interpreter_wrapper(work, log):
    """A module interpreter that appends each module process's user+sys CPU and command line to ``log``
    (GNU time), so the module processes' share of the CPU can be told from the controller's."""
    wrapper = work / "python-timed"
    wrapper.write_text('#!/bin/sh\nexec /usr/bin/time -a -o "%s" -f "%%U %%S %%C" "%s" "$@"\n' % (log, PYTHON))
    wrapper.chmod(0o755)
    return wrapper


def module_cpu(log, customers):
    """``(module CPU-s per customer, {module: (processes per customer, CPU-s per process)})``."""
    per = float(max(customers, 1))
    seen = {}
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return 0.0, {}
    for line in lines:
        parts = line.split(" ", 2)
        match = re.search(r"AnsiballZ_(\w+)\.py", line)
        if len(parts) < 3 or not match:
            continue
        try:
            cpu = float(parts[0]) + float(parts[1])
        except ValueError:
            continue
        count, total = seen.get(match.group(1), (0, 0.0))
        seen[match.group(1)] = (count + 1, total + cpu)
    total = sum(t for _c, t in seen.values())
    return round(total / per, 2), {k: (round(c / per, 2), round(t / c, 2)) for k, (c, t) in
                                   sorted(seen.items(), key=lambda kv: -kv[1][1])}


def onboard(customers, args, work):
    emulator = start_world(work, customers, args.latency_ms, "onboard-%d" % customers, args.onboarded)
    try:
        inventory, variables = write_inputs(work)
        # a cold token cache per world size: the first run is the daily job's
        env = ansible_env(emulator, work, "token_cache-%d" % customers)
        rows = []
        runs = ["first", "rerun"] if args.rerun else ["first"]
        for run in runs:
            mark = emulator.mark()
            cpu_log = work / ("module-cpu-%d-%s.log" % (customers, run))
            interpreter = interpreter_wrapper(work, cpu_log) if args.breakdown else PYTHON
            cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), "--forks", str(args.forks),
                   "-e", "@%s" % variables, "-e", "ansible_python_interpreter=%s" % interpreter,
                   "-e", "onboard_report_dir=%s" % (work / ("report-%d-%s" % (customers, run))),
                   str(ROOT / "playbooks" / "onboard_customers.yml")]
            log_path = work / ("onboard-%d-%s.log" % (customers, run))
            rc, wall, cpu, _rss = run_measured(cmd, env, str(work), log_path, args.timeout)
            entries = emulator.requests_since(mark)
            figures = request_figures(entries, customers)
            (work / ("requests-%d-%s.json" % (customers, run))).write_text(json.dumps(entries))
            if args.breakdown:
                figures["endpoints"] = breakdown(entries, customers)
                figures["tasks"] = task_breakdown(work / ("onboard-%d-%s.log" % (customers, run)), customers)
                figures["module_cpu"] = module_cpu(cpu_log, customers)
            summary = _report_summary(work / ("report-%d-%s" % (customers, run)) / "report.json")
            results = task_results(log_path)
            figures["task_results"] = results
            figures["task_results_per_s"] = round(results / wall, 1) if wall else 0.0
            rows.append((run, rc, wall, cpu, figures, summary))
        return rows
    finally:
        emulator.stop()


def _report_summary(path):
    try:
        return json.loads(Path(path).read_text()).get("summary")
    except (OSError, ValueError):
        return None


def fleet(customers, args, work):
    emulator = start_world(work, customers, args.latency_ms, "fleet-%d" % customers)
    try:
        _inventory, variables = write_inputs(work)
        env = ansible_env(emulator, work)
        mark = emulator.mark()
        playbook = ROOT / "playbooks" / "fleet_report.yml"
        cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", "@%s" % variables,
               "-e", "fleet_report_dir=%s" % (work / "fleet-report"),
               "-e", "ansible_python_interpreter=%s" % PYTHON, str(playbook)]
        rc, wall, cpu, rss = run_measured(cmd, env, str(work), work / "fleet.log")
        figures = request_figures(emulator.requests_since(mark), customers)
        return rc, wall, cpu, rss, figures
    finally:
        emulator.stop()


def import_times():
    """Seconds to import each module of the collection in a fresh interpreter (minus the bare start)."""
    env = dict(os.environ, PYTHONPATH=str(BUILD), PYTHONDONTWRITEBYTECODE="1")

    def cpu_of(code):
        best = None
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.check_call([str(PYTHON), "-c", code], env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best = spent if best is None else min(best, spent)
        return best

    base = cpu_of("import ansible.module_utils.basic")
    out = {}
    for path in sorted((COLLECTION / "plugins" / "modules").glob("*.py")):
        name = path.stem
        out[name] = max(0.0, cpu_of("import ansible_collections.cloudpartner.csp.plugins.modules.%s" % name) - base)
    return base, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append", help="onboarding world sizes (default 100)")
    parser.add_argument("--fleet-customers", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--no-rerun", dest="rerun", action="store_false")
    parser.add_argument("--onboarded", type=float, default=0.0, metavar="FRACTION",
                        help="share of the onboarding world's customers already onboarded (0..1): with 1, the first "
                             "run is the daily job over a book with nothing to change, without a first onboarding")
    parser.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                        help="stop an onboarding run after this long and print how far it got (0: no limit)")
    parser.add_argument("--skip-onboard", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print requests per customer by endpoint and task results per customer")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, reports)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.onboarded <= 1.0:
        parser.error("--onboarded must be between 0 and 1")
    sizes = args.customers or [100]
    if not PYTHON.exists():
        raise SystemExit("run `make venv` first")
    subprocess.check_call([sys.executable, str(ROOT / "scripts" / "sync_collection.py")], cwd=str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="onboard-scale-"))
    print("latency %g ms per request, forks %d, %d CPUs, work dir %s" % (
        args.latency_ms, args.forks, os.cpu_count() or 0, work), flush=True)
    try:
        if not args.skip_imports:
            base, times = import_times()
            print("\nmodule import CPU (s, beyond ansible.module_utils.basic = %.3f s):" % base)
            for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
                print("  %-32s %.3f" % (name, seconds))
            sys.stdout.flush()
        if not args.skip_onboard:
            for size in sizes:
                print("\nonboarding, %d customers" % size, flush=True)
                for run, rc, wall, cpu, figures, summary in onboard(size, args, work):
                    print("  %-6s rc=%d wall %.0f s  CPU %.2f s/customer  requests %.1f/customer %s  token POSTs "
                          "%.2f/customer  discovery GETs %.2f/customer  batch steps %.1f/customer  writes %d  %s" % (
                              run, rc, wall, cpu / size, figures["requests_per_customer"],
                              figures["by_service_per_customer"], figures["token_posts_per_customer"],
                              figures["discovery_gets_per_customer"], figures["batch_steps_per_customer"],
                              figures["writes"], summary), flush=True)
                    print("    task results (host x task, skipped included) %d, %.1f per second%s" % (
                        figures["task_results"], figures["task_results_per_s"],
                        "  (stopped after --timeout)" if rc == -1 else ""), flush=True)
                    if args.breakdown:
                        print("    requests per customer by endpoint (network):")
                        for name, value in figures["endpoints"][0]:
                            print("      %6.2f  %s" % (value, name))
                        print("    $batch steps per customer by endpoint:")
                        for name, value in figures["endpoints"][1]:
                            print("      %6.2f  %s" % (value, name))
                        print("    module processes: %.2f CPU-s per customer in all; per module: processes per customer, "
                              "CPU-s per process" % figures["module_cpu"][0])
                        for name, (count, each) in figures["module_cpu"][1].items():
                            print("      %6.2f  %5.2f  %s" % (count, each, name))
                        print("    task results per customer (not skipped):")
                        for name, value in figures["tasks"]:
                            print("      %6.2f  %s" % (value, name))
                        sys.stdout.flush()
        if not args.skip_fleet:
            size = args.fleet_customers
            print("\nfleet report, %d customers" % size, flush=True)
            rc, wall, cpu, rss, figures = fleet(size, args, work)
            print("  rc=%d wall %.0f s  CPU %.1f s  requests %.2f/customer %s  token POSTs %d  discovery GETs %d  "
                  "peak RSS %.0f MB" % (rc, wall, cpu, figures["requests_per_customer"],
                                        figures["by_service_per_customer"],
                                        round(figures["token_posts_per_customer"] * size),
                                        round(figures["discovery_gets_per_customer"] * size), rss), flush=True)
    finally:
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
