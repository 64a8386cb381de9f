# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GDAP (granular delegated admin privileges) through Microsoft Graph.

``GdapClient`` speaks to ``/tenantRelationships/delegatedAdminRelationships`` (relationships, their
requests, access assignments and long-running operations). ``RelationshipEnsurer`` and
``AssignmentEnsurer`` hold the desired-state logic the modules run, without Ansible, so they can be
unit tested with a fake transport. Nothing here calls ``fail_json``: errors are ``CspError``.
"""

import re
import time
from datetime import datetime, timezone

from .directory import Directory, check_group_ref
from .errors import CspError, CspTransportError, CspValidationError, GraphError
from .graph import batch_error, filter_eq
from .roles import GLOBAL_ADMINISTRATOR, resolve_roles, role_name

RELATIONSHIPS = "/tenantRelationships/delegatedAdminRelationships"
CUSTOMERS = "/tenantRelationships/delegatedAdminCustomers"
APPROVAL_LINK = "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/%s"

# Statuses of Graph's delegatedAdminRelationshipStatus enum, split by "can still be used".
ENDED = frozenset(["terminationRequested", "terminating", "terminated", "expired"])
PENDING = frozenset(["approvalPending", "approved", "activating"])
ACTIVE = frozenset(["active", "expiring"])
ASSIGNMENT_GONE = frozenset(["deleting", "deleted"])
OPERATION_DONE = frozenset(["succeeded", "failed"])
# Answers after which a write may still have been carried out (the gateway gave up, not the service).
LOST_ANSWER_STATUSES = frozenset([500, 502, 504])

MAX_NAME_LENGTH = 50
DAY = 86400
MIN_DURATION = DAY
MAX_DURATION = 730 * DAY
AUTO_EXTEND_VALUES = ("PT0S", "P180D")
PAGE_SIZE = 300  # the service's $top maximum for relationships

_DURATION_RE = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_RELATIONSHIP_ID_RE = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
                                 r"(-[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})?$")


def approval_link(relationship_id):
    """The link the customer's Global Administrator opens to approve the relationship."""
    return APPROVAL_LINK % relationship_id


def looks_like_relationship_id(value):
    """Relationship ids are a GUID or two GUIDs joined by ``-`` (customer tenant id first)."""
    return bool(_RELATIONSHIP_ID_RE.match(str(value or "").strip()))


def duration_seconds(value, option="duration"):
    """Seconds of an ISO 8601 duration (years 365 days, months 30), as the service counts them."""
    text = str(value or "").strip().upper()
    match = _DURATION_RE.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise CspValidationError("%s %r is not an ISO 8601 duration such as P730D or P2Y" % (option, value),
                                 code="InvalidDuration")
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    return (y * 365 + mo * 30 + w * 7 + d) * DAY + h * 3600 + mi * 60 + s


def check_duration(value):
    seconds = duration_seconds(value)
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise CspValidationError("duration %s is outside P1D..P2Y (1 to 730 days)" % value, code="InvalidDuration")
    return str(value).strip().upper()


def check_display_name(name, option="display_name"):
    text = str(name or "")
    if not text.strip():
        raise CspValidationError("%s must not be empty" % option, code="InvalidDisplayName")
    if len(text) > MAX_NAME_LENGTH:
        raise CspValidationError("%s %r is %d characters long; GDAP allows at most %d"
                                 % (option, text, len(text), MAX_NAME_LENGTH), code="InvalidDisplayName")
    return text


def check_relationship_ref(value, option="relationship"):
    """A relationship id, or a display name GDAP could hold (checked before any request)."""
    text = str(value or "").strip()
    if looks_like_relationship_id(text):
        return text
    check_display_name(text, option="%s (an id or a display name)" % option)
    return text


def normalize_auto_extend(value):
    if value is None:
        return None
    text = str(value).strip().upper()
    text = "PT0S" if text in ("P0D", "PT0S", "0") else text
    if text not in AUTO_EXTEND_VALUES:
        raise CspValidationError("auto_extend must be PT0S (no automatic extension) or P180D, got %r" % value,
                                 code="InvalidAutoExtend")
    return text


def relationship_roles(relationship):
    details = (relationship or {}).get("accessDetails") or {}
    return [str(r.get("roleDefinitionId")).lower() for r in details.get("unifiedRoles") or []
            if r.get("roleDefinitionId")]


def unified_roles(role_ids):
    return {"unifiedRoles": [{"roleDefinitionId": rid} for rid in role_ids]}


