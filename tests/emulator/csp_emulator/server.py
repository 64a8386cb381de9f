"""HTTPS listeners, requests, responses, routing, service error bodies and the request log.

One ``Runtime`` holds the current ``World`` and serves it on three ports (login, graph,
partner_center). Handlers never see a socket: they get a ``Request`` and return a ``Response``,
a dict (200 JSON), ``None`` (204) or raise ``HttpError``. Nothing a client sends can make the
server print a traceback or stop.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import threading
import traceback
import uuid
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from .world import World

SERVICES = ("login", "graph", "partner_center", "keyvault")
MAX_BODY = 16 * 1024 * 1024
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle

Handler = Callable[..., Any]


# ----------------------------------------------------------------------------------- responses
class Response:
    """An HTTP response. ``body`` may be a dict/list (JSON, serialized when sent), bytes or str."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encode(self) -> tuple[bytes, str]:
        body = self.body
        if body is None:
            return b"", ""
        if isinstance(body, (bytes, bytearray)):
            return bytes(body), "application/octet-stream"
        if isinstance(body, str):
            return body.encode("utf-8"), "text/plain; charset=utf-8"
        return json.dumps(body, separators=(",", ":"), default=_json_default).encode("utf-8"), \
            "application/json; charset=utf-8"


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class HttpError(Exception):
    """Raise from a handler to answer with ``status`` and ``body`` (already service-shaped)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        return Response(self.status, self.body, dict(self.headers))


# ------------------------------------------------------------------------------- error bodies
def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


def graph_error(req: Request | None, status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> HttpError:
    """Microsoft Graph error: ``{"error": {"code", "message", "innerError": {...}}}``."""
    ts = req.world.clock.now_dt() if req is not None else _now_utc()
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": ts.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": req.request_id if req is not None else str(uuid.uuid4()),
        "client-request-id": req.client_request_id if req is not None else str(uuid.uuid4()),
    }}}
    return HttpError(status, body, headers)


def identity_error(req: Request | None, status: int, error: str, aadsts: int, message: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> HttpError:
    """Identity platform error with the AADSTS code, trace/correlation ids and timestamp."""
    ts = (req.world.clock.now_dt() if req is not None else _now_utc()).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = req.request_id if req is not None else str(uuid.uuid4())
    corr = req.client_request_id if req is not None else str(uuid.uuid4())
    base = req.runtime.urls.get("login", "") if req is not None and req.runtime else ""
    body = {
        "error": error,
        "error_description": f"AADSTS{aadsts}: {message} Trace ID: {trace} Correlation ID: {corr} "
                             f"Timestamp: {ts}",
        "error_codes": [aadsts],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": f"{base}/error?code={aadsts}",
    }
    body.update(extra)
    return HttpError(status, body, headers)


def pc_error(req: Request | None, status: int, code: int, description: str,
             headers: dict[str, str] | None = None, data: list | None = None) -> HttpError:
    """Partner Center error: ``{"code", "description", "data", "source": "PartnerFD"}``."""
    return HttpError(status, {"code": code, "description": description, "data": data or [],
                              "source": "PartnerFD"}, headers)


# Generic kinds every service can express; handlers usually call the specific builders above.
_GRAPH_CODES = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
                404: "Request_ResourceNotFound", 405: "Request_BadRequest", 409: "Request_BadRequest",
                411: "LengthRequired", 412: "PreconditionFailed", 413: "RequestEntityTooLarge",
                415: "UnsupportedMediaType", 429: "TooManyRequests", 500: "InternalServerError",
                501: "NotImplemented", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
_IDENTITY = {400: ("invalid_request", 900144), 401: ("invalid_client", 7000215), 403: ("access_denied", 50105),
             404: ("invalid_request", 900561), 405: ("invalid_request", 900561),
             413: ("invalid_request", 90014), 429: ("temporarily_unavailable", 50196),
             500: ("server_error", 50000), 503: ("temporarily_unavailable", 50000),
             504: ("temporarily_unavailable", 50000)}


def service_error(req: Request | None, service: str, status: int, message: str,
                  code: str | None = None, headers: dict[str, str] | None = None) -> HttpError:
    """An error in the shape of ``service`` when no handler-specific code applies."""
    if service == "graph":
        return graph_error(req, status, code or _GRAPH_CODES.get(status, "UnknownError"), message, headers)
    if service == "login":
        error, aadsts = _IDENTITY.get(status, ("invalid_request", 900144))
        return identity_error(req, status, code or error, aadsts, message, headers)
    if service == "partner_center":
        return pc_error(req, status, status, message, headers)
    return HttpError(status, {"error": {"code": code or str(status), "message": message}}, headers)


# ------------------------------------------------------------------------------------ requests
class Request:
    """One HTTP request as handlers see it."""

    def __init__(self, runtime: Runtime | None, service: str, method: str, target: str,
                 headers: Message, body: bytes, world: World | None = None) -> None:
        self.runtime = runtime
        self.service = service
        self.method = method
        self.target = target
        path, _, raw_query = target.partition("?")
        self.raw_path = path
        try:
            self.path = unquote(path, errors="strict")
        except UnicodeDecodeError:
            self.path = unquote(path)
        self.raw_query = raw_query
        self._query: dict[str, list[str]] | None = None
        self.headers = headers
        self.body = body
        self.world: World = world if world is not None else runtime.world  # type: ignore[union-attr]
        self.claims: dict | None = None
        self.route: str | None = None  # regex of the matched route (for faults and counters)
        self.request_id = str(uuid.uuid4())
        self.client_request_id = (headers.get("client-request-id") or headers.get("MS-CorrelationId")
                                  or self.request_id)
        self.log_app_id: str | None = None  # set by the token endpoint for the log
        self.log_replay = False  # set when an MS-RequestId retry got the first answer replayed
        self.log_tenant_id: str | None = None
        self.log_user: str | None = None
        self.log_fault: str | None = None  # set by faults: "throttle", "error", "drop" (the service never acted), "act_drop", "act_error" (it did)
        self.batch_step = False  # a step of a Graph $batch (no network round trip of its own)

    # --- query ---
    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            try:
                self._query = parse_qs(self.raw_query, keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                self._query = parse_qs(self.raw_query, keep_blank_values=True)
        return self._query

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter; OData system options match case-insensitively."""
        values = self.query.get(name)
        if values is None:
            low = name.lower()
            for key, vals in self.query.items():
                if key.lower() == low:
                    values = vals
                    break
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    @property
    def base_url(self) -> str:
        return self.runtime.urls[self.service] if self.runtime else ""

    # --- bodies ---
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def json(self, required: bool = True) -> Any:
        """The JSON body; a malformed body or a non-JSON content type gives the service's 400."""
        ctype = self.content_type()
        if not self.body:
            if not required:
                return None
            raise self._bad_body("The request body is empty.")
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise self._bad_body(f"The content type '{ctype}' is not supported.", status=415)
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise self._bad_body("The request body is not valid JSON.") from None

    def _bad_body(self, detail: str, status: int = 400) -> HttpError:
        if self.service == "graph":
            return graph_error(self, 400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                               "Content-Type header is set and payload is of valid JSON format.")
        if self.service == "partner_center":
            return pc_error(self, status, 400 if status == 400 else status, detail)
        return service_error(self, self.service, status, detail)

    def form(self) -> dict[str, str]:
        """Form fields (first value each) of an ``application/x-www-form-urlencoded`` body."""
        if self.content_type() != "application/x-www-form-urlencoded":
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            text = self.body.decode("latin-1")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}

    # --- auth ---
    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def authenticate(self, audience: str | tuple[str, ...] | None = None) -> dict:
        """Verify the bearer token for ``audience`` (defaults to this service's API); sets
        ``self.claims``. Raises the service's 401."""
        from . import tokens

        token = self.bearer()
        if audience is None:
            audience = tokens.SERVICE_AUDIENCE.get(self.service)
        if token is None:
            raise self._unauthorized("Access token is empty.", "InvalidAuthenticationToken")
        try:
            claims = tokens.decode_and_verify(self.world, token, audience)
        except tokens.TokenError as exc:
            raise self._unauthorized(exc.message, exc.code) from None
        self.claims = claims
        return claims

    def _unauthorized(self, message: str, code: str) -> HttpError:
        headers = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                                      'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        if self.service == "partner_center":
            return pc_error(self, 401, 401, f"Unauthorized: {message}",
                            {"WWW-Authenticate": "OAuth realm=urn:cpsvc:cpid:emulator"})
        if self.service == "graph":
            return graph_error(self, 401, code, message, headers)
        return service_error(self, self.service, 401, message)

    def error(self, status: int, message: str, code: str | None = None) -> HttpError:
        return service_error(self, self.service, status, message, code)


