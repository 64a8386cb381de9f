"""GDAP desired-state logic against a small in-memory GDAP service (no HTTP, no sleeping)."""

import itertools

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import gdap
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspError,
    CspTransportError,
    CspValidationError,
    GraphError,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.roles import BUILTIN_ROLES, resolve_roles

CUSTOMER = "30000000-0000-4000-8000-000000000002"
OTHER = "30000000-0000-4000-8000-000000000003"
UA = BUILTIN_ROLES["User Administrator"]
GR = BUILTIN_ROLES["Global Reader"]
HA = BUILTIN_ROLES["Helpdesk Administrator"]
GA = BUILTIN_ROLES["Global Administrator"]
GROUP = "12000000-0000-4000-8000-000000010004"


class Response:
    def __init__(self, status, json=None, headers=None):
        self.status = status
        self.json = json
        self.headers = headers or {}


class FakeGdapService:
    """Just enough of Graph's GDAP endpoints: ETags, If-Match, 412, requests, 202 operations."""

    def __init__(self):
        self.rels = {}
        self.assignments = {}
        self.operations = {}
        self.calls = []
        self.ids = itertools.count(1)
        self.stale_once = set()  # ids whose next If-Match write answers 412
        self.lose_answers = []  # per POST, in order: None (answer), "drop" or a 5xx; the write happens anyway
        self.throttle_steps = set()  # indexes of the next $batch's steps answered 429 (not carried out)
        # Global Administrator removal: "operation" (202 + Location), "operation_unnamed" (202 without Location),
        # "updated" (200 with the updated relationship) or "updated_empty" (200 without a body)
        self.ga_removal_answer = "operation"

    # helpers -------------------------------------------------------------------------
    def add(self, name, customer=CUSTOMER, roles=(UA, GR), status="created", auto="PT0S", duration="P730D"):
        rid = "%s-%04d" % (customer, next(self.ids))
        self.rels[rid] = {"id": rid, "displayName": name, "customer": {"tenantId": customer},
                          "accessDetails": gdap.unified_roles(list(roles)), "status": status,
                          "autoExtendDuration": auto, "duration": duration, "_v": 1}
        return rid

    def writes(self):
        return [c for c in self.calls if c[0] != "GET"]

    @staticmethod
    def _out(obj):
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        out["@odata.etag"] = 'W/"%s"' % obj["_v"]
        return out

    def _check(self, obj, headers):
        if obj["id"] in self.stale_once:
            self.stale_once.discard(obj["id"])
            obj["_v"] += 1  # someone else changed it
        if (headers or {}).get("If-Match") != 'W/"%s"' % obj["_v"]:
            raise GraphError("precondition failed", code="PreconditionFailed", status=412)

    # GraphClient surface ---------------------------------------------------------------
    def paginate(self, path, params=None, headers=None):
        self.calls.append(("GET", path, params))
        if path.endswith("/operations"):
            rid = path.split("/")[-2]
            return [dict(op) for op in self.operations.values() if op.get("rid") == rid]
        if path.endswith("/accessAssignments"):
            rid = path.split("/")[-2]
            mine = [a for a in self.assignments.values() if a["_rel"] == rid]
            for a in mine:  # a pending assignment listed once before is active by the next listing
                if a["status"] == "pending" and a.get("_listed"):
                    a["status"] = "active"
                a["_listed"] = True
            return [self._out(a) for a in mine]
        items = list(self.rels.values())
        flt = (params or {}).get("$filter")
        if flt:
            name = flt.split(" eq ", 1)[1].strip("'").replace("''", "'")
            items = [r for r in items if r["displayName"] == name]
        return [self._out(r) for r in items]

    def get(self, path, params=None):
        self.calls.append(("GET", path, params))
        parts = path.split("/")
        if "operations" in parts:
            op = self.operations[parts[-1]]
            op["status"] = {"notStarted": "running", "running": "succeeded"}.get(op["status"], op["status"])
            if op["status"] == "succeeded" and op.get("rid"):
                rel = self.rels[op["rid"]]
                if rel["accessDetails"] != gdap.unified_roles(op["roles"]):
                    rel["accessDetails"] = gdap.unified_roles(op["roles"])
                    rel["_v"] += 1
            elif op["status"] == "succeeded":
                self.assignments[op["aid"]]["accessDetails"] = gdap.unified_roles(op["roles"])
            return dict(op)
        if "accessAssignments" in parts:
            aa = self.assignments[parts[-1]]
            aa["status"] = {"pending": "active", "deleting": "deleted"}.get(aa["status"], aa["status"])
            return self._out(aa)
        rel = self.rels.get(parts[-1])
        if rel is None:
            raise GraphError("not found", code="notFound", status=404)
        rel["status"] = {"approved": "activating", "activating": "active",
                         "terminationRequested": "terminated"}.get(rel["status"], rel["status"])
        return self._out(rel)

    def batch(self, requests):
        self.calls.append(("POST", "/$batch", [r["method"] for r in requests]))
        lost = self.lose_answers.pop(0) if self.lose_answers else None
        out = {}
        for index, item in enumerate(requests):
            if index in self.throttle_steps:  # throttled: not carried out
                self.throttle_steps.discard(index)
                out[item["id"]] = {"id": item["id"], "status": 429, "body": {"error": {"code": "TooManyRequests"}}}
                continue
            if item.get("fail"):
                error = {"code": "badRequest", "message": "no"}
                out[item["id"]] = {"id": item["id"], "status": 400, "body": {"error": error}}
                continue
            response = self._request(item["method"], item["url"], item.get("body"), item.get("headers"))
            self.calls.pop()  # a step of the $batch, not a request of its own
            out[item["id"]] = {"id": item["id"], "status": response.status, "body": response.json}
        if lost == "drop":
            raise CspTransportError("POST /$batch failed after 1 attempt(s): Connection aborted", code="ConnectionError")
        if lost:
            raise GraphError("The service is temporarily unavailable.", code="InternalServerError", status=lost)
        return out

    def request(self, method, path, body=None, headers=None, params=None):
        response = self._request(method, path, body, headers)
        lost = self.lose_answers.pop(0) if method == "POST" and self.lose_answers else None
        if lost == "drop":
            raise CspTransportError("POST %s failed after 1 attempt(s): Connection aborted" % path,
                                    code="ConnectionError")
        if lost:
            raise GraphError("The service is temporarily unavailable.", code="GatewayTimeout", status=lost)
        return response

    def _request(self, method, path, body=None, headers=None):
        self.calls.append((method, path, body))
        parts = path.split("/")
        if method == "POST" and path == gdap.RELATIONSHIPS:
            rid = self.add(body["displayName"], body["customer"]["tenantId"],
                           [r["roleDefinitionId"] for r in body["accessDetails"]["unifiedRoles"]],
                           auto=body.get("autoExtendDuration", "PT0S"), duration=body["duration"])
            return Response(201, self._out(self.rels[rid]))
        if method == "POST" and parts[-1] == "requests":
            rel = self.rels[parts[-2]]
            rel["status"] = {"lockForApproval": "approvalPending", "terminate": "terminationRequested"}[body["action"]]
            rel["_v"] += 1
            return Response(201, {"id": "req", "action": body["action"], "status": "created"})
        if method == "POST" and parts[-1] == "accessAssignments":
            aid = "aa-%d" % next(self.ids)
            self.assignments[aid] = {"id": aid, "_rel": parts[-2], "status": "pending", "_v": 1,
                                     "accessContainer": body["accessContainer"], "accessDetails": body["accessDetails"]}
            return Response(201, self._out(self.assignments[aid]))
        if "accessAssignments" in parts:
            aa = self.assignments[parts[-1]]
            self._check(aa, headers)
            if method == "DELETE":
                aa["status"] = "deleting"
                return Response(204)
            op = "op-%d" % next(self.ids)
            self.operations[op] = {"id": op, "status": "notStarted", "aid": aa["id"],
                                   "roles": [r["roleDefinitionId"] for r in body["accessDetails"]["unifiedRoles"]]}
            aa["_v"] += 1
            return Response(202, None, {"Location": "https://graph.test/v1.0%s/../operations/%s" % (path, op)})
        rel = self.rels[parts[-1]]
        self._check(rel, headers)
        if method == "DELETE":
            del self.rels[rel["id"]]
            return Response(204)
        if rel["status"] == "active" and "accessDetails" in body and self.ga_removal_answer.startswith("operation"):
            op = "op-%d" % next(self.ids)
            self.operations[op] = {"id": op, "status": "notStarted", "rid": rel["id"],
                                   "operationType": "delegatedAdminRelationshipUpdate",
                                   "roles": [r["roleDefinitionId"] for r in body["accessDetails"]["unifiedRoles"]]}
            if self.ga_removal_answer == "operation_unnamed":
                return Response(202)
            return Response(202, None, {"Location": "https://graph.test/v1.0%s/operations/%s" % (path, op)})
        for key, value in body.items():
            rel[key] = value
        rel["_v"] += 1
        if rel["status"] == "active" and "accessDetails" in body and self.ga_removal_answer == "updated_empty":
            return Response(200)
        return Response(200, self._out(rel))


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