def parse_time(value):
    """A Graph ``DateTimeOffset`` as an aware datetime (None if absent or unreadable)."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    # Graph sends up to 7 fractional digits; Python reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class RelationshipSpec:
    """Validated desired state of one relationship (built before any request)."""

    def __init__(self, display_name, customer_tenant_id=None, roles=None, duration=None, auto_extend=None):
        self.display_name = check_display_name(display_name)
        self.customer_tenant_id = customer_tenant_id
        self.role_ids = resolve_roles(roles) if roles is not None else None
        if self.role_ids is not None and not self.role_ids:
            raise CspValidationError("roles must name at least one role", code="InvalidRoles")
        self.duration = check_duration(duration) if duration is not None else None
        self.auto_extend = normalize_auto_extend(auto_extend)
        if self.auto_extend == "P180D" and GLOBAL_ADMINISTRATOR in (self.role_ids or ()):
            raise CspValidationError("auto_extend P180D cannot be used with the Global Administrator role: "
                                     "Microsoft does not auto-extend relationships that include it",
                                     code="InvalidAutoExtend")

    def create_body(self):
        body = {
            "displayName": self.display_name,
            "duration": self.duration,
            "customer": {"tenantId": self.customer_tenant_id},
            "accessDetails": unified_roles(self.role_ids),
        }
        if self.auto_extend:
            body["autoExtendDuration"] = self.auto_extend
        return body

    def view(self, status=None):
        """The diff-friendly picture of the desired state."""
        out = {"display_name": self.display_name, "customer_tenant_id": self.customer_tenant_id,
               "roles": sorted(role_name(r) for r in self.role_ids or []), "duration": self.duration,
               "auto_extend": self.auto_extend or "PT0S"}
        if status:
            out["status"] = status
        return out


def relationship_view(rel):
    """The same picture of an existing relationship (for diff)."""
    if not rel:
        return {}
    return {"display_name": rel.get("displayName"),
            "customer_tenant_id": ((rel.get("customer") or {}).get("tenantId") or "").lower() or None,
            "roles": sorted(role_name(r) for r in relationship_roles(rel)),
            "duration": rel.get("duration"), "auto_extend": rel.get("autoExtendDuration") or "PT0S",
            "status": rel.get("status")}


def relationship_changes(rel, spec):
    """``{field: (have, want)}`` for every managed property that differs (None = not managed)."""
    changes = {}
    if spec.role_ids is not None:
        have = set(relationship_roles(rel))
        if have != set(spec.role_ids):
            changes["roles"] = (sorted(have), list(spec.role_ids))
    if spec.duration is not None and rel.get("duration"):
        try:
            same = duration_seconds(rel["duration"]) == duration_seconds(spec.duration)
        except CspValidationError:
            same = False
        if not same:
            changes["duration"] = (rel.get("duration"), spec.duration)
    if spec.auto_extend is not None:
        have = normalize_auto_extend(rel.get("autoExtendDuration") or "PT0S")
        if have != spec.auto_extend:
            changes["auto_extend"] = (have, spec.auto_extend)
    return changes


def drops_only_global_admin(changes):
    """Whether the only difference is Global Administrator to remove: the one roles change Microsoft
    allows on an active relationship (delegatedadminrelationship-update)."""
    if set(changes) != {"roles"}:
        return False
    have, want = set(changes["roles"][0]), set(changes["roles"][1])
    return GLOBAL_ADMINISTRATOR in have and want == have - {GLOBAL_ADMINISTRATOR}


def relationship_details(rel, changes=None):
    """What the next layer needs from a refused relationship, as data: id, status, approval link, differences."""
    out = {"relationship_id": rel.get("id"), "status": rel.get("status")}
    if rel.get("status") in ("created", "approvalPending") and rel.get("id"):
        out["approval_link"] = approval_link(rel["id"])
    if changes:
        out["differences"] = difference_details(changes)
    return out


def difference_details(changes):
    """``changes`` as structured data for an error's details (role names, not only ids)."""
    out = {}
    if "roles" in changes:
        have, want = set(changes["roles"][0]), set(changes["roles"][1])
        out["roles_to_add"] = sorted(role_name(r) for r in want - have)
        out["roles_to_remove"] = sorted(role_name(r) for r in have - want)
    if "duration" in changes:
        out["duration"] = {"have": changes["duration"][0], "want": changes["duration"][1]}
    return out


def patch_body(changes):
    body = {}
    if "roles" in changes:
        body["accessDetails"] = unified_roles(changes["roles"][1])
    if "duration" in changes:
        body["duration"] = changes["duration"][1]
    if "auto_extend" in changes:
        body["autoExtendDuration"] = changes["auto_extend"][1]
    return body


def _strip(obj):
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "@odata.context"}
    return obj


