# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft Graph: requests, paging, $batch, OData quoting."""

from urllib.parse import urlsplit

from .errors import CspValidationError, GraphError
from .http import RETRY_STATUSES, check_relative_path, error_from_response, parse_retry_after, status_expected

API_VERSIONS = ("v1.0", "beta")
BATCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # what a JSON batch step may use
BATCH_LIMIT = 20


def odata_quote(value):
    """An OData string literal: single quotes around, inner single quotes doubled."""
    return "'%s'" % str(value).replace("'", "''")


def filter_eq(prop, value):
    """``prop eq 'value'`` (booleans and numbers unquoted)."""
    if isinstance(value, bool):
        return "%s eq %s" % (prop, "true" if value else "false")
    if isinstance(value, (int, float)):
        return "%s eq %s" % (prop, value)
    return "%s eq %s" % (prop, odata_quote(value))


class GraphResponse:
    """Status, headers and JSON of one Graph response."""

    def __init__(self, status, headers, json, request_id=None, client_request_id=None):
        self.status = status
        self.headers = headers
        self.json = json
        self.request_id = request_id
        self.client_request_id = client_request_id


class GraphClient:
    """Graph calls for one tenant with a token from ``token_provider`` (fetched per request, cached).

    ``fresh_token``: the first request gets a new token instead of the cached one (which it replaces).
    ``grant``: ``client_credentials`` for the app's own token although the connection has a refresh token
    (default: the connection's grant).
    """

    def __init__(self, http, token_provider, tenant=None, endpoint="https://graph.microsoft.com",
                 api_version="v1.0", fresh_token=False, grant=None):
        if api_version not in API_VERSIONS:
            raise CspValidationError("api_version must be one of %s" % ", ".join(API_VERSIONS),
                                     code="InvalidApiVersion")
        self.http = http
        self.tokens = token_provider
        self.tenant = tenant
        self.endpoint = endpoint.rstrip("/")
        self.api_version = api_version
        self._fresh = fresh_token
        self.grant = grant
        self.last_token = None
        self.last_response = None

    # --- urls ------------------------------------------------------------------------
    def url(self, path_or_url, name="URL"):
        """Absolute URL for a path (``/users``) or a full URL, which must be on the Graph endpoint.

        A token is only ever sent to the configured Graph host: a full URL elsewhere (a nextLink,
        a user-supplied URL) is refused, and so is a path with ``.``/``..`` segments or a ``//`` prefix.
        """
        text = str(path_or_url).strip()
        if "://" in text:
            parts, base = urlsplit(text), urlsplit(self.endpoint)
            if parts.scheme.lower() != "https" or parts.netloc.lower() != base.netloc.lower():
                raise CspValidationError("%s %s is not on the Graph endpoint %s; a token is only sent there"
                                         % (name, text.split("?", maxsplit=1)[0], self.endpoint), code="ForeignUrl")
            check_relative_path(parts.path, name=name)
            return text
        check_relative_path(text, name=name)
        if not text.startswith("/"):
            text = "/" + text
        for version in API_VERSIONS:
            if text == "/" + version or text.startswith("/" + version + "/"):
                return self.endpoint + text
        return "%s/%s%s" % (self.endpoint, self.api_version, text)

    def relative(self, path_or_url, name="URL"):
        """Path relative to the version root, as ``$batch`` wants it (``/users?$top=1``)."""
        url = self.url(path_or_url, name=name)
        rest = url[len(self.endpoint):]
        for version in API_VERSIONS:
            if rest.startswith("/" + version + "/"):
                return rest[len(version) + 1:]
        return rest

    # --- requests --------------------------------------------------------------------
    def _token(self, fresh=False):
        token = self.tokens.get_token(tenant=self.tenant, resource="graph", fresh=fresh or self._fresh,
                                      grant=self.grant)
        self._fresh = False
        self.last_token = token
        return token

    def request(self, method, path_or_url, params=None, headers=None, body=None, expected_status=None,
                raw_body=None, idempotent=None):
        """One call; returns ``GraphResponse`` or raises ``GraphError`` (status not expected, default 2xx).
        ``idempotent`` overrides the method's (a POST that only reads, such as a ``$batch`` of GETs)."""
        url = self.url(path_or_url)
        method = method.upper()
        token = self._token()
        response = self._send(method, url, token, params, headers, body, raw_body, idempotent)
        if response.status_code == 401 and token.token_source == "cache":
            # a cached token the service no longer accepts (revoked, or claims changed): once, fresh
            response = self._send(method, url, self._token(fresh=True), params, headers, body, raw_body, idempotent)
        if not status_expected(response.status_code, expected_status):
            raise error_from_response(response, "graph", action="%s %s" % (method, url.split("?", maxsplit=1)[0]))
        self.last_response = GraphResponse(response.status_code, response.headers, response.json(),
                                           response.request_id, response.client_request_id)
        return self.last_response

    def _send(self, method, url, token, params, headers, body, raw_body, idempotent=None):
        all_headers = {"Authorization": "Bearer " + token.token, "Accept": "application/json"}
        all_headers.update(headers or {})
        kwargs = {"json": body} if raw_body is None else {"data": raw_body}
        if body is None and raw_body is None:
            kwargs = {}
        return self.http.send(method, url, headers=all_headers, params=params or None, idempotent=idempotent,
                              **kwargs)

    def get(self, path, params=None, headers=None, expected_status=None):
        return self.request("GET", path, params=params, headers=headers, expected_status=expected_status).json

    # --- paging ----------------------------------------------------------------------
    def iter_pages(self, path_or_url, params=None, headers=None, max_pages=None):
        """Yield each page's JSON, following ``@odata.nextLink`` (a full URL with the query).

        Headers such as ``ConsistencyLevel`` are re-sent on every page; parameters only on the first
        (the nextLink carries them).
        """
        url, page_params, count = path_or_url, params, 0
        while url:
            page = self.request("GET", url, params=page_params, headers=headers).json or {}
            count += 1
            yield page
            url, page_params = page.get("@odata.nextLink"), None
            if max_pages and count >= max_pages:
                return

    def paginate(self, path_or_url, params=None, headers=None, max_pages=None):
        """Yield the items of every page (memory stays flat however many pages there are)."""
        for page in self.iter_pages(path_or_url, params=params, headers=headers, max_pages=max_pages):
            value = page.get("value")
            if isinstance(value, list):
                yield from value
            elif value is not None:
                yield value

    def get_all(self, path_or_url, params=None, headers=None, max_pages=None):
        return list(self.paginate(path_or_url, params=params, headers=headers, max_pages=max_pages))

    # --- $batch ------------------------------------------------------------------------
    def normalize_batch(self, requests):
        """Validate and convert user requests ({id, method, url, body, headers, depends_on})."""
        if not isinstance(requests, list) or not requests:
            raise CspValidationError("batch must be a non-empty list of requests", code="InvalidBatch")
        normalized, seen = [], set()
        for index, item in enumerate(requests, 1):
            if not isinstance(item, dict) or not item.get("url"):
                raise CspValidationError("batch request %d needs a url" % index, code="InvalidBatch")
            rid = str(item.get("id") or index)
            if rid in seen:
                raise CspValidationError("batch request id %s is used twice" % rid, code="InvalidBatch")
            seen.add(rid)
            method = str(item.get("method") or "GET").strip().upper()
            if method not in BATCH_METHODS:
                raise CspValidationError("batch request %s method %r is not one of %s"
                                         % (rid, item.get("method"), ", ".join(BATCH_METHODS)), code="InvalidBatch")
            entry = {"id": rid, "method": method, "url": self.relative(item["url"], name="batch request %s url" % rid)}
            headers = dict(item.get("headers") or {})
            if item.get("body") is not None:
                entry["body"] = item["body"]
                if not any(k.lower() == "content-type" for k in headers):
                    headers["Content-Type"] = "application/json"
            if headers:
                entry["headers"] = headers
            depends = item.get("depends_on") or item.get("dependsOn")
            if depends:
                entry["dependsOn"] = [str(d) for d in ([depends] if isinstance(depends, (str, int)) else depends)]
            normalized.append(entry)
        for entry in normalized:
            for dep in entry.get("dependsOn", []):
                if dep not in seen:
                    raise CspValidationError("batch request %s depends on unknown id %s" % (entry["id"], dep),
                                             code="InvalidBatch")
        return normalized

    @staticmethod
    def chunk(requests, size=BATCH_LIMIT):
        """Split into chunks of at most ``size``, keeping dependency chains in one chunk (Graph needs that)."""
        parent = {r["id"]: r["id"] for r in requests}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for r in requests:
            for dep in r.get("dependsOn", []):
                parent[find(r["id"])] = find(dep)
        groups, order = {}, []
        for r in requests:
            root = find(r["id"])
            if root not in groups:
                groups[root] = []
                order.append(root)
            groups[root].append(r)
        chunks, current = [], []
        for root in order:
            group = groups[root]
            if len(group) > size:
                raise CspValidationError("%d batch requests depend on each other; at most %d fit in one $batch"
                                         % (len(group), size), code="InvalidBatch")
            if len(current) + len(group) > size:
                chunks.append(current)
                current = []
            current.extend(group)
        if current:
            chunks.append(current)
        return chunks

    def batch(self, requests, max_rounds=None):
        """Send requests through ``$batch``; returns ``{id: {id, status, headers, body}}`` in request order.

        Throttled sub-requests (429/503/504 with their own Retry-After) are sent again, together with
        the ones that failed with 424 because of them, after the longest Retry-After of the round;
        waits count against the HttpClient's retry budget.
        """
        normalized = self.normalize_batch(requests)
        by_id = {r["id"]: r for r in normalized}
        results = {}
        policy = self.http.retry
        rounds = max_rounds or policy.max_attempts
        pending = normalized
        waited = 0.0
        for round_no in range(1, rounds + 1):
            throttled, waits = set(), []
            for chunk in self.chunk(pending):
                # a batch of reads may be sent again when its answer is lost; one with a write may not
                reads_only = all(str(r.get("method", "GET")).upper() in ("GET", "HEAD") for r in chunk)
                response = self.request("POST", "/$batch", body={"requests": chunk}, idempotent=reads_only or None)
                for sub in (response.json or {}).get("responses", []):
                    rid = str(sub.get("id"))
                    results[rid] = {"id": rid, "status": sub.get("status"), "headers": sub.get("headers") or {},
                                    "body": sub.get("body")}
                    if sub.get("status") in RETRY_STATUSES:
                        throttled.add(rid)
                        headers = {str(k).lower(): v for k, v in (sub.get("headers") or {}).items()}
                        waits.append(parse_retry_after(headers.get("retry-after")))
            if not throttled or round_no == rounds:
                break
            retry_ids = self._with_failed_dependents(normalized, throttled, results)
            known = [w for w in waits if w is not None]
            delay = max(known) if known else policy.backoff(round_no, self.http.rand)
            if getattr(self.http, "throttle", None) is not None:
                self.http.throttle.back_off(delay)  # the app's other threads wait too
            if delay > policy.max_wait or waited + delay > policy.max_total_wait:
                break
            waited += self.http._wait(delay)
            pending = []
            for rid in [r["id"] for r in normalized if r["id"] in retry_ids]:
                entry = dict(by_id[rid])
                deps = [d for d in entry.get("dependsOn", []) if d in retry_ids]
                if deps:
                    entry["dependsOn"] = deps
                else:
                    entry.pop("dependsOn", None)
                pending.append(entry)
        return {r["id"]: results.get(r["id"], {"id": r["id"], "status": None, "headers": {}, "body": None})
                for r in normalized}

    @staticmethod
    def _with_failed_dependents(requests, throttled, results):
        retry = set(throttled)
        changed = True
        while changed:
            changed = False
            for r in requests:
                if r["id"] in retry or results.get(r["id"], {}).get("status") != 424:
                    continue
                if any(dep in retry for dep in r.get("dependsOn", [])):
                    retry.add(r["id"])
                    changed = True
        return retry


def batch_error(response):
    """A GraphError for a failed sub-response of ``batch()`` (for callers that want to raise)."""
    body = response.get("body") or {}
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return GraphError(err.get("message") or "batch request %s failed" % response.get("id"),
                      code=err.get("code") or str(response.get("status")), status=response.get("status"),
                      request_id=(err.get("innerError") or {}).get("request-id"))
