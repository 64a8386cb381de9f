# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTPS client for every service: TLS, timeouts, retries, typed errors.

- ``verify`` is passed on *every* request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override
  ``Session.verify`` when a call passes none, which would silently ignore ``ca_bundle``.
- 429/503 are retried for any method (the service did not act); 500, 502, 504 and dropped
  connections only for idempotent calls (and POSTs with a Partner Center MS-RequestId), since a
  POST may have been carried out before the connection died or the gateway gave up.
- ``Retry-After`` (seconds, fractional allowed, or an HTTP date) is honoured exactly; a wait longer
  than ``max_wait`` or beyond the total budget ends the retries with the service's error.
"""
# pylint's astroid mixes this module up with the standard library's ``http`` package and reports
# that package's imports as unused here.
# pylint: disable=unused-import

import email.utils
import json as jsonlib
import math
import random as random_module
import threading
import time
import uuid

from ._version import USER_AGENT
from .errors import (
    CspHttpError,
    CspTransportError,
    CspValidationError,
    GraphError,
    LoginHttpError,
    PartnerCenterError,
    aadsts_code,
    clean_description,
    redact,
)

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - sanity's import test runs without it
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = exc

IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
THROTTLE_STATUSES = frozenset([429, 503])
RETRY_STATUSES = frozenset([429, 503, 504])
# Answers after which the service may have acted: retried only when a repeat is harmless.
RETRY_IF_IDEMPOTENT = frozenset([500, 502, 504])


class RetryPolicy:
    """How long to keep trying. Defaults suit Graph/Partner Center throttling."""

    def __init__(self, max_attempts=6, backoff_base=1.0, max_wait=60.0, max_total_wait=180.0):
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.max_total_wait = max_total_wait

    def backoff(self, attempt, rand):
        """Jittered exponential backoff for attempt 1, 2, ...: in [d/2, d], d = base * 2**(attempt-1)."""
        delay = min(self.max_wait, self.backoff_base * (2 ** (attempt - 1)))
        return delay / 2.0 + rand() * delay / 2.0


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (``"1.5"``, ``"3"`` or an HTTP date); None if absent/bad."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds


class SharedThrottle:
    """Bounded concurrency for one app across every tenant it calls, backing off together on 429/503.

    Microsoft throttles an app's requests per app (over all tenants), so the threads of one process
    that work for the same app share one gate: at most ``limit`` requests in flight; a throttled answer
    halves the limit and holds every thread until its ``Retry-After`` has passed; each run of ``limit``
    answers without throttling lets one more request in again, up to ``max_limit``.
    """

    def __init__(self, max_limit=8, clock=time.monotonic, sleep=time.sleep):
        self.max_limit = max(1, int(max_limit))
        self.limit = self.max_limit
        self.clock = clock
        self.sleep = sleep
        self.in_flight = 0
        self.resume_at = 0.0
        self.throttled = 0
        self._good = 0
        self._cond = threading.Condition()

    def acquire(self):
        with self._cond:
            while self.in_flight >= self.limit:
                self._cond.wait()
            self.in_flight += 1
            pause = self.resume_at - self.clock()
        if pause > 0:
            self.sleep(pause)

    def release(self, throttled_for=None):
        """One request done; ``throttled_for``: the seconds the service asked to wait (it throttled)."""
        with self._cond:
            self.in_flight -= 1
            if throttled_for is not None:
                self._back_off(throttled_for)
            else:
                self._good += 1
                if self._good >= self.limit and self.limit < self.max_limit:
                    self._good = 0
                    self.limit += 1
            self._cond.notify_all()

    def back_off(self, seconds):
        """A throttled answer seen elsewhere (a ``$batch`` step): everyone waits, the limit halves."""
        with self._cond:
            self._back_off(seconds)

    def _back_off(self, seconds):
        self.throttled += 1
        self._good = 0
        self.limit = max(1, self.limit // 2)
        self.resume_at = max(self.resume_at, self.clock() + max(0.0, seconds))


class HttpResponse:
    """What the library needs from a response (also what MSAL reads: status_code, text, headers)."""

    def __init__(self, status_code, headers, content, url, method, client_request_id=None):
        self.status_code = status_code
        self.headers = _CaseInsensitive(headers or {})
        self.content = content if isinstance(content, bytes) else (content or "").encode("utf-8")
        self.url = url
        self.method = method
        self.client_request_id = client_request_id
        self._json = _UNSET

    @property
    def status(self):
        return self.status_code

    @property
    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        """Parsed JSON body, or None when the body is empty or not JSON."""
        if self._json is _UNSET:
            try:
                self._json = jsonlib.loads(self.text) if self.content.strip() else None
            except ValueError:
                self._json = None
        return self._json

    @property
    def request_id(self):
        return (self.headers.get("request-id") or self.headers.get("MS-RequestId")
                or self.headers.get("x-ms-request-id"))

    def raise_for_status(self):  # MSAL calls it on discovery responses
        if self.status_code >= 400:
            raise error_from_response(self, "login")


class _Unset:
    pass


_UNSET = _Unset()


class _CaseInsensitive(dict):
    """A dict of headers with case-insensitive get (enough for our reads)."""

    def __init__(self, data):
        super().__init__(data)
        self._lower = {str(k).lower(): v for k, v in data.items()}

    def get(self, key, default=None):
        return self._lower.get(str(key).lower(), default)

    def __contains__(self, key):
        return str(key).lower() in self._lower


def error_from_response(response, service, action=None):
    """Build the typed error for an HTTP error response, parsing the service's own error body.

    Three shapes: login ``{"error","error_description","error_codes","trace_id","correlation_id"}``,
    Graph ``{"error":{"code","message","innerError":{"request-id"}}}``, Partner Center
    ``{"code","description","data","source"}``.
    """
    body = response.json()
    status = response.status_code
    headers = response.headers
    code = message = correlation_id = None
    request_id = response.request_id
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):  # Graph (and some Partner Center endpoints)
            err = body["error"]
            code = err.get("code")
            message = err.get("message")
            inner = err.get("innerError") or err.get("innererror") or {}
            if isinstance(inner, dict):
                request_id = inner.get("request-id") or request_id
                # Graph nests the precise reason for some errors
                inner_code = inner.get("code")
                if inner_code and inner_code != code:
                    message = "%s (%s)" % (message, inner_code) if message else inner_code
        elif isinstance(body.get("error"), str):  # identity platform / OAuth2
            description = body.get("error_description") or ""
            number = aadsts_code(description)
            if not number and body.get("error_codes"):
                number = str(body["error_codes"][0])
            code = "AADSTS" + number if number else body["error"]
            # the first line, without the trace/correlation tail (ids are returned separately)
            message = clean_description(description) or body["error"]
            request_id = body.get("trace_id") or request_id
            correlation_id = body.get("correlation_id")
        elif "code" in body or "description" in body:  # Partner Center
            code = body.get("code")
            message = body.get("description") or body.get("message")
            correlation_id = headers.get("MS-CorrelationId")
    if not message:
        message = (response.text or "").strip()[:500] or "HTTP %s" % status
    if action:
        message = "%s: %s" % (action, message)
    cls = {"graph": GraphError, "partner_center": PartnerCenterError, "login": LoginHttpError}.get(
        service, CspHttpError)
    return cls(
        message,
        code=code if code is not None else str(status),
        status=status,
        request_id=request_id,
        correlation_id=correlation_id or headers.get("MS-CorrelationId"),
        client_request_id=response.client_request_id or headers.get("client-request-id"),
        retry_after=parse_retry_after(headers.get("Retry-After")),
        body=body,
        service=service if cls is CspHttpError else None,
    )


class HttpClient:
    """A requests Session per run with TLS, timeouts, retries and typed errors.

    ``session``, ``sleep``, ``rand`` and ``clock`` can be injected (unit tests use a fake transport
    and a fake clock; no test waits for real).
    """

    def __init__(self, verify=True, timeout=(10.0, 60.0), retry=None, session=None,
                 sleep=time.sleep, rand=random_module.random, clock=time.monotonic, user_agent=USER_AGENT,
                 throttle=None):
        if session is None:
            if not HAS_REQUESTS:
                raise CspTransportError("the Python library 'requests' is required", code="MissingLibrary")
            session = requests.Session()
            # proxies from the environment are fine; CA bundles from it are not (see module doc)
            session.trust_env = True
            if throttle is not None:  # one pooled connection per thread that may be in flight
                adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=throttle.max_limit)
                session.mount("https://", adapter)
        self.throttle = throttle
        self.session = session
        self.verify = verify or True
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.clock = clock
        self.user_agent = user_agent
        self.total_slept = 0.0
        self.attempts = 0

    # --- low level -----------------------------------------------------------------
    def _send_once(self, method, url, headers, params, json, data):
        client_request_id = str(uuid.uuid4())
        all_headers = {"User-Agent": self.user_agent, "client-request-id": client_request_id,
                       "return-client-request-id": "true"}
        all_headers.update(headers or {})
        self.attempts += 1
        if self.throttle is None:
            raw = self.session.request(
                method, url, headers=all_headers, params=params, json=json, data=data,
                verify=self.verify, timeout=self.timeout, allow_redirects=False)
        else:
            self.throttle.acquire()
            throttled_for = None
            try:
                raw = self.session.request(
                    method, url, headers=all_headers, params=params, json=json, data=data,
                    verify=self.verify, timeout=self.timeout, allow_redirects=False)
                if raw.status_code in THROTTLE_STATUSES:
                    throttled_for = parse_retry_after(raw.headers.get("Retry-After"))
                    if throttled_for is None:
                        throttled_for = self.retry.backoff(1, self.rand)
            finally:
                self.throttle.release(throttled_for)
        return HttpResponse(raw.status_code, dict(raw.headers), raw.content, url, method,
                            client_request_id=client_request_id)

    def _transport_exceptions(self):
        if requests is None:
            return (OSError,)
        return (requests.exceptions.RequestException, OSError)

    def _is_connect_failure(self, exc):
        """True when the request surely never reached the server (safe to retry any method)."""
        if requests is None:
            return False
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return True
        text = repr(exc)
        return isinstance(exc, requests.exceptions.ConnectionError) and (
            "NewConnectionError" in text or "Connection refused" in text)

    def send(self, method, url, headers=None, params=None, json=None, data=None, idempotent=None, retry=True):
        """Send with retries; returns the last ``HttpResponse`` (any status) or raises CspTransportError."""
        method = method.upper()
        require_https(url)
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                response = self._send_once(method, url, headers, params, json, data)
            except self._transport_exceptions() as exc:
                if requests is not None and isinstance(exc, requests.exceptions.SSLError):
                    raise CspTransportError(
                        "TLS verification failed for %s: %s (set ca_bundle to the CA that signed the "
                        "server certificate)" % (_host(url), redact(_short(exc))), code="TlsError") from None
                can_retry = retry and (idempotent or self._is_connect_failure(exc))
                delay = self.retry.backoff(attempt, self.rand)
                if not can_retry or attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                    raise CspTransportError("%s %s failed after %d attempt(s): %s" % (
                        method, _strip_query(url), attempt, redact(_short(exc))), code="ConnectionError") from None
                waited += self._wait(delay)
                continue
            status = response.status_code
            if not retry or status not in RETRY_STATUSES | RETRY_IF_IDEMPOTENT:
                return response
            if status in RETRY_IF_IDEMPOTENT and not idempotent:
                return response
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                delay = retry_after
                if delay > self.retry.max_wait:
                    return response  # the service asks for more patience than we are allowed
            else:
                delay = self.retry.backoff(attempt, self.rand)
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                return response
            waited += self._wait(delay)

    def _wait(self, seconds):
        seconds = max(0.0, float(seconds))
        if seconds:
            self.sleep(seconds)
        self.total_slept += seconds
        return seconds

    def request(self, method, url, service="http", expected_status=None, action=None, **kwargs):
        """``send`` then raise the service's typed error unless the status is expected (default 2xx)."""
        response = self.send(method, url, **kwargs)
        if not status_expected(response.status_code, expected_status):
            raise error_from_response(response, service, action=action)
        return response