class GdapClient:
    """The GDAP endpoints, with ETag handling and polling (``sleep``/``clock`` injectable)."""

    def __init__(self, graph, sleep=time.sleep, clock=time.monotonic):
        self.graph = graph
        self.sleep = sleep
        self.clock = clock
        self.etag_retries = 0
        self.lost_answers = 0

    # --- relationships ------------------------------------------------------------
    def list_relationships(self, odata_filter=None):
        params = {"$top": PAGE_SIZE}
        if odata_filter:
            params["$filter"] = odata_filter
        return [_strip(r) for r in self.graph.paginate(RELATIONSHIPS, params=params)]

    def find_by_name(self, display_name):
        """Relationships with this display name (any status), compared case-insensitively."""
        wanted = display_name.lower()
        return [r for r in self.list_relationships(filter_eq("displayName", display_name))
                if str(r.get("displayName", "")).lower() == wanted]

    def get_relationship(self, relationship_id):
        return _strip(self.graph.get("%s/%s" % (RELATIONSHIPS, relationship_id)))

    def create_relationship(self, body):
        customer = str((body.get("customer") or {}).get("tenantId") or "").lower()

        def made():
            for rel in self.find_by_name(body["displayName"]):
                if rel.get("status") not in ENDED and \
                        str((rel.get("customer") or {}).get("tenantId") or "").lower() == customer:
                    return rel
            return None
        return self._confirmed(lambda: _strip(self.graph.request("POST", RELATIONSHIPS, body=body).json), made)

    def update_relationship(self, relationship_id, etag, body):
        response = self.graph.request("PATCH", "%s/%s" % (RELATIONSHIPS, relationship_id), body=body,
                                      headers={"If-Match": etag})
        return _strip(response.json) if response.json else self.get_relationship(relationship_id)

    def remove_global_admin(self, relationship_id, etag, role_ids):
        """PATCH an active relationship's roles to ``role_ids`` (its roles minus Global Administrator).

        Microsoft documents two answers, and both are taken: 202 Accepted with the long-running operation in
        ``Location`` (delegatedadminrelationshipoperation.md; without the header the relationship's operations
        listing names it), or 200 OK with the updated relationship in the body (the Response section of
        delegatedadminrelationship-update.md). Returns ``(operation_url, relationship)``: the operation to
        follow, or the updated relationship (None when the 200 came without a body)."""
        response = self.graph.request("PATCH", "%s/%s" % (RELATIONSHIPS, relationship_id),
                                      body={"accessDetails": unified_roles(role_ids)}, headers={"If-Match": etag})
        if response.status == 202:
            return response.headers.get("Location") or self.running_relationship_update(relationship_id), None
        return None, (_strip(response.json) if isinstance(response.json, dict) and response.json.get("id") else None)

    def running_relationship_update(self, relationship_id):
        """URL of a relationship update operation that has not finished yet (None if there is none), so a rerun
        waits for it instead of sending the same change again."""
        path = "%s/%s/operations" % (RELATIONSHIPS, relationship_id)
        for op in self.graph.paginate(path, headers={"Prefer": "include-unknown-enum-members"}):
            if op.get("status") not in OPERATION_DONE and \
                    op.get("operationType") != "delegatedAdminAccessAssignmentUpdate":
                return "%s/%s" % (path, op.get("id"))
        return None

    def delete_relationship(self, relationship_id, etag):
        self.graph.request("DELETE", "%s/%s" % (RELATIONSHIPS, relationship_id), headers={"If-Match": etag})

    def request_action(self, relationship_id, action):
        """``lockForApproval`` or ``terminate``; returns the request object (``{"action"}`` when the
        answer was lost and the relationship shows the request was carried out)."""
        def made():
            status = self.get_relationship(relationship_id).get("status")
            done = status != "created" if action == "lockForApproval" else status in ENDED
            return {"action": action} if done else None
        return self._confirmed(lambda: _strip(self.graph.request(
            "POST", "%s/%s/requests" % (RELATIONSHIPS, relationship_id), body={"action": action}).json), made)

    def list_customers(self):
        return [_strip(c) for c in self.graph.paginate(CUSTOMERS, params={"$top": PAGE_SIZE})]

    # --- access assignments ---------------------------------------------------------
    def _assignments(self, relationship_id):
        return "%s/%s/accessAssignments" % (RELATIONSHIPS, relationship_id)

    def list_assignments(self, relationship_id):
        return [_strip(a) for a in self.graph.paginate(self._assignments(relationship_id))]

    def get_assignment(self, relationship_id, assignment_id):
        return _strip(self.graph.get("%s/%s" % (self._assignments(relationship_id), assignment_id)))

    def create_assignment(self, relationship_id, group_id, role_ids):
        body = {"accessContainer": {"accessContainerId": group_id, "accessContainerType": "securityGroup"},
                "accessDetails": unified_roles(role_ids)}

        def send():
            return _strip(self.graph.request("POST", self._assignments(relationship_id), body=body).json)

        def made():
            for assignment in self.list_assignments(relationship_id):
                container = str((assignment.get("accessContainer") or {}).get("accessContainerId") or "").lower()
                if container == group_id.lower() and assignment.get("status") not in ("deleting", "deleted"):
                    return assignment
            # not listed: the write was not carried out (a connection dropped before the service acted), so it
            # is sent once more; the service refuses a second assignment for the same group, so no duplicate
            return send()
        return self._confirmed(send, made)

    def create_assignments(self, relationship_id, wanted, again=True):
        """Create several assignments (``[(group_id, role_ids)]``) through ``$batch``; returns the created
        objects in order. A lost answer is looked for as ``create_assignment`` does: the ones not listed
        (a step the service throttled, or a batch whose connection dropped before the service acted) are
        sent once more (``again``)."""
        path = self._assignments(relationship_id)
        requests = [{"id": str(n), "method": "POST", "url": path,
                     "body": {"accessContainer": {"accessContainerId": group_id, "accessContainerType": "securityGroup"},
                              "accessDetails": unified_roles(role_ids)}}
                    for n, (group_id, role_ids) in enumerate(wanted, 1)]

        def send():
            responses = self.graph.batch(requests)
            out = []
            for n in range(1, len(wanted) + 1):
                sub = responses.get(str(n)) or {}
                if not 200 <= (sub.get("status") or 0) < 300:
                    raise batch_error(sub)
                out.append(_strip(sub.get("body") or {}))
            return out

        def made():
            live = {}
            for assignment in self.list_assignments(relationship_id):
                container = str((assignment.get("accessContainer") or {}).get("accessContainerId") or "").lower()
                if assignment.get("status") not in ("deleting", "deleted"):
                    live.setdefault(container, assignment)
            found = [live.get(group_id.lower()) for group_id, _roles in wanted]
            missing = [n for n, item in enumerate(found) if item is None]
            if missing and again:
                for n, item in enumerate(self.create_assignments(relationship_id, [wanted[m] for m in missing],
                                                                 again=False)):
                    found[missing[n]] = item
            return found if all(found) else None
        return self._confirmed(send, made)

    def update_assignment(self, relationship_id, assignment_id, etag, role_ids):
        """PATCH the roles; returns the operation URL when the service answers 202, else None."""
        response = self.graph.request("PATCH", "%s/%s" % (self._assignments(relationship_id), assignment_id),
                                      body={"accessDetails": unified_roles(role_ids)}, headers={"If-Match": etag})
        if response.status == 202:
            return response.headers.get("Location")
        return None

    def delete_assignment(self, relationship_id, assignment_id, etag):
        self.graph.request("DELETE", "%s/%s" % (self._assignments(relationship_id), assignment_id),
                           headers={"If-Match": etag})

    # --- writes whose answer may be lost ---------------------------------------------------
    def _confirmed(self, send, made):
        """``send()`` a write that is not idempotent (a POST without a request id). When its answer
        is lost, a dropped connection or a 500/502/504 from a gateway that gave up while the service
        went on, ``made()`` looks for what the write would have made: found, that is the result (no
        second write, so no duplicate and no "already exists" failure); not found, the error stands
        and a rerun tries again, unless ``made()`` sends the write once more itself (only where the
        service refuses a second one: an access assignment for the same group)."""
        try:
            return send()
        except (CspTransportError, GraphError) as err:
            if isinstance(err, GraphError) and err.status not in LOST_ANSWER_STATUSES:
                raise
            found = made()
            if found is None:
                raise
            self.lost_answers += 1
            return found

    # --- ETags, polling ---------------------------------------------------------------
    def with_fresh_etag(self, current, read, write):
        """``write(obj)`` with ``obj``'s ETag; on 412 (someone changed it meanwhile) read it again and
        call ``write`` once more with the fresh object, which may decide nothing is left to do."""
        try:
            return write(current)
        except GraphError as err:
            if err.status != 412:
                raise
        self.etag_retries += 1
        return write(read())

    def wait_for(self, read, done, timeout, interval, first_delay=None):
        """Poll ``read()`` until ``done(obj)``; returns ``(obj, reached)``. Never sleeps past the deadline."""
        deadline = self.clock() + max(0, timeout)
        obj = read()
        delay = first_delay
        while not done(obj):
            remaining = deadline - self.clock()
            if remaining <= 0:
                return obj, False
            self.sleep(max(0.0, min(delay if delay is not None else interval, remaining)))
            delay = None
            obj = read()
        return obj, True

    def wait_operation(self, location, timeout, interval, what="access assignment update"):
        """Follow a 202's operation (``Location``) until it succeeded; failed raises."""
        def read():
            return self.graph.get(location)
        operation, reached = self.wait_for(read, lambda op: op.get("status") in OPERATION_DONE, timeout, interval)
        if operation.get("status") == "failed":
            raise CspError("The %s operation %s failed: %s"
                           % (what, operation.get("id"), operation.get("data") or "no details"),
                           code="OperationFailed", service="graph",
                           details={"operation": {"id": operation.get("id"), "status": "failed",
                                                  "data": operation.get("data")}})
        return _strip(operation), reached