@pytest.fixture
def service():
    return FakeGdapService()


@pytest.fixture
def client(service):
    clock = Clock()
    return gdap.GdapClient(service, sleep=clock.sleep, clock=clock)


def spec(**kw):
    values = dict(display_name="rel", customer_tenant_id=CUSTOMER, roles=["User Administrator", "Global Reader"],
                  duration="P730D")
    values.update(kw)
    return gdap.RelationshipSpec(**values)


# --- validation --------------------------------------------------------------------------
@pytest.mark.parametrize("value,days", [("P1D", 1), ("P2Y", 730), ("P730D", 730), ("P1Y6M", 545), ("P2W", 14)])
def test_duration_seconds(value, days):
    assert gdap.duration_seconds(value) == days * gdap.DAY


@pytest.mark.parametrize("value", ["P0D", "PT23H", "P731D", "P3Y", "P", "PT", "730", "P1DT", "1D"])
def test_duration_out_of_range_or_invalid(value):
    with pytest.raises(CspValidationError):
        gdap.check_duration(value)


def test_display_name_limit():
    gdap.check_display_name("x" * 50)
    with pytest.raises(CspValidationError, match="at most 50"):
        gdap.check_display_name("x" * 51)
    with pytest.raises(CspValidationError):
        gdap.check_display_name("  ")


