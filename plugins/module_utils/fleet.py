# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A partner's whole book in one pass: what every customer has, and what must change.

``BookReader`` reads one regional partner tenant with a few paged and batched requests — Partner
Center customers, every GDAP relationship, their access assignments (``$batch``, 20 a request),
``delegatedAdminCustomers``, the app's required permissions and the partner security groups — then
one ``$batch`` per customer tenant (the required APIs' service principals, the admin consents, the
proof call) with that tenant's token. Threads share one ``HttpClient`` whose ``SharedThrottle`` holds
every thread back when the app is throttled. ``plan_customer`` compares what was read with the
desired role template and consent and returns the needed actions; it makes no request.

Nothing here calls ``fail_json``: an unreadable partner tenant or customer is reported with
Microsoft's error in the result, never dropped.
"""

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from .consent import API_NAMES, APP_NOT_IN_TENANT
from .customers import Customers, customer_view
from .directory import Directory, required_app_ids, resolve_permissions
from .errors import CspAuthError, CspError, CspValidationError
from .gdap import ACTIVE, ENDED, PENDING, GdapClient, duration_seconds, normalize_auto_extend, parse_time, \
    relationship_roles
from .graph import BATCH_LIMIT, batch_error, odata_quote
from .options import is_guid
from .roles import GLOBAL_ADMINISTRATOR, resolve_roles, role_name

DEFAULT_CONCURRENCY = 8
# Up to this many customers (``only``) are read one by one (three requests each, the Graph ones in $batch)
# instead of the whole book: an Ansible --limit of a few customers reads those customers only.
NARROW_READ_LIMIT = 50
ORGANIZATION_SELECT = "id,displayName"


def error_view(err, step):
    """The structured error of a ``CspError`` (Microsoft's code and request id), with the step it stopped."""
    out = {"step": step}
    if isinstance(err, CspError):
        out.update(err.to_result())
    else:
        out.update({"code": type(err).__name__, "message": str(err)})
    return out


def customer_key(domain, tenant_id):
    """The short name the onboarding role puts in relationship names: the domain's first label."""
    return str(domain or tenant_id or "").split(".", maxsplit=1)[0]


class DesiredState:
    """The role template and consent every customer should have (validated before any request)."""

    def __init__(self, template_name="standard", roles=None, duration=None, auto_extend=None,
                 access_assignments=None, relationship_name="{partner}-{key}-{template}", consent=True,
                 consent_grants=None, consent_include_app_roles=True, expiring_within_days=30):
        self.template_name = template_name
        self.role_ids = resolve_roles(roles) if roles else None
        self.duration = duration
        if duration is not None:
            duration_seconds(duration)
        self.auto_extend = normalize_auto_extend(auto_extend)
        self.assignments = []
        for index, item in enumerate(access_assignments or [], 1):
            group = str((item or {}).get("group") or "").strip()
            if not group:
                raise CspValidationError("access_assignments[%d] needs a group" % index, code="InvalidOption")
            role_ids = resolve_roles(item.get("roles"), option="access_assignments[%d].roles" % index)
            if self.role_ids is not None and not set(role_ids) <= set(self.role_ids):
                extra = sorted(role_name(r) for r in set(role_ids) - set(self.role_ids))
                raise CspValidationError("access_assignments[%d] (%s) asks for roles the relationship does not "
                                         "hold: %s" % (index, group, ", ".join(extra)), code="InvalidOption")
            self.assignments.append({"group": group, "role_ids": sorted(role_ids)})
        try:
            relationship_name.format(partner="p", key="k", template="t")
        except (KeyError, IndexError, ValueError):
            raise CspValidationError("relationship_name may use {partner}, {key} and {template} only",
                                     code="InvalidOption") from None
        self.relationship_name = relationship_name
        self.consent = bool(consent)
        self.consent_grants = None
        if consent_grants:
            from .consent import normalize_grants
            self.consent_grants = normalize_grants(consent_grants)
        self.consent_include_app_roles = bool(consent_include_app_roles)
        if expiring_within_days is None or int(expiring_within_days) < 0:
            raise CspValidationError("expiring_within_days must be 0 or more", code="InvalidOption")
        self.expiring_within_days = int(expiring_within_days)

    def name_for(self, partner, domain, tenant_id):
        return self.relationship_name.format(partner=partner, key=customer_key(domain, tenant_id),
                                             template=self.template_name)


class BulkTokenStore:
    """The token store of a run with many tenants: loaded once, written once at the end.

    A ``FileTokenStore`` re-reads and rewrites its whole file for every token; with thousands of
    customer tenants in one process that is quadratic. Here threads take per-key locks in memory;
    ``flush`` replays this process's changes onto the newest file under the file lock, as every
    writer does, so concurrent processes still never drop each other's tokens.
    """

    def __init__(self, inner):
        self.inner = inner
        self.persistent = getattr(inner, "persistent", False)
        self.cache = inner.cache
        self._locks = {}
        self._guard = threading.Lock()
        if hasattr(inner, "load"):
            inner.load()

    @property
    def accounts(self):
        return self.inner.accounts

    @property
    def targets(self):
        return self.inner.targets

    @contextlib.contextmanager
    def transaction(self, key):
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield self

    def set_account(self, refresh_token_digest, home_account_id):
        self.inner.set_account(refresh_token_digest, home_account_id)

    def set_target(self, key, target):
        self.inner.set_target(key, target)

    @property
    def discovery(self):
        return getattr(self.inner, "discovery", None)

    def flush(self):
        if hasattr(self.inner, "save"):
            self.inner.save()


def memory_discovery(discovery):
    """The discovery cache for a run over many customer tenants: what other runs kept is read once, new
    authorities are kept in memory and written once, by ``flush`` at the end of the run (writing the file
    once per customer tenant would be quadratic). The module processes that follow (the onboarding role's
    steps in each customer tenant, a rerun) then find every tenant's OpenID configuration there."""
    if discovery is None or not getattr(discovery, "path", None):
        return discovery
    from .identity.token_cache import DISCOVERY_TTL
    from .files import atomic_write

    class _ReadOnce(type(discovery)):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._new = {}
            self._guard = threading.Lock()

        def put(self, url, status, content_type, body):
            entry = {"status": status, "content_type": content_type, "body": body,
                     "expires_at": self.clock() + DISCOVERY_TTL}
            with self._guard:
                if self._entries is None:
                    self._entries = self._read()
                self._entries[url] = entry
                self._new[url] = entry

        def flush(self):
            """Write this run's new answers onto the newest file, under the cache's lock, once."""
            with self._guard:
                new, self._new = dict(self._new), {}
            if not new or self._lock is None:
                return
            now = self.clock()
            with self._lock():
                entries = {k: v for k, v in self._read().items()
                           if isinstance(v, dict) and float(v.get("expires_at") or 0) > now}
                entries.update(new)
                atomic_write(self.path, json.dumps({"version": 1, "entries": entries}, indent=1))

    return _ReadOnce(path=discovery.path, lock=getattr(discovery, "_lock", None), clock=discovery.clock)


class _DiscoveryReads:
    """``openid_configuration``'s transport through MSAL's adapter, so a tenant's OpenID configuration read
    for its region is the same cached answer MSAL's authority discovery for that tenant uses."""

    def __init__(self, adapter):
        self.adapter = adapter

    def send(self, method, url, **_ignored):
        return self.adapter.get(url) if method == "GET" else self.adapter.post(url)


def _days_left(end, now):
    if end is None:
        return None
    return int((end - now).total_seconds() // 86400)


def relationship_summary(rel, now):
    roles = relationship_roles(rel)
    end = parse_time(rel.get("endDateTime"))
    auto_extend = rel.get("autoExtendDuration") or "PT0S"
    has_ga = GLOBAL_ADMINISTRATOR in roles
    return {
        "id": rel.get("id"),
        "display_name": rel.get("displayName"),
        "status": rel.get("status"),
        "roles": sorted(role_name(r) for r in roles),
        "role_ids": sorted(roles),
        "duration": rel.get("duration"),
        "end_date": rel.get("endDateTime"),
        "days_left": _days_left(end, now),
        "auto_extend": auto_extend,
        "global_administrator": has_ga,
        # Microsoft does not auto-extend a relationship that holds Global Administrator
        "auto_extend_blocked": has_ga,
    }


def assignment_summary(assignment, groups_by_id):
    container = assignment.get("accessContainer") or {}
    group_id = str(container.get("accessContainerId") or "").lower()
    roles = relationship_roles(assignment)
    return {
        "id": assignment.get("id"),
        "group_id": group_id,
        "group": (groups_by_id.get(group_id) or {}).get("displayName"),
        "roles": sorted(role_name(r) for r in roles),
        "role_ids": sorted(roles),
        "status": assignment.get("status"),
    }


def choose_relationship(relationships, wanted_name):
    """The relationship the customer is served by: the one named as the template wants (live first),
    else the newest live one; ended ones only when nothing else exists."""
    def rank(rel):
        status = rel.get("status")
        live = 2 if status in ACTIVE else 1 if status not in ENDED else 0
        named = 1 if str(rel.get("displayName") or "").lower() == wanted_name.lower() else 0
        return (named if live else 0, live, str(rel.get("createdDateTime") or ""))
    if not relationships:
        return None
    best = max(relationships, key=rank)
    return best


def _same_duration(have, want):
    """As gdap_relationship compares durations (P730D and P2Y are not the same text, the same seconds)."""
    try:
        return duration_seconds(have) == duration_seconds(want)
    except CspValidationError:
        return False


def plan_customer(customer, desired, required_grants, groups_by_name):
    """The actions that would bring one customer to the desired state (pure: no request).

    ``customer`` is the dict ``BookReader`` builds (relationships, assignments, consent, proof).
    Returns ``(actions, steps, state)``: actions ``[{step, action, detail}]``, ``steps`` the role's
    steps that must run, and one summary ``state``.
    """
    actions = []
    steps = {"customer": False, "relationship": False, "access": False, "consent": False, "proof": False}

    def need(step, action, detail=""):
        actions.append({"step": step, "action": action, "detail": detail})
        steps[step] = True

    if not customer.get("in_partner_center"):
        need("customer", "missing_record", "the partner tenant has no Partner Center record of the customer")
    rel = customer.get("relationship")
    status = (rel or {}).get("status")
    if rel is None or status in ENDED:
        need("relationship", "create", customer.get("relationship_name") or "")
    elif status == "created":
        need("relationship", "lock_for_approval", rel["id"])
    elif status in PENDING:
        need("relationship", "await_approval", rel["id"])
    elif status in ACTIVE and desired.role_ids is not None and set(rel["role_ids"]) != set(desired.role_ids):
        need("relationship", "update_roles", ", ".join(sorted(role_name(r) for r in desired.role_ids)))
    elif status in ACTIVE and desired.duration is not None and rel.get("duration") and \
            not _same_duration(rel["duration"], desired.duration):
        # Microsoft keeps an active relationship's duration: gdap_relationship refuses it (replace)
        need("relationship", "update_duration", "%s -> %s" % (rel["duration"], desired.duration))
    elif status in ACTIVE and desired.auto_extend is not None and \
            normalize_auto_extend(rel.get("auto_extend")) != desired.auto_extend:
        need("relationship", "update_auto_extend", desired.auto_extend)
    active = rel is not None and status in ACTIVE
    if active:
        have = {}
        for item in customer.get("assignments") or []:
            have.setdefault(item["group_id"], item)
        for wanted in desired.assignments:
            group = groups_by_name.get(wanted["group"])
            if group is None:
                need("access", "group_not_found", wanted["group"])
                continue
            current = have.get(group["id"])
            if current is None or current.get("status") in ("deleting", "deleted", "error"):
                need("access", "create_assignment", wanted["group"])
            elif set(current["role_ids"]) != set(wanted["role_ids"]):
                need("access", "update_assignment", wanted["group"])
            elif current.get("status") != "active":
                need("access", "await_assignment", wanted["group"])
    elif desired.assignments:
        steps["access"] = True  # follows the relationship
    consent = customer.get("consent") or {}
    if desired.consent:
        if consent.get("missing_apis"):
            need("consent", "blocked_missing_service_principals", ", ".join(consent["missing_apis"]))
        elif consent.get("state") == "missing":
            need("consent", "create", "")
        elif consent.get("state") == "drifted":
            need("consent", "replace", "")
        elif consent.get("state") == "unknown":
            steps["consent"] = True
    if not (customer.get("proof") or {}).get("ok"):
        steps["proof"] = True
    if any(steps.values()) and active:
        steps["proof"] = True
    errors = customer.get("errors") or []
    if any(a["action"] == "blocked_missing_service_principals" for a in actions):
        state = "consent_blocked"
    elif any(a["action"] == "await_approval" for a in actions):
        state = "awaiting_approval"
    elif actions:
        state = "needs_action"
    elif errors or steps["proof"] or steps["consent"]:
        state = "unreadable" if errors else "needs_action"
    else:
        state = "healthy"
    return actions, steps, state


def consent_state(consent_sps, grants, app_id, required):
    """Compare the admin consents of ``app_id`` (from the customer's Graph) with ``required``.

    ``consent_sps``: the service principals read (appId -> sp or absent); ``grants``: the tenant's
    AllPrincipals oauth2PermissionGrants. Returns the consent part of a customer's result.
    """
    app_sp = consent_sps.get(app_id)
    missing_apis = sorted(api for api in required if api not in consent_sps)
    current = {}
    if app_sp is not None:
        by_sp_id = {sp["id"]: a for a, sp in consent_sps.items()}
        for grant in grants:
            if grant.get("clientId") != app_sp["id"] or grant.get("consentType") not in (None, "AllPrincipals"):
                continue
            api = by_sp_id.get(grant.get("resourceId"), grant.get("resourceId"))
            scopes = str(grant.get("scope") or "").split()
            current[api] = sorted(set(current.get(api, [])) | set(scopes))
    if app_sp is None or not current:
        state = "missing"
    elif all(set(scopes) <= set(current.get(api, [])) for api, scopes in required.items()) and \
            set(current) <= set(required) and all(set(current[a]) == set(required.get(a, [])) for a in current):
        state = "ok"
    else:
        state = "drifted"
    missing_scopes = {API_NAMES.get(api, api): sorted(set(scopes) - set(current.get(api, [])))
                      for api, scopes in required.items() if set(scopes) - set(current.get(api, []))}
    return {"state": state, "readable": True, "current": _named(current), "required": _named(required),
            "missing_scopes": missing_scopes,
            "missing_apis": [API_NAMES.get(a, a) for a in missing_apis]}


def _named(grants):
    return {API_NAMES.get(api, api): scopes for api, scopes in sorted(grants.items())}


class BookReader:
    """Reads one partner tenant's book; ``client`` is a ``CspClient`` whose ``http`` has a SharedThrottle."""

    def __init__(self, client, partner_name, regions, desired, concurrency=DEFAULT_CONCURRENCY, now=None,
                 only=None, read_customers=True, tenant_regions=False):
        self.client = client
        self.partner = partner_name
        self.regions = list(regions or [])
        self.desired = desired
        self.concurrency = max(1, int(concurrency))
        self.now = now or datetime.now(timezone.utc)
        self.only = {str(v).lower() for v in only} if only else None
        self.read_customers = read_customers
        self.tenant_regions = tenant_regions
        self.graph = client.graph()
        self.directory = Directory(self.graph, tenant=client.options.tenant_id)
        self.gdap = GdapClient(self.graph)
        self.requests_before = client.http.attempts

    # --- partner-level reads -------------------------------------------------------------
    def _required_grants(self):
        if self.desired.consent_grants is not None:
            return dict(self.desired.consent_grants)
        app = self.directory.application(self.client.options.client_id)
        resources = self.directory.service_principals(required_app_ids(app),
                                                      select="id,appId,displayName,oauth2PermissionScopes,appRoles")
        _apis, consent, _roles, _unresolved = resolve_permissions(
            app, resources, include_app_roles_in_consent=self.desired.consent_include_app_roles)
        return {item["api"]: sorted(item["scopes"]) for item in consent}

    def _groups(self):
        names = sorted({a["group"] for a in self.desired.assignments})
        if not names:
            return {}, {}
        urls = {name: "/groups?$filter=%s&$select=id,displayName" % ("displayName eq %s" % odata_quote(name))
                for name in names}
        found = self.directory.read_many(urls)
        by_name, by_id = {}, {}
        for name, body in found.items():
            matches = [g for g in (body or {}).get("value") or [] if g.get("displayName") == name]
            if len(matches) == 1:
                group = {"id": matches[0]["id"].lower(), "displayName": name}
                by_name[name] = group
                by_id[group["id"]] = group
        return by_name, by_id

    def _assignments(self, relationship_ids, pool):
        """relationship id -> (assignments, error) through ``$batch``, 20 a request, chunks in parallel."""
        ids = list(relationship_ids)
        chunks = [ids[i:i + BATCH_LIMIT] for i in range(0, len(ids), BATCH_LIMIT)]

        def read(chunk):
            requests = [{"id": str(n), "method": "GET",
                         "url": "/tenantRelationships/delegatedAdminRelationships/%s/accessAssignments" % rid}
                        for n, rid in enumerate(chunk, 1)]
            out = {}
            responses = self.graph.batch(requests)
            for n, rid in enumerate(chunk, 1):
                sub = responses.get(str(n)) or {}
                if 200 <= (sub.get("status") or 0) < 300:
                    body = sub.get("body") or {}
                    items = list(body.get("value") or [])
                    if body.get("@odata.nextLink"):
                        items.extend(self.graph.get_all(body["@odata.nextLink"]))
                    out[rid] = (items, None)
                else:
                    out[rid] = ([], error_view(batch_error(sub), "access"))
            return out

        result = {}
        for part in pool.map(read, chunks):
            result.update(part)
        return result

    # --- a few customers by tenant id ---------------------------------------------------------
    def narrow(self):
        """True when ``only`` names few enough customers to read them one by one."""
        return self.only is not None and 0 < len(self.only) <= NARROW_READ_LIMIT

    def _named_customers(self, pool):
        """``(records, relationships, delegated)`` of the ``only`` customers, as the whole-book reads give them:
        Partner Center's record (by id, or a domain's by Partner Center's domain search), then per tenant in
        Graph ``$batch`` its relationships (``$filter`` on ``customer/tenantId``) and its
        ``delegatedAdminCustomer`` (404: none). A domain without a record here has no tenant id to read more
        by: it is left out, and the onboarding role reads it itself."""
        pc = Customers(self.client.partner_center())
        wanted = sorted(self.only)
        futures = [pool.submit(pc.get if is_guid(v) else pc.find_by_domain, v) for v in wanted]
        records = [r for r in (f.result() for f in futures) if r]
        ids = {v for v in wanted if is_guid(v)}
        ids.update(customer_view(r)["tenant_id"] for r in records if customer_view(r)["tenant_id"])
        urls = {}
        for tenant_id in sorted(ids):
            urls[("rels", tenant_id)] = "/tenantRelationships/delegatedAdminRelationships?$filter=%s" % (
                "customer/tenantId eq %s" % odata_quote(tenant_id))
            urls[("dac", tenant_id)] = "/tenantRelationships/delegatedAdminCustomers/%s" % tenant_id
        bodies = self.directory.read_many(urls)
        relationships, delegated = [], []
        for tenant_id in sorted(ids):
            body = bodies.get(("rels", tenant_id)) or {}
            relationships.extend(body.get("value") or [])
            if body.get("@odata.nextLink"):
                relationships.extend(self.graph.get_all(body["@odata.nextLink"]))
            if bodies.get(("dac", tenant_id)):
                delegated.append(bodies[("dac", tenant_id)])
        return records, relationships, delegated

    # --- one customer tenant -----------------------------------------------------------------
    def _customer_tenant(self, tenant_id, required):
        """The consent, the missing APIs and the proof from one ``$batch`` in the customer tenant."""
        app_id = self.client.options.client_id
        wanted = sorted(set(required) | {app_id})
        in_list = ",".join(odata_quote(a) for a in wanted)
        graph = self.client.graph(tenant=tenant_id)
        requests = [
            {"id": "sps", "method": "GET",
             "url": "/servicePrincipals?$filter=appId in (%s)&$select=id,appId,displayName" % in_list},
            {"id": "grants", "method": "GET",
             "url": "/oauth2PermissionGrants?$filter=consentType eq 'AllPrincipals'"
                    "&$select=clientId,consentType,resourceId,scope"},
            {"id": "proof", "method": "GET", "url": "/organization?$select=%s" % ORGANIZATION_SELECT},
        ]
        errors = []
        try:
            responses = graph.batch(requests)
        except CspAuthError as err:
            if err.code in APP_NOT_IN_TENANT:
                consent = {"state": "missing", "readable": False, "current": {}, "required": _named(required),
                           "missing_scopes": {}, "missing_apis": [], "reason": err.code}
                return consent, {"ok": False, "error": error_view(err, "proof")}, errors
            errors.append(error_view(err, "token"))
            return ({"state": "unknown", "readable": False, "current": {}, "required": _named(required),
                     "missing_scopes": {}, "missing_apis": []}, {"ok": False, "error": errors[-1]}, errors)
        sps_resp, grants_resp, proof_resp = (responses.get(k) or {} for k in ("sps", "grants", "proof"))
        consent = None
        if 200 <= (sps_resp.get("status") or 0) < 300 and 200 <= (grants_resp.get("status") or 0) < 300:
            sps = {str(sp.get("appId")).lower(): sp for sp in (sps_resp.get("body") or {}).get("value") or []}
            grants = list((grants_resp.get("body") or {}).get("value") or [])
            link = (grants_resp.get("body") or {}).get("@odata.nextLink")
            try:
                if link:
                    grants.extend(graph.get_all(link))
                consent = consent_state(sps, grants, app_id, required)
            except CspError as err:
                errors.append(error_view(err, "consent"))
        else:
            bad = sps_resp if not 200 <= (sps_resp.get("status") or 0) < 300 else grants_resp
            errors.append(error_view(batch_error(bad), "consent"))
        if consent is None:
            consent = {"state": "unknown", "readable": False, "current": {}, "required": _named(required),
                       "missing_scopes": {}, "missing_apis": []}
        if 200 <= (proof_resp.get("status") or 0) < 300:
            orgs = (proof_resp.get("body") or {}).get("value") or []
            proof = {"ok": True, "organization": (orgs[0] if orgs else {}).get("displayName")}
        else:
            proof = {"ok": False, "error": error_view(batch_error(proof_resp), "proof")}
        return consent, proof, errors

    def _tenant_region(self, item):
        """The customer tenant's own region (``tenant_region_scope`` of its OpenID configuration)."""
        from .identity.provider import openid_configuration
        adapter = getattr(getattr(self.client, "tokens", None), "adapter", None)
        http = _DiscoveryReads(adapter) if getattr(adapter, "discovery", None) is not None else self.client.http
        try:
            status, document = openid_configuration(http, self.client.options.authority_host, item["tenant_id"])
        except CspError as err:
            item["errors"].append(error_view(err, "region"))
            return None
        if status != 200:
            item["errors"].append(error_view(document, "region"))
            return None
        return str(document.get("tenant_region_scope") or "").upper() or None

    # --- the whole book --------------------------------------------------------------------
    def read(self):
        """``(partner_result, customers)``; a partner tenant that cannot be read has ``error`` set."""
        partner = {"name": self.partner, "tenant_id": self.client.options.tenant_id, "regions": self.regions,
                   "client_id": self.client.options.client_id, "error": None}
        customers = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                grants_future = pool.submit(self._required_grants) if self.desired.consent else None
                groups_future = pool.submit(self._groups)
                if self.narrow():
                    records, relationships, delegated = self._named_customers(pool)
                else:
                    records_future = pool.submit(lambda: list(Customers(self.client.partner_center()).iterate()))
                    rels_future = pool.submit(self.gdap.list_relationships)
                    dac_future = pool.submit(self.gdap.list_customers)
                    records = records_future.result()
                    relationships = rels_future.result()
                    delegated = dac_future.result()
                required = grants_future.result() if grants_future else {}
                groups_by_name, groups_by_id = groups_future.result()
            except CspError as err:
                partner["error"] = error_view(err, "partner")
                partner["requests"] = self.client.http.attempts - self.requests_before
                return partner, customers
            partner["required_grants"] = _named(required)
            partner["consent_grants"] = [{"api": api, "scopes": scopes} for api, scopes in sorted(required.items())]
            partner["groups"] = {name: g["id"] for name, g in groups_by_name.items()}
            book = {}

            def entry(tenant_id):
                tenant_id = str(tenant_id or "").lower()
                if tenant_id not in book:
                    book[tenant_id] = {"tenant_id": tenant_id, "domain": None, "company_name": None,
                                       "partner": self.partner, "region": self.regions[0] if self.regions else None,
                                       "in_partner_center": False, "delegated_admin_customer": False,
                                       "relationships": [], "_rels": []}
                return book[tenant_id]

            for record in records:
                view = customer_view(record)
                item = entry(view["tenant_id"])
                item.update({"domain": view["domain"], "company_name": view["company_name"],
                             "in_partner_center": True,
                             "relationship_to_partner": view["relationship_to_partner"]})
            for customer in delegated:
                item = entry(customer.get("tenantId") or customer.get("id"))
                item["delegated_admin_customer"] = True
                item["company_name"] = item["company_name"] or customer.get("displayName")
            for rel in relationships:
                tenant_id = ((rel.get("customer") or {}).get("tenantId") or "").lower()
                if tenant_id:
                    entry(tenant_id)["_rels"].append(rel)
            if self.only is not None:
                book = {k: v for k, v in book.items()
                        if k in self.only or str(v.get("domain") or "").lower() in self.only}
            chosen = {}
            for tenant_id, item in book.items():
                item["relationship_name"] = self.desired.name_for(self.partner, item["domain"], tenant_id)
                item["relationships"] = [relationship_summary(r, self.now) for r in item["_rels"]]
                rel = choose_relationship(item["_rels"], item["relationship_name"])
                item["relationship"] = relationship_summary(rel, self.now) if rel else None
                if rel is not None and rel.get("status") in ACTIVE:
                    chosen[rel["id"]] = tenant_id
            assignment_reads = self._assignments(chosen, pool) if chosen else {}
            for rid, tenant_id in chosen.items():
                items, error = assignment_reads.get(rid, ([], None))
                book[tenant_id]["assignments"] = [assignment_summary(a, groups_by_id) for a in items]
                if error:
                    book[tenant_id].setdefault("errors", []).append(error)

            def per_customer(item):
                item.setdefault("errors", [])
                item.setdefault("assignments", [])
                if self.tenant_regions and item["tenant_id"]:
                    item["tenant_region"] = self._tenant_region(item)
                active = (item.get("relationship") or {}).get("status") in ACTIVE
                if self.read_customers and item["tenant_id"] and active:
                    try:
                        consent, proof, errors = self._customer_tenant(item["tenant_id"], required)
                    except CspError as err:
                        consent = {"state": "unknown", "readable": False, "current": {},
                                   "required": _named(required), "missing_scopes": {}, "missing_apis": []}
                        proof, errors = {"ok": False, "error": error_view(err, "proof")}, [error_view(err, "proof")]
                    item["consent"], item["proof"] = consent, proof
                    item["errors"].extend(errors)
                else:
                    item["consent"] = {"state": "unknown", "readable": False, "current": {},
                                       "required": _named(required), "missing_scopes": {}, "missing_apis": []}
                    item["proof"] = {"ok": False}
                item.pop("_rels", None)
                item["actions"], item["steps"], item["state"] = plan_customer(
                    item, self.desired, required, groups_by_name)
                item["missing_apis"] = list(item["consent"].get("missing_apis") or [])
                rel = item.get("relationship") or {}
                item["expiring"] = (rel.get("status") in ACTIVE and rel.get("days_left") is not None
                                    and rel["days_left"] <= self.desired.expiring_within_days)
                return item

            customers = list(pool.map(per_customer, sorted(book.values(), key=lambda c: c["tenant_id"])))
        partner["customers"] = len(customers)
        partner["requests"] = self.client.http.attempts - self.requests_before
        return partner, customers