class RelationshipEnsurer:
    """Desired state of one relationship: ``present`` / ``active`` / ``absent``."""

    def __init__(self, gdap, check_mode=False):
        self.gdap = gdap
        self.check_mode = check_mode
        self.actions = []
        self.warnings = []

    # --- helpers -----------------------------------------------------------------------
    def _find(self, spec, other_customer_is_error=True):
        matches = self.gdap.find_by_name(spec.display_name)
        live = [r for r in matches if r.get("status") not in ENDED]
        ended = [{"id": r.get("id"), "status": r.get("status"), "endDateTime": r.get("endDateTime"),
                  "customer_tenant_id": (r.get("customer") or {}).get("tenantId")} for r in matches
                 if r.get("status") in ENDED]
        for item in ended:
            self.warnings.append("relationship %s with the display name %r is %s; it is not reused"
                                 % (item["id"], spec.display_name, item["status"]))
        if len(live) > 1:
            raise CspError("%d live relationships are named %r (%s); rename or terminate all but one"
                           % (len(live), spec.display_name, ", ".join(r["id"] for r in live)),
                           code="AmbiguousRelationship")
        current = live[0] if live else None
        if current is not None and spec.customer_tenant_id:
            have = ((current.get("customer") or {}).get("tenantId") or "").lower()
            if have and have != spec.customer_tenant_id.lower():
                if not other_customer_is_error:
                    self.warnings.append("relationship %s named %r belongs to customer %s, not %s; left alone"
                                         % (current["id"], spec.display_name, have, spec.customer_tenant_id))
                    return None, ended
                raise CspError("the display name %r is already used by relationship %s with customer %s; display "
                               "names are unique per partner, choose another one"
                               % (spec.display_name, current["id"], have), code="DisplayNameTaken")
        return current, ended

    # each action is listed once it is done (or, in check mode, planned): a failure's result lists the writes made
    def _lock(self, rel):
        if self.check_mode:
            self.actions.append("lockForApproval")
            return dict(rel, status="approvalPending")
        self.gdap.request_action(rel["id"], "lockForApproval")
        self.actions.append("lockForApproval")
        return self.gdap.get_relationship(rel["id"])

    def _create(self, spec):
        if self.check_mode:
            self.actions.extend(["create", "lockForApproval"])
            return None
        rel = self.gdap.create_relationship(spec.create_body())
        self.actions.append("create")
        return self._lock(rel)

    def _patch(self, rel, spec, allowed=None):
        """PATCH the differences (only ``allowed`` fields when given) with If-Match; 412 -> re-read once."""
        def write(obj):
            changes = relationship_changes(obj, spec)
            if allowed is not None:
                changes = {k: v for k, v in changes.items() if k in allowed}
            if not changes:
                return obj
            return self.gdap.update_relationship(obj["id"], obj.get("@odata.etag"), patch_body(changes))

        self.actions.append("update")
        if self.check_mode:
            return rel
        return self.gdap.with_fresh_etag(rel, lambda: self.gdap.get_relationship(rel["id"]), write)

    @staticmethod
    def _immutable_message(rel, changes):
        parts = []
        if "roles" in changes:
            have, want = set(changes["roles"][0]), set(changes["roles"][1])
            if want - have:
                parts.append("roles to add: %s" % ", ".join(sorted(role_name(r) for r in want - have)))
            if have - want:
                parts.append("roles to remove: %s" % ", ".join(sorted(role_name(r) for r in have - want)))
        if "duration" in changes:
            parts.append("duration %s -> %s" % changes["duration"])
        return "; ".join(parts)

    # --- states ----------------------------------------------------------------------------
    def present(self, spec, replace=False, wait_timeout=0, interval=2):
        """Create (and lock for approval) or bring in line. Returns ``(before, after, extra)``."""
        current, ended = self._find(spec)
        extra = {"ended_relationships": ended}
        if current is None:
            return None, self._create(spec), extra
        status = current.get("status")
        changes = relationship_changes(current, spec)
        if status == "created":
            after = self._patch(current, spec) if changes else current
            return current, self._lock(after), extra
        immutable = {k: v for k, v in changes.items() if k != "auto_extend"}
        if status in ACTIVE and drops_only_global_admin(immutable):
            after = self._remove_global_admin(current, spec, wait_timeout, interval, extra)
            if "auto_extend" in changes and GLOBAL_ADMINISTRATOR not in relationship_roles(after):
                after = self._patch(after, spec, allowed=("auto_extend",))
            return current, after, extra
        if not immutable:
            if "auto_extend" in changes:
                if status not in ACTIVE:
                    raise CspError("relationship %s is %s: its auto-extension can only be changed while it is "
                                   "created or active" % (current["id"], status), code="RelationshipLocked",
                                   details=relationship_details(current, changes))
                return current, self._patch(current, spec, allowed=("auto_extend",)), extra
            return current, current, extra
        detail = self._immutable_message(current, immutable)
        if status not in ACTIVE:
            raise CspError("relationship %s (%r) is %s and cannot be changed (%s); it can be replaced once the "
                           "customer has approved it, or wait until the pending approval expires"
                           % (current["id"], spec.display_name, status, detail), code="RelationshipLocked",
                           details=relationship_details(current, immutable))
        if not replace:
            raise CspError("relationship %s (%r) is %s: Microsoft does not allow its roles or duration to change "
                           "after approval, except removing Global Administrator (%s). Set replace=true to "
                           "terminate it and create a new relationship that the customer approves again, or use "
                           "another display_name" % (current["id"], spec.display_name, status, detail),
                           code="RelationshipImmutable", details=relationship_details(current, immutable))
        extra["replaced"] = {"id": current["id"], "status": current.get("status")}
        self._terminate(current, wait_timeout=wait_timeout, wait_for_end=True)
        return current, self._create(spec), extra

    def _remove_global_admin(self, rel, spec, timeout, interval, extra):
        """One PATCH (If-Match) of the roles minus Global Administrator, then the operation polled to its end;
        the relationship keeps its id and needs no new approval. A rerun finds a still-running operation and
        waits for it instead of sending the change again."""
        self.actions.append("removeGlobalAdministrator")
        if self.check_mode:
            return dict(rel, accessDetails=unified_roles(spec.role_ids))
        location, updated = self.gdap.running_relationship_update(rel["id"]), None
        if location is None:
            def write(obj):
                if GLOBAL_ADMINISTRATOR not in relationship_roles(obj):
                    return None, None  # someone else removed it meanwhile
                return self.gdap.remove_global_admin(obj["id"], obj.get("@odata.etag"), spec.role_ids)
            location, updated = self.gdap.with_fresh_etag(rel, lambda: self.gdap.get_relationship(rel["id"]), write)
        if updated is not None and GLOBAL_ADMINISTRATOR not in relationship_roles(updated):
            return updated  # 200 with the updated relationship: nothing to wait for, nothing to read again
        if location:
            operation, reached = self.gdap.wait_operation(location, timeout, interval,
                                                          what="Global Administrator removal")
            extra["operation"] = {"id": operation.get("id"), "status": operation.get("status"), "url": location}
            if not reached:
                self.warnings.append("the Global Administrator removal from relationship %s is still %s after %s s; "
                                     "run again to wait for it" % (rel["id"], operation.get("status"), timeout))
        return self.gdap.get_relationship(rel["id"])

    def _terminate(self, rel, wait_timeout=0, wait_for_end=False, interval=2):
        self.actions.append("terminate")
        if self.check_mode:
            return dict(rel, status="terminationRequested")
        self.gdap.request_action(rel["id"], "terminate")
        if not wait_for_end:
            return self.gdap.get_relationship(rel["id"])
        # a new relationship may reuse the display name only once the old one has ended
        after, reached = self.gdap.wait_for(lambda: self.gdap.get_relationship(rel["id"]),
                                            lambda r: r.get("status") == "terminated", max(wait_timeout, 60),
                                            interval)
        if not reached:
            raise CspError("relationship %s is still %s after the termination request; run again later"
                           % (rel["id"], after.get("status")), code="TerminationPending")
        return after

    def absent(self, spec):
        current, ended = self._find(spec, other_customer_is_error=False)
        extra = {"ended_relationships": ended}
        if current is None:
            return None, None, extra
        status = current.get("status")
        if status == "created":
            self.actions.append("delete")
            if not self.check_mode:
                def write(obj):
                    if obj.get("status") != "created":
                        raise CspError("relationship %s became %s while it was being deleted"
                                       % (obj["id"], obj.get("status")), code="RelationshipLocked")
                    self.gdap.delete_relationship(obj["id"], obj.get("@odata.etag"))
                self.gdap.with_fresh_etag(current, lambda: self.gdap.get_relationship(current["id"]), write)
            return current, None, extra
        if status in ACTIVE:
            return current, self._terminate(current), extra
        raise CspError("relationship %s (%r) is %s: it can be deleted only while created and terminated only once "
                       "active; the customer can reject it, or the pending approval expires after 90 days"
                       % (current["id"], spec.display_name, status), code="RelationshipLocked",
                       details=relationship_details(current))

    def wait_active(self, rel, timeout, interval):
        """Poll until active; ``(rel, reached)``. An ended relationship is an error."""
        after, reached = self.gdap.wait_for(
            lambda: self.gdap.get_relationship(rel["id"]),
            lambda r: r.get("status") in ACTIVE or r.get("status") in ENDED, timeout, interval)
        if after.get("status") in ENDED:
            raise CspError("relationship %s became %s while waiting for the customer's approval"
                           % (after["id"], after.get("status")), code="RelationshipEnded",
                           details=relationship_details(after))
        return after, reached