def require_https(url):
    """Refuse any URL that is not https:// (a bearer token or a secret would cross the wire in clear)."""
    from urllib.parse import urlsplit
    if urlsplit(str(url).strip()).scheme.lower() != "https":
        raise CspValidationError("refusing to send a request to %s: only https:// is used (TLS is never turned off)"
                                 % _strip_query(url), code="InsecureUrl")
    return url


def check_relative_path(path, name="path"):
    """Refuse ``.``/``..`` segments (plain or %-encoded) and a ``//`` prefix in a service path.

    HTTP libraries collapse dot segments before sending, so ``/v1.0/../../x`` would reach ``/x``,
    outside the API the caller named; ``//host/x`` reads as another host to some.
    """
    from urllib.parse import unquote
    text = str(path).split("?", maxsplit=1)[0].split("#", maxsplit=1)[0]
    if text.startswith("//") or text.startswith("\\\\"):
        raise CspValidationError("%s %r must not start with //" % (name, text), code="InvalidPath")
    for segment in unquote(text).replace("\\", "/").split("/"):
        if segment in (".", ".."):
            raise CspValidationError("%s %r must not hold . or .. segments" % (name, text), code="InvalidPath")
    return path


def status_expected(status, expected):
    if expected is None:
        return 200 <= status < 300
    if isinstance(expected, int):
        return status == expected
    return status in expected


