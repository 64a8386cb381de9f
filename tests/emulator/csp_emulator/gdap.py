"""GDAP: ``/tenantRelationships/delegatedAdminRelationships`` with requests, access assignments
and operations, plus ``delegatedAdminCustomers``.

Time-driven transitions (auto-approval, activation, expiry, auto-extension, the 90-day limit on
pending approvals) are computed lazily from the world clock whenever a relationship is read or
changed, so no background thread is needed and ``advance_clock`` takes effect at once. Steps a
real service takes "a little later" (approved → activating → active, terminating, access
assignments pending → active, operations notStarted → running → succeeded) advance one step per
read of the object, so a client that polls sees every state (approved, activating, active …),
and complete by themselves after the ``gdap_activation_delay`` setting (seconds, default 5).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from . import catalog, odata, server
from .clock import parse_iso
from .graph import GraphError, authenticate, base_url, json_body, query_pairs, respond, routes
from .world import DAY, parse_duration

PREFIX = r"/tenantRelationships/delegatedAdminRelationships"
APPROVAL_LINK = "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{}"

GLOBAL_ADMIN = catalog.ROLE_TEMPLATES["Global Administrator"]
KNOWN_ROLES = frozenset(catalog.ROLE_TEMPLATES.values())
# Statuses in which a relationship is in force (its access assignments grant their roles).
ACTIVE_STATES = ("active", "expiring")
MIN_DURATION = DAY
MAX_DURATION = 730 * DAY
PENDING_LIMIT = 90 * DAY
TERMINAL = ("terminated", "expired")
UPDATABLE = {"displayName", "duration", "customer", "accessDetails", "autoExtendDuration"}
REL_FIELDS = {"id", "displayName", "duration", "customer", "accessDetails", "status", "autoExtendDuration",
              "createdDateTime", "lastModifiedDateTime", "activatedDateTime", "endDateTime"}
AA_FIELDS = {"id", "accessContainer", "accessDetails", "status", "createdDateTime", "lastModifiedDateTime"}

# Reads: app role Read.All or ReadWrite.All; writes: ReadWrite.All (delegated or app).
READ_ROLES = {"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"}
WRITE_ROLES = {"DelegatedAdminRelationship.ReadWrite.All"}
READ_SCOPES = {"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"}
WRITE_SCOPES = {"DelegatedAdminRelationship.ReadWrite.All"}
DENIED = "Insufficient privileges to complete the operation."


def err(status: int, code: str, message: str, headers: dict | None = None) -> GraphError:
    return GraphError(status, code, message, headers)


# --------------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------------


def partner(req, write: bool):
    """(claims, partner tenant) after the GDAP permission checks."""
    claims = authenticate(req)
    tenant = req.world.tenant(claims.get("tid"))
    if tenant is None:
        raise err(401, "InvalidAuthenticationToken", "Access token validation failure.")
    delegated = claims.get("idtyp") == "user" if claims.get("idtyp") else bool(claims.get("scp"))
    if delegated:
        scopes = set(str(claims.get("scp") or "").split())
        if not scopes & (WRITE_SCOPES if write else READ_SCOPES):
            raise err(403, "Authorization_RequestDenied", DENIED)
        # The signed-in user must be an Admin Agent of the partner (a member of AdminAgents).
        with req.world.lock:
            agents = tenant.group_by_name("AdminAgents")
            is_agent = agents is not None and claims.get("oid") in agents.get("_members", ())
        if tenant.kind != "partner" or not is_agent:
            raise err(403, "Authorization_RequestDenied", "The user does not have the Admin Agent role in the "
                      "partner tenant.")
    else:
        roles = set(claims.get("roles") or ())
        if not roles & (WRITE_ROLES if write else READ_ROLES):
            raise err(403, "Authorization_RequestDenied", DENIED)
        # App-only GDAP calls need this first-party service principal in the partner tenant.
        with req.world.lock:
            has_pcda = tenant.sp_by_app_id(catalog.PARTNER_CUSTOMER_DELEGATED_ADMIN) is not None
        if not has_pcda:
            raise err(403, "Authorization_RequestDenied", "The service principal of 'Partner Customer Delegated "
                      "Administration' (2832473f-ec63-45fb-976f-5d45a7d4bb91) is missing in the partner tenant.")
    if tenant.kind != "partner":
        raise err(403, "Authorization_RequestDenied", "The tenant is not a partner tenant.")
    return claims, tenant


def get_relationship(tenant, rid: str) -> dict:
    rel = tenant.gdap_relationships.get(rid) or tenant.gdap_relationships.get(rid.lower())
    if rel is None:
        raise err(404, "notFound", f"The delegated admin relationship with id '{rid}' was not found.")
    return rel


# --------------------------------------------------------------------------------------------
# ETags and shapes
# --------------------------------------------------------------------------------------------


def etag(obj: dict) -> str:
    digest = hashlib.sha1(f"{obj['id']}:{obj.get('_etag_version', 1)}".encode()).hexdigest()  # noqa: S324 - not security
    inner = f'"{digest[:8]}-0000-0200-0000-{digest[8:20]}"'
    return 'W/"' + base64.b64encode(f"'{inner}'".encode()).decode() + '"'


def bump(world, obj: dict) -> None:
    obj["_etag_version"] = obj.get("_etag_version", 1) + 1
    obj["lastModifiedDateTime"] = world.clock.iso()


def apply_concurrent_write(req, obj: dict) -> None:
    """A write that the control API queued (``/_emulator/concurrent-writes``) lands first, as if
    another client had changed the object between this caller's read and its write."""
    pending = req.world.extra.get("concurrent_writes")
    if not pending:
        return
    for entry in pending:
        if entry["remaining"] > 0 and entry["pattern"].search(req.path):
            entry["remaining"] -= 1
            for key, value in entry["changes"].items():
                if not key.startswith("_") and key not in ("id", "status"):
                    obj[key] = value
            bump(req.world, obj)
            break
    req.world.extra["concurrent_writes"] = [e for e in pending if e["remaining"] > 0]