def relationship_result(rel):
    """Microsoft's object plus what a playbook needs next (role names, approval link, days left)."""
    if not rel:
        return None
    out = dict(rel)
    out["role_names"] = [role_name(r) for r in relationship_roles(rel)]
    if rel.get("status") in ("created", "approvalPending") and rel.get("id"):
        out["approval_link"] = approval_link(rel["id"])
    end = parse_time(rel.get("endDateTime"))
    if end is not None and rel.get("status") in ACTIVE:
        out["expires_in_days"] = max(0, (end - datetime.now(timezone.utc)).days)
    return out


def resolve_group(graph, group):
    """Partner security group by object id or display name -> ``{id, displayName}`` (``Directory.find_group``,
    the collection's one group resolver and matching rule), refused unless it is a security group."""
    text = str(group or "").strip()
    if not text:
        raise CspValidationError("group must be a security group's object id or display name", code="InvalidGroup")
    found = Directory(graph, tenant=getattr(graph, "tenant", None) or "(the partner tenant)").find_group(text)
    if found.get("securityEnabled") is False:
        raise CspError("group %r (%s) is not a security group; GDAP access assignments need a security group"
                       % (found.get("displayName"), found.get("id")), code="NotSecurityGroup")
    return {"id": str(found["id"]).lower(), "displayName": found.get("displayName")}


