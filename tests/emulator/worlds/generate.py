"""Write a big world for benchmarks: the demo's three partner tenants (same ids, domains, apps,
secrets and refresh tokens) and N generated customers with M users in total.

    python worlds/generate.py --customers 5000 --users 100000 -o /tmp/big.json

`build_world()` returns the same world as a dict (``Emulator(world=build_world(...))`` skips the
file). Output is JSON (a subset of YAML that loads much faster) unless the name ends in .yaml.
The world is deterministic for a given seed.
"""

import argparse
import json
import random
import sys
from pathlib import Path

GRAPH = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
AZURE_SERVICE_MANAGEMENT = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
PARTNER_CUSTOMER_DELEGATED_ADMIN = "2832473f-ec63-45fb-976f-5d45a7d4bb91"

PARTNERS = [  # key, number, region, display name
    ("us", 1, "NA", "Contoso Partner US"),
    ("eu", 2, "EU", "Contoso Partner EU"),
    ("apac", 3, "AS", "Contoso Partner APAC"),
]
REGION_PARTNER = {"NA": "us", "EU": "eu", "AS": "apac", "OC": "apac", "SA": "us", "AF": "eu"}
# Mostly served regions; a few customers in regions without a partner tenant, as in real books.
REGION_WEIGHTS = [("NA", 40), ("EU", 35), ("AS", 20), ("OC", 3), ("SA", 2)]
ADMIN_ROLES = ["Cloud Application Administrator", "User Administrator", "Global Reader"]
HELPDESK_ROLES = ["Helpdesk Administrator", "Service Support Administrator"]
FIRST_NAMES = ["Alex", "Megan", "Adele", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Lee", "Lidia",
               "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Irvin", "Allan", "Christie", "Debra", "Enrico"]
LAST_NAMES = ["Wilber", "Bowen", "Vance", "Siciliani", "Archie", "Mueller", "Langer", "Lambert", "Gu", "Holloway",
              "Robbins", "Graham", "Wilke", "Fernandez", "Gupta", "Sink", "Deyoung", "Cline", "Berg", "Catteneo"]


def customer_id(n: int) -> str:
    return f"30000000-0000-4000-8000-{n:012d}"


def _partner(key: str, number: int, region: str, display: str) -> dict:
    domain = f"contosopartner{key}.onmicrosoft.com"
    app_id = f"20000000-0000-4000-8000-{number:012d}"
    return {
        "key": key, "id": f"10000000-0000-4000-8000-{number:012d}", "region": region,
        "display_name": display, "domains": [domain],
        "users": [{"id": f"11000000-0000-4000-8000-{number:08d}0001", "userPrincipalName": f"integration@{domain}",
                   "displayName": f"Partner Integration ({key})", "mfa": True,
                   "directory_roles": ["Global Administrator"]}],
        "groups": [
            {"id": f"12000000-0000-4000-8000-{number:08d}0001", "displayName": "AdminAgents",
             "securityEnabled": True, "mailEnabled": False, "members": [f"integration@{domain}"]},
            {"id": f"12000000-0000-4000-8000-{number:08d}0002", "displayName": "HelpdeskAgents",
             "securityEnabled": True, "mailEnabled": False, "members": []},
            {"id": f"12000000-0000-4000-8000-{number:08d}0003", "displayName": "GDAP Helpdesk",
             "securityEnabled": True, "mailEnabled": False, "members": []},
            {"id": f"12000000-0000-4000-8000-{number:08d}0004", "displayName": "GDAP Admins",
             "securityEnabled": True, "mailEnabled": False, "members": [f"integration@{domain}"]},
        ],
        "applications": [{
            "id": f"13000000-0000-4000-8000-{number:012d}", "appId": app_id,
            "displayName": f"Contoso CSP App ({key})", "signInAudience": "AzureADMultipleOrgs",
            "requiredResourceAccess": [
                {"resourceAppId": GRAPH, "resourceAccess": [
                    {"id": "Directory.AccessAsUser.All", "type": "Scope"},
                    {"id": "DelegatedAdminRelationship.ReadWrite.All", "type": "Scope"},
                    {"id": "Directory.Read.All", "type": "Role"},
                    {"id": "Group.ReadWrite.All", "type": "Role"}]},
                {"resourceAppId": PARTNER_CENTER, "resourceAccess": [{"id": "user_impersonation", "type": "Scope"}]},
            ],
            "secrets": [{"keyId": f"14000000-0000-4000-8000-{number:08d}0001",
                         "value": f"demo-{key}-secret-000{number}"}],
        }],
        "service_principals": [{"appId": a} for a in (GRAPH, PARTNER_CENTER, AZURE_SERVICE_MANAGEMENT,
                                                      EXCHANGE_ONLINE, PARTNER_CUSTOMER_DELEGATED_ADMIN)],
        # The partner's admin consented to the app in its home tenant.
        "application_consents": [{"app": app_id, "grants": [
            {"api": GRAPH, "scopes": ["Directory.AccessAsUser.All", "DelegatedAdminRelationship.ReadWrite.All",
                                      "Directory.Read.All", "Group.ReadWrite.All"]},
            {"api": PARTNER_CENTER, "scopes": ["user_impersonation"]}]}],
        "refresh_tokens": [{"user": f"integration@{domain}", "client_id": app_id,
                            "value": f"demo-{key}-refresh-token-seed", "last_used_days_ago": 0}],
        "customers": [], "gdap_relationships": [],
    }


