"""Small client of the emulator's control API for runme.sh: reset, mark, writes, approvals."""
import json
import ssl
import sys
import time
import urllib.request

import yaml


def config(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def call(cfg, method, path, body=None):
    ctx = ssl.create_default_context(cafile=cfg["csp_ca_bundle"])
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cfg["emulator_control_url"] + path, data=data, method=method, headers={
        "Authorization": "Bearer " + cfg["emulator_control_token"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


def requests_since(cfg, seq):
    return call(cfg, "GET", "/_emulator/requests?since=%d" % int(seq))


def writes_since(cfg, seq, blocked=()):
    """Graph and Partner Center write requests (token requests excluded).

    ``$batch`` is left out: the collection sends only GET sub-requests through it (reads of many objects).
    The consent of a customer in ``blocked`` (an API without a service principal) is attempted again on
    every run, because the app cannot read that tenant before it is consented; Partner Center refuses it
    (400) and nothing changes. Those refused attempts are returned apart.
    """
    writes, refused = [], []
    for r in requests_since(cfg, seq)["requests"]:
        if r["service"] not in ("graph", "partner_center") or r["method"] in ("GET", "HEAD"):
            continue
        if r["path"].startswith("/_emulator/") or r["path"].endswith("/$batch"):
            continue
        if (r["method"] == "POST" and r["path"].endswith("/applicationconsents") and r["status"] == 400
                and any("/customers/%s/" % c in r["path"] for c in blocked)):
            refused.append(r)
        else:
            writes.append(r)
    return writes, refused


def approve_when_locked(cfg, seq, customer_ids, timeout):
    """Approve each customer's relationship as soon as it is locked for approval."""
    pending = set(customer_ids)
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        log = requests_since(cfg, seq)
        for entry in log["requests"]:
            path = entry["path"]
            if entry["method"] == "POST" and path.endswith("/requests") and entry["status"] < 300:
                rid = path.split("/delegatedAdminRelationships/")[-1].split("/")[0]
                for customer in list(pending):
                    if rid.startswith(customer):
                        call(cfg, "POST", "/_emulator/gdap/%s/approve" % rid)
                        pending.discard(customer)
                        print("approved", rid, flush=True)
        time.sleep(0.3)
    return sorted(pending)


def main():
    cfg = config(sys.argv[1])
    command = sys.argv[2]
    if command == "reset":
        call(cfg, "POST", "/_emulator/reset")
    elif command == "mark":
        print(requests_since(cfg, 999999999)["last_seq"])
    elif command == "writes":
        writes, refused = writes_since(cfg, sys.argv[3], sys.argv[4:])
        for entry in refused:
            print("refused consent (consent_blocked): %s %s" % (entry["path"], entry["status"]), file=sys.stderr)
        for entry in writes:
            print("%s %s %s %s" % (entry["service"], entry["method"], entry["path"], entry["status"]), file=sys.stderr)
        print(len(writes))
    elif command == "approve-when-locked":
        left = approve_when_locked(cfg, sys.argv[3], sys.argv[5:], float(sys.argv[4]))
        if left:
            print("never locked for approval: " + ", ".join(left), file=sys.stderr)
            sys.exit(1)
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
