"""The local emulator for the script targets' helpers (runme_prelude.sh puts this folder on PYTHONPATH).

``integration_config.yml`` is written by scripts/write_integration_config.py: one ``key: <JSON value>``
line per setting, so it is read here without a YAML library.
"""

import json
import shlex
import ssl
import sys
import urllib.request

# integration_config.yml key -> the environment variable the collection's modules read
ENDPOINT_VARIABLES = (("csp_authority_host", "CSP_AUTHORITY_HOST"), ("csp_graph_endpoint", "CSP_GRAPH_ENDPOINT"),
                      ("csp_partner_center_endpoint", "CSP_PARTNER_CENTER_ENDPOINT"), ("csp_ca_bundle", "CSP_CA_BUNDLE"))


def config(path):
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if ":" in line and not line.startswith("#"):
                key, _sep, value = line.partition(":")
                values[key.strip()] = json.loads(value.strip())
    return values


def open_json(cfg, request):
    """(status, parsed body or None) of ``request``, TLS verified against the emulator's CA."""
    ctx = ssl.create_default_context(cafile=cfg["csp_ca_bundle"])
    with urllib.request.urlopen(request, context=ctx, timeout=30) as resp:  # nosec - the local emulator
        return resp.status, json.loads(resp.read() or b"null")


def control(cfg, method, path, body=None):
    """A control API call: ``path`` below /_emulator/ (e.g. ``requests?since=3``)."""
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(cfg["emulator_control_url"] + "/_emulator/" + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + cfg["emulator_control_token"],
                                              "Content-Type": "application/json"})
    return open_json(cfg, request)[1]


def requests_since(cfg, seq):
    """``{"requests": [...], "last_seq": N}``: the request log after sequence number ``seq``."""
    return control(cfg, "GET", "requests?since=%d" % int(seq))


def writes_since(cfg, seq):
    """The Graph and Partner Center write requests after ``seq`` (token requests are no writes; nor is the
    ``$batch`` envelope, whose steps are logged one by one)."""
    return [r for r in requests_since(cfg, seq)["requests"]
            if r["service"] in ("graph", "partner_center") and r["method"] not in ("GET", "HEAD")
            and not r["path"].endswith("/$batch")]


def book_reads(cfg, seq):
    """Reads of a partner tenant's whole book since ``seq``: the Partner Center customer list without a
    filter, the GDAP relationships without ``$filter``, the delegatedAdminCustomers list."""
    count = 0
    for r in requests_since(cfg, seq)["requests"]:
        path, query = r["path"], str(r.get("query") or "")
        if r["method"] != "GET":
            continue
        if (r["service"] == "partner_center" and path == "/v1/customers" and "filter" not in query) or \
                (r["service"] == "graph" and path.endswith("/tenantRelationships/delegatedAdminRelationships")
                 and "filter" not in query) or \
                (r["service"] == "graph" and path.endswith("/tenantRelationships/delegatedAdminCustomers")):
            count += 1
    return count


def last_seq(cfg):
    return requests_since(cfg, 999999999)["last_seq"]


def exports(cfg):
    """Shell lines that export the emulator's endpoints the way the modules read them."""
    return "".join("export %s=%s\n" % (env, shlex.quote(str(cfg[key]))) for key, env in ENDPOINT_VARIABLES)


if __name__ == "__main__":
    if sys.argv[1:2] != ["exports"] or len(sys.argv) != 3:
        sys.exit("usage: emulator_control.py exports INTEGRATION_CONFIG")
    sys.stdout.write(exports(config(sys.argv[2])))
