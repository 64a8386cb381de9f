"""Fake HTTP transport and a tiny fake identity platform for unit tests (no network, no sleeping)."""

import base64
import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

try:  # ansible-core 2.19+
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # 2.16-2.18: AnsibleModule reads its arguments from basic._ANSIBLE_ARGS
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args):
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HttpClient, RetryPolicy
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import ConnectionOptions

LOGIN = "https://login.example.test"
GRAPH = "https://graph.example.test"
PC = "https://pc.example.test"
PARTNER = "10000000-0000-4000-8000-000000000001"
CUSTOMER = "30000000-0000-4000-8000-000000000001"
CUSTOMER2 = "30000000-0000-4000-8000-000000000002"
APP = "20000000-0000-4000-8000-000000000001"
APP2 = "20000000-0000-4000-8000-000000000002"
SECRET = "super-secret-value-0001"
RT_SEED = "seed-refresh-token-value-0001"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
USER_OID = "40000000-0000-4000-8000-000000000001"


class FakeRaw:
    def __init__(self, status_code=200, body=None, headers=None, text=None):
        self.status_code = status_code
        self.headers = dict(headers or {})
        if text is not None:
            self.content = text.encode("utf-8")
        elif body is None:
            self.content = b""
        else:
            self.content = json.dumps(body).encode("utf-8")
            self.headers.setdefault("Content-Type", "application/json")


class Call:
    def __init__(self, method, url, headers, params, json_body, data, verify, timeout):
        self.method = method
        self.url = url
        self.headers = headers or {}
        self.params = params
        self.json = json_body
        self.data = data
        self.verify = verify
        self.timeout = timeout

    @property
    def path(self):
        return urlsplit(self.url).path


class FakeSession:
    """Routes requests to handlers ``(call) -> FakeRaw | Exception`` registered per method + URL regex.

    ``queue(method, regex, *responses)`` answers successive calls with the given responses
    (the last one repeats).
    """

    def __init__(self):
        self.calls = []
        self._routes = []

    def route(self, method, pattern, handler):
        self._routes.insert(0, (method.upper(), re.compile(pattern), handler))
        return self

    def queue(self, method, pattern, *responses):
        items = list(responses)

        def handler(call):
            item = items.pop(0) if len(items) > 1 else items[0]
            return item(call) if callable(item) else item
        return self.route(method, pattern, handler)

    def request(self, method, url, headers=None, params=None, json=None, data=None, verify=None, timeout=None,
                allow_redirects=True):
        call = Call(method.upper(), url, headers, params, json, data, verify, timeout)
        self.calls.append(call)
        for route_method, pattern, handler in self._routes:
            if route_method in (call.method, "*") and pattern.search(url):
                result = handler(call)
                if isinstance(result, BaseException):
                    raise result
                return result
        return FakeRaw(404, {"error": {"code": "NotFound", "message": "no fake route for %s %s" % (method, url)}})

    def count(self, method=None, pattern=None):
        return len([c for c in self.calls if (method is None or c.method == method)
                    and (pattern is None or re.search(pattern, c.url))])


class FakeClock:
    def __init__(self):
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)


def make_http(session=None, retry=None, rand=lambda: 0.5, verify="/tmp/ca.pem"):
    clock = FakeClock()
    http = HttpClient(verify=verify, session=session or FakeSession(), retry=retry or RetryPolicy(),
                      sleep=clock.sleep, rand=rand)
    http.fake_clock = clock
    return http


def b64url(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode("utf-8")).rstrip(b"=").decode("ascii")


def jwt(claims):
    return "%s.%s.%s" % (b64url({"alg": "none", "typ": "JWT"}), b64url(claims), "c2lnbmF0dXJl")