def resolve_groups(graph, groups):
    """``resolve_group`` for several groups in one read: value -> ``{id, displayName}``."""
    found = Directory(graph, tenant=getattr(graph, "tenant", None) or "(the partner tenant)").find_groups(groups)
    out = {}
    for value, group in found.items():
        if group.get("securityEnabled") is False:
            raise CspError("group %r (%s) is not a security group; GDAP access assignments need a security group"
                           % (group.get("displayName"), group.get("id")), code="NotSecurityGroup",
                           details={"item": value})
        out[value] = {"id": str(group["id"]).lower(), "displayName": group.get("displayName")}
    return out


def find_relationship(gdap, relationship):
    """A live relationship by id or display name (any status for an id)."""
    text = str(relationship or "").strip()
    if looks_like_relationship_id(text):
        try:
            return gdap.get_relationship(text)
        except GraphError as err:
            if err.status != 404:
                raise
    matches = [r for r in gdap.find_by_name(text) if r.get("status") not in ENDED] if text else []
    if not matches:
        raise CspError("no live GDAP relationship with the id or display name %r" % text, code="RelationshipNotFound")
    if len(matches) > 1:
        raise CspError("%d live relationships are named %r; give the relationship id" % (len(matches), text),
                       code="AmbiguousRelationship")
    return matches[0]


