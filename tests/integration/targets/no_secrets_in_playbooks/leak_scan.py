"""Helpers of runme.sh: the inventories and variables of each run, the tokens the emulator issued, the
check that each failure path really failed, and the scan of everything the runs left behind.

    leak_scan.py setup CONFIG WORK          inventories, variables, stores, an unregistered certificate
    leak_scan.py collect CONFIG WORK        add the tokens the emulator issued so far to WORK/issued.json
                                            (before every reset: a reset forgets them)
    leak_scan.py awx CONFIG WORK            AWX's path: jobs through ansible-runner at verbosity 3 (WORK/awx)
    leak_scan.py expect WORK CHECK...       the failure paths failed the way they should
    leak_scan.py scan CONFIG WORK           every secret and token, and every JWT, in every output: 0 expected

The secrets of the world are the demo world's (tests/emulator/worlds/README.md): the partner apps' client
secrets, the integration users' refresh tokens, the us app's private key; with them the canaries this
script makes up (a wrong client secret, a made-up refresh token, the password of an Ansible Vault store,
an unregistered certificate's private key), the emulator's control
token and every access, id and refresh token the emulator issued (GET /_emulator/issued-tokens).

AWX runs the same playbooks through ansible-runner and keeps job events, not Ansible's output: ``awx``
runs docs/awx/project's onboarding (one customer in a region without partner tenant fails), fleet report and renewal
(an Ansible Vault store from a refresh token store credential) as AWX jobs (setup_emulator's awx_runner:
private data dirs laid out as AWX lays them), and the scan reads every job event, stdout, artifact and the
inventory's host vars of those jobs.
"""

import datetime
import glob
import json
import os
import re
import sys

from emulator_control import config, control

try:  # the AWX jobs need ansible-runner (tests/requirements-awx.txt); the scan itself does not
    from awx_runner import job_outputs
except ImportError:  # pragma: no cover
    job_outputs = None

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
PARTNERS = {  # key: (tenant id, client id, client secret, refresh token seed, domain, region)
    "us": ("10000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000001", "demo-us-secret-0001",
           "demo-us-refresh-token-seed", "contosopartnerus.onmicrosoft.com", "NA"),
    "eu": ("10000000-0000-4000-8000-000000000002", "20000000-0000-4000-8000-000000000002", "demo-eu-secret-0002",
           "demo-eu-refresh-token-seed", "contosopartnereu.onmicrosoft.com", "EU"),
}
# Every client secret of the world's apps (the refresh tokens come from the emulator, seeds included).
WORLD_SECRETS = ["demo-us-secret-0001", "demo-us-secret-expiring", "demo-us-secret-expired", "demo-eu-secret-0002",
                 "demo-apac-secret-0003"]


def customer(n):
    return "30000000-0000-4000-8000-%012d" % n


# The customers of the runs, two regions: us (NA) and eu (EU). 01 and 11 are onboarded already, 02 gets a
# relationship (approved in the demo's act 3), 04 and 17 lack the consent, 10 is in SA (no partner tenant),
# 14 lacks a service principal (consent_blocked).
DEMO_CUSTOMERS = [1, 2, 10, 11, 14]
ONBOARD_CUSTOMERS = {"customer01.onmicrosoft.com": 1, "customer04.onmicrosoft.com": 4,
                     "customer10.onmicrosoft.com": 10, "customer11.onmicrosoft.com": 11,
                     "customer17.onmicrosoft.com": 17}
MIGRATE_CUSTOMERS = {"customer01.onmicrosoft.com": (1, True), "customer07.onmicrosoft.com": (7, True),
                     "customer04.onmicrosoft.com": (4, False)}
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
# AWX jobs: customer10 is in a region (SA) without partner tenant, so its host fails and so does the job.
AWX_CUSTOMERS = ["customer01.onmicrosoft.com", "customer10.onmicrosoft.com"]


def write(work, name, data, mode=0o600):
    path = os.path.join(work, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data if isinstance(data, str) else json.dumps(data, indent=1))
    return path


def partner_entry(key, **override):
    tenant, client, secret, seed, domain, region = PARTNERS[key]
    entry = {"regions": [region], "tenant_id": tenant, "client_id": client, "client_secret": secret,
             "refresh_token": seed, "integration_user": "integration@" + domain}
    entry.update(override)
    return entry


