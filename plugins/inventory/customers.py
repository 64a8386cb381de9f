# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: customers
short_description: Customer tenants of every regional partner tenant, from Partner Center and GDAP
version_added: 0.1.0
description:
  - Makes one host per customer tenant of each configured regional partner tenant, read from Partner Center
    (every page, following the continuation token) and, with O(gdap_summary=true), a summary of the
    partner's GDAP relationships with it from Microsoft Graph.
  - Each partner tenant has its own credentials (O(partner_tenants)); values can be vaulted strings or
    templates such as C({{ lookup('env', 'CSP_US_SECRET') }}). Options not given for a partner tenant
    (endpoints, CA bundle, cloud, token cache) come from the plugin's own options, which read the C(CSP_*)
    environment. Without O(partner_tenants) the plugin's own connection options are the one partner tenant.
  - Empty values count as unset everywhere, so the option takes its next source or its default. AWX injects an
    empty C(CSP_*) variable for every credential field left empty; a template can render an empty string too.
  - A partner tenant that cannot be read (credentials, network, permissions) fails the inventory (an AWX inventory
    update ends failed) unless O(partner_tenant_errors=warn), which loads the others and warns.
  - Host variables C(csp_tenant_id), C(csp_domain), C(csp_company_name), C(csp_region), C(csp_partner_tenant),
    C(csp_partner_tenant_id), C(csp_relationship_to_partner), C(csp_dap) and C(csp_gdap); with
    O(local_connection=true) also C(ansible_connection=local) and C(ansible_python_interpreter) set to
    C({{ ansible_playbook_python }}), the Python running ansible-playbook (in AWX, the execution environment's).
  - C(csp_partner_tenant) is the partner tenant's name, O(partner_tenants[].name), or for the single partner
    tenant of the connection options O(partner_name) (E(CSP_PARTNER_NAME)). It must be the key of that partner
    tenant in the playbooks' partner variables (for example C(onboard_customer_partner_tenants)), which check
    that a customer's record is in the partner tenant of its region. Without a name it is null (no
    C(partner_*) group) and a warning says so; playbooks then match the partner tenant by
    C(csp_partner_tenant_id).
  - Groups C(region_<region>) (lower case, for example C(region_eu)), C(partner_<name>) and C(gdap_<state>)
    with state C(active), C(pending), C(ended) or C(none); and whatever O(groups), O(keyed_groups) and O(compose) make.
  - The file name must end in C(csp_customers.yml) or C(csp_customers.yaml).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - cloudpartner.csp.connection.PLUGINS
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [cloudpartner.csp.customers]
  partner_tenants:
    description:
      - The regional partner tenants. Each customer becomes a host once per partner tenant that lists it.
    type: list
    elements: dict
    suboptions:
      name:
        description: Short name of the partner tenant (C(us), C(eu)); used in host variables and group names.
        type: str
        required: true
      tenant_id:
        description: The partner tenant's id or domain.
        type: str
        required: true
      client_id:
        description: The partner-managed app of that tenant.
        type: str
        required: true
      client_secret:
        description: The app's secret (a vaulted string or a template).
        type: str
      client_certificate_path:
        description: PEM file with the app's key and certificate.
        type: str
      refresh_token:
        description: Secure Application Model refresh token of the tenant's integration user.
        type: str
      refresh_token_store:
        description:
          - Where the tenant's Secure Application Model refresh token is kept and rotated instead of
            O(partner_tenants[].refresh_token); same forms as the connection option O(refresh_token_store).
          - Each regional partner tenant has its own integration user, so each has its own store.
        type: raw
      region:
        description: The region the partner tenant serves (C(NA), C(EU), C(AS), ...), for C(csp_region) and the region group.
        type: str
  partner_name:
    description:
      - Name of the one partner tenant given by the connection options (when O(partner_tenants) is not set), for
        C(csp_partner_tenant) and the C(partner_<name>) group. Use the key that names this partner tenant in the
        playbooks' partner variables, for example V(us).
    type: str
    env:
      - name: CSP_PARTNER_NAME
  partner_region:
    description:
      - Region served by the one partner tenant given by the connection options (V(NA), V(EU), V(AS), ...), for
        C(csp_region) and the region group.
    type: str
    env:
      - name: CSP_PARTNER_REGION
  partner_tenant_errors:
    description:
      - What a partner tenant that cannot be read does. V(fail) fails the inventory, so an AWX inventory update
        ends failed instead of silently dropping that tenant's customers; V(warn) loads the other tenants and
        warns (the result is then not cached).
    type: str
    choices: [fail, warn]
    default: fail
  local_connection:
    description:
      - Set C(ansible_connection=local) and C(ansible_python_interpreter={{ ansible_playbook_python }}) for every
        customer host. Customer tenants are API endpoints, every task runs on the controller (in AWX, in the
        execution environment), with the Python that has the collection's requirements.
      - Variables of the same name from O(compose) or group variables take precedence as usual.
    type: bool
    default: true
  hostname:
    description: What names the host.
    type: str
    choices: [domain, tenant_id]
    default: domain
  gdap_summary:
    description: Add C(csp_gdap) from the partner's GDAP relationships (one more paged read per partner tenant).
    type: bool
    default: true
  page_size:
    description: Customers per Partner Center page (1 to 500).
    type: int
    default: 500