class AssignmentEnsurer:
    """Desired state of one security group's access assignment on a relationship."""

    def __init__(self, gdap, check_mode=False, wait=True, timeout=300, interval=5):
        self.gdap = gdap
        self.check_mode = check_mode
        self.wait = wait
        self.timeout = timeout
        self.interval = interval
        self.actions = []
        self.listed = None  # the relationship's assignments as read once by present_many

    @staticmethod
    def check_subset(rel, role_ids):
        allowed = set(relationship_roles(rel))
        extra = [r for r in role_ids if r not in allowed]
        if extra:
            raise CspValidationError(
                "roles %s are not part of relationship %s (%r), which grants %s; an access assignment can only use "
                "the relationship's roles" % (", ".join(role_name(r) for r in extra), rel.get("id"),
                                              rel.get("displayName"),
                                              ", ".join(role_name(r) for r in sorted(allowed)) or "no roles"),
                code="RolesNotInRelationship")

    def find(self, rel, group_id):
        listed = self.listed if self.listed is not None else self.gdap.list_assignments(rel["id"])
        for item in listed:
            container = item.get("accessContainer") or {}
            if str(container.get("accessContainerId", "")).lower() == group_id and \
                    item.get("status") not in ASSIGNMENT_GONE:
                return item
        return None

    def _wait_status(self, rel, assignment, targets):
        if not self.wait or self.check_mode or assignment is None:
            return assignment, True

        def read():
            try:
                return self.gdap.get_assignment(rel["id"], assignment["id"])
            except GraphError as err:
                if err.status == 404 and "deleted" in targets:
                    return dict(assignment, status="deleted")  # gone entirely counts as deleted
                raise
        return self.gdap.wait_for(read, lambda a: a.get("status") in targets or a.get("status") == "error",
                                  self.timeout, self.interval)

    def present(self, rel, group_id, role_ids):
        """Returns ``(before, after, reached)``."""
        if rel.get("status") not in ACTIVE:
            raise CspError("relationship %s (%r) is %s; access assignments can be made once the customer has "
                           "approved it and it is active" % (rel.get("id"), rel.get("displayName"), rel.get("status")),
                           code="RelationshipNotActive")
        current = self.find(rel, group_id)
        if current is None:
            self.actions.append("create")
            if self.check_mode:
                return None, None, True
            created = self.gdap.create_assignment(rel["id"], group_id, role_ids)
            after, reached = self._wait_status(rel, created, ("active",))
            return None, after, reached
        if set(relationship_roles(current)) == set(role_ids):
            after, reached = self._wait_status(rel, current, ("active",))
            return current, after, reached

        def write(obj):
            if set(relationship_roles(obj)) == set(role_ids):
                return None
            return self.gdap.update_assignment(rel["id"], obj["id"], obj.get("@odata.etag"), role_ids)

        self.actions.append("update")
        if self.check_mode:
            return current, None, True
        if current.get("status") != "active":
            # the service accepts updates of active assignments only
            current, reached = self._wait_status(rel, current, ("active",))
        location = self.gdap.with_fresh_etag(current, lambda: self.gdap.get_assignment(rel["id"], current["id"]),
                                             write)
        reached = True
        if location and self.wait:
            reached = self.gdap.wait_operation(location, self.timeout, self.interval)[1]
        after = self.gdap.get_assignment(rel["id"], current["id"])
        if reached:
            after, reached = self._wait_status(rel, after, ("active",))
        return current, after, reached

    def absent(self, rel, group_id):
        current = self.find(rel, group_id)
        if current is None:
            return None, None, True
        self.actions.append("delete")
        if self.check_mode:
            return current, None, True

        def write(obj):
            if obj.get("status") in ASSIGNMENT_GONE:
                return None
            self.gdap.delete_assignment(rel["id"], obj["id"], obj.get("@odata.etag"))
            return None

        self.gdap.with_fresh_etag(current, lambda: self.gdap.get_assignment(rel["id"], current["id"]), write)
        after, reached = self._wait_status(rel, dict(current), ASSIGNMENT_GONE)
        return current, after, reached


class AssignmentSetEnsurer:
    """Desired state of several security groups' access assignments on one relationship, in one pass:
    one read of the relationship's assignments, the new ones created in one ``$batch``, one wait that
    reads the list again until every assignment is active. An update (other roles) takes the one-group
    path (``If-Match``, its operation followed), as does a removal."""

    def __init__(self, gdap, check_mode=False, wait=True, timeout=300, interval=5):
        self.gdap = gdap
        self.check_mode = check_mode
        self.wait = wait
        self.timeout = timeout
        self.interval = interval

    def _one(self, listed, wait):
        one = AssignmentEnsurer(self.gdap, check_mode=self.check_mode, wait=wait, timeout=self.timeout,
                                interval=self.interval)
        one.listed = listed
        return one

    def present(self, rel, wanted):
        """``wanted``: ``[(group_id, role_ids)]``. Returns ``[(before, after, reached, actions)]`` in order."""
        if rel.get("status") not in ACTIVE:
            self._one([], False).present(rel, wanted[0][0], wanted[0][1])  # raises RelationshipNotActive
        listed = self.gdap.list_assignments(rel["id"])
        out, creates = [], []
        for index, (group_id, role_ids) in enumerate(wanted):
            one = self._one(listed, wait=False)
            current = one.find(rel, group_id)
            if current is None:
                creates.append(index)
                out.append([None, None, True, ["create"]])
                continue
            if set(relationship_roles(current)) == set(role_ids):
                out.append([current, current, True, []])
                continue
            one.wait = self.wait  # an update: the one-group path, its operation followed
            before, after, reached = one.present(rel, group_id, role_ids)
            out.append([before, after, reached, one.actions])
        if creates and not self.check_mode:
            made = self.gdap.create_assignments(rel["id"], [wanted[i] for i in creates])
            for n, index in enumerate(creates):
                out[index][1] = made[n]
        pending = [i for i, row in enumerate(out) if row[1] is not None and row[1].get("status") != "active"]
        if pending and self.wait and not self.check_mode:
            ids = {out[i][1].get("id") for i in pending}

            def read():
                return {a.get("id"): a for a in self.gdap.list_assignments(rel["id"]) if a.get("id") in ids}

            def done(found):
                return all(found.get(i, {}).get("status") in ("active", "error") for i in ids)
            found, _reached = self.gdap.wait_for(read, done, self.timeout, self.interval)
            for i in pending:
                after = found.get(out[i][1].get("id"))
                if after is not None:
                    out[i][1] = after
                out[i][2] = out[i][1].get("status") in ("active", "error")  # as the one-group wait
        return [tuple(row) for row in out]

    def absent(self, rel, group_ids):
        listed = self.gdap.list_assignments(rel["id"])
        out = []
        for group_id in group_ids:
            one = self._one(listed, wait=self.wait)
            before, after, reached = one.absent(rel, group_id)
            out.append((before, after, reached, one.actions))
        return out