def test_auto_extend_refused_with_global_admin():
    with pytest.raises(CspValidationError, match="Global Administrator"):
        spec(roles=["Global Administrator"], auto_extend="P180D")
    assert spec(roles=["Global Administrator"], auto_extend="PT0S").auto_extend == "PT0S"


def test_unknown_roles_all_reported():
    with pytest.raises(CspValidationError) as info:
        resolve_roles(["User Administrator", "Boss", "Chief"])
    assert "'Boss'" in str(info.value) and "'Chief'" in str(info.value)
    assert info.value.code == "UnknownRole"


def test_roles_by_name_id_alias_case():
    ids = resolve_roles(["user administrator", UA.upper(), "Company Administrator", "  Global   Reader "])
    assert ids == [UA, BUILTIN_ROLES["Global Administrator"], GR]


def test_relationship_id_shapes():
    assert gdap.looks_like_relationship_id(CUSTOMER + "-" + "5d1e6f0c-8b3c-4b7a-9f3e-2c7c2d9a1b11")
    assert gdap.looks_like_relationship_id(CUSTOMER)
    assert not gdap.looks_like_relationship_id("us-customer01-standard")


# --- relationships -------------------------------------------------------------------------
def test_create_locks_and_returns_link(service, client):
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec())
    assert before is None and after["status"] == "approvalPending"
    assert ensurer.actions == ["create", "lockForApproval"]
    assert gdap.relationship_result(after)["approval_link"].endswith(after["id"])
    assert [c[0] for c in service.writes()] == ["POST", "POST"]


def test_check_mode_sends_no_write(service, client):
    service.add("rel", status="created", roles=(UA,))
    ensurer = gdap.RelationshipEnsurer(client, check_mode=True)
    ensurer.present(spec())
    assert ensurer.actions == ["update", "lockForApproval"]
    assert service.writes() == []
    assert gdap.RelationshipEnsurer(client, check_mode=True).present(spec(display_name="new"))[1] is None
    assert service.writes() == []


def test_idempotent(service, client):
    service.add("rel", status="approvalPending")
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, dummy = ensurer.present(spec(roles=["Global Reader", "User Administrator"]))
    assert ensurer.actions == [] and service.writes() == [] and after is before


def test_created_is_patched_with_if_match_then_locked(service, client):
    rid = service.add("rel", status="created", roles=(UA,))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec())
    patch = [c for c in service.writes() if c[0] == "PATCH"]
    assert patch == [("PATCH", gdap.RELATIONSHIPS + "/" + rid, {"accessDetails": gdap.unified_roles([UA, GR])})]
    assert after["status"] == "approvalPending"