class FakeIdentityPlatform:
    """Discovery + token endpoint good enough for MSAL: client credentials and rotating refresh tokens."""

    def __init__(self, session, host=LOGIN, secrets=None, domains=None):
        self.host = host
        self.secrets = secrets or {APP: SECRET, APP2: "second-app-secret-0002"}
        self.domains = domains or {"contoso.onmicrosoft.com": PARTNER}
        self.refresh_tokens = {RT_SEED: {"oid": USER_OID, "home": PARTNER, "client_id": APP}}
        self.issued = []
        self.errors = {}  # tenant -> (aadsts number, error)
        self.expires_in = 3599
        self.refresh_in = None  # seconds, as the service sends for long-lived tokens
        # delegated permissions a ".default" request is granted, per audience
        self.delegated_grants = {GRAPH_AUDIENCE: ["Directory.AccessAsUser.All", "Group.ReadWrite.All"]}
        session.route("GET", re.escape(host) + r"/[^/]+/v2\.0/\.well-known/openid-configuration", self.discovery)
        session.route("POST", re.escape(host) + r"/[^/]+/oauth2/v2\.0/token", self.token)

    def discovery(self, call):
        tenant = call.path.split("/")[1]
        tid = self.domains.get(tenant, tenant)
        if not re.match(r"^[0-9a-f-]{36}$", tid):
            return FakeRaw(400, {"error": "invalid_tenant", "error_description":
                                 "AADSTS90002: Tenant '%s' not found. Trace ID: x" % tenant,
                                 "error_codes": [90002], "trace_id": "trace-1", "correlation_id": "corr-1"})
        base = "%s/%s" % (self.host, tid)
        return FakeRaw(200, {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "issuer": "https://login.example.test/%s/v2.0" % tid,
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        })

    def _error(self, number, error="invalid_grant", status=400):
        return FakeRaw(status, {"error": error, "error_description": "AADSTS%s: failure %s. Trace ID: t" % (number, number),
                                "error_codes": [number], "trace_id": "trace-%s" % number,
                                "correlation_id": "corr-%s" % number})

    def _delegated_scopes(self, resource, aud):
        """(scp claim, response scope) of a delegated token.

        Like the real service, a ".default" request is answered with the granted permission names
        (Graph's without its prefix, plus the OpenID scopes), never with ".default" itself.
        """
        names = self.delegated_grants.get(aud)
        if names and any(s.endswith("/.default") for s in resource):
            prefix = "" if aud == GRAPH_AUDIENCE else aud + "/"
            return " ".join(names), " ".join(["%s%s" % (prefix, n) for n in names] + ["openid", "profile", "email"])
        return "user_impersonation", " ".join(resource)

    def token(self, call):
        tenant = call.path.split("/")[1]
        data = call.data if isinstance(call.data, dict) else {k: v[0] for k, v in parse_qs(call.data or "").items()}
        client_id = data.get("client_id")
        if tenant in self.errors:
            number, error = self.errors[tenant]
            return self._error(number, error)
        if "client_secret" in data and self.secrets.get(client_id) != data["client_secret"]:
            return self._error(7000215, "invalid_client", 401)
        scope = data.get("scope", "")
        resource = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        aud = resource[0].rsplit("/", 1)[0] if resource else "unknown"
        now = int(time.time())
        body = {"token_type": "Bearer", "expires_in": self.expires_in}
        if self.refresh_in is not None:
            body["refresh_in"] = self.refresh_in
        if data.get("grant_type") == "client_credentials":
            claims = {"aud": aud, "tid": tenant, "appid": client_id, "idtyp": "app", "roles": ["Directory.Read.All"],
                      "exp": now + self.expires_in, "jti": str(uuid.uuid4())}
        elif data.get("grant_type") == "refresh_token":
            record = self.refresh_tokens.get(data.get("refresh_token"))
            if not record or record["client_id"] != client_id:
                return self._error(700082)
            new_rt = "rotated-%s" % uuid.uuid4()
            self.refresh_tokens[new_rt] = record
            scp, granted = self._delegated_scopes(resource, aud)
            claims = {"aud": aud, "tid": tenant, "appid": client_id, "idtyp": "user", "oid": record["oid"],
                      "scp": scp, "upn": "integration@contoso.onmicrosoft.com",
                      "exp": now + self.expires_in, "jti": str(uuid.uuid4())}
            body["refresh_token"] = new_rt
            body["id_token"] = jwt({"aud": client_id, "iss": "%s/%s/v2.0" % (self.host, tenant), "sub": record["oid"],
                                    "oid": record["oid"], "tid": tenant, "exp": now + 3600, "iat": now,
                                    "preferred_username": "integration@contoso.onmicrosoft.com"})
            body["client_info"] = b64url({"uid": record["oid"], "utid": record["home"]})
            body["scope"] = granted
        else:
            return self._error(70003, "unsupported_grant_type")
        body["access_token"] = jwt(claims)
        self.issued.append((tenant, client_id, data.get("grant_type"), aud))
        return FakeRaw(200, body)