def unregistered_certificate(path):
    """A key and self-signed certificate that no app of the world knows (AADSTS700027 expected)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-registered")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def vault_encrypt(text, password):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(text.encode()).decode()


def setup(cfg, work):
    canaries = {"client_secret": "leak-canary-secret-" + os.urandom(9).hex(),
                "refresh_token": "leak-canary-refresh-" + os.urandom(9).hex(),
                "vault_password": "leak-canary-vault-" + os.urandom(9).hex()}
    write(work, "canaries.json", canaries)
    vault_password_file = write(work, "vault-password", canaries["vault_password"] + "\n")
    cert = os.path.join(cfg["emulator_state_dir"], "us-app-cert.pem")
    unregistered = os.path.join(work, "unregistered-cert.pem")
    unregistered_certificate(unregistered)

    # demo.yml: the partner hosts (us, eu) and the customers inventory plugin over the same two tenants.
    partners = {key: partner_entry(key) for key in PARTNERS}
    demo_ids = {"us": [customer(1), customer(4)], "eu": [customer(11)]}
    demo_domain = {"us": "fabrikam.example", "eu": "contosopharma.example"}
    write(work, "demo_inventory.json", {"all": {
        "vars": dict(LOCAL, onboard_customer_partner_tenants=partners),
        "children": {"partner_tenants": {
            "vars": {"partner_tenant_id": "{{ onboard_customer_partner_tenants[inventory_hostname].tenant_id }}",
                     "partner_client_id": "{{ onboard_customer_partner_tenants[inventory_hostname].client_id }}",
                     "partner_client_secret": "{{ onboard_customer_partner_tenants[inventory_hostname].client_secret }}",
                     "partner_refresh_token": "{{ onboard_customer_partner_tenants[inventory_hostname].refresh_token }}"},
            "hosts": {key: {"demo_customer_ids": demo_ids[key], "demo_domain": demo_domain[key]} for key in PARTNERS}}}}})
    plugin = {"plugin": "cloudpartner.csp.customers", "hostname": "tenant_id", "strict": True,
              "groups": {"customers": True},
              "partner_tenants": [{"name": key, "region": p[5], "tenant_id": p[0], "client_id": p[1],
                                   "client_secret": p[2]} for key, p in PARTNERS.items()]}
    write(work, "leak.csp_customers.yml", json.dumps(plugin))  # JSON is YAML
    # only these customers of the two partner tenants' books
    with open(os.path.join(work, "demo_limit"), "w", encoding="utf-8") as handle:
        handle.write(":".join(["us", "eu", "localhost"] + [customer(n) for n in DEMO_CUSTOMERS]))

    # onboard_customers.yml, failure paths: us redeems an expired refresh token (AADSTS700082), eu has a
    # wrong client secret (AADSTS7000215), customer10 is in a region without a partner tenant.
    write(work, "onboard_inventory.json", {"all": {"vars": LOCAL, "hosts": {
        host: {"onboard_customer_domain": host} for host in ONBOARD_CUSTOMERS}}})
    write(work, "onboard_bad.json", {"onboard_customer_partner_tenants": {
        "us": partner_entry("us", refresh_token="demo-us-refresh-token-expired"),
        "eu": partner_entry("eu", client_secret=canaries["client_secret"])}})

    # renew_refresh_tokens.yml: a store per partner tenant, seeded: us a file, eu an Ansible Vault file (its
    # password in a file); the failing run's stores hold an expired and a made-up refresh token.
    for name, seeds in (("renew", {"us": "demo-us-refresh-token-seed", "eu": "demo-eu-refresh-token-seed"}),
                        ("renew_expired", {"us": "demo-us-refresh-token-expired", "eu": canaries["refresh_token"]})):
        hosts = {}
        for key, seed in seeds.items():
            tenant, client, secret, _seed, _domain, _region = PARTNERS[key]
            hosts[key] = {"partner_tenant_id": tenant, "partner_client_id": client, "partner_client_secret": secret}
            if key == "eu":
                store = write(work, "stores/%s.%s.refresh_token.vault" % (name, key),
                              vault_encrypt(seed, canaries["vault_password"]))
                hosts[key].update(partner_refresh_token_store="ansible-vault://" + store,
                                  partner_vault_password_file=vault_password_file)
            else:
                hosts[key]["partner_refresh_token_store"] = write(work, "stores/%s.%s.refresh_token" % (name, key),
                                                                  seed + "\n")
        write(work, name + "_inventory.json", {"all": {"vars": LOCAL, "children": {"partner_tenants": {"hosts": hosts}}}})

    # migrate_dap_to_gdap.yml with the us app's certificate; the failing run with one no app knows.
    write(work, "migrate_inventory.json", {"all": {"vars": LOCAL, "hosts": {
        host: {"csp_tenant_id": customer(n), "csp_domain": host, "csp_partner_tenant": "us", "csp_dap": dap}
        for host, (n, dap) in MIGRATE_CUSTOMERS.items()}}})
    for name, path in (("migrate", cert), ("migrate_bad", unregistered)):
        tenant, client, _secret, seed, _domain, _region = PARTNERS["us"]
        write(work, name + ".json", {"migrate_dap_partner_tenants": {"us": {
            "tenant_id": tenant, "client_id": client, "client_certificate_path": path, "refresh_token": seed}}})

    # The roles: partner_app in us, offboard_customer of customer11 in eu.
    good = {"leak_us": partner_entry("us"), "leak_eu": partner_entry("eu"), "leak_customer": customer(11)}
    write(work, "roles.json", good)
    bad = dict(good, leak_us=partner_entry("us", client_secret=canaries["client_secret"]))
    write(work, "roles_bad.json", bad)  # and the eu integration user's refresh tokens revoked (runme.sh)


def awx_partner(key, refresh_token=True):
    """The inputs of a "Microsoft CSP partner app" credential for a partner tenant of the world."""
    tenant, client, secret, seed, _domain, region = PARTNERS[key]
    return {"tenant_id": tenant, "client_id": client, "client_secret": secret,
            "refresh_token": seed if refresh_token else "", "partner_name": key, "partner_region": region}


def awx(cfg, work):
    """The onboarding, fleet report and renewal job templates as AWX runs them, at verbosity 3, in WORK/awx/<job>."""
    from awx_runner import inventory_update, run_job
    with open(os.path.join(work, "canaries.json"), encoding="utf-8") as handle:
        canaries = json.load(handle)
    root = os.path.join(work, "awx")
    os.makedirs(os.path.join(root, "inventory_update"), exist_ok=True)
    partner = awx_partner("us")
    inventory = inventory_update(cfg, root, partner)
    hosts = sorted(inventory["_meta"]["hostvars"])
    if not set(AWX_CUSTOMERS) <= set(hosts):
        sys.exit("awx: the inventory update is missing %s" % sorted(set(AWX_CUSTOMERS) - set(hosts)))
    jobs = []
    runner, pdd = run_job(cfg, root, "onboard", "playbooks/onboard_customers.yml", partner, inventory=inventory,
                          hosts=hosts, limit=",".join(AWX_CUSTOMERS), job_id=401, verbosity=3, extravars={
                              "onboard_customer_approval_wait": 0,
                              "onboard_integration_user": "integration@" + PARTNERS["us"][4]})
    jobs.append(("onboard", runner, "failed", pdd))
    # the fleet report over the same customers (its report files under the job's artifacts, its set_stats)
    runner, pdd = run_job(cfg, root, "fleet", "playbooks/fleet_report.yml", partner, inventory=inventory,
                          hosts=hosts, limit=",".join(AWX_CUSTOMERS), job_id=403, verbosity=3)
    jobs.append(("fleet", runner, "successful", pdd))
    # renewal: the refresh token lives in an Ansible Vault store (a "Microsoft CSP refresh token store"
    # credential with the vault password, a canary); the partner app credential holds no refresh token
    store = write(work, "stores/awx.us.refresh_token.vault",
                  vault_encrypt(PARTNERS["us"][3], canaries["vault_password"]))
    runner, pdd = run_job(cfg, root, "renew", "playbooks/renew_refresh_tokens.yml", awx_partner("us", False),
                          job_id=402, verbosity=3, store={"store": "ansible-vault://" + store,
                                                          "vault_password": canaries["vault_password"]},
                          extravars={"renew_fail_on_problem": False,
                                     "renew_report_path": os.path.join(root, "renew", "artifacts", "renew.json")})
    jobs.append(("renew", runner, "successful", pdd))
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("awx jobs: %.1f CPU-s in the jobs' processes" % (usage.ru_utime + usage.ru_stime))
    problems = []
    for name, runner, expected, pdd in jobs:
        print("awx job %s (verbosity 3): %s, rc %s, %d events" % (name, runner.status, runner.rc,
                                                                  len(glob.glob(os.path.join(
                                                                      pdd, "artifacts", "*", "job_events", "*.json")))))
        if runner.status != expected:
            problems.append("job %s ended %s, expected %s" % (name, runner.status, expected))
    with open(os.path.join(root, "renew", "artifacts", "renew.json"), encoding="utf-8") as handle:
        if '"status": "ok"' not in handle.read():
            problems.append("job renew: the store was not renewed")
    if problems:
        sys.exit("awx: " + "; ".join(problems))


def collect(cfg, work):
    path = os.path.join(work, "issued.json")
    known = {"access_tokens": [], "id_tokens": [], "refresh_tokens": [], "dropped": 0}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            known = json.load(handle)
    issued = control(cfg, "GET", "issued-tokens")
    for kind in ("access_tokens", "id_tokens", "refresh_tokens"):
        known[kind] = sorted(set(known[kind]) | set(issued[kind]))
    known["dropped"] += issued["dropped"]
    write(work, "issued.json", known)
    print("issued so far: %d access, %d id, %d refresh tokens" % tuple(len(known[k]) for k in
                                                                       ("access_tokens", "id_tokens", "refresh_tokens")))


def known_secrets(cfg, work):
    """{value: label}: what must never be shown. The label says what it is, never the value."""
    found = {}
    for value in WORLD_SECRETS:
        found[value] = "client secret"
    for key in ("us", "eu", "apac"):
        for kind in ("seed", "stale", "expired", "nomfa"):
            found["demo-%s-refresh-token-%s" % (key, kind)] = "refresh token (world seed)"
    with open(os.path.join(work, "canaries.json"), encoding="utf-8") as handle:
        for kind, value in json.load(handle).items():
            found[value] = "canary " + kind.replace("_", " ")
    for path in (os.path.join(cfg["emulator_state_dir"], "us-app-cert.pem"), os.path.join(work, "unregistered-cert.pem")):
        with open(path, encoding="utf-8") as handle:
            for pem in PRIVATE_KEY.findall(handle.read()):
                found[pem] = "private key"
                # a key printed with its line breaks escaped (JSON) is still that key: its body lines
                for line in pem.splitlines()[1:-1]:
                    if len(line) >= 40:
                        found[line] = "private key (a line of it)"
    found[cfg["emulator_control_token"]] = "emulator control token"
    with open(os.path.join(work, "issued.json"), encoding="utf-8") as handle:
        issued = json.load(handle)
    for kind, label in (("access_tokens", "access token"), ("id_tokens", "id token"), ("refresh_tokens", "refresh token")):
        for value in issued[kind]:
            found.setdefault(value, label + " (issued)")
    return found, issued


def outputs(work):
    """(path, what) of everything the runs left that a person or a log collector could read."""
    files = []
    for pattern, what in (("logs/*", "output"), ("reports/**/*", "report"), ("ansible-tmp/**/*", "~/.ansible/tmp"),
                          ("ansible-local/**/*", "local tmp"), ("token_cache/**/*", "token cache")):
        for path in sorted(glob.glob(os.path.join(work, pattern), recursive=True)):
            if os.path.isfile(path):
                files.append((path, what))
    # AWX jobs: what AWX keeps and shows of each (job events, stdout, artifacts, the inventory's host vars)
    for pdd in sorted(glob.glob(os.path.join(work, "awx", "*", "artifacts"))):
        files.extend(job_outputs(os.path.dirname(pdd)))
    return files


def mask(text, secrets):
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, "<%s>" % secrets[value])
    return JWT.sub("<JWT>", text)


def token_cache_files(work):
    """The token cache keeps tokens by design, in MSAL's cache files (msal-*.json, 0600 in a 0700 directory):
    there only the client secrets, private keys, canaries and world seeds count. Its index
    (msal-*.accounts.json) and everything else must hold no token at all."""
    return {path for path, what in outputs(work) if what == "token cache"
            and os.path.basename(path).startswith("msal-") and path.endswith(".json")
            and not path.endswith(".accounts.json")}


def refresh_token_store_files(work):
    """A plain refresh_token option seeds a refresh-token store beside the token cache (msal-*.rt-*.json,
    0600): the one place a refresh token is kept and rotated. There refresh tokens (seeds, issued ones,
    canary refresh tokens) are its content; anything else (client secrets, keys, access or id tokens) counts."""
    return {path for path in token_cache_files(work) if ".rt-" in os.path.basename(path)}


def loose_modes(work):
    """Token cache files readable by others than the owner."""
    found = []
    for path, what in outputs(work):
        if what == "token cache" and os.stat(path).st_mode & 0o077:
            found.append("%s is mode %o" % (os.path.relpath(path, work), os.stat(path).st_mode & 0o777))
    return found


def scan(cfg, work):
    secrets, issued = known_secrets(cfg, work)
    msal_files = token_cache_files(work)
    store_files = refresh_token_store_files(work)
    never = {v: label for v, label in secrets.items() if "issued" not in label}
    not_in_store = {v: label for v, label in secrets.items() if "refresh token" not in label}
    total, problems, per_file = 0, [], []
    checked = outputs(work)
    for path, what in checked:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        rel = os.path.relpath(path, work)
        look = not_in_store if path in store_files else never if path in msal_files else secrets
        hits = []
        for value, label in look.items():
            start = text.find(value)
            while start >= 0:
                hits.append((start, len(value), label))
                start = text.find(value, start + 1)
        if path not in msal_files:
            for match in JWT.finditer(text):
                if not any(s <= match.start() < s + n for s, n, _l in hits):
                    hits.append((match.start(), len(match.group(0)), "JWT-shaped string"))
        total += len(hits)
        if hits:
            per_file.append("%s: %d" % (rel, len(hits)))
        for start, length, label in sorted(hits)[:5]:
            line = text.count("\n", 0, start) + 1
            context = mask(text[max(0, start - 100):start + length + 100], secrets).replace("\n", "\\n")
            problems.append("%s (%s) line %d: %s in: %s" % (rel, what, line, label, context))
        if len(hits) > 5:
            problems.append("%s: %d more" % (rel, len(hits) - 5))
    for problem in loose_modes(work):
        problems.append("token cache: " + problem)
        total += 1
    if not msal_files:
        problems.append("no token cache file: the runs used another cache or none")
        total += 1
    if not issued["access_tokens"] or not issued["refresh_tokens"]:
        problems.append("the emulator issued no access or refresh token: the scan proves nothing")
        total += 1
    for line in problems:
        print("LEAK: " + line)
    if per_file:
        print("found per file: " + ", ".join(per_file))
    print("scanned %d files (%d bytes) for %d secrets and tokens (%d access, %d id, %d refresh tokens issued%s) "
          "and JWT-shaped strings: %d found"
          % (len(checked), sum(os.path.getsize(p) for p, _w in checked), len(secrets), len(issued["access_tokens"]),
             len(issued["id_tokens"]), len(issued["refresh_tokens"]),
             ", %d older dropped" % issued["dropped"] if issued["dropped"] else "", total))
    return 1 if total else 0


def expect(work, checks):
    """NAME=WHAT: the run's output (logs/NAME.out) holds WHAT (an error code), so the failure path ran."""
    missing = []
    for check in checks:
        name, _sep, needle = check.partition("=")
        with open(os.path.join(work, "logs", name + ".out"), encoding="utf-8", errors="replace") as handle:
            if needle not in handle.read():
                missing.append("%s: no %s" % (name, needle))
    if missing:
        sys.exit("a failure path did not fail as planned: " + "; ".join(missing))


def main(argv):
    command = argv[1]
    if command == "setup":
        os.makedirs(os.path.join(argv[3], "stores"), exist_ok=True)
        setup(config(argv[2]), argv[3])
    elif command == "awx":
        awx(config(argv[2]), argv[3])
    elif command == "collect":
        collect(config(argv[2]), argv[3])
    elif command == "scan":
        sys.exit(scan(config(argv[2]), argv[3]))
    elif command == "expect":
        expect(argv[2], argv[3:])
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