def assignment_view(assignment, group=None):
    if not assignment:
        return {}
    container = assignment.get("accessContainer") or {}
    out = {"group_id": container.get("accessContainerId"),
           "roles": sorted(role_name(r) for r in relationship_roles(assignment)),
           "status": assignment.get("status")}
    if group:
        out["group"] = group.get("displayName")
    return out


def check_assignment_set(items, present=True, option="assignments"):
    """``[(group, role_ids or None)]`` from a list of ``{group, roles}``, checked before any request: each group
    once, and (``present``) at least one known role each."""
    out, seen = [], set()
    for index, item in enumerate(items or [], 1):
        group = check_group_ref((item or {}).get("group"), option="%s[%d].group" % (option, index))
        if group.lower() in seen:
            raise CspValidationError("%s[%d]: group %r is given twice" % (option, index, group), code="InvalidOption")
        seen.add(group.lower())
        role_ids = None
        if present:
            role_ids = resolve_roles(item.get("roles"), option="%s[%d].roles" % (option, index))
            if not role_ids:
                raise CspValidationError("%s[%d] (%s) must name at least one role" % (option, index, group),
                                         code="InvalidRoles")
        out.append((group, role_ids))
    if not out:
        raise CspValidationError("%s must list at least one group" % option, code="InvalidOption")
    return out


def check_assignment_roles(rel, wanted):
    """Every group's roles are the relationship's (before any write); the error names the group."""
    for value, role_ids in wanted:
        try:
            AssignmentEnsurer.check_subset(rel, role_ids)
        except CspError as err:
            err.details = dict(err.details or {}, item=value)
            raise


def _wanted_view(group, role_ids):
    return {"group_id": group["id"], "group": group["displayName"], "status": "active",
            "roles": sorted(role_name(r) for r in role_ids)}


def ensure_assignment_set(gdap, rel, wanted, groups, present=True, check_mode=False, wait=True, timeout=300,
                          interval=5):
    """Several groups' assignments on ``rel`` (``AssignmentSetEnsurer``), as the modules report them.

    ``wanted``: ``[(group as given, role_ids or None)]`` (``check_assignment_set``); ``groups``: group as given ->
    ``{id, displayName}`` (``resolve_groups``). Returns ``{items, actions, completed, diff_before, diff_after}``:
    one item per group in order (``group``, ``group_id``, ``changed``, ``actions``, ``completed``, ``status``, and
    ``id`` and ``assignment`` when it exists), the actions prefixed by the group as given."""
    ensurer = AssignmentSetEnsurer(gdap, check_mode=check_mode, wait=wait, timeout=timeout, interval=interval)
    if present:
        check_assignment_roles(rel, wanted)
        rows = ensurer.present(rel, [(groups[g]["id"], r) for g, r in wanted])
    else:
        rows = ensurer.absent(rel, [groups[g]["id"] for g, _r in wanted])
    items, actions, diff_before, diff_after = [], [], [], []
    for index, (value, role_ids) in enumerate(wanted):
        before, after, reached, done = rows[index]
        group = groups[value]
        item = {"group": value, "group_id": group["id"], "changed": bool(done), "actions": list(done),
                "completed": bool(reached)}
        shown = after if after is not None else (before if present and before else None)
        if shown:
            item.update(assignment=shown, id=shown.get("id"), status=shown.get("status"))
        else:
            item["status"] = "absent" if not present or not check_mode else "pending"
        items.append(item)
        actions.extend("%s: %s" % (value, a) for a in done)
        diff_before.append(assignment_view(before, group))
        if after is not None:
            diff_after.append(assignment_view(after, group))
        else:
            diff_after.append(_wanted_view(group, role_ids) if present else {})
    return {"items": items, "actions": actions, "completed": all(i["completed"] for i in items),
            "diff_before": diff_before, "diff_after": diff_after}


def waiting_assignment_set(wanted, groups):
    """The same report for a relationship that is not active yet: no assignment can exist, none is written."""
    items = [{"group": value, "group_id": groups[value]["id"], "changed": False, "actions": [], "completed": False,
              "status": "pending"} for value, _r in wanted]
    return {"items": items, "actions": [], "completed": False, "diff_before": [{} for _w in wanted],
            "diff_after": [_wanted_view(groups[value], role_ids) for value, role_ids in wanted]}
