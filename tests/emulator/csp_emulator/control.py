"""The control API under ``/_emulator/`` (every port), guarded by the control token."""

from __future__ import annotations

import hmac
import importlib
import json
import re
from typing import Any

from . import faults, tokens
from .clock import iso_ms
from .server import HttpError, Request, Response, Router
from .world import DAY, DEFAULT_SETTINGS, World, WorldError, parse_world_text


def _error(status: int, code: str, message: str) -> HttpError:
    return HttpError(status, {"error": {"code": code, "message": message}})


def _guard(req: Request) -> None:
    token = req.bearer() or ""
    expected = req.runtime.control_token if req.runtime else ""
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise _error(401, "Unauthorized", "The control API needs 'Authorization: Bearer <control token>'.")


def _body(req: Request) -> dict:
    if not req.body:
        return {}
    try:
        data = json.loads(req.body)
    except (ValueError, UnicodeDecodeError):
        raise _error(400, "BadRequest", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _error(400, "BadRequest", "The body must be a JSON object.")
    return data


def guarded(fn: Any) -> Any:
    def wrapper(req: Request, **groups: str) -> Any:
        _guard(req)
        return fn(req, **groups)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _load(req: Request, source: Any) -> World:
    runtime = req.runtime
    try:
        world = World.load(source, state_dir=runtime.state_dir if runtime else None)
    except (WorldError, ValueError, KeyError, TypeError) as exc:
        raise _error(400, "InvalidWorld", str(exc)) from None
    if runtime is not None:
        runtime.set_world(world)
    return world


def _find_user(world: World, ref: str) -> tuple[Any, dict]:
    with world.lock:
        found = world.find_user(ref or "")
    if found is None:
        raise _error(404, "NotFound", f"No user {ref!r} in any tenant.")
    return found


def _clock(world: World) -> dict:
    c = world.clock
    return {"now": c.iso(), "epoch": c.now(), "offset_seconds": c.offset}


def register(router: Router) -> None:
    r = router.route

    @r("GET", r"/_emulator/health")
    @guarded
    def health(req: Request) -> dict:
        world = req.world
        return {"status": "ok", "tenants": len(world.tenants), "time": world.clock.iso(),
                "urls": dict(req.runtime.urls) if req.runtime else {}}

    @r("POST", r"/_emulator/reset")
    @guarded
    def reset(req: Request) -> dict:
        world = _load(req, req.world.source or {})
        return {"status": "reset", "tenants": len(world.tenants)}

    @r("PUT", r"/_emulator/world")
    @guarded
    def load_world(req: Request) -> dict:
        try:
            source = parse_world_text(req.body or b"{}")
        except (WorldError, ValueError) as exc:
            raise _error(400, "InvalidWorld", f"The body is neither a JSON nor a YAML mapping: {exc}") from None
        world = _load(req, source)
        return {"status": "loaded", "tenants": len(world.tenants)}

    @r("GET", r"/_emulator/settings")
    @guarded
    def get_settings(req: Request) -> dict:
        with req.world.lock:
            return {k: v for k, v in req.world.settings.items() if k != "faults"}

    @r("PATCH", r"/_emulator/settings")
    @guarded
    def patch_settings(req: Request) -> dict:
        # Tests scale the world's timings down (e.g. propagation_delay) without a world file of
        # their own; `reset` restores the world's settings. Faults have their own route.
        body = _body(req)
        unknown = sorted(k for k in body if k not in DEFAULT_SETTINGS or k == "faults")
        if unknown:
            raise _error(400, "BadRequest", f"Unknown settings: {', '.join(unknown)} (faults: PUT /_emulator/faults).")
        with req.world.lock:
            req.world.settings.update(body)
            return {k: v for k, v in req.world.settings.items() if k != "faults"}

    @r("GET", r"/_emulator/clock")
    @guarded
    def clock(req: Request) -> dict:
        return _clock(req.world)

    @r("POST", r"/_emulator/clock/advance")
    @guarded
    def advance(req: Request) -> dict:
        body = _body(req)
        try:
            seconds = float(body.get("seconds") or 0) + float(body.get("days") or 0) * DAY
            req.world.clock.advance(seconds)
        except (TypeError, ValueError) as exc:
            raise _error(400, "BadRequest", f"seconds/days must be non-negative numbers: {exc}") from None
        return _clock(req.world)

    @r("POST", r"/_emulator/gdap/(?P<relationship_id>[^/]+)/approve")
    @guarded
    def approve_gdap(req: Request, relationship_id: str) -> Any:
        try:
            gdap = importlib.import_module(f"{__package__}.gdap")
        except ModuleNotFoundError:
            gdap = None
        approve = getattr(gdap, "approve", None)
        if approve is None:
            raise _error(501, "NotImplemented", "GDAP approval is not available (no gdap module).")
        with req.world.lock:
            result = approve(req.world, relationship_id)
        if result is None:
            return {"status": "approved", "id": relationship_id}
        return result

    @r("POST", r"/_emulator/devicecode/approve")
    @guarded
    def approve_device_code(req: Request) -> dict:
        body = _body(req)
        world = req.world
        record = tokens.device_code_by_user_code(world, str(body.get("user_code", "")))
        if record is None:
            raise _error(404, "NotFound", "No pending device code with that user_code.")
        tenant, user = _find_user(world, str(body.get("user", "")))
        with world.lock:
            record.user_id = user["id"]
            record.user_tenant_id = tenant.id
            record.mfa = bool(body.get("mfa", user.get("_mfa", False)))
        return {"status": "approved", "user_code": record.user_code, "user": user["userPrincipalName"]}

    @r("POST", r"/_emulator/refresh-tokens/revoke")
    @guarded
    def revoke(req: Request) -> dict:
        body = _body(req)
        _, user = _find_user(req.world, str(body.get("user", "")))
        tokens.revoke_user(req.world, user)
        return {"status": "revoked", "user": user["userPrincipalName"]}

    @r("GET", r"/_emulator/refresh-tokens")
    @guarded
    def list_refresh_tokens(req: Request) -> dict:
        world = req.world
        _, user = _find_user(world, req.param("user") or "")
        with world.lock:
            records = tokens.refresh_tokens_of(world, user["id"])
            items = [r.public(world) for r in records]
            newest = {r.client_id: tokens.newest_refresh_token(world, user["id"], r.client_id) for r in records}
        return {"user": user["userPrincipalName"], "refresh_tokens": items, "newest": newest}

    @r("GET", r"/_emulator/issued-tokens")
    @guarded
    def issued_tokens(req: Request) -> dict:
        # For leak tests: every token a client could have received (and must never print).
        return tokens.issued_tokens(req.world)

    @r("GET", r"/_emulator/faults")
    @guarded
    def get_faults(req: Request) -> dict:
        return faults.for_world(req.world).public()

    @r("PUT", r"/_emulator/faults")
    @guarded
    def put_faults(req: Request) -> dict:
        try:
            return faults.configure(req.world, _body(req)).public()
        except (TypeError, ValueError, KeyError) as exc:
            raise _error(400, "BadRequest", f"Invalid fault configuration: {exc}") from None

    @r("POST", r"/_emulator/concurrent-writes")
    @guarded
    def concurrent_writes(req: Request) -> dict:
        # Stands in for another writer: the next `count` If-Match writes whose path matches
        # `path` find the object changed by `changes` first (new ETag), so they get 412.
        body = _body(req)
        path, changes, count = body.get("path"), body.get("changes", {}), body.get("count", 1)
        if not isinstance(path, str) or not isinstance(changes, dict) or not isinstance(count, int) or count < 1:
            raise _error(400, "BadRequest", "Expected {'path': <regex>, 'changes': {...}, 'count': n >= 1}.")
        try:
            pattern = re.compile(path)
        except re.error as exc:
            raise _error(400, "BadRequest", f"path is not a regular expression: {exc}") from None
        with req.world.lock:
            pending = req.world.extra.setdefault("concurrent_writes", [])
            pending.append({"pattern": pattern, "changes": changes, "remaining": count})
            return {"pending": sum(p["remaining"] for p in pending)}

    @r("GET", r"/_emulator/requests")
    @guarded
    def requests_log(req: Request) -> Response:
        try:
            since = int(req.param("since") or 0)
        except ValueError:
            raise _error(400, "BadRequest", "since must be an integer") from None
        world = req.world
        with req.world.log_lock:
            log = world.log
            # seq grows by one per entry, so the start index follows from the first seq.
            start = 0
            if log:
                start = max(0, min(len(log), since - log[0]["seq"] + 1))
            entries = log[start:]
            last = world.log_seq
        # Entries keep the epoch (cheap on the hot path); render it here.
        entries = [dict(e, time=iso_ms(e["time"])) if isinstance(e["time"], float) else e for e in entries]
        return Response(200, {"requests": entries, "last_seq": last})

    @r("DELETE", r"/_emulator/requests")
    @guarded
    def clear_log(req: Request) -> None:
        with req.world.log_lock:
            req.world.log.clear()
        return None

    @r("GET", r"/_emulator/counters")
    @guarded
    def counters(req: Request) -> dict:
        with req.world.log_lock:
            return dict(req.world.counters)

    @r("GET", r"/_emulator/tenants")
    @guarded
    def tenants(req: Request) -> dict:
        with req.world.lock:
            return {"tenants": req.world.summary()}
