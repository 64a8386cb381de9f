# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Directory objects in one tenant: groups, their members, service principals, applications.

Everything the modules ``group_member``, ``security_group``, ``service_principal_info`` and
``application_permissions_info`` do through Graph lives here, unit-testable without Ansible.

Rules this file keeps (see STYLE.md, "What to avoid"):
- membership is checked *directly* (``GET /groups/{gid}/members/{id}``); the v1.0 member listing
  has been reported to omit service principals, so it is never the judge of "is a member";
- "already exist" on add and "do not exist" on remove are success (someone got there first);
- a member is only ever removed through ``/members/{id}/$ref`` (without ``$ref`` Graph would
  delete the object itself), and nothing here deletes a user, service principal or directoryObject.
"""

import hashlib
import re
from urllib.parse import quote

from .errors import CspError, CspValidationError, GraphError
from .graph import BATCH_LIMIT, batch_error, odata_quote
from .options import is_guid

# Microsoft first-party apps partners meet in requiredResourceAccess (appId -> display name), so a
# *missing* service principal can still be named in a report.
FIRST_PARTY_APIS = {
    "00000003-0000-0000-c000-000000000000": "Microsoft Graph",
    "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd": "Microsoft Partner Center",
    "797f4846-ba00-4fd7-ba43-dac1f8f63013": "Windows Azure Service Management API",
    "00000002-0000-0ff1-ce00-000000000000": "Office 365 Exchange Online",
    "00000003-0000-0ff1-ce00-000000000000": "Office 365 SharePoint Online",
    "00000002-0000-0000-c000-000000000000": "Windows Azure Active Directory",
    "00000007-0000-0000-c000-000000000000": "Dynamics CRM",
    "00000009-0000-0000-c000-000000000000": "Power BI Service",
    "c5393580-f805-4401-95e8-94b7a6ef2fc2": "Office 365 Management APIs",
    "cfa8b339-82a2-471a-a3c9-0fc0be7a4093": "Azure Key Vault",
    "2832473f-ec63-45fb-976f-5d45a7d4bb91": "Partner Customer Delegated Administration",
}

MEMBER_KINDS = ("user", "service_principal", "group", "id")
# Fields that name a directory object; $select on a typed collection must only name its own properties.
OBJECT_SELECT = "id,displayName,userPrincipalName,appId"  # mixed collections (group members)
USER_SELECT = "id,displayName,userPrincipalName"
SP_SELECT = "id,displayName,appId"
GROUP_NAME_SELECT = "id,displayName"
GROUP_SELECT = "id,displayName,description,securityEnabled,mailEnabled,mailNickname,groupTypes"
ODATA_TYPES = {
    "#microsoft.graph.user": "user",
    "#microsoft.graph.group": "group",
    "#microsoft.graph.servicePrincipal": "servicePrincipal",
    "#microsoft.graph.device": "device",
    "#microsoft.graph.orgContact": "orgContact",
    "#microsoft.graph.application": "application",
}
MAIL_NICKNAME_MAX = 64
MAX_DISPLAY_NAME_LENGTH = 256  # Entra ID group display names


def api_name(app_id):
    """Display name of a well-known Microsoft API, or None."""
    return FIRST_PARTY_APIS.get(str(app_id or "").lower())


def is_already_exist(err):
    """Graph's answer to adding a member that is one already (400 "... already exist ...")."""
    return isinstance(err, GraphError) and err.status == 400 and "already exist" in (err.message or "")


def is_not_member(err):
    """Graph's answers to removing a member that is not one (400 "... do not exist ..." or 404)."""
    return isinstance(err, GraphError) and (
        err.status == 404 or (err.status == 400 and "do not exist" in (err.message or "")))


def derive_mail_nickname(display_name):
    """A mailNickname Graph accepts, from a display name.

    Graph wants ASCII without ``@ ( ) \\ [ ] " ; : < > ,`` and spaces, at most 64 characters; we keep
    letters, digits, ``. - _`` and add a short digest of the full name so that "GDAP Admins" and
    "GDAP-Admins" do not collide.
    """
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(display_name)).strip(".-_")
    digest = hashlib.sha256(str(display_name).encode("utf-8")).hexdigest()[:6]
    base = re.sub(r"-{2,}", "-", text)[:MAIL_NICKNAME_MAX - 7].rstrip(".-_") or "group"
    return "%s-%s" % (base, digest)


def check_mail_nickname(value):
    if not value or len(value) > MAIL_NICKNAME_MAX or not re.match(r"^[!#$%&'*+\-./0-9=?A-Z^_`a-z{|}~]+$", value):
        raise CspValidationError(
            "mail_nickname %r is not valid: 1 to 64 ASCII characters without spaces and without "
            "@ ( ) \\ [ ] \" ; : < > ," % value, code="InvalidMailNickname")
    return value


def check_group_ref(value, option="group"):
    """A security group's object id or display name (Entra ID allows 256 characters), before any request."""
    text = str(value or "").strip()
    if not text or len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise CspValidationError("%s must be a security group's object id or display name (1 to %d characters), "
                                 "got %r" % (option, MAX_DISPLAY_NAME_LENGTH, value), code="InvalidGroup")
    return text


def normalize_app_ids(values, name="app_ids"):
    """Lower-case GUIDs in first-seen order; a non-GUID is a validation error naming it."""
    out = []
    for value in values or []:
        text = str(value).strip().lower()
        if not is_guid(text):
            raise CspValidationError("%s: %r is not an application (client) id GUID" % (name, value),
                                     code="InvalidAppId")
        if text not in out:
            out.append(text)
    return out


def normalize_member_specs(specs):
    """Validate the ``members`` option: each entry has exactly one of user/service_principal/group/id.

    Returns a list of ``(kind, value)`` in order, duplicates dropped.
    """
    out = []
    for index, spec in enumerate(specs or [], 1):
        if not isinstance(spec, dict):
            raise CspValidationError("members[%d] must be a dict such as {user: name@domain}" % index,
                                     code="InvalidMember")
        given = [(k, spec[k]) for k in MEMBER_KINDS if spec.get(k) not in (None, "")]
        if len(given) != 1:
            raise CspValidationError("members[%d] needs exactly one of %s, got %s" % (
                index, ", ".join(MEMBER_KINDS), ", ".join(pair[0] for pair in given) or "none"), code="InvalidMember")
        kind, value = given[0]
        value = str(value).strip()
        if kind in ("service_principal", "id") and not is_guid(value):
            what = "an application (client) id" if kind == "service_principal" else "an object id"
            raise CspValidationError("members[%d].%s %r is not %s (a GUID)" % (index, kind, value, what),
                                     code="InvalidMember")
        if kind == "user" and not (is_guid(value) or "@" in value):
            raise CspValidationError("members[%d].user %r is neither a user principal name (name@domain) "
                                     "nor an object id" % (index, value), code="InvalidMember")
        if kind in ("service_principal", "id") or (kind == "user" and is_guid(value)):
            value = value.lower()
        if (kind, value) not in out:
            out.append((kind, value))
    return out


def describe(obj):
    """A directory object as modules return it: id, type and a human name (the diff shows names)."""
    kind = ODATA_TYPES.get(obj.get("@odata.type"), obj.get("_kind") or "directoryObject")
    out = {"id": obj.get("id"), "type": kind, "display_name": obj.get("displayName")}
    if obj.get("userPrincipalName"):
        out["user_principal_name"] = obj["userPrincipalName"]
    if obj.get("appId"):
        out["app_id"] = obj["appId"]
    out["name"] = label(out)
    return out


def label(member):
    """``integration@contoso.com``, ``service principal Contoso App (2000...)``, ``group GDAP Admins``."""
    kind = member.get("type")
    name = member.get("display_name") or member.get("id")
    if kind == "user":
        return member.get("user_principal_name") or name
    if kind == "servicePrincipal":
        return "service principal %s (%s)" % (name, member.get("app_id") or member.get("id"))
    if kind == "group":
        return "group %s" % name
    return "%s %s" % (kind, name)


def group_view(group):
    """The group properties modules return and diff (snake_case, stable keys)."""
    if group is None:
        return None
    return {
        "id": group.get("id"),
        "display_name": group.get("displayName"),
        "description": group.get("description"),
        "mail_nickname": group.get("mailNickname"),
        "security_enabled": group.get("securityEnabled"),
        "mail_enabled": group.get("mailEnabled"),
        "group_types": list(group.get("groupTypes") or []),
    }


def _path_segment(value):
    # UPNs of guests carry '#EXT#'; every reserved character must be escaped in a path segment.
    return quote(str(value), safe="@")


def _query(params):
    return "&".join("%s=%s" % (k, quote(str(v), safe="$,'()=")) for k, v in params.items())


class Directory:
    """Graph directory operations for one tenant, through a ``GraphClient`` (v1.0).

    ``beta`` is an optional second client for the member listing (beta lists service principal
    members that v1.0 has been reported to omit); without it the listing uses v1.0 plus a direct
    check of each member the caller cares about.
    """

    def __init__(self, graph, beta=None, tenant=None):
        self.graph = graph
        self.beta = beta
        self.tenant = tenant or getattr(graph, "tenant", None) or "the tenant"

    # --- reads of many objects at once ----------------------------------------------------
    def read_many(self, urls):
        """GET each url (a dict key -> relative url); returns key -> body, or None for 404.

        Two or more go through ``$batch`` (20 a request); any other failure raises the sub-request's
        GraphError.
        """
        if not urls:
            return {}
        if len(urls) == 1:
            key, url = next(iter(urls.items()))
            response = self.graph.request("GET", url, expected_status=[200, 404])
            return {key: response.json if response.status == 200 else None}
        keys = list(urls)
        out = {}
        for start in range(0, len(keys), BATCH_LIMIT):
            chunk = keys[start:start + BATCH_LIMIT]
            ids = {str(i): key for i, key in enumerate(chunk, 1)}
            requests = [{"id": rid, "method": "GET", "url": urls[key]} for rid, key in ids.items()]
            for rid, response in self.graph.batch(requests).items():
                status = response.get("status") or 0
                if status == 404:
                    out[ids[rid]] = None
                elif 200 <= status < 300:
                    out[ids[rid]] = response.get("body")
                else:
                    raise batch_error(response)
        return out

    # --- groups ----------------------------------------------------------------------------
    def groups_named(self, display_name):
        """Groups with this display name, by Microsoft's rule: Graph's ``eq`` on displayName ignores case.

        The collection's one matching rule for group names (``find_group``, ``security_group``, the GDAP
        access assignments), so a name finds the same group everywhere."""
        params = {"$filter": "displayName eq %s" % odata_quote(display_name), "$select": GROUP_SELECT}
        wanted = display_name.lower()
        return [g for g in self.graph.paginate("/groups", params=params)
                if str(g.get("displayName") or "").lower() == wanted]

    def get_group(self, group_id):
        response = self.graph.request("GET", "/groups/%s" % group_id, params={"$select": GROUP_SELECT},
                                      expected_status=[200, 404])
        return response.json if response.status == 200 else None

    def find_group(self, id_or_name):
        """The one group with this object id or display name; zero or several is an error naming them."""
        value = check_group_ref(id_or_name)
        if is_guid(value):
            return self._one_group(value, self.get_group(value.lower()))
        return self._one_group(value, self.groups_named(value))

    def find_groups(self, values):
        """``find_group`` for several groups in one read (``$batch`` for two or more): value -> group.
        The same matching rule and the same errors, for the first value that has no single group."""
        wanted = []
        for value in values:
            text = str(value or "").strip()
            if not text:
                raise CspValidationError("group must be a group object id or display name", code="InvalidGroup")
            if text not in wanted:
                wanted.append(text)
        urls = {}
        for text in wanted:
            if is_guid(text):
                urls[text] = "/groups/%s?%s" % (text.lower(), _query({"$select": GROUP_SELECT}))
            else:
                urls[text] = "/groups?%s" % _query({"$filter": "displayName eq %s" % odata_quote(text),
                                                   "$select": GROUP_SELECT})
        bodies = self.read_many(urls)
        out = {}
        for text in wanted:
            body = bodies.get(text)
            if is_guid(text):
                out[text] = self._one_group(text, body, name_it=True)
                continue
            items = list((body or {}).get("value") or [])
            if (body or {}).get("@odata.nextLink"):
                items.extend(self.graph.get_all(body["@odata.nextLink"]))
            low = text.lower()
            out[text] = self._one_group(text, [g for g in items if str(g.get("displayName") or "").lower() == low],
                                        name_it=True)
        return out

    def _one_group(self, value, found, name_it=False):
        """``found``: the group read by id (None: not there) or the groups read by name. With ``name_it`` the
        error's details name the value (``item``), for a caller that asked for several."""
        details = {"item": value} if name_it else None
        if is_guid(value):
            if found is None:
                raise CspValidationError("no group with object id %s in tenant %s" % (value, self.tenant),
                                         code="GroupNotFound", details=details)
            return found
        if not found:
            raise CspValidationError("no group named %r in tenant %s" % (value, self.tenant), code="GroupNotFound",
                                     details=details)
        if len(found) > 1:
            raise CspValidationError(
                "%d groups are named %r in tenant %s (%s); give the object id of the one to use" % (
                    len(found), value, self.tenant, ", ".join(sorted(g["id"] for g in found))),
                code="AmbiguousGroup", details=details)
        return found[0]

    def create_security_group(self, display_name, description=None, mail_nickname=None):
        body = {"displayName": display_name, "securityEnabled": True, "mailEnabled": False,
                "mailNickname": mail_nickname or derive_mail_nickname(display_name)}
        if description is not None:
            body["description"] = description
        return self.graph.request("POST", "/groups", body=body, expected_status=201).json

    def update_group(self, group_id, changes):
        self.graph.request("PATCH", "/groups/%s" % group_id, body=changes, expected_status=204)

    def delete_group(self, group_id):
        # Only ever the group the caller matched by name (and id); see security_group.
        self.graph.request("DELETE", "/groups/%s" % group_id, expected_status=204)

    # --- members: resolving the input ----------------------------------------------------
    def resolve_members(self, specs):
        """``(kind, value)`` pairs -> described objects (one read each, batched); unknown ones are errors."""
        urls, group_names = {}, []
        for kind, value in specs:
            if kind == "user":
                urls[(kind, value)] = "/users/%s?$select=%s" % (_path_segment(value), USER_SELECT)
            elif kind == "service_principal":
                urls[(kind, value)] = "/servicePrincipals(appId='%s')?$select=%s" % (value, SP_SELECT)
            elif kind == "id" or (kind == "group" and is_guid(value)):
                urls[(kind, value)] = "/directoryObjects/%s" % value.lower()
            else:
                group_names.append(value)
        for name in group_names:
            urls[("group", name)] = "/groups?" + _query({
                "$filter": "displayName eq %s" % odata_quote(name), "$select": GROUP_NAME_SELECT})
        bodies = self.read_many(urls)
        missing, resolved = [], []
        for kind, value in specs:
            body = bodies.get((kind, value))
            if kind == "group" and not is_guid(value):
                matches = [g for g in (body or {}).get("value") or [] if g.get("displayName") == value]
                if len(matches) > 1:
                    raise CspValidationError(
                        "%d groups are named %r in tenant %s (%s); give the member as {id: <object id>}" % (
                            len(matches), value, self.tenant, ", ".join(sorted(g["id"] for g in matches))),
                        code="AmbiguousMember")
                body = dict(matches[0], _kind="group") if matches else None
            elif body is not None and kind == "user":
                body = dict(body, _kind="user")
            elif body is not None and kind == "service_principal":
                body = dict(body, _kind="servicePrincipal")
            if body is None:
                missing.append(self._missing_text(kind, value))
                continue
            obj = describe(body)
            if kind == "group" and obj["type"] != "group":
                missing.append("group %s (object %s is a %s)" % (value, value, obj["type"]))
                continue
            resolved.append(obj)
        if missing:
            raise CspValidationError("not found in tenant %s: %s" % (self.tenant, "; ".join(missing)),
                                     code="MemberNotFound")
        unique, seen = [], set()
        for obj in resolved:  # two inputs may name the same object (a UPN and its object id)
            if obj["id"] not in seen:
                seen.add(obj["id"])
                unique.append(obj)
        return unique

    @staticmethod
    def _missing_text(kind, value):
        if kind == "service_principal":
            name = api_name(value)
            return "service principal of app %s%s (consent to the app in this tenant first)" % (
                value, " (%s)" % name if name else "")
        return {"user": "user %s", "group": "group %r", "id": "directory object %s"}[kind] % value

    # --- members: state ---------------------------------------------------------------------
    def membership(self, group_id, object_ids):
        """Object id -> True/False, asked one object at a time (never trusting the member listing)."""
        urls = {oid: "/groups/%s/members/%s?$select=id" % (group_id, oid) for oid in object_ids}
        return {oid: body is not None for oid, body in self.read_many(urls).items()}

    def list_members(self, group_id):
        """Direct members with names, service principals included.

        beta's listing includes service principals; v1.0's has been reported to omit them, so the
        caller adds what it checked directly. Only what is listed here can be removed as "unlisted".
        """
        client = self.beta or self.graph
        params = {"$select": OBJECT_SELECT, "$top": "999"}
        members = []
        for item in client.paginate("/groups/%s/members" % group_id, params=params):
            if item.get("id"):
                members.append(describe(item))
        return members

    # --- members: writes ----------------------------------------------------------------------
    def reference(self, object_id):
        # The reference names the object on this Graph endpoint (national clouds, the emulator).
        return "%s/v1.0/directoryObjects/%s" % (self.graph.endpoint, object_id)

    def add_member(self, group_id, object_id):
        """POST $ref; False when it was a member already."""
        try:
            self.graph.request("POST", "/groups/%s/members/$ref" % group_id,
                               body={"@odata.id": self.reference(object_id)}, expected_status=204)
        except GraphError as err:
            if is_already_exist(err):
                return False
            raise
        return True

    def add_members(self, group_id, object_ids):
        """Add many: ``members@odata.bind`` 20 a request; a chunk refused with "already exist" (all or
        nothing) is redone one ``$ref`` at a time. Returns the ids actually added."""
        object_ids = list(object_ids)
        if len(object_ids) == 1:
            return object_ids if self.add_member(group_id, object_ids[0]) else []
        added = []
        for start in range(0, len(object_ids), BATCH_LIMIT):
            chunk = object_ids[start:start + BATCH_LIMIT]
            try:
                self.graph.request("PATCH", "/groups/%s" % group_id, expected_status=204,
                                   body={"members@odata.bind": [self.reference(oid) for oid in chunk]})
                added.extend(chunk)
            except GraphError as err:
                if not is_already_exist(err):
                    raise
                added.extend(oid for oid in chunk if self.add_member(group_id, oid))
        return added

    def remove_member(self, group_id, object_id):
        """DELETE .../members/{id}/$ref (never without $ref); False when it was not a member."""
        try:
            self.graph.request("DELETE", "/groups/%s/members/%s/$ref" % (group_id, object_id), expected_status=204)
        except GraphError as err:
            if is_not_member(err):
                return False
            raise
        return True

    # --- service principals and applications ------------------------------------------------
    def service_principals(self, app_ids, select="id,appId,displayName"):
        """appId -> service principal (dict) or None when the tenant has none for it."""
        urls = {app_id: "/servicePrincipals(appId='%s')?$select=%s" % (app_id, select) for app_id in app_ids}
        return self.read_many(urls)

    def create_service_principal(self, app_id):
        """Create the service principal of ``app_id`` here; one that appeared meanwhile (409) is read instead.
        Returns ``(service principal, created)``."""
        try:
            return self.graph.request("POST", "/servicePrincipals", body={"appId": app_id}, expected_status=201).json, \
                True
        except GraphError as err:
            if err.status != 409:
                raise
        found = self.service_principals([app_id]).get(app_id)
        if found is None:
            raise CspError("Graph answered that the service principal of %s already exists in tenant %s but does "
                           "not return it" % (app_id, self.tenant), code="ServicePrincipalConflict", status=409,
                           service="graph")
        return found, False

    def application(self, app_id):
        """The app registration with this appId in this tenant (its home tenant)."""
        response = self.graph.request(
            "GET", "/applications(appId='%s')" % app_id, expected_status=[200, 404],
            params={"$select": "id,appId,displayName,requiredResourceAccess"})
        if response.status == 404:
            raise CspValidationError(
                "no application with appId %s is registered in tenant %s (the app is looked up in its home "
                "tenant: the partner tenant of the connection)" % (app_id, self.tenant), code="ApplicationNotFound")
        return response.json


def required_app_ids(application):
    """resourceAppIds of an application's requiredResourceAccess, lower case, in order."""
    return normalize_app_ids([r.get("resourceAppId") for r in application.get("requiredResourceAccess") or []
                              if r.get("resourceAppId")], name="requiredResourceAccess")


def resolve_permissions(application, resources, include_app_roles_in_consent=False):
    """Friendly names for an app's requiredResourceAccess, grouped per API.

    ``resources``: resourceAppId -> its service principal (with oauth2PermissionScopes and appRoles)
    or None. Returns ``(apis, consent_grants, app_role_grants, unresolved)``.
    """
    apis, consent, roles_out, unresolved = [], [], [], []
    for entry in application.get("requiredResourceAccess") or []:
        app_id = str(entry.get("resourceAppId") or "").lower()
        sp = resources.get(app_id)
        scopes = {s.get("id"): s for s in (sp or {}).get("oauth2PermissionScopes") or []}
        roles = {r.get("id"): r for r in (sp or {}).get("appRoles") or []}
        api = {"app_id": app_id,
               "display_name": (sp or {}).get("displayName") or api_name(app_id),
               "service_principal_id": (sp or {}).get("id"),
               "delegated": [], "application": [], "unresolved": []}
        for access in entry.get("resourceAccess") or []:
            pid, kind = str(access.get("id") or "").lower(), access.get("type")
            table = scopes if kind == "Scope" else roles if kind == "Role" else {}
            found = table.get(pid) or next((v for k, v in table.items() if str(k).lower() == pid), None)
            if found is None:
                item = {"id": pid, "type": kind}
                api["unresolved"].append(item)
                unresolved.append(dict(item, api=app_id))
                continue
            named = {"id": pid, "value": found.get("value"),
                     "display_name": found.get("adminConsentDisplayName") or found.get("displayName")}
            api["delegated" if kind == "Scope" else "application"].append(named)
        apis.append(api)
        scope_names = _unique(p["value"] for p in api["delegated"])
        role_names = _unique(p["value"] for p in api["application"])
        grant = list(scope_names)
        if include_app_roles_in_consent:
            grant = _unique(grant + role_names)
        if grant:
            consent.append({"api": app_id, "scopes": grant})
        if role_names:
            roles_out.append({"api": app_id, "roles": role_names})
    return apis, consent, roles_out, unresolved


def _unique(values):
    out = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out