def _onboarded(n: int, share: float) -> bool:
    """Whether customer ``n`` is one of the ``share`` already onboarded (spread evenly, no random draw)."""
    return int(n * share) > int((n - 1) * share)


def build_world(customers: int = 5000, users: int = 100_000, seed: int = 7, onboarded: float = 0.0) -> dict:
    """A world dict with ``customers`` customer tenants sharing ``users`` users between them.

    ``onboarded`` (0..1): that share of the customers is already onboarded as the onboarding role's
    ``standard`` template wants it: an active relationship with its name, roles and duration, both access
    assignments, and the consent of everything the partner tenant's app registration requires (delegated
    scopes and app roles). The other customers and the random draws are the same as without it; a chosen
    customer in a region no partner tenant serves still ends ``NoPartnerTenantForRegion``.
    """
    if not 0.0 <= onboarded <= 1.0:
        raise ValueError("onboarded must be between 0 and 1")
    rng = random.Random(seed)
    partners = {key: _partner(key, number, region, display) for key, number, region, display in PARTNERS}
    app_ids = {key: p["applications"][0]["appId"] for key, p in partners.items()}
    regions = [r for r, weight in REGION_WEIGHTS for _ in range(weight)]
    per_customer, extra = divmod(users, customers) if customers else (0, 0)
    tenants = []
    for n in range(1, customers + 1):
        key = f"customer{n:05d}"
        domain = f"{key}.onmicrosoft.com"
        region = rng.choice(regions)
        partner = partners[REGION_PARTNER[region]]
        count = per_customer + (1 if n <= extra else 0)
        tenant_users = []
        for k in range(1, count + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            tenant_users.append({
                "id": f"31{n:06d}-0000-4000-8000-{k:012d}",
                "userPrincipalName": "admin@" + domain if k == 1 else f"{first.lower()}.{last.lower()}{k}@{domain}",
                "displayName": f"{key} Admin" if k == 1 else f"{first} {last}",
                "mfa": k == 1 or rng.random() < 0.7,
                "directory_roles": ["Global Administrator"] if k == 1 else [],
            })
        state = rng.random()
        sps = [GRAPH, PARTNER_CENTER, AZURE_SERVICE_MANAGEMENT, EXCHANGE_ONLINE]
        if state > 0.98:  # a few customers miss an API service principal
            sps.remove(AZURE_SERVICE_MANAGEMENT)
        tenant = {"key": key, "id": customer_id(n), "region": region, "display_name": f"Customer {n:05d}",
                  "domains": [domain], "service_principals": [{"appId": a} for a in sps], "users": tenant_users}
        partner["customers"].append({"tenant": key, "relationship": "reseller", "dap": state < 0.1})
        if state < 0.6:  # most have an active GDAP relationship ...
            status = "active" if state < 0.45 else rng.choice(["approvalPending", "expired", "terminated"])
            rel = {"id": f"40000000-0000-4000-8000-{n:012d}-{customer_id(n)}",
                   "displayName": f"{partner['key']}-{key}-standard", "customer": key,
                   "roles": ADMIN_ROLES + HELPDESK_ROLES, "duration": "P730D", "status": status,
                   "created_days_ago": 760 if status == "expired" else rng.randint(3, 700),
                   "access_assignments": []}
            if status == "active":
                rel["access_assignments"] = [{"group": "GDAP Admins", "roles": ADMIN_ROLES},
                                             {"group": "GDAP Helpdesk", "roles": HELPDESK_ROLES}]
                if state < 0.35:  # ... and consent
                    tenant["application_consents"] = [{"app": app_ids[partner["key"]], "grants": [
                        {"api": GRAPH, "scopes": ["Directory.Read.All", "Group.ReadWrite.All"]},
                        {"api": PARTNER_CENTER, "scopes": ["user_impersonation"]}]}]
            partner["gdap_relationships"].append(rel)
        if _onboarded(n, onboarded):
            _onboard(partner, tenant, n, key)
        tenants.append(tenant)
    return {
        "settings": {"propagation_delay": 180, "existing_consent": "conflict"},
        "partner_tenants": list(partners.values()),
        "customer_tenants": tenants,
    }


def _onboard(partner: dict, tenant: dict, n: int, key: str) -> None:
    """Make one generated customer onboarded as the role's ``standard`` template wants it."""
    rel_id = f"40000000-0000-4000-8000-{n:012d}-{customer_id(n)}"
    rels = [r for r in partner["gdap_relationships"] if r["id"] != rel_id]
    rels.append({"id": rel_id, "displayName": f"{partner['key']}-{key}-standard", "customer": key,
                 "roles": ADMIN_ROLES + HELPDESK_ROLES, "duration": "P730D", "status": "active",
                 "created_days_ago": 30,
                 "access_assignments": [{"group": "GDAP Admins", "roles": ADMIN_ROLES},
                                        {"group": "GDAP Helpdesk", "roles": HELPDESK_ROLES}]})
    partner["gdap_relationships"] = rels
    app = partner["applications"][0]
    tenant["application_consents"] = [{"app": app["appId"], "grants": [
        {"api": api["resourceAppId"], "scopes": [a["id"] for a in api["resourceAccess"]]}
        for api in app["requiredResourceAccess"]]}]


def write_world(world: dict, path: str) -> None:
    target = Path(path)
    if target.suffix in (".yaml", ".yml"):
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        with open(target, "w", encoding="utf-8") as fh:
            yaml.dump(world, fh, Dumper=dumper, sort_keys=False, default_flow_style=None, width=160)
    else:
        with open(target, "w", encoding="utf-8") as fh:
            json.dump(world, fh, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--users", type=int, default=100_000, help="users over all customer tenants")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--onboarded", type=float, default=0.0, metavar="FRACTION",
                        help="share of the customers already onboarded as the role's standard template wants (0..1)")
    parser.add_argument("-o", "--output", default="-", help="file (.json or .yaml); - for standard output")
    args = parser.parse_args(argv)
    if args.customers < 0 or args.users < 0 or args.customers > 999_999 or args.users > 99_999_999:
        parser.error("--customers must be 0..999999 and --users 0..99999999")
    if not 0.0 <= args.onboarded <= 1.0:
        parser.error("--onboarded must be between 0 and 1")
    world = build_world(args.customers, args.users, args.seed, args.onboarded)
    if args.output == "-":
        json.dump(world, sys.stdout, separators=(",", ":"))
    else:
        write_world(world, args.output)
        print(f"wrote {args.output}: {args.customers} customers, {args.users} users", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
