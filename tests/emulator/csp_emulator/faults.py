"""Seeded fault injection: latency, a per-app throttling budget shared by all tenants,
5xx answers and dropped connections. The control API (``/_emulator/``) is never affected.

Configuration (world ``settings.faults`` or ``PUT /_emulator/faults``)::

    seed: 1
    latency_ms: 0                 # or {"<path regex>": ms, ...}; per HTTP request ($batch steps pay none)
    throttle: {requests: 100, per_seconds: 1.0, services: [graph, partner_center]}   # or null
    throttle_rate: 0.0            # share of requests (throttle.services) answered 429 at random
    throttle_retry_after: 1.0     # the Retry-After of those
    error_rate: 0.0               # share of requests answered with one of error_statuses
    error_statuses: [503, 504]
    drop_rate: 0.0                # share of requests whose connection is closed unanswered
    act_drop_rate: 0.0            # share of writes the service carries out, then the answer is lost
    act_error_rate: 0.0           # share of writes the service carries out, then answers a 5xx
    act_error_statuses: [500, 502, 504]
    act_methods: [POST, PUT, PATCH, DELETE]
    act_services: [graph, partner_center]   # where act_* faults apply (token requests are not writes)
    retry_after_fractions: false  # Retry-After in whole seconds (RFC 7231); true keeps fractions
    services: [login, graph, partner_center]   # where latency, errors and drops apply

Every fault but the act_* ones is answered before the handler runs (the service never acted);
act_drop and act_error run the handler first, so the write happened and only its answer is lost
or replaced. Each is marked in the request log: ``fault`` = throttle, error, drop, act_drop or
act_error (an act_* entry keeps the status the service would have answered).
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from typing import Any

from . import server
from .world import DEFAULT_FAULTS, World


class Faults:
    def __init__(self, config: dict | None = None) -> None:
        cfg = dict(DEFAULT_FAULTS)
        cfg.update(config or {})
        self.config = cfg
        self._rng = random.Random(cfg.get("seed", 1))
        self._lock = threading.Lock()
        latency = cfg.get("latency_ms") or 0
        self._latency_routes: list[tuple[re.Pattern, float]] = []
        self._latency = 0.0
        if isinstance(latency, dict):
            self._latency_routes = [(re.compile(k, re.IGNORECASE), float(v)) for k, v in latency.items()]
        else:
            self._latency = float(latency)
        throttle = cfg.get("throttle") or None
        # None: no throttling; 0: every request is throttled.
        self._limit: int | None = int(throttle["requests"]) if throttle else None
        self._window = float(throttle.get("per_seconds", 1.0)) if throttle else 1.0
        self._retry_after = throttle.get("retry_after") if throttle else None
        self._throttle_services = set((throttle or {}).get("services") or ("graph", "partner_center"))
        # Throttling that does not depend on volume: Microsoft may answer 429 to any request.
        self.throttle_rate = float(cfg.get("throttle_rate") or 0.0)
        self.throttle_retry_after = float(cfg.get("throttle_retry_after") or 1.0)
        self._buckets: dict[str, list[float]] = {}  # app id -> [window start, count]
        # Services that latency, errors and drops apply to (throttling has its own list).
        self.services = set(cfg.get("services") or ("login", "graph", "partner_center"))
        self.error_rate = float(cfg.get("error_rate") or 0.0)
        self.error_statuses = tuple(int(status) for status in (cfg.get("error_statuses") or (503, 504)))
        if not self.error_statuses or not set(self.error_statuses) <= {500, 502, 503, 504}:
            raise ValueError("error_statuses must be a list of 500, 502, 503, 504")
        for name in ("throttle_rate", "error_rate", "drop_rate"):
            if not 0.0 <= float(cfg.get(name) or 0.0) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        self.drop_rate = float(cfg.get("drop_rate") or 0.0)
        for name in ("act_drop_rate", "act_error_rate"):
            if not 0.0 <= float(cfg.get(name) or 0.0) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        self.act_drop_rate = float(cfg.get("act_drop_rate") or 0.0)
        self.act_error_rate = float(cfg.get("act_error_rate") or 0.0)
        self.act_error_statuses = tuple(int(s) for s in (cfg.get("act_error_statuses") or (500, 502, 504)))
        if not self.act_error_statuses or not set(self.act_error_statuses) <= {500, 502, 503, 504}:
            raise ValueError("act_error_statuses must be a list of 500, 502, 503, 504")
        self.act_methods = {str(m).upper() for m in (cfg.get("act_methods") or ("POST", "PUT", "PATCH", "DELETE"))}
        self.act_services = set(cfg.get("act_services") or ("graph", "partner_center"))
        self.retry_after_fractions = bool(cfg.get("retry_after_fractions", False))
        self.active = bool(self._latency or self._latency_routes or self._limit is not None
                           or self.throttle_rate or self.error_rate or self.drop_rate
                           or self.act_drop_rate or self.act_error_rate)

    def public(self) -> dict:
        return dict(self.config)

    def random(self) -> float:
        with self._lock:
            return self._rng.random()

    def latency_for(self, path: str) -> float:
        for regex, ms in self._latency_routes:
            if regex.search(path):
                return ms / 1000.0
        return self._latency / 1000.0

    def take(self, app_id: str) -> float | None:
        """Use one request of ``app_id``'s budget; the seconds to wait when none is left (or when
        the request is one of the ``throttle_rate`` share)."""
        if self.throttle_rate and self.random() < self.throttle_rate:
            return self.throttle_retry_after
        if self._limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(app_id)
            if bucket is None or now - bucket[0] >= self._window:
                bucket = self._buckets[app_id] = [now, 0]
            if bucket[1] < self._limit:
                bucket[1] += 1
                return None
            wait = self._window - (now - bucket[0])
        if self._retry_after is not None:
            return float(self._retry_after)
        return max(round(wait, 3), 0.001)


def for_world(world: World) -> Faults:
    faults = world.faults
    if faults is None:
        faults = world.faults = Faults(world.settings.get("faults"))
    return faults


def configure(world: World, config: dict) -> Faults:
    """Replace the fault configuration (unspecified keys take their defaults)."""
    faults = Faults(config)
    world.settings["faults"] = faults.public()
    world.faults = faults
    return faults


def _app_id_of(req: server.Request) -> str | None:
    token = req.bearer()
    if token is None:
        return None
    from . import tokens

    try:
        _, claims, _, _ = tokens.unverified_parts(token)
    except tokens.TokenError:
        return None
    app_id = claims.get("appid") or claims.get("azp")
    return app_id if isinstance(app_id, str) else None


def format_retry_after(seconds: float, fractions: bool = False) -> str:
    """Retry-After as delta-seconds: a whole number, rounded up (RFC 7231 section 7.1.3; Graph's
    throttling guidance), unless the faults setting retry_after_fractions asks for fractions."""
    if not fractions:
        return str(max(1, math.ceil(seconds - 1e-9)))
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def throttled_error(req: server.Request, seconds: float) -> server.HttpError:
    faults = req.world.faults or for_world(req.world)
    headers = {"Retry-After": format_retry_after(seconds, faults.retry_after_fractions)}
    if req.service == "partner_center":
        return server.pc_error(req, 429, 429, f"Rate limit is exceeded. Try again in {headers['Retry-After']} "
                               "seconds.", headers)
    if req.service == "graph":
        return server.graph_error(req, 429, "TooManyRequests", "Too many requests.", headers)
    return server.identity_error(req, 429, "temporarily_unavailable", 50196,
                                 "The server terminated an operation because it encountered a client request "
                                 "loop. Please contact your app vendor.", headers)


def before(req: server.Request) -> Any:
    """Run before a (non-control) handler: sleeps for latency, then returns None (go on),
    ``"drop"`` or an HttpError to answer with instead."""
    faults = req.world.faults or for_world(req.world)
    if not faults.active:
        return None
    if req.service not in faults.services:
        return _throttle(req, faults)
    # Latency is the network's round trip: a $batch step travels inside its envelope, which paid it.
    delay = 0.0 if req.batch_step else faults.latency_for(req.path)
    if delay > 0:
        time.sleep(delay)
    if faults.drop_rate and faults.random() < faults.drop_rate:
        req.world.count("faults.dropped")
        req.log_fault = "drop"
        return "drop"
    if faults.error_rate and faults.random() < faults.error_rate:
        req.world.count("faults.errors")
        req.log_fault = "error"
        statuses = faults.error_statuses
        status = statuses[min(int(faults.random() * len(statuses)), len(statuses) - 1)]
        return _server_error(req, status)
    return _throttle(req, faults)


def _server_error(req: server.Request, status: int) -> server.HttpError:
    headers = {"Retry-After": "1"} if status == 503 else {}
    if req.service == "graph":
        code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceNotAvailable",
                504: "GatewayTimeout"}[status]
        return server.graph_error(req, status, code, "The service is temporarily unavailable. "
                                  "Please retry later.", headers)
    return server.service_error(req, req.service, status, "The service is temporarily unavailable.",
                                headers=headers)


def after(req: server.Request, response: server.Response) -> Any:
    """Run after the handler of a write: returns None (answer as is), ``"drop"`` (the write is done,
    the connection closes unanswered) or a Response to send instead (the write is done, the client
    reads a 5xx). Only writes the service carried out (status < 400) of top-level requests count:
    a $batch step shares its batch's answer."""
    faults = req.world.faults
    if faults is None or not (faults.act_drop_rate or faults.act_error_rate):
        return None
    if (req.service not in faults.act_services or req.method not in faults.act_methods or response.status >= 400
            or getattr(req, "batch_step", False)):
        return None
    if faults.act_drop_rate and faults.random() < faults.act_drop_rate:
        req.world.count("faults.act_dropped")
        req.log_fault = "act_drop"
        return "drop"
    if faults.act_error_rate and faults.random() < faults.act_error_rate:
        req.world.count("faults.act_errors")
        req.log_fault = "act_error"
        statuses = faults.act_error_statuses
        status = statuses[min(int(faults.random() * len(statuses)), len(statuses) - 1)]
        return _server_error(req, status).response()
    return None


def _throttle(req: server.Request, faults: Faults) -> server.HttpError | None:
    if (faults._limit is not None or faults.throttle_rate) and req.service in faults._throttle_services:
        app_id = _app_id_of(req)
        if app_id:
            wait = faults.take(app_id)
            if wait is not None:
                req.world.count("faults.throttled")
                req.log_fault = "throttle"
                return throttled_error(req, wait)
    return None


def subrequest_throttle(world: World, app_id: str) -> float | None:
    """For ``$batch``: use one unit of ``app_id``'s budget for a sub-request; returns the
    Retry-After seconds when the sub-request must be answered 429, else None."""
    faults = world.faults or for_world(world)
    if (faults._limit is None and not faults.throttle_rate) or not app_id:
        return None
    wait = faults.take(app_id)
    if wait is not None:
        world.count("faults.throttled")
    return wait