class PagedFakeVault:
    """Key Vault's list (paged, no values), Update Secret and the refusal to read a disabled version."""

    BASE = "https://kv.vault.azure.net/secrets/us-rt"

    def __init__(self, session, page_size=2):
        self.versions = []
        self.page_size = page_size
        self.patches = []
        session.route("PUT", r"/secrets/us-rt\?|/secrets/us-rt$", self.put)
        session.route("GET", r"/secrets/us-rt$", self.get_latest)
        session.route("GET", r"/secrets/us-rt/versions", self.list)
        session.route("PATCH", r"/secrets/us-rt/[0-9a-f]{32}$", self.patch)

    def seed(self, token):
        """A first version, as a one-time consent stores it (store version 0)."""
        return self._add({"value": token, "contentType": "refresh-token", "tags": {"csp-version": "0"}})

    def put(self, call):
        return self._add(call.json)

    def _add(self, secret):
        version = "%032x" % (len(self.versions) + 1)
        attributes = {"enabled": True, "created": len(self.versions)}
        body = dict(secret, id="%s/%s" % (self.BASE, version), attributes=attributes)
        self.versions.append(body)
        return FakeRaw(200, body)

    def get_latest(self, call):
        if not self.versions:
            return FakeRaw(404, {"error": {"code": "SecretNotFound", "message": "not found"}})
        return FakeRaw(200, self.versions[-1])

    def list(self, call):
        skip = int(call.url.rsplit("skip=", 1)[1]) if "skip=" in call.url else 0
        page = [{k: v for k, v in item.items() if k != "value"} for item in self.versions[skip:skip + self.page_size]]
        link = None
        if skip + self.page_size < len(self.versions):
            link = "%s/versions?api-version=7.4&skip=%d" % (self.BASE, skip + self.page_size)
        return FakeRaw(200, {"value": page, "nextLink": link})

    def patch(self, call):
        version = call.url.rsplit("/", 1)[1]
        assert call.json == {"attributes": {"enabled": False}} and call.params == {"api-version": "7.4"}
        item = next(v for v in self.versions if v["id"].endswith(version))
        item["attributes"]["enabled"] = False
        self.patches.append(version)
        return FakeRaw(200, {k: v for k, v in item.items() if k != "value"})

    def enabled_values(self):
        return [v["value"] for v in self.versions if v["attributes"]["enabled"]]


def options(**overrides):
    values = {
        "tenant_id": PARTNER,
        "client_id": APP,
        "client_secret": SECRET,
        "cloud": "public",
        "authority_host": LOGIN,
        "graph_endpoint": GRAPH,
        "partner_center_endpoint": PC,
    }
    values.update(overrides)
    return ConnectionOptions(values)


# The connection options every module test passes (the fake endpoints, the app's secret).
CONNECTION = {
    "tenant_id": PARTNER, "client_id": APP, "client_secret": SECRET, "authority_host": LOGIN,
    "graph_endpoint": GRAPH, "partner_center_endpoint": PC,
}


def run_module(module, args, capsys, check_mode=False, diff=False):
    """Run ``module.main()`` with ``args`` as Ansible would; (exit code, JSON result)."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    return info.value.code, json.loads(capsys.readouterr().out)
