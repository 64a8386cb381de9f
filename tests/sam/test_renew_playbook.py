"""playbooks/renew_refresh_tokens.yml and sam_consent.yml against the emulator, on its clock.

- a token renewed on day 80 lives; one unused for 91 days fails with AADSTS700082 and the report says
  to redo the consent; sam_consent.yml (device code, approved through the control API) repairs it;
- nothing secret (refresh tokens, client secrets, anything JWT-shaped) in any -vvv output.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, US_USER, write_seed

EU_USER = "integration@contosopartnereu.onmicrosoft.com"
PLAYBOOKS = os.path.join(ROOT, "playbooks")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")

INVENTORY = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  children:
    partner_tenants:
      hosts:
        us:
          partner_tenant_id: 10000000-0000-4000-8000-000000000001
          partner_client_id: 20000000-0000-4000-8000-000000000001
          partner_client_secret: demo-us-secret-0001
          partner_refresh_token_store: %(dir)s/us.refresh_token.json
        eu:
          partner_tenant_id: 10000000-0000-4000-8000-000000000002
          partner_client_id: 20000000-0000-4000-8000-000000000002
          partner_client_secret: demo-eu-secret-0002
          partner_refresh_token_store: ansible-vault://%(dir)s/eu.refresh_token.vault
          partner_vault_password_file: %(dir)s/vault-pass
"""


class Runner:
    def __init__(self, emu, tmp_path):
        self.emu = emu
        self.dir = str(tmp_path)
        self.outputs = []
        with open(os.path.join(self.dir, "inventory.yml"), "w", encoding="utf-8") as handle:
            handle.write(INVENTORY % {"dir": self.dir})
        with open(os.path.join(self.dir, "vault-pass"), "w", encoding="utf-8") as handle:
            handle.write("emulator-vault-password\n")
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build"),
                        ANSIBLE_LOCAL_TEMP=os.path.join(self.dir, "tmp"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_DISPLAY_SKIPPED_HOSTS="true", ANSIBLE_DISPLAY_OK_HOSTS="true",
                        HOME=self.dir, **emu.env())

    def play(self, name, *extra):
        report = os.path.join(self.dir, "report.json")
        if os.path.exists(report):
            os.unlink(report)
        cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-vvv", "-i",
               os.path.join(self.dir, "inventory.yml"), os.path.join(PLAYBOOKS, name),
               "-e", "renew_report_path=" + report] + list(extra)
        proc = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=600, check=False)
        self.outputs.append(proc.stdout)
        data = None
        if os.path.exists(report):
            with open(report, encoding="utf-8") as handle:
                data = {t["tenant"]: t for t in json.load(handle)["tenants"]}
        return proc, data

    def secrets(self):
        values = {"demo-us-secret-0001", "demo-eu-secret-0002", "emulator-vault-password"}
        for user in (US_USER, EU_USER):
            values.update(r["value"] for r in self.emu.control.refresh_tokens(user)["refresh_tokens"])
        return values


@pytest.fixture
def runner(emu, tmp_path):
    write_seed(str(tmp_path / "us.refresh_token.json"))
    return Runner(emu, tmp_path)


def seed_vault_store(runner):
    """The eu store starts as an Ansible Vault file holding the eu seed token (version 0 is adopted)."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, ".build"))
    from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import open_store
    store = open_store("ansible-vault://%s/eu.refresh_token.vault" % runner.dir,
                       vault_password_file=os.path.join(runner.dir, "vault-pass"))
    store.save("demo-eu-refresh-token-seed", None, metadata={"source": "imported"})


def test_ninety_days_on_the_emulator_clock_and_consent_repairs_it(runner):
    seed_vault_store(runner)
    proc, report = runner.play("renew_refresh_tokens.yml")
    assert report, proc.stdout[-3000:]
    assert report["us"]["health"]["status"] == "ok" and report["us"]["renewed"]
    assert report["eu"]["health"]["status"] == "ok" and int(report["eu"]["version"]) == 2
    # the us app has a secret expiring in 20 days and an expired one: reported, and the play fails for it
    assert [c["display_name"] for c in report["us"]["expiring_credentials"]] == ["rotate-me"]
    assert report["us"]["expired_credentials"] == ["old"]
    assert proc.returncode != 0 and "need attention" in proc.stdout

    runner.emu.control.advance_clock(days=80)
    proc, report = runner.play("renew_refresh_tokens.yml", "-l", "us,localhost")
    assert report["us"]["health"]["status"] == "ok", report["us"]
    assert int(report["us"]["version"]) == 2  # renewed on day 80: lives

    runner.emu.control.advance_clock(days=91)
    proc, report = runner.play("renew_refresh_tokens.yml", "-l", "us,localhost")
    health = report["us"]["health"]
    assert (health["status"], health["code"], health["action"]) == ("expired", "AADSTS700082", "redo_consent")
    assert "sam_consent.yml" in health["action_text"]
    assert int(report["us"]["version"]) == 2  # the store kept what it had
    assert "AADSTS700082" in proc.stdout

    # one-time consent again, the emulator approving the device code for the integration user
    proc, _report = runner.play("sam_consent.yml", "-l", "us", "-e", "sam_emulator_approve_user=" + US_USER,
                                "-e", "sam_timeout=60")
    assert proc.returncode == 0, proc.stdout[-3000:]
    proc, report = runner.play("renew_refresh_tokens.yml", "-l", "us,localhost")
    assert report["us"]["health"]["status"] == "ok" and int(report["us"]["version"]) == 4

    # nothing secret in any of the -vvv outputs
    secrets = runner.secrets()
    assert len(secrets) > 8
    for output in runner.outputs:
        leaked = [s for s in secrets if s in output]
        assert not leaked, "secret values in -vvv output"
        assert not JWT.search(output), "a JWT in -vvv output"
