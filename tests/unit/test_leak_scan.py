"""The leak scan of tests/integration/targets/no_secrets_in_playbooks can fail, also on AWX's path.

A work directory like the target's (canaries, issued tokens, a token cache, the AWX jobs' private data
dirs) is scanned clean first; then one secret or token is planted in a job event, the job's stdout, an
artifact or the inventory, and the scan must report it there. ansible-runner's artifacts/<ident>/command
holds the injected environment by design (AWX keeps none of it) and is not read.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

TARGETS = Path(__file__).resolve().parents[1] / "integration" / "targets"
sys.path.insert(0, str(TARGETS / "setup_emulator" / "files"))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


leak_scan = _load("leak_scan", TARGETS / "no_secrets_in_playbooks" / "leak_scan.py")

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXZhbHVl"
ISSUED_REFRESH = "emulator-issued-refresh-0123456789"
CONTROL_TOKEN = "control-token-0123456789abcdef"
EVENT = {"uuid": "5b0b", "counter": 7, "event": "runner_on_ok", "stdout": "ok: [customer01.onmicrosoft.com]",
         "event_data": {"host": "customer01.onmicrosoft.com", "task": "Consent", "res": {"changed": False}}}


@pytest.fixture
def work(tmp_path):
    """A scanned-clean work directory with one onboarding job's private data dir (ident 401)."""
    state = tmp_path / "state"
    state.mkdir()
    leak_scan.unregistered_certificate(str(state / "us-app-cert.pem"))
    work = tmp_path / "work"
    (work / "token_cache" / "run").mkdir(parents=True)
    leak_scan.unregistered_certificate(str(work / "unregistered-cert.pem"))
    leak_scan.write(str(work), "canaries.json", {"client_secret": "leak-canary-secret-1",
                                                 "refresh_token": "leak-canary-refresh-1",
                                                 "vault_password": "leak-canary-vault-1"})
    leak_scan.write(str(work), "issued.json", {"access_tokens": [ACCESS_TOKEN], "id_tokens": [],
                                               "refresh_tokens": [ISSUED_REFRESH], "dropped": 0})
    leak_scan.write(str(work), "token_cache/run/msal-app.json", json.dumps({"AccessToken": {"k": ACCESS_TOKEN}}))
    pdd = work / "awx" / "onboard"
    (pdd / "artifacts" / "401" / "job_events").mkdir(parents=True)
    (pdd / "artifacts" / "onboard_report").mkdir()
    (pdd / "inventory").mkdir()
    (pdd / "inventory" / "hosts").write_text("print('{}')\n")
    (pdd / "artifacts" / "401" / "job_events" / "7-5b0b.json").write_text(json.dumps(EVENT))
    (pdd / "artifacts" / "401" / "stdout").write_text("PLAY RECAP\n")
    (pdd / "artifacts" / "onboard_report" / "report.json").write_text("{}")
    # the injected environment, by design (AWX keeps none): never read
    (pdd / "artifacts" / "401" / "command").write_text(json.dumps({"env": {"CSP_CLIENT_SECRET": "demo-us-secret-0001"}}))
    return {"emulator_state_dir": str(state), "emulator_control_token": CONTROL_TOKEN}, work


def scan(cfg, work, capsys):
    code = leak_scan.scan(cfg, str(work))
    return code, capsys.readouterr().out


def test_clean_work_scans_clean(work, capsys):
    cfg, path = work
    code, out = scan(cfg, path, capsys)
    assert code == 0, out
    assert "scanned 5 files" in out  # the token cache file and the job event, stdout, report and inventory


@pytest.mark.parametrize("where", ["artifacts/401/job_events/7-5b0b.json", "artifacts/401/stdout",
                                   "artifacts/onboard_report/report.json", "inventory/hosts"])
@pytest.mark.parametrize("planted,label", [
    ("demo-us-secret-0001", "client secret"),
    ("demo-eu-refresh-token-seed", "refresh token (world seed)"),
    ("leak-canary-vault-1", "canary vault password"),
    (CONTROL_TOKEN, "emulator control token"),
    (ACCESS_TOKEN, "access token (issued)"),
    (ISSUED_REFRESH, "refresh token (issued)"),
    ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzb21lb25lIn0.", "JWT-shaped string"),
])
def test_a_planted_secret_is_reported(work, capsys, where, planted, label):
    cfg, path = work
    target = path / "awx" / "onboard" / where
    if where.endswith(".json") and "job_events" in where:  # as the callback writes it: inside the event's stdout
        event = dict(EVENT, stdout="ok: [customer01.onmicrosoft.com] => {\"msg\": \"%s\"}" % planted)
        target.write_text(json.dumps(event))
    else:
        target.write_text(target.read_text() + "\n" + planted + "\n")
    code, out = scan(cfg, path, capsys)
    assert code == 1
    leaks = [line for line in out.splitlines() if line.startswith("LEAK: ")]
    assert len(leaks) == 1 and ("awx/onboard/" + where) in leaks[0] and label in leaks[0], out
    assert planted not in out  # the report masks what it found


def test_the_runner_command_file_is_not_read(work, capsys):
    cfg, path = work
    command = path / "awx" / "onboard" / "artifacts" / "401" / "command"
    assert "demo-us-secret-0001" in command.read_text()
    code, out = scan(cfg, path, capsys)
    assert code == 0 and "command" not in out
