"""Compare report.json with the expected status of every customer (the demo world's table)."""
import json
import sys

# customer: (status, step) -- tests/emulator/worlds/README.md; 02, 06 and 26 are approved during the first run
# (the "faults" run is a first run with faults on).
EXPECTED = {
    "customer01": ("onboarded", "done"),          # active GDAP + full consent (DAP record): nothing to change
    "customer02": ("onboarded", "done"),          # new relationship, approved within the wait
    "customer03": ("awaiting_approval", "gdap"),  # approvalPending
    "customer04": ("onboarded", "done"),          # active, no consent: consent given
    "customer05": ("awaiting_approval", "gdap"),  # expired: reported, new relationship
    "customer06": ("consent_blocked", "consent"),  # approved; no Azure Service Management service principal
    "customer07": ("awaiting_approval", "gdap"),  # DAP only
    "customer08": ("awaiting_approval", "gdap"),  # terminated: new relationship
    "customer09": ("onboarded", "done"),          # active without assignments: assignments + consent
    "customer10": ("failed", "region"),           # SA: no partner tenant
    "customer11": ("onboarded", "done"),
    "customer12": ("awaiting_approval", "gdap"),
    "customer13": ("awaiting_approval", "gdap"),
    "customer14": ("consent_blocked", "consent"),  # no Partner Center service principal
    "customer15": ("awaiting_approval", "gdap"),  # expired: new relationship
    "customer16": ("failed", "customer"),         # NA tenant, record only in eu's Partner Center
    "customer17": ("onboarded", "done"),
    "customer18": ("awaiting_approval", "gdap"),
    "customer19": ("onboarded", "done"),
    "customer20": ("awaiting_approval", "gdap"),
    "customer21": ("awaiting_approval", "gdap"),
    "customer22": ("onboarded", "done"),          # drifted consent replaced
    "customer23": ("awaiting_approval", "gdap"),  # terminated: new relationship
    "customer24": ("failed", "region"),           # OC: no partner tenant
    "customer25": ("onboarded", "done"),
    "customer26": ("onboarded", "done"),          # created during the first run, approved within the wait
}
MISSING_API = {"customer06": "Service Management", "customer14": "Partner Center"}
ENDED = {"customer05", "customer15"}
NOT_OUR_CUSTOMER = {"customer16"}  # an existing tenant without a record in the serving partner tenant
NEW_RELATIONSHIP = {"customer02", "customer05", "customer06", "customer07", "customer08", "customer12",
                    "customer15", "customer18", "customer20", "customer23", "customer26"}


def main():
    report_dir, run = sys.argv[1], sys.argv[2]
    # A run with faults on must end exactly as the same run without them.
    run = "first" if run == "faults" else run
    with open(report_dir + "/report.json") as handle:
        report = json.load(handle)
    got = {r["customer"]: r for r in report["customers"]}
    errors = []
    if sorted(got) != sorted(EXPECTED):
        errors.append("customers in the report: %s" % sorted(got))
    for name, (status, step) in EXPECTED.items():
        r = got.get(name, {})
        if run == "check" and name in MISSING_API:
            # Before consent the app cannot read the tenant: only the real write finds the missing
            # service principal, so check mode says the plan cannot be known, and why (not a guess).
            status, step = "undetermined", "consent"
            if r.get("changes") != ["consent: create"] or "checked by Partner Center only on a real run" not in (
                    r.get("message") or ""):
                errors.append("%s: check mode plan %r (%s)" % (name, r.get("changes"), r.get("message")))
        if (r.get("status"), r.get("step")) != (status, step):
            errors.append("%s: expected %s/%s, got %s/%s (%s %s)" % (
                name, status, step, r.get("status"), r.get("step"), r.get("error_code"), r.get("message")))
            continue
        if status == "awaiting_approval" and run != "check" and "/granularAdminRelationships/" not in (r.get("approval_link") or ""):
            errors.append("%s: no approval link: %r" % (name, r.get("approval_link")))
        if status == "failed" and not r.get("error_code"):
            errors.append("%s: failed without an error code" % name)
        if name in MISSING_API and run != "check":
            if not any(MISSING_API[name] in api for api in r.get("missing_apis") or []):
                errors.append("%s: missing_apis %r" % (name, r.get("missing_apis")))
            if "/adminconsent?client_id=" not in (r.get("admin_consent_url") or ""):
                errors.append("%s: admin_consent_url %r" % (name, r.get("admin_consent_url")))
        if name in NOT_OUR_CUSTOMER and "invType=ResellerRelationship" not in (r.get("relationship_request_url") or ""):
            errors.append("%s: no reseller relationship request link: %r" % (name, r.get("relationship_request_url")))
        if name in ENDED and not any("ended relationship" in n for n in r.get("notes") or []):
            errors.append("%s: the ended relationship is not reported: %r" % (name, r.get("notes")))
        if run == "first" and name in NEW_RELATIONSHIP and not any(c.startswith("relationship: create") for c in r.get("changes") or []):
            errors.append("%s: no new relationship: %r" % (name, r.get("changes")))
        if run != "first" and r.get("changes") and not (run == "check" and name in MISSING_API):
            errors.append("%s: changed on a rerun: %r" % (name, r.get("changes")))
    for name, why in (("customer10", "NoPartnerTenantForRegion"), ("customer24", "NoPartnerTenantForRegion"),
                      ("customer16", "CustomerNotFound")):
        if got.get(name, {}).get("error_code") != why:
            errors.append("%s: error_code %r, expected %s" % (name, got.get(name, {}).get("error_code"), why))
    new = got.get("customer26", {})
    if run == "first":
        if (new.get("changes") or [""])[0] != "customer: create":
            errors.append("customer26: not created first: %r" % new.get("changes"))
        # The first fresh token comes before the tenant has propagated and is refused.
        attempts = [n for n in new.get("notes") or [] if n.startswith("tenant propagated:")]
        if len(attempts) != 1 or attempts[0].endswith("attempt 1"):
            errors.append("customer26: propagation not retried: %r" % new.get("notes"))
    for name in ("customer01", "customer11", "customer19"):
        if got.get(name, {}).get("changes"):
            errors.append("%s: already onboarded, yet changed: %r" % (name, got[name]["changes"]))
    if errors:
        print("\n".join(["report of the %s run differs:" % run] + errors), file=sys.stderr)
        sys.exit(1)
    print("%s run: all %d customers as expected" % (run, len(EXPECTED)))


if __name__ == "__main__":
    main()
