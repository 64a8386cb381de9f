"""Helpers of runme.sh: write the inventory, move the emulator's clock, check reports and leaks."""

import json
import os
import re
import sys

from emulator_control import config, control

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")
PARTNERS = {
    "us": ("10000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000001", "demo-us-secret-0001",
           "demo-us-refresh-token-seed", "contosopartnerus.onmicrosoft.com"),
    "eu": ("10000000-0000-4000-8000-000000000002", "20000000-0000-4000-8000-000000000002", "demo-eu-secret-0002",
           "demo-eu-refresh-token-seed", "contosopartnereu.onmicrosoft.com"),
}


def setup(work):
    hosts = []
    for name, (tenant, client, secret, seed, _domain) in PARTNERS.items():
        store = os.path.join(work, name + ".refresh_token.json")
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(seed + "\n")
        hosts.append("        %s:\n          partner_tenant_id: %s\n          partner_client_id: %s\n"
                     "          partner_client_secret: %s\n          partner_refresh_token_store: %s\n"
                     % (name, tenant, client, secret, store)
                     + "          partner_client_secret_store: %s\n" % os.path.join(work, name + ".client_secret.json"))
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        handle.write("all:\n  vars:\n    ansible_connection: local\n"
                     "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                     "  children:\n    partner_tenants:\n      hosts:\n" + "".join(hosts))


def expect(report_path, host, status, version, code=None, action=None):
    with open(report_path, encoding="utf-8") as handle:
        tenants = {t["tenant"]: t for t in json.load(handle)["tenants"]}
    got = tenants[host]
    health = got["health"]
    problems = []
    if health["status"] != status:
        problems.append("status %s, expected %s" % (health["status"], status))
    if int(got["version"]) != int(version):
        problems.append("version %s, expected %s" % (got["version"], version))
    if code and health.get("code") != code:
        problems.append("code %s, expected %s" % (health.get("code"), code))
    if action and health.get("action") != action:
        problems.append("action %s, expected %s" % (health.get("action"), action))
    if problems:
        sys.exit("%s in %s: %s" % (host, os.path.basename(report_path), "; ".join(problems)))


def rotated(report_path, host, old_name, store_path):
    with open(report_path, encoding="utf-8") as handle:
        tenants = {t["tenant"]: t for t in json.load(handle)["tenants"]}
    done = tenants[host].get("rotated_secrets") or []
    if [r["old"]["display_name"] for r in done] != [old_name]:
        sys.exit("%s: expected %s to be rotated, got %s" % (host, old_name, done))
    with open(store_path, encoding="utf-8") as handle:
        if json.load(handle)["version"] != 1:
            sys.exit("the new secret was not stored")


def secrets(cfg, work=None):
    values = set()
    for _tenant, _client, secret, seed, domain in PARTNERS.values():
        values.update([secret, seed])
        listed = control(cfg, "GET", "refresh-tokens?user=integration@" + domain)
        values.update(r["value"] for r in listed["refresh_tokens"])
    store = os.path.join(work or "", "us.client_secret.json")
    if work and os.path.exists(store):
        with open(store, encoding="utf-8") as handle:
            values.add(json.load(handle)["refresh_token"])  # the rotated client secret
    return values


def leaks(cfg_path, work, *logs):
    found = secrets(config(cfg_path), work)
    for name in logs:
        with open(os.path.join(work, name), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        leaked = sum(1 for value in found if value in text)
        if leaked or JWT.search(text):
            jwt = " and a JWT" if JWT.search(text) else ""
            sys.exit("%s: %d secret value(s)%s in the -vvv output" % (name, leaked, jwt))


def mask(work):
    text = sys.stdin.read()
    for value in ("demo-us-secret-0001", "demo-eu-secret-0002"):
        text = text.replace(value, "********")
    sys.stdout.write(JWT.sub("********", text))


def main(argv):
    command = argv[1]
    if command == "setup":
        setup(argv[2])
    elif command == "advance":
        control(config(argv[2]), "POST", "clock/advance", {"days": float(argv[3])})
    elif command == "reset":
        control(config(argv[2]), "POST", "reset", {})
    elif command == "expect":
        expect(*argv[2:])
    elif command == "rotated":
        rotated(*argv[2:])
    elif command == "leaks":
        leaks(argv[2], argv[3], *argv[4:])
    elif command == "mask":
        mask(argv[2])
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