def check_if_match(req, obj: dict) -> None:
    apply_concurrent_write(req, obj)
    value = req.headers.get("If-Match")
    if value is None:
        raise err(400, "badRequest", "The If-Match header is required for this request; send the object's "
                  "@odata.etag.")
    tags = [t.strip() for t in value.split(",")]
    if "*" not in tags and etag(obj) not in tags:
        raise err(412, "PreconditionFailed", "The ETag in the If-Match header does not match the current version "
                  "of the object; read it again and retry.")


def rel_out(rel: dict, select=None) -> dict:
    body = odata.select_fields(rel, select) if select else odata.public(rel)
    body.pop("@odata.type", None)
    return {"@odata.type": "#microsoft.graph.delegatedAdminRelationship", "@odata.etag": etag(rel), **body}


def aa_out(aa: dict) -> dict:
    return {"@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment", "@odata.etag": etag(aa),
            **odata.public(aa)}


# --------------------------------------------------------------------------------------------
# The status machine (lazy)
# --------------------------------------------------------------------------------------------

_STEP = {"approved": "activating", "activating": "active", "terminationRequested": "terminating",
         "terminating": "terminated"}


def refresh(world, rel: dict, read: bool = False) -> dict:
    """Bring ``rel`` up to date with the world clock; ``read`` advances one deferred step."""
    now = world.clock.now()
    status = rel.get("status")
    if status == "approvalPending":
        locked = rel.get("_locked_at") or _ts(rel.get("lastModifiedDateTime")) or now
        auto = world.settings.get("gdap_auto_approve_after")
        if approves_on_lock(world, rel):
            auto = 0.0
        if auto is not None and now >= locked + float(auto):
            _approve(world, rel, at=locked + float(auto))
            status = rel["status"]
        elif now - locked > PENDING_LIMIT:
            rel["status"] = "expired"
            bump(world, rel)
            return rel
    if read and status in _STEP and rel.get("_shown") != status:
        rel["_shown"] = status  # every intermediate status is seen by one read before it moves on
    elif read and status in _STEP:
        nxt = _STEP[status]
        if nxt == "active":
            _activate(world, rel, now)
        elif nxt == "terminated":
            _terminate(world, rel, now)
        else:
            rel["status"] = rel["_shown"] = nxt
            bump(world, rel)
    # What polling would have advanced also completes on its own after a short delay, so a token
    # request (which reads no GDAP object) sees the relationship the way the service would.
    delay = float(world.settings.get("gdap_activation_delay", 5.0))
    status = rel.get("status")
    if status in ("approved", "activating") and now >= (rel.get("_approved_at") or now) + delay:
        _activate(world, rel, now)
    elif status in ("terminationRequested", "terminating") and now >= (rel.get("_terminate_at") or now) + delay:
        _terminate(world, rel, now)
    for aa in rel.get("_access_assignments", {}).values():
        if aa.get("status") in ("pending", "deleting") and now >= (_ts(aa.get("lastModifiedDateTime")) or now) + delay:
            _aa_step(world, aa)
    for op in rel.get("_operations", {}).values():
        if op.get("status") in ("notStarted", "running") and now >= (_ts(op.get("createdDateTime")) or now) + delay:
            _op_step(world, rel, op, to="succeeded")
    if rel.get("status") in ACTIVE_STATES:
        end = _ts(rel.get("endDateTime"))
        extend = rel.get("autoExtendDuration") or "PT0S"
        seconds = parse_duration(extend) if extend not in ("PT0S", "P0D") else 0
        if end is not None and now >= end:
            if seconds > 0:
                while end <= now:  # auto-extension renews for another period each time it runs out
                    end += seconds
                rel["endDateTime"] = world.clock.iso(end)
            else:
                rel["status"] = rel["_shown"] = "expired"
            bump(world, rel)
        elif end is not None:
            # A relationship that will not be extended reads "expiring" in its last days; it still
            # grants access (delegatedAdminRelationshipStatus has both values). Auto-extension set
            # later makes it "active" again.
            window = float(world.settings.get("gdap_expiring_days") or 0) * 86400
            expiring = not seconds and end - now <= window
            if expiring != (rel["status"] == "expiring"):
                rel["status"] = rel["_shown"] = "expiring" if expiring else "active"
                bump(world, rel)
    for req_obj in rel.get("_requests", {}).values():
        if read and req_obj["status"] in ("created", "pending"):
            req_obj["status"] = "succeeded" if req_obj["status"] == "pending" else "pending"
            req_obj["lastModifiedDateTime"] = world.clock.iso(now)
    return rel