def test_stale_etag_is_reread_and_retried_once(service, client):
    rid = service.add("rel", status="created", roles=(UA,))
    service.stale_once.add(rid)
    gdap.RelationshipEnsurer(client).present(spec())
    assert client.etag_retries == 1
    assert len([c for c in service.writes() if c[0] == "PATCH"]) == 2
    assert set(gdap.relationship_roles(service.rels[rid])) == {UA, GR}


def test_other_errors_are_not_retried(service, client):
    def boom(obj):
        raise GraphError("bad", code="badRequest", status=400)
    with pytest.raises(GraphError):
        client.with_fresh_etag({}, lambda: {}, boom)
    assert client.etag_retries == 0


def test_active_roles_are_immutable_without_replace(service, client):
    service.add("rel", status="active", roles=(UA, GR, HA))
    with pytest.raises(CspError) as info:
        gdap.RelationshipEnsurer(client).present(spec())
    assert info.value.code == "RelationshipImmutable"
    assert "Helpdesk Administrator" in str(info.value) and "replace=true" in str(info.value)
    assert service.writes() == []


def test_active_roles_immutable_error_has_structured_differences(service, client):
    service.add("rel", status="active", roles=(UA, GA))
    with pytest.raises(CspError) as info:
        gdap.RelationshipEnsurer(client).present(spec(roles=["User Administrator", "Global Reader"]))
    details = info.value.to_result()["details"]
    assert details["differences"] == {"roles_to_add": ["Global Reader"], "roles_to_remove": ["Global Administrator"]}
    assert service.writes() == []


def test_global_admin_removed_in_place_then_auto_extend(service, client):
    rid = service.add("rel", status="active", roles=(UA, GR, GA))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(auto_extend="P180D"), wait_timeout=60, interval=1)
    assert ensurer.actions == ["removeGlobalAdministrator", "update"]
    path = gdap.RELATIONSHIPS + "/" + rid
    assert [w[:2] for w in service.writes()] == [("PATCH", path), ("PATCH", path)]
    assert service.writes()[0][2] == {"accessDetails": gdap.unified_roles([UA, GR])}
    assert service.writes()[1][2] == {"autoExtendDuration": "P180D"}
    assert after["id"] == rid and set(gdap.relationship_roles(after)) == {UA, GR}
    assert after["autoExtendDuration"] == "P180D"
    assert extra["operation"]["status"] == "succeeded"
    # second run: nothing to do
    service.calls.clear()
    again = gdap.RelationshipEnsurer(client)
    again.present(spec(auto_extend="P180D"))
    assert again.actions == [] and service.writes() == []


def test_global_admin_removal_202_operation_delegatedadminrelationshipoperation_md(service, client):
    """delegatedadminrelationshipoperation.md: the removal runs as a long-running operation, 202 with it in
    Location; the module follows it and then reads the relationship once."""
    rid = service.add("rel", status="active", roles=(UA, GR, GA))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(), wait_timeout=60, interval=1)
    path = gdap.RELATIONSHIPS + "/" + rid
    assert [w[:2] for w in service.writes()] == [("PATCH", path)]
    assert extra["operation"]["status"] == "succeeded" and "/operations/op-" in extra["operation"]["url"]
    assert after["id"] == rid and set(gdap.relationship_roles(after)) == {UA, GR}
    assert [c[1] for c in service.calls if c[0] == "GET"][-1] == path


def test_global_admin_removal_202_without_location_finds_the_operation(service, client):
    """A 202 whose Location is missing: the relationship's operations listing (delegatedadminrelationship-list-
    operations.md) names the running operation, which is followed instead of guessing it is done."""
    service.ga_removal_answer = "operation_unnamed"
    rid = service.add("rel", status="active", roles=(UA, GR, GA))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(), wait_timeout=60, interval=1)
    assert [w[0] for w in service.writes()] == ["PATCH"]
    assert extra["operation"]["status"] == "succeeded"
    assert after["id"] == rid and set(gdap.relationship_roles(after)) == {UA, GR}


@pytest.mark.parametrize("answer", ["updated", "updated_empty"])
def test_global_admin_removal_200_delegatedadminrelationship_update_md(service, client, answer):
    """delegatedadminrelationship-update.md, Response: "200 OK ... and an updated delegatedAdminRelationship
    object in the response body". No operation to follow; the answer is the relationship (read once when the
    body is empty), and auto_extend is patched with the ETag it carries."""
    service.ga_removal_answer = answer
    rid = service.add("rel", status="active", roles=(UA, GR, GA))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(auto_extend="P180D"), wait_timeout=60, interval=1)
    path = gdap.RELATIONSHIPS + "/" + rid
    assert ensurer.actions == ["removeGlobalAdministrator", "update"]
    assert service.writes() == [("PATCH", path, {"accessDetails": gdap.unified_roles([UA, GR])}),
                                ("PATCH", path, {"autoExtendDuration": "P180D"})]
    assert "operation" not in extra
    assert not [c for c in service.calls if "/operations/" in c[1]]  # no operation followed
    gets_after_patch = [c for c in service.calls[service.calls.index(service.writes()[0]):] if c[0] == "GET"]
    assert len(gets_after_patch) == (0 if answer == "updated" else 1)
    assert after["id"] == rid and set(gdap.relationship_roles(after)) == {UA, GR}
    assert after["autoExtendDuration"] == "P180D"
    service.calls.clear()
    again = gdap.RelationshipEnsurer(client)
    again.present(spec(auto_extend="P180D"))
    assert again.actions == [] and service.writes() == []


def test_global_admin_removal_check_mode(service, client):
    service.add("rel", status="active", roles=(UA, GR, GA))
    ensurer = gdap.RelationshipEnsurer(client, check_mode=True)
    before, after, extra = ensurer.present(spec(auto_extend="P180D"))
    assert ensurer.actions == ["removeGlobalAdministrator", "update"]
    assert service.writes() == []
    assert gdap.relationship_view(after)["roles"] == ["Global Reader", "User Administrator"]


def test_global_admin_removal_rerun_waits_for_running_operation(service, client):
    rid = service.add("rel", status="active", roles=(UA, GR, GA))
    service.operations["op-x"] = {"id": "op-x", "status": "running", "rid": rid,
                                  "operationType": "delegatedAdminRelationshipUpdate", "roles": [UA, GR]}
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(), wait_timeout=60, interval=1)
    assert service.writes() == []
    assert set(gdap.relationship_roles(after)) == {UA, GR}


def test_pending_roles_cannot_change(service, client):
    rid = service.add("rel", status="approvalPending", roles=(UA,))
    with pytest.raises(CspError) as info:
        gdap.RelationshipEnsurer(client).present(spec(), replace=True)
    assert info.value.code == "RelationshipLocked"
    details = info.value.details  # what a role reads instead of the message
    assert details["relationship_id"] == rid and details["status"] == "approvalPending"
    assert details["approval_link"] == gdap.approval_link(rid)
    assert details["differences"] == {"roles_to_add": ["Global Reader"], "roles_to_remove": []}


def test_auto_extend_patched_on_active(service, client):
    rid = service.add("rel", status="active")
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(auto_extend="P180D"))
    assert ensurer.actions == ["update"]
    assert service.writes() == [("PATCH", gdap.RELATIONSHIPS + "/" + rid, {"autoExtendDuration": "P180D"})]
    assert after["autoExtendDuration"] == "P180D"


def test_replace_terminates_then_creates(service, client):
    old = service.add("rel", status="active", roles=(UA, GR, HA))
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec(), replace=True, wait_timeout=10)
    assert ensurer.actions == ["terminate", "create", "lockForApproval"]
    assert extra["replaced"]["id"] == old and after["id"] != old
    assert service.rels[old]["status"] == "terminated"


def test_ended_same_name_is_reported_not_reused(service, client):
    old = service.add("rel", status="expired")
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec())
    assert extra["ended_relationships"][0]["id"] == old
    assert after["id"] != old and ensurer.warnings


def test_name_taken_by_other_customer(service, client):
    service.add("rel", customer=OTHER, status="active")
    with pytest.raises(CspError, match="unique per partner"):
        gdap.RelationshipEnsurer(client).present(spec())


def test_wait_active_timeout_is_clean(service, client):
    rid = service.add("rel", status="approvalPending")
    after, reached = gdap.RelationshipEnsurer(client).wait_active({"id": rid}, timeout=5, interval=2)
    assert not reached and after["status"] == "approvalPending"
    assert sum(client.sleep.__self__.slept) <= 5


def test_wait_active_follows_the_status_machine(service, client):
    rid = service.add("rel", status="approved")
    after, reached = gdap.RelationshipEnsurer(client).wait_active({"id": rid}, timeout=60, interval=1)
    assert reached and after["status"] == "active"


def test_absent_deletes_created_and_terminates_active(service, client):
    created = service.add("a", status="created")
    active = service.add("b", status="active")
    service.add("c", status="approvalPending")
    gdap.RelationshipEnsurer(client).absent(spec(display_name="a"))
    assert created not in service.rels
    before, after, extra = gdap.RelationshipEnsurer(client).absent(spec(display_name="b"))
    assert after["status"] in gdap.ENDED and service.rels[active]["status"] in gdap.ENDED
    with pytest.raises(CspError, match="approvalPending"):
        gdap.RelationshipEnsurer(client).absent(spec(display_name="c"))
    ensurer = gdap.RelationshipEnsurer(client)
    ensurer.absent(spec(display_name="b"))
    assert ensurer.actions == []


# --- access assignments ---------------------------------------------------------------------
def active_rel(service, roles=(UA, GR, HA)):
    rid = service.add("rel", status="active", roles=roles)
    return service._out(service.rels[rid])


def test_assignment_roles_must_be_subset(service):
    rel = active_rel(service, roles=(UA,))
    with pytest.raises(CspValidationError) as info:
        gdap.AssignmentEnsurer.check_subset(rel, [UA, GR])
    assert "Global Reader" in str(info.value) and info.value.code == "RolesNotInRelationship"


def test_assignment_create_update_delete(service, client):
    rel = active_rel(service)
    ensurer = gdap.AssignmentEnsurer(client, interval=1)
    before, after, reached = ensurer.present(rel, GROUP, [UA])
    assert reached and after["status"] == "active"
    # idempotent
    ensurer = gdap.AssignmentEnsurer(client, interval=1)
    writes = len(service.writes())
    ensurer.present(rel, GROUP, [UA])
    assert ensurer.actions == [] and len(service.writes()) == writes
    # update follows the 202 operation
    ensurer = gdap.AssignmentEnsurer(client, interval=1)
    before, after, reached = ensurer.present(rel, GROUP, [UA, GR])
    assert ensurer.actions == ["update"] and reached
    assert set(gdap.relationship_roles(after)) == {UA, GR}
    assert any("/operations/" in c[1] for c in service.calls if c[0] == "GET")
    # delete
    ensurer = gdap.AssignmentEnsurer(client, interval=1)
    before, after, reached = ensurer.absent(rel, GROUP)
    assert ensurer.actions == ["delete"] and after["status"] == "deleted"
    assert gdap.AssignmentEnsurer(client).absent(rel, GROUP) == (None, None, True)


def test_assignment_stale_etag(service, client):
    rel = active_rel(service)
    gdap.AssignmentEnsurer(client, interval=1).present(rel, GROUP, [UA])
    aid = next(iter(service.assignments))
    service.stale_once.add(aid)
    gdap.AssignmentEnsurer(client, interval=1).present(rel, GROUP, [UA, HA])
    assert client.etag_retries == 1


def test_assignment_check_mode(service, client):
    rel = active_rel(service)
    ensurer = gdap.AssignmentEnsurer(client, check_mode=True)
    assert ensurer.present(rel, GROUP, [UA]) == (None, None, True)
    assert ensurer.actions == ["create"] and service.writes() == []


def test_assignment_needs_active_relationship(service, client):
    rid = service.add("rel", status="approvalPending")
    with pytest.raises(CspError, match="approved"):
        gdap.AssignmentEnsurer(client).present(service._out(service.rels[rid]), GROUP, [UA])


def test_absent_leaves_another_customers_relationship_alone(service, client):
    service.add("rel", customer=OTHER, status="active")
    ensurer = gdap.RelationshipEnsurer(client)
    assert ensurer.absent(spec())[0] is None
    assert ensurer.actions == [] and ensurer.warnings and service.writes() == []


# --- writes whose answer is lost ----------------------------------------------------------------
@pytest.mark.parametrize("lost", ["drop", 500, 502, 504])
def test_lost_create_and_lock_answers_are_confirmed_not_repeated(service, client, lost):
    """The service created the relationship and locked it, but both answers were lost: the client
    finds them instead of failing or sending a second create (a duplicate)."""
    service.lose_answers = [lost, lost]
    ensurer = gdap.RelationshipEnsurer(client)
    before, after, extra = ensurer.present(spec())
    assert before is None and after["status"] == "approvalPending"
    assert [c[0] for c in service.writes()] == ["POST", "POST"] and len(service.rels) == 1
    assert client.lost_answers == 2


def test_lost_answer_of_a_write_that_did_not_happen_is_an_error(service, client):
    service.lose_answers = ["drop"]
    original = service._request

    def refuse(method, path, body=None, headers=None):  # the connection died before the service acted
        if method == "POST":
            service.calls.append((method, path, body))
            return Response(201, {})
        return original(method, path, body, headers)

    service._request = refuse
    with pytest.raises(CspTransportError):
        gdap.RelationshipEnsurer(client).present(spec())


def test_lost_assignment_answer_is_confirmed(service, client):
    rel = active_rel(service)
    service.lose_answers = [504]
    before, after, reached = gdap.AssignmentEnsurer(client, interval=1).present(rel, GROUP, [UA])
    assert reached and after["status"] == "active" and len(service.assignments) == 1
    assert client.lost_answers == 1


def test_other_errors_of_a_create_are_not_confirmed(service, client):
    service.lose_answers = [400]
    with pytest.raises(GraphError):
        gdap.RelationshipEnsurer(client).present(spec())
    assert client.lost_answers == 0


class FakeGroupsGraph:
    """``/groups`` filtered by displayName the way Graph does it (case-insensitive) and by id."""

    def __init__(self, groups):
        self.groups = groups

    def paginate(self, path, params=None, headers=None):
        name = params["$filter"].split(" eq ", 1)[1].strip("'").replace("''", "'")
        return [dict(g) for g in self.groups if g["displayName"].lower() == name.lower()]

    def request(self, method, path, params=None, expected_status=None, **kw):
        found = [g for g in self.groups if g["id"] == path.rsplit("/", 1)[1]]
        return Response(200 if found else 404, dict(found[0]) if found else None)


def test_resolve_group_uses_the_one_directory_rule():
    graph = FakeGroupsGraph([{"id": GROUP, "displayName": "GDAP Helpdesk", "securityEnabled": True},
                             {"id": "m365", "displayName": "Sales", "securityEnabled": False}])
    assert gdap.resolve_group(graph, "gdap helpdesk") == {"id": GROUP, "displayName": "GDAP Helpdesk"}
    assert gdap.resolve_group(graph, GROUP)["displayName"] == "GDAP Helpdesk"
    with pytest.raises(CspError) as info:
        gdap.resolve_group(graph, "Nobody")
    assert info.value.code == "GroupNotFound"
    with pytest.raises(CspError) as info:
        gdap.resolve_group(graph, "sales")
    assert info.value.code == "NotSecurityGroup"
    graph.groups.append({"id": "dup", "displayName": "gdap HELPDESK", "securityEnabled": True})
    with pytest.raises(CspError) as info:
        gdap.resolve_group(graph, "GDAP Helpdesk")
    assert info.value.code == "AmbiguousGroup"


# --- several groups on one relationship (AssignmentSetEnsurer) ---------------------------------------
GROUP2 = "12000000-0000-4000-8000-000000010005"


def reads_of(service, suffix):
    return [c for c in service.calls if c[0] == "GET" and c[1].endswith(suffix)]


def test_assignment_set_creates_in_one_batch_and_waits_by_listing(service, client):
    rel = active_rel(service)
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA, GR]), (GROUP2, [HA])])
    assert [r[3] for r in rows] == [["create"], ["create"]]
    assert all(r[2] and r[1]["status"] == "active" for r in rows)
    assert list(service.writes()) == [("POST", "/$batch", ["POST", "POST"])]
    # one read before the writes, then the wait lists them (pending, then active): no per-assignment GET
    assert len(reads_of(service, "/accessAssignments")) == 3
    assert not [c for c in service.calls if c[0] == "GET" and "/accessAssignments/" in c[1]]
    # rerun: one listing, no write
    service.calls.clear()
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA, GR]), (GROUP2, [HA])])
    assert [r[3] for r in rows] == [[], []] and service.writes() == []
    assert len(service.calls) == 1


def test_assignment_set_check_mode_sends_no_write(service, client):
    rel = active_rel(service)
    rows = gdap.AssignmentSetEnsurer(client, check_mode=True).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    assert [r[3] for r in rows] == [["create"], ["create"]] and service.writes() == []
    assert [r[:3] for r in rows] == [(None, None, True), (None, None, True)]