# -------------------------------------------------------------------------------------- router
class Router:
    """Routes of one service. ``@router.route("GET", r"/v1.0/users/(?P<id>[^/]+)")``; the
    regex must match the whole (percent-decoded) path, case-insensitively."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.routes: list[tuple[str, re.Pattern, Handler, str]] = []

    def route(self, method: str | tuple[str, ...] | list[str], pattern: str,
              handler: Handler | None = None) -> Callable[[Handler], Handler]:
        methods = (method,) if isinstance(method, str) else tuple(method)
        compiled = re.compile(pattern, re.IGNORECASE)

        def register(fn: Handler) -> Handler:
            for m in methods:
                self.routes.append((m.upper(), compiled, fn, pattern))
            return fn

        if handler is not None:
            register(handler)
        return register

    add = route

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], str | None, bool]:
        """(handler, path groups, route pattern, path matched under another method)."""
        path_known = False
        for m, regex, fn, pattern in self.routes:
            found = regex.fullmatch(path)
            if found is None:
                continue
            if m == method or m == "*" or (method == "HEAD" and m == "GET"):
                return fn, found.groupdict(), pattern, True
            path_known = True
        return None, {}, None, path_known


# ------------------------------------------------------------------------------------- runtime
class Runtime:
    """Everything the listeners share: the current world, routers, URLs, keys, control token."""

    def __init__(self, world: World, control_token: str, tls_context: ssl.SSLContext,
                 routers: dict[str, Router], control_router: Router, signing_key: Any = None,
                 ca_bundle: str = "", state_dir: str = "") -> None:
        self.world = world
        self.control_token = control_token
        self.tls_context = tls_context
        self.routers = routers
        self.control_router = control_router
        self.signing_key = signing_key
        self.ca_bundle = ca_bundle
        self.state_dir = state_dir
        self.urls: dict[str, str] = {}
        self.servers: dict[str, _Server] = {}
        self.threads: list[threading.Thread] = []
        self.quiet = True
        world.runtime = self

    def set_world(self, world: World) -> None:
        """Swap in a new world (control API load/reset); the clock offset carries over."""
        world.runtime = self
        world.state_dir = world.state_dir or self.state_dir
        self.world = world

    # --- listeners ---
    def start(self, ports: dict[str, int] | None = None, host: str = "127.0.0.1") -> None:
        ports = ports or {}
        for service in SERVICES:
            server = _Server((host, ports.get(service, 0)), _Handler, self, service)
            self.servers[service] = server
            port = server.server_address[1]
            self.urls[service] = f"https://{host}:{port}"
        for service, server in self.servers.items():
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"csp-emulator-{service}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        # shutdown() waits up to a poll interval per server: stop the three in parallel.
        stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in self.servers.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=5)
        for server in self.servers.values():
            server.server_close()
            server.close_connections()
        for thread in self.threads:
            thread.join(timeout=5)
        self.servers.clear()
        self.threads.clear()

    # --- dispatch ---
    def dispatch(self, req: Request) -> Response | None:
        """Route, run and log one request. Returns None when the connection must be dropped."""
        from . import faults  # noqa: PLC0415 - late: faults imports this module

        response: Response | None
        is_control = req.path.startswith("/_emulator/") or req.path == "/_emulator"
        try:
            if is_control:
                router = self.control_router
            else:
                router = self.routers[req.service]
            handler, groups, pattern, known = router.match(req.method, req.path)
            req.route = pattern
            if not is_control:
                action = faults.before(req)
                if action is not None:
                    if action == "drop":
                        self._log(req, 0)
                        return None
                    raise action
            if handler is None:
                raise self.not_found(req, known)
            result = handler(req, **groups)
            if isinstance(result, Response):
                response = result
            elif result is None:
                response = Response(204)
            else:
                response = Response(200, result)
        except HttpError as exc:
            response = exc.response()
        except Exception as exc:  # noqa: BLE001 - the server answers, whatever a handler did
            if not self.quiet:
                traceback.print_exc(file=sys.stderr)
            response = service_error(req, req.service, 500, "An internal server error occurred.",
                                     code="InternalServerError" if req.service == "graph" else None).response()
            req.world.count("handler_exceptions")
            req.world.extra["last_exception"] = repr(exc)
        if not is_control:
            acted = faults.after(req, response)  # "act, then lose the answer" faults
            if acted == "drop":
                self._log(req, response.status)  # the status the service meant to answer
                return None
            if acted is not None:
                self._log(req, response.status)
                response = acted
                self.decorate(req, response)
                return response
        self.decorate(req, response)
        if not is_control:  # the log and counters describe the emulated services only
            self._log(req, response.status)
        return response

    def not_found(self, req: Request, path_known: bool) -> HttpError:
        if path_known:
            if req.service == "graph":
                return graph_error(req, 405, "Request_BadRequest",
                                   f"The HTTP method '{req.method}' is not allowed for this resource.")
            if req.service == "login":
                return identity_error(req, 400, "invalid_request", 900561,
                                      f"The endpoint only accepts POST, OPTIONS requests. Received a "
                                      f"{req.method} request.")
            if req.service == "keyvault":
                return HttpError(405, {"error": {"code": "MethodNotAllowed", "message": f"The HTTP method "
                                                 f"'{req.method}' is not supported for this resource."}})
            return pc_error(req, 405, 405, "The requested resource does not support http method "
                            f"'{req.method}'.")
        if req.path.startswith("/_emulator"):
            return HttpError(404, {"error": {"code": "NotFound", "message": f"No control route {req.path}"}})
        if req.service == "graph":
            segments = [s for s in req.path.split("/") if s]
            if not segments or segments[0].lower() not in ("v1.0", "beta"):
                return graph_error(req, 400, "BadRequest", "Invalid version.")
            segment = segments[1] if len(segments) > 1 else ""
            return graph_error(req, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        if req.service == "login":
            return identity_error(req, 404, "invalid_request", 900561, f"The endpoint {req.path} does not exist.")
        if req.service == "keyvault":
            return HttpError(404, {"error": {"code": "NotFound", "message": f"The resource {req.path} was not found."}})
        return pc_error(req, 404, 404, f"The resource {req.path} was not found.")

    def decorate(self, req: Request, response: Response) -> None:
        """Headers each real service puts on every response."""
        headers = response.headers
        if req.service == "graph":
            headers.setdefault("request-id", req.request_id)
            headers.setdefault("client-request-id", req.client_request_id)
        elif req.service == "partner_center":
            headers.setdefault("MS-RequestId", req.headers.get("MS-RequestId") or req.request_id)
            headers.setdefault("MS-CorrelationId", req.headers.get("MS-CorrelationId") or req.client_request_id)
        else:
            headers.setdefault("x-ms-request-id", req.request_id)
            if req.headers.get("client-request-id"):
                headers.setdefault("client-request-id", req.client_request_id)

    def _log(self, req: Request, status: int) -> None:
        world = req.world
        claims = req.claims
        if claims is None:
            claims = _unverified_claims(req)
        entry = {
            "seq": 0, "time": world.clock.now(), "service": req.service, "method": req.method,
            "path": req.path, "query": req.raw_query, "status": status,
            "app_id": claims.get("appid") or req.log_app_id,
            "tenant_id": claims.get("tid") or req.log_tenant_id,
            "user": claims.get("upn") or req.log_user,
        }
        if req.log_fault:
            entry["fault"] = req.log_fault
        if req.batch_step:
            entry["batch_step"] = True
        if req.log_replay:
            entry["replay"] = True
        if req.headers.get("If-Match"):
            entry["if_match"] = True  # the witness of optimistic concurrency (the ETag itself is not logged)
        with world.log_lock:
            world.log_seq += 1
            entry["seq"] = world.log_seq
            world.log.append(entry)
            limit = int(world.settings.get("request_log_limit") or 0)
            if limit and len(world.log) > limit:
                del world.log[: len(world.log) - limit]
            counters = world.counters
            counters["requests"] = counters.get("requests", 0) + 1
            key = f"requests.{req.service}"
            counters[key] = counters.get(key, 0) + 1
            key = f"status.{status}"
            counters[key] = counters.get(key, 0) + 1


def _unverified_claims(req: Request) -> dict:
    """Caller of a request that never authenticated (401, throttled, 404): for the log only."""
    token = req.bearer()
    if token is None or token.count(".") != 2:
        return {}
    from . import tokens

    try:
        return tokens.unverified_parts(token)[1]
    except tokens.TokenError:
        return {}


# ------------------------------------------------------------------------------------ listener
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, runtime: Runtime, service: str) -> None:
        self.runtime = runtime
        self.service = service
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """End open keep-alive connections so their threads finish when the emulator stops."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's thread, so a slow or broken client
        # never blocks the accept loop.
        try:
            request.settimeout(IDLE_TIMEOUT)
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.runtime.tls_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError, ValueError):
            try:
                request.close()
            except OSError:
                pass
            return
        with self.connections_lock:
            self.connections.add(tls)
        try:
            self.finish_request(tls, client_address)
        except Exception:  # noqa: BLE001, S110 - a broken connection only ends that connection
            pass
        finally:
            with self.connections_lock:
                self.connections.discard(tls)
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # never print tracebacks for client misbehaviour


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "csp-emulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def version_string(self) -> str:
        return "Microsoft-HTTPAPI/2.0"

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, header too long, unknown method) as JSON."""
        try:
            service = self.server.service
            err = service_error(None, service, code, message or explain or "Bad request")
            data, ctype = Response(err.status, err.body).encode()
            self.request_version = "HTTP/1.1"  # answer HTTP/0.9 garbage with a real status line
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(data)
        except Exception:  # noqa: BLE001, S110
            pass
        self.close_connection = True

    def _read_body(self) -> bytes | None:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return None
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                if size == 0:
                    while True:  # trailers
                        trailer = self.rfile.readline(8192)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n) if n else b""

    def _handle(self) -> None:
        runtime = self.server.runtime
        body = self._read_body()
        if body is None:
            self.send_error(413 if (self.headers.get("Content-Length") or "0").isdigit() else 400,
                            "Request body too large or malformed")
            return
        req = Request(runtime, self.server.service, self.command, self.path, self.headers, body)
        response = runtime.dispatch(req)
        if response is None:  # fault injection: drop the connection without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            data, ctype = response.encode()
        except Exception as exc:  # noqa: BLE001 - a handler returned something unserializable
            req.world.count("handler_exceptions")
            req.world.extra["last_exception"] = repr(exc)
            response = service_error(req, req.service, 500, "An internal server error occurred.").response()
            runtime.decorate(req, response)
            data, ctype = response.encode()
        self.send_response(response.status)
        has_ctype = False
        for name, value in response.headers.items():
            if name.lower() == "content-type":
                has_ctype = True
            self.send_header(name, str(value))
        if ctype and not has_ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        if data and self.command != "HEAD":
            # Headers and body in one TLS write: one record, one syscall.
            self._headers_buffer.append(b"\r\n")
            self._headers_buffer.append(data)
            self.flush_headers()
        else:
            self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle
