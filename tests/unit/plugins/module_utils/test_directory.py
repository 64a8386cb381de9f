"""module_utils/directory.py against a small in-memory Graph directory (FakeDirectoryGraph).

FakeDirectoryGraph is also used by the module tests (tests/unit/plugins/modules/test_group_member.py ...).
It answers like Graph does where our code depends on it: the v1.0 member listing omits service
principals (the reported bug), "already exist" / "do not exist" errors, all-or-nothing
members@odata.bind of at most 20, $batch.
"""

import json
import re
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import directory as d
from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError, GraphError

import csp_fakes
from csp_fakes import GRAPH, FakeRaw

GROUP_ADMIN_AGENTS = "12000000-0000-4000-8000-000000010001"
GROUP_GDAP_ADMINS = "12000000-0000-4000-8000-000000010004"
USER_INTEGRATION = "11000000-0000-4000-8000-000000010001"
USER_HELPDESK = "11000000-0000-4000-8000-000000010003"
SP_APP = "16000000-0000-4000-8000-000000000001"
SP_GRAPH = "16000000-0000-4000-8000-000000000002"
APP_ID = csp_fakes.APP
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PC_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
ASM_APP_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
SCOPE_AS_USER = "0e263e50-5827-48a4-b97c-d940288653c7"
ROLE_DIR_READ = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"


def graph_error(status, code, message):
    return FakeRaw(status, {"error": {"code": code, "message": message,
                                      "innerError": {"request-id": "req-%s" % status}}},
                   headers={"request-id": "req-%s" % status})


class FakeDirectoryGraph:
    """Routes every Graph URL of ``session`` to an in-memory directory."""

    ALREADY = "One or more added object references already exist for the following modified properties: 'members'."
    NOT_THERE = "One or more removed object references do not exist for the following modified properties: 'members'."

    def __init__(self, session):
        self.users = {
            USER_INTEGRATION: {"id": USER_INTEGRATION, "displayName": "Partner Integration",
                               "userPrincipalName": "integration@contoso.onmicrosoft.com"},
            USER_HELPDESK: {"id": USER_HELPDESK, "displayName": "Helpdesk Agent",
                            "userPrincipalName": "helpdesk@contoso.onmicrosoft.com"},
        }
        self.sps = {
            SP_APP: {"id": SP_APP, "appId": APP_ID, "displayName": "Contoso CSP App"},
            SP_GRAPH: {"id": SP_GRAPH, "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
                       "oauth2PermissionScopes": [{"id": SCOPE_AS_USER, "value": "Directory.AccessAsUser.All",
                                                   "adminConsentDisplayName": "Access directory as the signed in user"}],
                       "appRoles": [{"id": ROLE_DIR_READ, "value": "Directory.Read.All",
                                     "displayName": "Read directory data"}]},
        }
        self.groups = {
            GROUP_ADMIN_AGENTS: self._group(GROUP_ADMIN_AGENTS, "AdminAgents", {USER_INTEGRATION, SP_APP}),
            GROUP_GDAP_ADMINS: self._group(GROUP_GDAP_ADMINS, "GDAP Admins", set()),
        }
        self.apps = {APP_ID: {"id": "13000000-0000-4000-8000-000000000001", "appId": APP_ID,
                              "displayName": "Contoso CSP App", "requiredResourceAccess": [
                                  {"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
                                      {"id": SCOPE_AS_USER, "type": "Scope"}, {"id": ROLE_DIR_READ, "type": "Role"}]},
                                  {"resourceAppId": PC_APP_ID, "resourceAccess": [
                                      {"id": "1cebfa2a-fb4d-419e-b5f9-839b4383e05a", "type": "Scope"}]}]}}
        self.sp_race = set()  # app ids whose service principal another run creates just before our POST
        self.bind_conflict_once = False  # the next PATCH bind fails with "already exist" (a race)
        self.log = []  # (method, path) of every request, batch steps included
        session.route("*", re.escape(GRAPH) + r"/", self.dispatch)

    @staticmethod
    def _group(gid, name, members, **extra):
        group = {"id": gid, "displayName": name, "description": None, "securityEnabled": True,
                 "mailEnabled": False, "mailNickname": name.replace(" ", ""), "groupTypes": [], "_members": members}
        group.update(extra)
        return group

    # --- plumbing ------------------------------------------------------------------------
    def dispatch(self, call):
        parts = urlsplit(call.url)
        query = dict(parse_qsl(parts.query))
        query.update(call.params or {})
        body = call.json
        if body is None and call.data:
            body = json.loads(call.data)
        status, payload = self.handle(call.method, unquote(parts.path), query, body)
        if status >= 400:
            return graph_error(status, payload[0], payload[1])
        return FakeRaw(status, payload)

    def handle(self, method, path, query, body):
        match = re.match(r"^/(v1\.0|beta)(/.*)$", path)
        version, rest = match.group(1), match.group(2)
        self.log.append((method, "/%s%s" % (version, rest)))
        if rest == "/$batch":
            return 200, {"responses": [self.step(version, r) for r in reversed(body["requests"])]}
        return self.route(method, version, rest, query, body)

    def step(self, version, item):
        path, query = (item["url"].split("?", 1) + [""])[:2]
        status, payload = self.handle(item["method"], "/%s%s" % (version, unquote(path)), dict(parse_qsl(query)),
                                      item.get("body"))
        if status >= 400:
            payload = {"error": {"code": payload[0], "message": payload[1]}}
        return {"id": item["id"], "status": status, "headers": {}, "body": payload}

    def find(self, oid):
        for kind, table in (("#microsoft.graph.user", self.users), ("#microsoft.graph.group", self.groups),
                            ("#microsoft.graph.servicePrincipal", self.sps)):
            if oid in table:
                return dict({k: v for k, v in table[oid].items() if not k.startswith("_")}, **{"@odata.type": kind})
        return None

    @staticmethod
    def not_found(oid):
        return 404, ("Request_ResourceNotFound", "Resource '%s' does not exist." % oid)

    # --- routes ----------------------------------------------------------------------------
    def route(self, method, version, rest, query, body):  # noqa: C901 - one table of routes
        m = re.match(r"^/groups/([^/]+)/members/\$ref$", rest)
        if m and method == "POST":
            group = self.groups[m.group(1)]
            oid = body["@odata.id"].rsplit("/", 1)[1]
            if self.find(oid) is None:
                return self.not_found(oid)
            if oid in group["_members"]:
                return 400, ("Request_BadRequest", self.ALREADY)
            group["_members"].add(oid)
            return 204, None
        m = re.match(r"^/groups/([^/]+)/members/([^/]+)/\$ref$", rest)
        if m and method == "DELETE":
            group = self.groups[m.group(1)]
            if m.group(2) not in group["_members"]:
                return 400, ("Request_BadRequest", self.NOT_THERE)
            group["_members"].discard(m.group(2))
            return 204, None
        m = re.match(r"^/groups/([^/]+)/members/([^/]+)$", rest)
        if m and method == "GET":
            group = self.groups.get(m.group(1))
            if group is None or m.group(2) not in group["_members"]:
                return self.not_found(m.group(2))
            return 200, self.find(m.group(2))
        if m and method == "DELETE":
            raise AssertionError("a member was DELETEd without /$ref: the object itself would be deleted")
        m = re.match(r"^/groups/([^/]+)/members$", rest)
        if m and method == "GET":
            items = [self.find(oid) for oid in sorted(self.groups[m.group(1)]["_members"])]
            if version == "v1.0":  # the reported bug
                items = [i for i in items if i["@odata.type"] != "#microsoft.graph.servicePrincipal"]
            return 200, {"value": items}
        m = re.match(r"^/groups/([^/]+)$", rest)
        if m and method == "GET":
            found = self.groups.get(m.group(1))
            return (200, self.find(m.group(1))) if found else self.not_found(m.group(1))
        if m and method == "PATCH":
            group = self.groups[m.group(1)]
            binds = body.pop("members@odata.bind", None)
            if binds is not None:
                assert len(binds) <= 20, "more than 20 members in one bind"
                ids = [b.rsplit("/", 1)[1] for b in binds]
                if self.bind_conflict_once or any(i in group["_members"] for i in ids):
                    self.bind_conflict_once = False
                    return 400, ("Request_BadRequest", self.ALREADY)
                group["_members"].update(ids)
            group.update(body)
            return 204, None
        if m and method == "DELETE":
            del self.groups[m.group(1)]
            return 204, None
        if rest == "/groups" and method == "GET":
            name = re.match(r"^displayName eq '(.*)'$", query["$filter"]).group(1).replace("''", "'")
            return 200, {"value": [self.find(g["id"]) for g in self.groups.values()
                                   if g["displayName"].lower() == name.lower()]}
        if rest == "/groups" and method == "POST":
            gid = str(uuid.uuid4())
            assert body["securityEnabled"] is True and body["mailEnabled"] is False
            self.groups[gid] = self._group(gid, body["displayName"], set(), description=body.get("description"),
                                           mailNickname=body["mailNickname"])
            return 201, self.find(gid)
        m = re.match(r"^/users/([^/]+)$", rest)
        if m and method == "GET":
            key = m.group(1).lower()
            for user in self.users.values():
                if key in (user["id"], user["userPrincipalName"].lower()):
                    return 200, dict(user)
            return self.not_found(m.group(1))
        m = re.match(r"^/servicePrincipals\(appId='([^']+)'\)$", rest)
        if m and method == "GET":
            for sp in self.sps.values():
                if sp["appId"] == m.group(1):
                    return 200, dict(sp)
            return self.not_found(m.group(1))
        if rest == "/servicePrincipals" and method == "POST":
            app_id = body["appId"]
            if any(sp["appId"] == app_id for sp in self.sps.values()) or app_id in self.sp_race:
                self.sp_race.discard(app_id)
                if not any(sp["appId"] == app_id for sp in self.sps.values()):  # another run created it first
                    self.sps["sp-" + app_id] = {"id": "sp-" + app_id, "appId": app_id, "displayName": "raced"}
                return 409, ("Request_MultipleObjectsWithSameKeyValue", "The service principal name %s is already in "
                             "use." % app_id)
            sid = "sp-" + app_id
            self.sps[sid] = {"id": sid, "appId": app_id, "displayName": "created " + app_id}
            return 201, dict(self.sps[sid])
        m = re.match(r"^/applications\(appId='([^']+)'\)$", rest)
        if m and method == "GET":
            app = self.apps.get(m.group(1))
            return (200, dict(app)) if app else self.not_found(m.group(1))
        m = re.match(r"^/directoryObjects/([^/]+)$", rest)
        if m and method == "GET":
            found = self.find(m.group(1))
            return (200, found) if found else self.not_found(m.group(1))
        raise AssertionError("no fake Graph route for %s %s" % (method, rest))

    # --- witness helpers -------------------------------------------------------------------
    def writes(self):
        return [(m, p) for m, p in self.log if m != "GET" and not p.endswith("/$batch")]

    def add_users(self, count):
        ids = []
        for n in range(count):
            uid = "11000000-0000-4000-8000-0000000%05d" % (n + 100)
            self.users[uid] = {"id": uid, "displayName": "User %d" % n,
                               "userPrincipalName": "user%d@contoso.onmicrosoft.com" % n}
            ids.append(uid)
        return ids


@pytest.fixture
def fake_graph(session, idp):
    return FakeDirectoryGraph(session)


@pytest.fixture
def directory(fake_graph, http):
    client = CspClient(csp_fakes.options(), http=http)
    return d.Directory(client.graph(), beta=client.graph(api_version="beta"), tenant=csp_fakes.PARTNER)


# --- pure helpers ------------------------------------------------------------------------
def test_member_specs_are_validated_and_normalized():
    specs = d.normalize_member_specs([
        {"user": "Integration@contoso.onmicrosoft.com"}, {"service_principal": APP_ID.upper()},
        {"group": "GDAP Admins"}, {"id": GROUP_ADMIN_AGENTS}, {"service_principal": APP_ID}])
    assert specs == [("user", "Integration@contoso.onmicrosoft.com"), ("service_principal", APP_ID),
                     ("group", "GDAP Admins"), ("id", GROUP_ADMIN_AGENTS)]


@pytest.mark.parametrize("spec, text", [
    ({"user": "x@y.z", "group": "g"}, "exactly one of"),
    ({}, "exactly one of"),
    ({"service_principal": "Contoso App"}, "is not an application (client) id"),
    ({"id": "not-a-guid"}, "is not an object id"),
    ({"user": "just-a-name"}, "neither a user principal name"),
    ("integration@contoso.com", "must be a dict"),
])
def test_bad_member_specs(spec, text):
    with pytest.raises(CspValidationError) as info:
        d.normalize_member_specs([spec])
    assert text in str(info.value) and info.value.code == "InvalidMember"


@pytest.mark.parametrize("name", ["GDAP Admins", "Ünïcode group (é)", "a@b;c:d<e>f,g[h]i\"j", "---", "x" * 300])
def test_derived_mail_nickname_is_accepted_by_graph(name):
    nick = d.derive_mail_nickname(name)
    assert d.check_mail_nickname(nick) == nick
    assert len(nick) <= 64 and re.match(r"^[A-Za-z0-9._-]+$", nick)
    assert nick == d.derive_mail_nickname(name)  # stable between runs


def test_derived_mail_nicknames_differ_for_names_that_slug_alike():
    assert d.derive_mail_nickname("GDAP Admins") != d.derive_mail_nickname("GDAP-Admins")


def test_bad_mail_nickname():
    with pytest.raises(CspValidationError):
        d.check_mail_nickname("has space")


def test_app_ids():
    assert d.normalize_app_ids([GRAPH_APP_ID.upper(), GRAPH_APP_ID]) == [GRAPH_APP_ID]
    with pytest.raises(CspValidationError) as info:
        d.normalize_app_ids(["graph"])
    assert "'graph'" in str(info.value)


def test_labels():
    assert d.label({"type": "user", "user_principal_name": "a@b.c", "display_name": "A"}) == "a@b.c"
    assert d.label({"type": "servicePrincipal", "display_name": "App", "app_id": APP_ID}) == \
        "service principal App (%s)" % APP_ID
    assert d.label({"type": "group", "display_name": "G"}) == "group G"
    assert d.label({"type": "device", "id": "x"}) == "device x"


def test_error_predicates():
    assert d.is_already_exist(GraphError(FakeDirectoryGraph.ALREADY, status=400, code="Request_BadRequest"))
    assert not d.is_already_exist(GraphError("other", status=400))
    assert d.is_not_member(GraphError(FakeDirectoryGraph.NOT_THERE, status=400))
    assert d.is_not_member(GraphError("gone", status=404))
    assert not d.is_not_member(GraphError("denied", status=403))


def test_resolve_permissions_groups_per_api_and_builds_grants():
    app = {"requiredResourceAccess": [
        {"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
            {"id": SCOPE_AS_USER, "type": "Scope"}, {"id": ROLE_DIR_READ, "type": "Role"},
            {"id": "99999999-0000-4000-8000-000000000000", "type": "Scope"}]},
        {"resourceAppId": ASM_APP_ID,
         "resourceAccess": [{"id": "41094075-9dad-400e-a0bd-54e686782033", "type": "Scope"}]}]}
    sp = {"id": SP_GRAPH, "displayName": "Microsoft Graph",
          "oauth2PermissionScopes": [{"id": SCOPE_AS_USER, "value": "Directory.AccessAsUser.All"}],
          "appRoles": [{"id": ROLE_DIR_READ, "value": "Directory.Read.All", "displayName": "Read directory data"}]}
    apis, consent, roles, unresolved = d.resolve_permissions(app, {GRAPH_APP_ID: sp, ASM_APP_ID: None})
    assert [a["app_id"] for a in apis] == [GRAPH_APP_ID, ASM_APP_ID]
    assert apis[0]["delegated"][0]["value"] == "Directory.AccessAsUser.All"
    assert apis[0]["application"][0] == {"id": ROLE_DIR_READ, "value": "Directory.Read.All",
                                         "display_name": "Read directory data"}
    assert apis[1]["display_name"] == "Windows Azure Service Management API"  # well-known name, no SP
    assert consent == [{"api": GRAPH_APP_ID, "scopes": ["Directory.AccessAsUser.All"]}]
    assert roles == [{"api": GRAPH_APP_ID, "roles": ["Directory.Read.All"]}]
    assert {u["id"] for u in unresolved} == {"99999999-0000-4000-8000-000000000000",
                                             "41094075-9dad-400e-a0bd-54e686782033"}
    consent = d.resolve_permissions(app, {GRAPH_APP_ID: sp}, include_app_roles_in_consent=True)[1]
    assert consent == [{"api": GRAPH_APP_ID, "scopes": ["Directory.AccessAsUser.All", "Directory.Read.All"]}]


# --- against the fake directory -------------------------------------------------------------
def test_find_group_by_name_and_id(directory):
    assert directory.find_group("AdminAgents")["id"] == GROUP_ADMIN_AGENTS
    assert directory.find_group(GROUP_GDAP_ADMINS.upper())["displayName"] == "GDAP Admins"


def test_find_group_none_and_several(directory, fake_graph):
    with pytest.raises(CspValidationError) as info:
        directory.find_group("Nobody")
    assert info.value.code == "GroupNotFound" and "'Nobody'" in str(info.value)
    fake_graph.groups["dup"] = fake_graph._group("dup", "AdminAgents", set())
    with pytest.raises(CspValidationError) as info:
        directory.find_group("AdminAgents")
    assert info.value.code == "AmbiguousGroup"
    assert GROUP_ADMIN_AGENTS in str(info.value) and "dup" in str(info.value)


def test_groups_named_ignores_case_as_graph_does(directory):
    # Microsoft's rule (Graph's $filter eq on displayName ignores case), the same for every resolver
    assert [g["id"] for g in directory.groups_named("adminagents")] == [GROUP_ADMIN_AGENTS]


def test_resolve_members_in_one_batch(directory, fake_graph):
    members = directory.resolve_members([("user", "helpdesk@contoso.onmicrosoft.com"),
                                         ("service_principal", APP_ID), ("group", "GDAP Admins"),
                                         ("id", USER_INTEGRATION)])
    assert [m["type"] for m in members] == ["user", "servicePrincipal", "group", "user"]
    assert [m["name"] for m in members] == [
        "helpdesk@contoso.onmicrosoft.com", "service principal Contoso CSP App (%s)" % APP_ID,
        "group GDAP Admins", "integration@contoso.onmicrosoft.com"]
    assert [entry[0] for entry in fake_graph.log if entry[0] != "GET"] == ["POST"]  # one $batch


def test_resolve_members_names_everything_missing(directory):
    with pytest.raises(CspValidationError) as info:
        directory.resolve_members([("user", "ghost@contoso.onmicrosoft.com"),
                                   ("service_principal", ASM_APP_ID), ("group", "No Such Group")])
    text = str(info.value)
    assert info.value.code == "MemberNotFound"
    assert "ghost@contoso.onmicrosoft.com" in text and ASM_APP_ID in text
    assert "Windows Azure Service Management API" in text and "'No Such Group'" in text


def test_resolve_members_dedupes_one_object_named_twice(directory):
    members = directory.resolve_members([("user", "integration@contoso.onmicrosoft.com"), ("id", USER_INTEGRATION)])
    assert len(members) == 1


def test_membership_is_checked_directly(directory, fake_graph):
    # the service principal is a member although the v1.0 listing does not show it
    assert directory.membership(GROUP_ADMIN_AGENTS, [SP_APP, USER_HELPDESK]) == {SP_APP: True, USER_HELPDESK: False}
    assert ("GET", "/v1.0/groups/%s/members/%s" % (GROUP_ADMIN_AGENTS, SP_APP)) in fake_graph.log


def test_member_listing_uses_beta_and_sees_service_principals(directory, fake_graph):
    names = {m["name"] for m in directory.list_members(GROUP_ADMIN_AGENTS)}
    assert "service principal Contoso CSP App (%s)" % APP_ID in names
    assert fake_graph.log[-1][1].startswith("/beta/groups/")


def test_add_members_binds_20_a_request(directory, fake_graph):
    ids = fake_graph.add_users(45)
    added = directory.add_members(GROUP_GDAP_ADMINS, ids)
    assert sorted(added) == sorted(ids)
    assert fake_graph.writes() == [("PATCH", "/v1.0/groups/%s" % GROUP_GDAP_ADMINS)] * 3
    assert fake_graph.groups[GROUP_GDAP_ADMINS]["_members"] == set(ids)


def test_add_members_falls_back_to_ref_when_a_bind_is_refused(directory, fake_graph):
    ids = fake_graph.add_users(3)
    fake_graph.groups[GROUP_GDAP_ADMINS]["_members"].add(ids[1])  # someone was quicker
    added = directory.add_members(GROUP_GDAP_ADMINS, ids)
    assert added == [ids[0], ids[2]]
    assert [entry[0] for entry in fake_graph.writes()] == ["PATCH", "POST", "POST", "POST"]
    assert fake_graph.groups[GROUP_GDAP_ADMINS]["_members"] == set(ids)


def test_add_one_member_already_there_is_not_an_error(directory):
    assert directory.add_member(GROUP_ADMIN_AGENTS, SP_APP) is False


def test_other_add_errors_are_raised(directory):
    with pytest.raises(GraphError) as info:
        directory.add_member(GROUP_ADMIN_AGENTS, "99999999-0000-4000-8000-000000000000")
    assert info.value.status == 404 and info.value.code == "Request_ResourceNotFound"
    assert info.value.request_id == "req-404"


def test_remove_member_uses_ref_and_tolerates_not_a_member(directory, fake_graph):
    assert directory.remove_member(GROUP_ADMIN_AGENTS, SP_APP) is True
    assert directory.remove_member(GROUP_ADMIN_AGENTS, SP_APP) is False
    assert fake_graph.writes() == [("DELETE", "/v1.0/groups/%s/members/%s/$ref" % (GROUP_ADMIN_AGENTS, SP_APP))] * 2
    assert SP_APP in fake_graph.sps  # the object itself is untouched


def test_read_many_batches_by_20(directory, fake_graph):
    ids = fake_graph.add_users(25)
    found = directory.membership(GROUP_GDAP_ADMINS, ids)
    assert found == {i: False for i in ids}
    assert [p for m, p in fake_graph.log if m == "POST"] == ["/v1.0/$batch", "/v1.0/$batch"]


def test_service_principals_and_application(directory):
    found = directory.service_principals([GRAPH_APP_ID, ASM_APP_ID])
    assert found[GRAPH_APP_ID]["id"] == SP_GRAPH and found[ASM_APP_ID] is None
    app = directory.application(APP_ID)
    assert d.required_app_ids(app) == [GRAPH_APP_ID, PC_APP_ID]
    with pytest.raises(CspValidationError) as info:
        directory.application(ASM_APP_ID)
    assert info.value.code == "ApplicationNotFound"


def test_security_group_lifecycle(directory, fake_graph):
    created = directory.create_security_group("CI Group", "about")
    assert created["mailNickname"] == d.derive_mail_nickname("CI Group")
    directory.update_group(created["id"], {"description": "new"})
    assert fake_graph.groups[created["id"]]["description"] == "new"
    directory.delete_group(created["id"])
    assert created["id"] not in fake_graph.groups