"""

EXAMPLES = r"""
# inventory/regions.csp_customers.yml
plugin: cloudpartner.csp.customers
partner_tenants:
  - name: us
    region: NA
    tenant_id: contosopartnerus.onmicrosoft.com
    client_id: 20000000-0000-4000-8000-000000000001
    client_secret: "{{ lookup('env', 'CSP_US_CLIENT_SECRET') }}"
    refresh_token: "{{ lookup('env', 'CSP_US_REFRESH_TOKEN') }}"
  - name: eu
    region: EU
    tenant_id: contosopartnereu.onmicrosoft.com
    client_id: 20000000-0000-4000-8000-000000000002
    client_secret: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      ...
keyed_groups:
  - key: csp_gdap.state
    prefix: relationship
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/csp-inventory
cache_timeout: 3600

# inventory/us.csp_customers.yml: an AWX inventory source whose credential ("Microsoft CSP partner app")
# injects CSP_TENANT_ID, CSP_CLIENT_ID, CSP_CLIENT_SECRET, CSP_PARTNER_NAME and CSP_PARTNER_REGION
plugin: cloudpartner.csp.customers
"""

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.customers import PAGE_SIZE, Customers, customer_view
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.gdap import ACTIVE, ENDED, GdapClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import (
    CONNECTION_ENV, ConnectionOptions, empty_env_hidden, is_unset)

try:  # ansible-core 2.19+: strings from a plugin are not templated unless trusted
    from ansible.template import trust_as_template
    wrap_var = None
except ImportError:  # 2.16-2.18: every string is templated unless marked unsafe
    trust_as_template = None
    from ansible.utils.unsafe_proxy import wrap_var

# Customer tenants are API endpoints: every task runs on the controller, with the Python running the playbook.
PYTHON = "{{ ansible_playbook_python }}"

# Each regional partner tenant has its own app, credentials and integration user (so its own store).
PER_PARTNER = ("tenant_id", "client_id", "client_secret", "client_certificate_path", "refresh_token",
               "refresh_token_store")
SHARED = tuple(name for name in CONNECTION_ENV if name not in PER_PARTNER)


def gdap_summary(relationships):
    """``{customer tenant id: summary}``: the best state over its relationships and each one in brief."""
    out = {}
    for rel in relationships:
        tid = str((rel.get("customer") or {}).get("tenantId") or "").lower()
        if not tid:
            continue
        entry = out.setdefault(tid, {"state": "none", "relationships": []})
        entry["relationships"].append({"id": rel.get("id"), "display_name": rel.get("displayName"),
                                       "status": rel.get("status"), "end": rel.get("endDateTime"),
                                       "auto_extend": rel.get("autoExtendDuration")})
    for entry in out.values():
        statuses = {r["status"] for r in entry["relationships"]}
        if statuses & ACTIVE:
            entry["state"] = "active"
        elif statuses - ENDED:
            entry["state"] = "pending"
        else:
            entry["state"] = "ended"
    return out


def group_name(prefix, value):
    text = "".join(c if c.isalnum() else "_" for c in str(value).lower())
    return "%s_%s" % (prefix, text)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "cloudpartner.csp.customers"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("csp_customers.yml", "csp_customers.yaml"))

    # --- options -------------------------------------------------------------------------
    def _template(self, value):
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self.templar.template(value)
        if isinstance(value, (dict, list)) or value is None:  # e.g. a refresh_token_store given as a dict
            return value
        return to_native(value)

    def _partners(self):
        shared = {}
        for name in SHARED:
            try:
                shared[name] = self.get_option(name)
            except KeyError:
                shared[name] = None
        entries = self.get_option("partner_tenants")
        single = not entries
        if single:
            # the connection options (CSP_* environment): one partner tenant, named by partner_name
            entry = {name: self.get_option(name) for name in PER_PARTNER}
            entry["name"] = self.get_option("partner_name")
            entry["region"] = self.get_option("partner_region")
            entries = [entry]
        partners, seen = [], set()
        for index, entry in enumerate(entries, 1):
            if not isinstance(entry, dict) or (not single and is_unset(entry.get("name"))):
                raise AnsibleParserError("partner_tenants[%d] needs a name" % index)
            if entry["name"] in seen:
                raise AnsibleParserError("partner_tenants: the name %r is used twice" % entry["name"])
            seen.add(entry["name"])
            values = dict(shared)
            for key in PER_PARTNER:
                value = self._template(entry.get(key))
                if not is_unset(value):  # a template rendering "" leaves the option unset
                    values[key] = value
            name = self._template(entry.get("name"))
            region = self._template(entry.get("region"))
            if is_unset(name):
                name = None
                self.display.warning(
                    "cloudpartner.csp.customers: the partner tenant %s has no name (set partner_name or "
                    "CSP_PARTNER_NAME to its key in the playbooks' partner variables, e.g. us); csp_partner_tenant "
                    "is null and playbooks match it by csp_partner_tenant_id" % (values.get("tenant_id") or "?"))
            partners.append({"name": None if name is None else str(name),
                             "region": None if is_unset(region) else str(region), "values": values})
        return partners

    # --- loading ---------------------------------------------------------------------------
    def _load_partner(self, partner, page_size, with_gdap):
        """The partner tenant's customers as plain host records (what the cache stores)."""
        options = ConnectionOptions.from_dict(partner["values"], use_env=False)
        client = CspClient(options)
        summary = {}
        if with_gdap:
            summary = gdap_summary(GdapClient(client.graph()).list_relationships())
        hosts = []
        for record in Customers(client.partner_center()).iterate(page_size=page_size):
            view = customer_view(record)
            hosts.append({
                "csp_tenant_id": view["tenant_id"],
                "csp_domain": view["domain"],
                "csp_company_name": view["company_name"],
                "csp_region": partner["region"],
                "csp_partner_tenant": partner["name"],
                "csp_partner_tenant_id": options.tenant_id,
                "csp_relationship_to_partner": view["relationship_to_partner"],
                "csp_dap": bool(view["allow_delegated_access"]),
                "csp_gdap": summary.get(view["tenant_id"], {"state": "none", "relationships": []}) if with_gdap
                else None,
            })
        return hosts

    def _load(self):
        page_size = self.get_option("page_size")
        if not 1 <= page_size <= PAGE_SIZE:
            raise AnsibleParserError("page_size must be between 1 and %d" % PAGE_SIZE)
        records, failed = [], []
        for partner in self._partners():
            label = partner["name"] or partner["values"].get("tenant_id") or "(no tenant_id)"
            try:
                records.extend(self._load_partner(partner, page_size, self.get_option("gdap_summary")))
            except CspError as err:
                if self.get_option("partner_tenant_errors") != "warn":
                    # an inventory update that silently drops a region's customers looks like success
                    raise AnsibleError("cloudpartner.csp.customers: partner tenant %s cannot be read: %s "
                                       "(partner_tenant_errors=warn loads the others)" % (label, err)) from None
                failed.append(label)
                self.display.warning("cloudpartner.csp.customers: partner tenant %s skipped: %s" % (label, err))
        return {"hosts": records, "failed_partner_tenants": failed}

    def _populate(self, data):
        strict = self.get_option("strict")
        hostname_key = "csp_domain" if self.get_option("hostname") == "domain" else "csp_tenant_id"
        local = self.get_option("local_connection")
        for record in data["hosts"]:
            host = record.get(hostname_key) or record["csp_tenant_id"]
            self.inventory.add_host(host)
            for key, value in record.items():
                # Partner Center data (company names, domains) is never a template
                self.inventory.set_variable(host, key, value if trust_as_template else wrap_var(value))
            if local:
                self.inventory.set_variable(host, "ansible_connection", "local")
                self.inventory.set_variable(host, "ansible_python_interpreter",
                                            trust_as_template(PYTHON) if trust_as_template else PYTHON)
            groups = [group_name("partner", record["csp_partner_tenant"])] if record["csp_partner_tenant"] else []
            if record.get("csp_region"):
                groups.append(group_name("region", record["csp_region"]))
            if record.get("csp_gdap") is not None:
                groups.append(group_name("gdap", record["csp_gdap"]["state"]))
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option("compose"), record, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), record, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), record, host, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        with empty_env_hidden():  # an empty CSP_* variable (AWX) is unset, not the cwd or a bad choice
            self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if data is None:
            try:
                data = self._load()
            except CspError as err:
                raise AnsibleError("cloudpartner.csp.customers: %s" % err) from None
        if update_cache and not data["failed_partner_tenants"]:
            # an incomplete result is not cached, so the next run tries the failed tenants again
            self._cache[cache_key] = data
        self._populate(data)