def test_assignment_set_updates_one_and_creates_other(service, client):
    rel = active_rel(service)
    gdap.AssignmentEnsurer(client, interval=1).present(rel, GROUP, [UA])
    service.calls.clear()
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA, GR]), (GROUP2, [HA])])
    assert [r[3] for r in rows] == [["update"], ["create"]]
    assert set(gdap.relationship_roles(rows[0][1])) == {UA, GR} and rows[0][2]
    assert rows[1][1]["status"] == "active"
    assert [c[0] for c in service.writes()] == ["PATCH", "POST"]


def test_assignment_set_lost_batch_answer_found_by_listing(service, client):
    rel = active_rel(service)
    service.lose_answers = ["drop"]
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    assert client.lost_answers == 1 and len(service.assignments) == 2
    assert all(r[2] for r in rows)


def test_assignment_set_lost_answer_of_a_partly_throttled_batch(service, client):
    """The batch's answer is lost (500) after one step was throttled: the listing finds one assignment, the
    other is sent once more, and both exist once."""
    rel = active_rel(service)
    service.lose_answers = [500]
    service.throttle_steps = {1}
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    assert client.lost_answers == 1 and len(service.assignments) == 2
    assert all(r[2] and r[1]["status"] == "active" for r in rows)
    assert [c[2] for c in service.writes()] == [["POST", "POST"], ["POST"]]


def test_assignment_set_batch_dropped_before_the_service_acted_is_sent_once_more(service, client, monkeypatch):
    """The connection of the $batch dropped before the service acted: the listing finds none of the
    assignments, so the batch is sent once more (a second assignment for a group would be refused, so this
    cannot duplicate), and both exist once."""
    rel = active_rel(service)
    original = service.batch
    dropped = []

    def drop_first(requests):
        if not dropped:
            dropped.append(True)
            service.calls.append(("POST", "/$batch", [r["method"] for r in requests]))
            raise CspTransportError("POST /$batch failed after 1 attempt(s): Connection aborted", code="ConnectionError")
        return original(requests)
    monkeypatch.setattr(service, "batch", drop_first)
    rows = gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    assert client.lost_answers == 1 and len(service.assignments) == 2
    assert all(r[2] and r[1]["status"] == "active" for r in rows)
    assert [c[2] for c in service.writes()] == [["POST", "POST"], ["POST", "POST"]]


def test_assignment_post_dropped_before_the_service_acted_is_sent_once_more(service, client):
    rel = active_rel(service)
    service.lose_answers = ["drop"]
    original = service._request
    refused = []

    def refuse_first(method, path, body=None, headers=None):  # the connection died before the service acted
        if method == "POST" and not refused:
            refused.append(True)
            service.calls.append((method, path, body))
            return Response(201, {})
        return original(method, path, body, headers)

    service._request = refuse_first
    before, after, reached = gdap.AssignmentEnsurer(client, interval=1).present(rel, GROUP, [UA])
    assert reached and after["status"] == "active" and len(service.assignments) == 1
    assert len([c for c in service.writes() if c[0] == "POST"]) == 2


def test_assignment_set_failed_step_raises_graph_error(service, client, monkeypatch):
    rel = active_rel(service)
    original = service.batch
    monkeypatch.setattr(service, "batch", lambda reqs: original([dict(reqs[0], fail=True)] + reqs[1:]))
    with pytest.raises(GraphError) as info:
        gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    assert info.value.code == "badRequest"


def test_assignment_set_needs_active_relationship(service, client):
    rid = service.add("rel", status="approvalPending")
    with pytest.raises(CspError, match="approved") as info:
        gdap.AssignmentSetEnsurer(client).present(service._out(service.rels[rid]), [(GROUP, [UA]), (GROUP2, [HA])])
    assert info.value.code == "RelationshipNotActive" and service.writes() == []


def test_assignment_set_absent(service, client):
    rel = active_rel(service)
    gdap.AssignmentSetEnsurer(client, interval=1).present(rel, [(GROUP, [UA]), (GROUP2, [HA])])
    rows = gdap.AssignmentSetEnsurer(client, interval=1).absent(rel, [GROUP, GROUP2])
    assert [r[3] for r in rows] == [["delete"], ["delete"]]
    rows = gdap.AssignmentSetEnsurer(client, interval=1).absent(rel, [GROUP, GROUP2])
    assert [r[3] for r in rows] == [[], []]