def approves_on_lock(world, rel: dict) -> bool:
    """Whether the customer's Global Administrator approves the relationship the moment it is locked
    (setting ``gdap_approving_customers``: tenant ids or domains, so a customer created later counts)."""
    approving = {str(c).lower() for c in world.settings.get("gdap_approving_customers") or ()}
    if not approving:
        return False
    customer = world.tenant((rel.get("customer") or {}).get("tenantId"), by_key=False)
    names = {customer.id.lower(), *(d.lower() for d in customer.domains)} if customer else set()
    return bool(names & approving)


def _activate(world, rel: dict, now: float) -> None:
    rel["status"] = rel["_shown"] = "active"
    rel["activatedDateTime"] = world.clock.iso(now)
    rel["endDateTime"] = world.clock.iso(now + parse_duration(rel["duration"]))
    bump(world, rel)


def _terminate(world, rel: dict, now: float) -> None:
    rel["status"] = rel["_shown"] = "terminated"
    rel["endDateTime"] = world.clock.iso(now)
    for aa in rel.get("_access_assignments", {}).values():
        aa["status"] = "deleted"
    bump(world, rel)


def _ts(value: Any) -> float | None:
    try:
        return parse_iso(value) if value else None
    except ValueError:
        return None


def _approve(world, rel: dict, at: float | None = None) -> None:
    rel["status"] = "approved"
    rel["_approved_at"] = at if at is not None else world.clock.now()
    bump(world, rel)


def approve(world, relationship_id: str) -> dict:
    """Control API: the customer approves ``relationship_id`` (must be approvalPending)."""
    for tenant in world.partner_tenants():
        rel = tenant.gdap_relationships.get(relationship_id)
        if rel is None:
            continue
        refresh(world, rel)
        if rel["status"] != "approvalPending":
            raise server.HttpError(409, {"error": {"code": "Conflict", "message": f"Relationship {relationship_id} "
                                                   f"is {rel['status']}, not approvalPending."}})
        _approve(world, rel)
        return {"id": rel["id"], "status": rel["status"], "partnerTenantId": tenant.id}
    raise server.HttpError(404, {"error": {"code": "NotFound", "message": f"No relationship {relationship_id}."}})


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def valid_duration(value: Any) -> float:
    if not isinstance(value, str) or not _DURATION_RE.match(value):
        raise err(400, "badRequest", f"The duration '{value}' is not a valid ISO 8601 duration.")
    seconds = parse_duration(value)
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise err(400, "badRequest", "The duration must be between P1D and P2Y inclusive.")
    return seconds


def valid_roles(details: Any, field: str = "accessDetails") -> list[dict]:
    roles = details.get("unifiedRoles") if isinstance(details, dict) else None
    if not isinstance(roles, list) or not roles:
        raise err(400, "badRequest", f"{field}.unifiedRoles must list at least one role.")
    out, seen = [], set()
    for role in roles:
        rid = role.get("roleDefinitionId") if isinstance(role, dict) else None
        if not isinstance(rid, str) or rid.lower() not in KNOWN_ROLES:
            raise err(400, "badRequest", f"The role definition id '{rid}' is not a valid built-in role.")
        if rid.lower() not in seen:
            seen.add(rid.lower())
            out.append({"roleDefinitionId": rid.lower()})
    return out


def valid_auto_extend(value: Any, roles: list[dict]) -> str:
    if value not in ("PT0S", "P0D", "P180D"):
        raise err(400, "badRequest", "autoExtendDuration must be PT0S or P180D.")
    if value == "P180D" and any(r["roleDefinitionId"] == GLOBAL_ADMIN for r in roles):
        raise err(400, "badRequest", "Relationships that include the Global Administrator role cannot be "
                  "auto-extended.")
    return "PT0S" if value == "P0D" else value


