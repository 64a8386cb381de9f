"""Small client of the emulator's control API for runme.sh: reset, settings, faults, the request log,
the new tenant's propagation, and the world's state."""
import json
import sys
import time

import yaml
from emulator_control import book_reads, config, control, last_seq, requests_since, writes_since


def writes_and_refused_consents(cfg, seq, blocked=()):
    """The write requests since ``seq``, and apart from them the refused consents of ``blocked`` customers.

    The consent of a customer in ``blocked`` (an API without a service principal) is attempted again on
    every run, because the app cannot read that tenant before it is consented; Partner Center refuses it
    (400) and nothing changes.
    """
    writes, refused = [], []
    for r in writes_since(cfg, seq):
        if (r["method"] == "POST" and r["path"].endswith("/applicationconsents") and r["status"] == 400
                and any("/customers/%s/" % c in r["path"] for c in blocked)):
            refused.append(r)
        else:
            writes.append(r)
    return writes, refused


def tenant_ids(cfg):
    """Domain -> tenant id of every tenant the emulator has now."""
    ids = {}
    for tenant in control(cfg, "GET", "tenants")["tenants"]:
        for domain in tenant["domains"]:
            ids[domain.lower()] = tenant["id"]
    return ids


def propagate_after_refusal(cfg, seq, domain, timeout, seconds):
    """Once a request for a token in the new tenant of ``domain`` has been refused (it has not propagated),
    move the world clock on by ``seconds``, so that the tenant propagates then and not before, however
    slow the machine is. Returns the refused statuses seen."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        tenant_id = tenant_ids(cfg).get(domain.lower())
        if tenant_id:
            statuses = token_statuses(cfg, seq, domain)
            if statuses and statuses[0] == 400:
                control(cfg, "POST", "clock/advance", {"seconds": seconds})
                print("token refused in %s before propagation; clock advanced %s s" % (domain, seconds), flush=True)
                return True
            if statuses:
                raise SystemExit("the first token request in %s was answered %s, not refused" % (domain, statuses[0]))
        time.sleep(0.3)
    return False


def state(cfg):
    """The count of every kind of object per tenant, keyed by the tenant's key (a created customer's
    id is new on every run, its key is its domain prefix)."""
    keep = ("kind", "region", "users", "groups", "applications", "servicePrincipals", "customers",
            "oauth2PermissionGrants", "appRoleAssignments", "gdapRelationships", "accessAssignments")
    return {t["key"]: {k: t[k] for k in keep} for t in control(cfg, "GET", "tenants")["tenants"]}


def token_statuses(cfg, seq, domain):
    """Statuses of the identity platform requests in the tenant of ``domain`` (by id) since ``seq``:
    OpenID discovery and token requests (MSAL discovers a tenant before its first token request there;
    an unknown tenant is refused at discovery). A fault the emulator injected (the faults run) is left out:
    the service never saw that request."""
    tenant_id = tenant_ids(cfg)[domain.lower()]
    return [r["status"] for r in requests_since(cfg, seq)["requests"]
            if r["service"] == "login" and r["path"].lower().startswith("/%s/" % tenant_id) and not r.get("fault")]


def created(cfg, seq):
    """Successful creations since ``seq``: customers, relationships, consents per customer (by key)."""
    counts = {"customers": 0, "relationships": 0, "consents": {}}
    # By tenant key: a created customer's tenant id is new on every run.
    keys = {t["id"]: t["key"] for t in control(cfg, "GET", "tenants")["tenants"]}
    for r in requests_since(cfg, seq)["requests"]:
        # A retry that Partner Center answered from its MS-RequestId record created nothing; a write
        # whose answer the faults lost (act_drop, act_error) did create and keeps its 2xx status.
        if r["method"] != "POST" or not 200 <= r["status"] < 300 or r.get("replay"):
            continue
        if r["service"] == "partner_center" and r["path"] == "/v1/customers":
            counts["customers"] += 1
        elif r["service"] == "graph" and r["path"].endswith("/tenantRelationships/delegatedAdminRelationships"):
            counts["relationships"] += 1
        elif r["service"] == "partner_center" and r["path"].endswith("/applicationconsents"):
            customer = r["path"].split("/")[3]
            customer = keys.get(customer, customer)
            counts["consents"][customer] = counts["consents"].get(customer, 0) + 1
    return counts


def main():
    cfg = config(sys.argv[1])
    command = sys.argv[2]
    if command == "reset":
        control(cfg, "POST", "reset")
    elif command == "mark":
        print(last_seq(cfg))
    elif command == "writes":
        writes, refused = writes_and_refused_consents(cfg, sys.argv[3], sys.argv[4:])
        for entry in refused:
            print("refused consent (consent_blocked): %s %s" % (entry["path"], entry["status"]), file=sys.stderr)
        for entry in writes:
            print("%s %s %s %s" % (entry["service"], entry["method"], entry["path"], entry["status"]), file=sys.stderr)
        print(len(writes))
    elif command == "settings":
        changes = {key: yaml.safe_load(value) for key, value in (arg.split("=", 1) for arg in sys.argv[3:])}
        control(cfg, "PATCH", "settings", changes)
    elif command == "faults":
        control(cfg, "PUT", "faults", json.loads(sys.argv[3]))
    elif command == "propagate-after-refusal":
        if not propagate_after_refusal(cfg, sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])):
            sys.exit("no refused token request in %s" % sys.argv[4])
    elif command == "state":
        print(json.dumps(state(cfg), indent=1, sort_keys=True))
    elif command == "created":
        print(json.dumps(created(cfg, sys.argv[3]), sort_keys=True))
    elif command == "token-statuses":
        print(" ".join(str(status) for status in token_statuses(cfg, sys.argv[3], sys.argv[4])))
    elif command == "book-reads":
        print(book_reads(cfg, sys.argv[3]))
    elif command == "counters":
        print(json.dumps(control(cfg, "GET", "counters"), sort_keys=True))
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