def _host(url):
    from urllib.parse import urlsplit
    return urlsplit(url).netloc


def _strip_query(url):
    return str(url).split("?", maxsplit=1)[0]


def _short(exc):
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


class MsalHttpAdapter:
    """The ``http_client`` MSAL gets: our HttpClient (forced verify, retries, User-Agent).

    MSAL calls ``get(url, params=, headers=)`` / ``post(url, params=, data=, headers=)``. The last
    error response is kept so a ValueError MSAL raises on a failed discovery can be turned back
    into Microsoft's AADSTS error.
    """

    def __init__(self, http, discovery=None):
        self.http = http
        self.discovery = discovery  # token_cache.DiscoveryCache: OpenID discovery answers kept between runs
        self.last_error = None

    def _call(self, method, url, params=None, headers=None, data=None, json=None, **_ignored):
        cacheable = self.discovery is not None and self.discovery.wanted(method, url, params)
        if cacheable:
            hit = self.discovery.get(url)
            if hit is not None:
                return HttpResponse(hit[0], hit[1], hit[2], url, method)
        # Token requests are safe to repeat (a lost response only costs another token).
        response = self.http.send(method, url, headers=headers, params=params, data=data, json=json,
                                  idempotent=True)
        if response.status_code >= 400:
            self.last_error = response
        elif cacheable and response.status_code == 200 and isinstance(response.json(), dict):
            self.discovery.put(url, 200, response.headers.get("Content-Type"), response.text)
        return response

    def get(self, url, **kwargs):
        return self._call("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self._call("POST", url, **kwargs)

    def close(self):
        pass