def valid_name(tenant, name: Any, exclude: str | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise err(400, "badRequest", "displayName is required.")
    if len(name) > 50:
        raise err(400, "badRequest", "displayName must be at most 50 characters.")
    for other in tenant.gdap_relationships.values():
        if other["id"] != exclude and other.get("status") not in TERMINAL and \
                other.get("displayName", "").lower() == name.lower():
            raise err(409, "conflict", f"A delegated admin relationship with the display name '{name}' already "
                      "exists.")
    return name


def valid_customer(world, value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"tenantId", "displayName"}:
        raise err(400, "badRequest", "customer must be an object with tenantId and an optional displayName.")
    tid = value.get("tenantId")
    if tid is None:
        return {"tenantId": None, "displayName": value.get("displayName")}
    customer = world.tenant(str(tid)) if isinstance(tid, str) else None
    if customer is None or customer.kind != "customer":
        raise err(400, "badRequest", f"The customer tenant '{tid}' is not valid.")
    return {"tenantId": customer.id, "displayName": value.get("displayName") or customer.display_name}


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def register(router) -> None:
    def r(method, pattern):
        return routes(router, method, pattern)

    def rel_url(req, version, rid):
        return f"{base_url(req, version)}/tenantRelationships/delegatedAdminRelationships/{rid}"

    @r("GET", PREFIX)
    def list_relationships(req, version):
        claims, tenant = partner(req, write=False)
        world = req.world
        with world.lock:
            for rel in tenant.gdap_relationships.values():
                refresh(world, rel, read=True)
            q = odata.parse_query(query_pairs(req), req.headers, path=req.path, entity="delegatedAdminRelationship",
                                  directory=False, max_top=300, allowed=REL_FIELDS,
                                  allow=("$filter", "$select", "$top", "$orderby", "$count"))
            return q.page(tenant.gdap_relationships.values(), link_base=base_url(req, version) + PREFIX,
                          context=f"{base_url(req, version)}/$metadata#tenantRelationships/delegatedAdminRelationships",
                          project=lambda o, sel: rel_out(o, sel))

    @r("POST", PREFIX)
    def create_relationship(req, version):
        claims, tenant = partner(req, write=True)
        body = json_body(req)
        allowed = {"displayName", "duration", "customer", "accessDetails", "autoExtendDuration", "@odata.type"}
        for key in body:
            if key not in allowed:
                raise err(400, "badRequest", f"The property '{key}' does not exist on type "
                          "'microsoft.graph.delegatedAdminRelationship'.")
        world = req.world
        with world.lock:
            for rel in tenant.gdap_relationships.values():
                refresh(world, rel)
            name = valid_name(tenant, body.get("displayName"))
            if "duration" not in body:
                raise err(400, "badRequest", "duration is required.")
            valid_duration(body["duration"])
            roles = valid_roles(body.get("accessDetails"))
            auto = valid_auto_extend(body.get("autoExtendDuration", "PT0S"), roles)
            customer = valid_customer(world, body.get("customer"))
            now = world.clock.now()
            first = customer["tenantId"] if customer and customer.get("tenantId") else world.new_id()
            rid = f"{first}-{world.new_id()}"
            rel = {
                "id": rid, "displayName": name, "duration": body["duration"],
                "customer": customer or {"tenantId": None, "displayName": None},
                "accessDetails": {"unifiedRoles": roles}, "status": "created", "autoExtendDuration": auto,
                "createdDateTime": world.clock.iso(now), "lastModifiedDateTime": world.clock.iso(now),
                "activatedDateTime": None,
                "endDateTime": world.clock.iso(now + parse_duration(body["duration"])),
                "_etag_version": 1, "_partner_tenant_id": tenant.id,
                "_access_assignments": {}, "_requests": {}, "_operations": {},
            }
            tenant.gdap_relationships[rid] = rel
            out = rel_out(rel)
        out["@odata.context"] = f"{base_url(req, version)}/tenantRelationships/$metadata#delegatedAdminRelationships/$entity"
        return respond(req, 201, out, {"Location": rel_url(req, version, rid), "ETag": out["@odata.etag"]})

    @r("GET", PREFIX + r"/(?P<rid>[^/]+)")
    def get_rel(req, version, rid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid), read=True)
            q = odata.parse_query(query_pairs(req), req.headers, directory=False, allow=("$select",),
                                  allowed=REL_FIELDS, entity="delegatedAdminRelationship")
            out = rel_out(rel, q.select)
        return {"@odata.context": f"{base_url(req, version)}/tenantRelationships/$metadata#delegatedAdminRelationships"
                                  "/$entity", **out}

    @r("PATCH", PREFIX + r"/(?P<rid>[^/]+)")
    def patch_rel(req, version, rid):
        claims, tenant = partner(req, write=True)
        body = json_body(req)
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            check_if_match(req, rel)
            for key in body:
                if key not in UPDATABLE:
                    raise err(400, "badRequest", f"The property '{key}' cannot be updated.")
            status = rel["status"]
            if status == "active" and "accessDetails" in body:
                # delegatedadminrelationship-update.md: "You can only remove the Microsoft Entra Global
                # Administrator role when the status property is `active`, which indicates a long-running
                # operation" -> 202 with the operation in Location (delegatedadminrelationshipoperation.md).
                # Setting gdap_global_admin_removal "updated": the other documented answer, the Response section
                # of the same doc, "200 OK ... and an updated delegatedAdminRelationship object".
                if world.settings.get("gdap_global_admin_removal", "operation") == "updated":
                    _apply_relationship_roles(world, rel, _global_admin_removed_roles(rel, body))
                    out = rel_out(rel)
                    out["@odata.context"] = (f"{base_url(req, version)}/tenantRelationships/$metadata"
                                             "#delegatedAdminRelationships/$entity")
                    return respond(req, 200, out, {"ETag": out["@odata.etag"]})
                op_id = _remove_global_admin(world, rel, body)
                return respond(req, 202, None, {"Location": f"{rel_url(req, version, rid)}/operations/{op_id}",
                                                "Retry-After": "1"})
            if status in ACTIVE_STATES:
                if set(body) - {"autoExtendDuration"}:
                    raise err(400, "badRequest", "Only autoExtendDuration can be updated on an active relationship, "
                              "and the Global Administrator role removed from it.")
            elif status != "created":
                raise err(400, "badRequest", f"The relationship cannot be updated in status '{status}'.")
            roles = valid_roles(body["accessDetails"]) if "accessDetails" in body else \
                rel["accessDetails"]["unifiedRoles"]
            changes: dict[str, Any] = {}
            if "displayName" in body:
                changes["displayName"] = valid_name(tenant, body["displayName"], exclude=rel["id"])
            if "duration" in body:
                valid_duration(body["duration"])
                changes["duration"] = body["duration"]
                changes["endDateTime"] = world.clock.iso(_ts(rel["createdDateTime"]) + parse_duration(body["duration"]))
            if "customer" in body:
                changes["customer"] = valid_customer(world, body["customer"]) or {"tenantId": None,
                                                                                   "displayName": None}
            if "accessDetails" in body:
                changes["accessDetails"] = {"unifiedRoles": roles}
            auto = body.get("autoExtendDuration", rel.get("autoExtendDuration", "PT0S"))
            changes["autoExtendDuration"] = valid_auto_extend(auto, roles)
            rel.update(changes)
            bump(world, rel)
            out = rel_out(rel)
        out["@odata.context"] = f"{base_url(req, version)}/tenantRelationships/$metadata#delegatedAdminRelationships/$entity"
        return respond(req, 200, out, {"ETag": out["@odata.etag"]})

    @r("DELETE", PREFIX + r"/(?P<rid>[^/]+)")
    def delete_rel(req, version, rid):
        claims, tenant = partner(req, write=True)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid))
            check_if_match(req, rel)
            if rel["status"] != "created":
                raise err(400, "badRequest", f"Only relationships in status 'created' can be deleted; this one is "
                          f"'{rel['status']}'. Terminate it instead.")
            del tenant.gdap_relationships[rel["id"]]
        return respond(req, 204)

    # ---- requests ------------------------------------------------------------------------------
    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/requests")
    def list_requests(req, version, rid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid), read=True)
            items = [odata.public(x) for x in rel["_requests"].values()]
        return {"@odata.context": f"{base_url(req, version)}/$metadata#tenantRelationships/"
                                  f"delegatedAdminRelationships('{rid}')/requests", "value": items}

    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/requests/(?P<req_id>[^/]+)")
    def get_request(req, version, rid, req_id):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid), read=True)
            found = rel["_requests"].get(req_id)
            if found is None:
                raise err(404, "notFound", f"The request '{req_id}' was not found.")
            return {"@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest", **odata.public(found)}

    @r("POST", PREFIX + r"/(?P<rid>[^/]+)/requests")
    def post_request(req, version, rid):
        claims, tenant = partner(req, write=True)
        body = json_body(req)
        action = body.get("action")
        if set(body) - {"action", "@odata.type"} or action not in ("lockForApproval", "terminate",
                                                                     "approve", "reject"):
            raise err(400, "badRequest", "action must be 'lockForApproval' or 'terminate'.")
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            status = rel["status"]
            if action == "lockForApproval":
                if status != "created":
                    raise err(400, "badRequest", f"Cannot lock a relationship for approval in status '{status}'.")
                rel["status"] = "approvalPending"
                rel["_locked_at"] = world.clock.now()
            elif action == "terminate":
                if status not in ACTIVE_STATES:
                    raise err(400, "badRequest", f"Only active relationships can be terminated; this one is "
                              f"'{status}'.")
                rel["status"] = "terminationRequested"
                rel["_terminate_at"] = world.clock.now()
            else:
                raise err(403, "Authorization_RequestDenied", f"The action '{action}' is only available to the "
                          "customer.")
            bump(world, rel)
            now = world.clock.iso()
            req_id = world.new_id()
            record = {"id": req_id, "action": action, "status": "created", "createdDateTime": now,
                      "lastModifiedDateTime": now}
            rel["_requests"][req_id] = record
        out = {"@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
               "@odata.context": f"{base_url(req, version)}/tenantRelationships/$metadata#requests", **record}
        return respond(req, 201, out, {"Location": f"{rel_url(req, version, rid)}/requests/{req_id}"})

    # ---- access assignments -----------------------------------------------------------------
    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/accessAssignments")
    def list_assignments(req, version, rid):
        claims, tenant = partner(req, write=False)
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid), read=True)
            for aa in rel["_access_assignments"].values():
                _aa_step(world, aa)
            q = odata.parse_query(query_pairs(req), req.headers, path=req.path, entity="delegatedAdminAccessAssignment",
                                  directory=False, max_top=300, allowed=AA_FIELDS,
                                  allow=("$filter", "$select", "$top", "$orderby", "$count"))
            return q.page(rel["_access_assignments"].values(), link_base=rel_url(req, version, rid) + "/accessAssignments",
                          context=f"{base_url(req, version)}/$metadata#tenantRelationships/delegatedAdminRelationships"
                                  f"('{rid}')/accessAssignments",
                          project=lambda o, sel: aa_out(o) if not sel else {"@odata.etag": etag(o),
                                                                             **odata.select_fields(o, sel)})

    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/accessAssignments/(?P<aid>[^/]+)")
    def get_assignment(req, version, rid, aid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid), read=True)
            aa = _assignment(rel, aid)
            _aa_step(req.world, aa)
            return aa_out(aa)

    @r("POST", PREFIX + r"/(?P<rid>[^/]+)/accessAssignments")
    def post_assignment(req, version, rid):
        claims, tenant = partner(req, write=True)
        body = json_body(req)
        for key in body:
            if key not in ("accessContainer", "accessDetails", "@odata.type"):
                raise err(400, "badRequest", f"The property '{key}' does not exist on type "
                          "'microsoft.graph.delegatedAdminAccessAssignment'.")
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            if rel["status"] not in ACTIVE_STATES:
                raise err(400, "badRequest", f"Access assignments can only be created on an active relationship; "
                          f"this one is '{rel['status']}'.")
            container = body.get("accessContainer")
            if not isinstance(container, dict) or container.get("accessContainerType") != "securityGroup":
                raise err(400, "badRequest", "accessContainer must have accessContainerType 'securityGroup'.")
            gid = str(container.get("accessContainerId") or "").lower()
            group = tenant.groups.get(gid)
            if group is None or not group.get("securityEnabled"):
                raise err(400, "badRequest", f"The access container '{gid}' is not a security group of the partner "
                          "tenant.")
            roles = valid_roles(body.get("accessDetails"))
            allowed = {x["roleDefinitionId"] for x in rel["accessDetails"]["unifiedRoles"]}
            extra = [x["roleDefinitionId"] for x in roles if x["roleDefinitionId"] not in allowed]
            if extra:
                raise err(400, "badRequest", f"The roles {', '.join(extra)} are not part of the relationship.")
            for other in rel["_access_assignments"].values():
                if other["accessContainer"]["accessContainerId"] == gid and other["status"] not in ("deleted",
                                                                                                    "deleting"):
                    raise err(409, "conflict", "An access assignment for this security group already exists in the "
                              "relationship.")
            now = world.clock.iso()
            aid = world.new_id()
            aa = {"id": aid, "status": "pending",
                  "accessContainer": {"accessContainerId": gid, "accessContainerType": "securityGroup"},
                  "accessDetails": {"unifiedRoles": roles}, "createdDateTime": now, "lastModifiedDateTime": now,
                  "_etag_version": 1}
            rel["_access_assignments"][aid] = aa
            out = aa_out(aa)
        out["@odata.context"] = f"{base_url(req, version)}/tenantRelationships/$metadata#accessAssignments"
        return respond(req, 201, out, {"Location": f"{rel_url(req, version, rid)}/accessAssignments/{aid}",
                                       "ETag": out["@odata.etag"]})

    @r("PATCH", PREFIX + r"/(?P<rid>[^/]+)/accessAssignments/(?P<aid>[^/]+)")
    def patch_assignment(req, version, rid, aid):
        claims, tenant = partner(req, write=True)
        body = json_body(req)
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            aa = _assignment(rel, aid)
            check_if_match(req, aa)
            if set(body) != {"accessDetails"}:
                raise err(400, "badRequest", "Only accessDetails can be updated on an access assignment.")
            if aa["status"] != "active" or rel["status"] not in ACTIVE_STATES:
                raise err(400, "badRequest", f"The access assignment cannot be updated in status '{aa['status']}'.")
            roles = valid_roles(body["accessDetails"])
            allowed = {x["roleDefinitionId"] for x in rel["accessDetails"]["unifiedRoles"]}
            if any(x["roleDefinitionId"] not in allowed for x in roles):
                raise err(400, "badRequest", "The roles must be a subset of the relationship's roles.")
            current = {x["roleDefinitionId"] for x in aa["accessDetails"]["unifiedRoles"]}
            if current == {x["roleDefinitionId"] for x in roles}:
                # delegatedadminaccessassignment-update.md: values identical to the existing object
                # give 200 OK with the original object, no long-running operation.
                return respond(req, 200, aa_out(aa), {"ETag": etag(aa)})
            op_id = world.new_id()
            now = world.clock.iso()
            rel["_operations"][op_id] = {
                "id": op_id, "operationType": "delegatedAdminAccessAssignmentUpdate", "status": "notStarted",
                "data": None, "createdDateTime": now, "lastModifiedDateTime": now,
                "_etag_version": 1, "_apply": (aid, roles),
            }
        # Long-running: 202 with the operation to poll (the documented example's body is {}).
        return respond(req, 202, {}, {"Location": f"{rel_url(req, version, rid)}/operations/{op_id}",
                                        "Retry-After": "1"})

    @r("DELETE", PREFIX + r"/(?P<rid>[^/]+)/accessAssignments/(?P<aid>[^/]+)")
    def delete_assignment(req, version, rid, aid):
        claims, tenant = partner(req, write=True)
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            aa = _assignment(rel, aid)
            check_if_match(req, aa)
            if aa["status"] in ("deleting", "deleted"):
                raise err(400, "badRequest", f"The access assignment is already {aa['status']}.")
            aa["status"] = "deleting"
            bump(world, aa)
        return respond(req, 204)

    # ---- operations ---------------------------------------------------------------------------
    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/operations")
    def list_operations(req, version, rid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            rel = refresh(req.world, get_relationship(tenant, rid))
            items = [_op_out(op, req) for op in rel["_operations"].values()]
        return {"@odata.context": f"{base_url(req, version)}/$metadata#tenantRelationships/"
                                  f"delegatedAdminRelationships('{rid}')/operations", "value": items}

    @r("GET", PREFIX + r"/(?P<rid>[^/]+)/operations/(?P<op_id>[^/]+)")
    def get_operation(req, version, rid, op_id):
        claims, tenant = partner(req, write=False)
        world = req.world
        with world.lock:
            rel = refresh(world, get_relationship(tenant, rid))
            op = rel["_operations"].get(op_id)
            if op is None:
                raise err(404, "notFound", f"The operation '{op_id}' was not found.")
            _op_step(world, rel, op)
            return _op_out(op, req)

    # ---- delegatedAdminCustomers ------------------------------------------------------------
    @r("GET", r"/tenantRelationships/delegatedAdminCustomers")
    def list_customers(req, version):
        claims, tenant = partner(req, write=False)
        world = req.world
        with world.lock:
            customers = _customers(world, tenant)
            q = odata.parse_query(query_pairs(req), req.headers, path=req.path, entity="delegatedAdminCustomer",
                                  directory=False, max_top=300, allowed={"id", "displayName", "tenantId"},
                                  allow=("$filter", "$select", "$top", "$orderby", "$count"))
            return q.page(customers, link_base=base_url(req, version) + "/tenantRelationships/delegatedAdminCustomers",
                          context=f"{base_url(req, version)}/$metadata#tenantRelationships/delegatedAdminCustomers",
                          project=lambda o, sel: customer_out(o, sel))

    @r("GET", r"/tenantRelationships/delegatedAdminCustomers/(?P<cid>[^/]+)")
    def get_customer(req, version, cid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            for c in _customers(req.world, tenant):
                if c["id"] == cid.lower():
                    return {"@odata.context": f"{base_url(req, version)}/$metadata#tenantRelationships/"
                                              "delegatedAdminCustomers/$entity", **customer_out(c)}
        raise err(404, "notFound", f"The delegated admin customer '{cid}' was not found.")

    @r("GET", r"/tenantRelationships/delegatedAdminCustomers/(?P<cid>[^/]+)/serviceManagementDetails")
    def service_management(req, version, cid):
        claims, tenant = partner(req, write=False)
        with req.world.lock:
            if not any(c["id"] == cid.lower() for c in _customers(req.world, tenant)):
                raise err(404, "notFound", f"The delegated admin customer '{cid}' was not found.")
        links = [("Microsoft 365 admin center", f"https://admin.microsoft.com/Partner/BeginClientSession.aspx?"
                  f"CTID={cid}&CSDEST=o365admincenter"),
                 ("Microsoft Entra admin center", f"https://entra.microsoft.com/{cid}"),
                 ("Azure portal", f"https://portal.azure.com/{cid}")]
        return {"value": [{"id": str(i), "serviceId": name.replace(" ", ""), "serviceName": name,
                           "serviceManagementUrl": url} for i, (name, url) in enumerate(links)]}


def customer_out(customer: dict, select=None) -> dict:
    """A delegatedAdminCustomer as delegatedadmincustomer-get.md / -list.md show it: with
    @odata.type and @odata.etag."""
    body = odata.select_fields(customer, select) if select else dict(customer)
    return {"@odata.type": "#microsoft.graph.delegatedAdminCustomer", "@odata.etag": etag(customer), **body}


def _assignment(rel: dict, aid: str) -> dict:
    aa = rel["_access_assignments"].get(aid) or rel["_access_assignments"].get(aid.lower())
    if aa is None:
        raise err(404, "notFound", f"The access assignment '{aid}' was not found.")
    return aa


def _aa_step(world, aa: dict) -> None:
    # The service applies assignments asynchronously: the next read after a change sees it done.
    nxt = {"pending": "active", "deleting": "deleted"}.get(aa.get("status"))
    if nxt:
        aa["status"] = nxt
        bump(world, aa)


def _global_admin_removed_roles(rel: dict, body: dict) -> list:
    """The one roles change an active relationship accepts: the same roles minus Global Administrator
    (nothing else in the body, no other role added or removed). Returns the new roles."""
    if set(body) != {"accessDetails"}:
        raise err(400, "badRequest", "Removing the Global Administrator role from an active relationship cannot be "
                  "combined with other changes.")
    roles = valid_roles(body["accessDetails"])
    have = {x["roleDefinitionId"] for x in rel["accessDetails"]["unifiedRoles"]}
    want = {x["roleDefinitionId"] for x in roles}
    if GLOBAL_ADMIN not in have or want != have - {GLOBAL_ADMIN}:
        raise err(400, "badRequest", "The roles of an active relationship cannot be changed; only the Global "
                  "Administrator role can be removed.")
    return roles


def _remove_global_admin(world, rel: dict, body: dict) -> str:
    """Queue the Global Administrator removal as a long-running operation. Returns the operation id."""
    roles = _global_admin_removed_roles(rel, body)
    op_id = world.new_id()
    now = world.clock.iso()
    rel["_operations"][op_id] = {
        "id": op_id, "operationType": "delegatedAdminRelationshipUpdate", "status": "notStarted", "data": None,
        "createdDateTime": now, "lastModifiedDateTime": now, "_etag_version": 1, "_apply": (None, roles),
    }
    return op_id


def _op_step(world, rel: dict, op: dict, to: str | None = None) -> None:
    nxt = to or {"notStarted": "running", "running": "succeeded"}.get(op["status"])
    if not nxt or op["status"] == nxt:
        return
    op["status"] = nxt
    op["lastModifiedDateTime"] = world.clock.iso()
    op["_etag_version"] = op.get("_etag_version", 1) + 1
    if nxt == "succeeded":
        aid, roles = op["_apply"]
        if aid is None:  # a relationship update: Global Administrator leaves it and its assignments
            _apply_relationship_roles(world, rel, roles)
            return
        aa = rel["_access_assignments"].get(aid)
        if aa is not None:
            aa["accessDetails"] = {"unifiedRoles": roles}
            bump(world, aa)


def _apply_relationship_roles(world, rel: dict, roles: list) -> None:
    """The relationship's new roles; a role it lost leaves its access assignments too."""
    rel["accessDetails"] = {"unifiedRoles": roles}
    bump(world, rel)
    kept = {x["roleDefinitionId"] for x in roles}
    for aa in rel["_access_assignments"].values():
        left = [x for x in aa["accessDetails"]["unifiedRoles"] if x["roleDefinitionId"] in kept]
        if len(left) != len(aa["accessDetails"]["unifiedRoles"]):
            aa["accessDetails"] = {"unifiedRoles": left}
            if not left:
                aa["status"] = "deleted"
            bump(world, aa)


# Members listed after unknownFutureValue in an evolvable enum (delegatedAdminRelationshipOperationType)
# are sent only to callers that ask with ``Prefer: include-unknown-enum-members``.
EVOLVED_OPERATION_TYPES = frozenset(["delegatedAdminRelationshipUpdate"])


def _op_out(op: dict, req=None) -> dict:
    out = {"@odata.type": "#microsoft.graph.delegatedAdminRelationshipOperation", "@odata.etag": etag(op),
           **odata.public(op)}
    prefer = str((req.headers.get("Prefer") if req is not None else "") or "").lower()
    if out.get("operationType") in EVOLVED_OPERATION_TYPES and "include-unknown-enum-members" not in prefer:
        out["operationType"] = "unknownFutureValue"
    return out


def _customers(world, tenant) -> list[dict]:
    seen: dict[str, dict] = {}
    for rel in tenant.gdap_relationships.values():
        tid = (rel.get("customer") or {}).get("tenantId")
        if not tid or tid in seen:
            continue
        customer = world.tenant(tid)
        seen[tid] = {"id": tid, "tenantId": tid,
                     "displayName": (rel.get("customer") or {}).get("displayName")
                     or (customer.display_name if customer else None)}
    return list(seen.values())
