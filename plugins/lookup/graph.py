# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: graph
short_description: Read from Microsoft Graph in templates
version_added: 0.1.0
description:
  - Sends a C(GET) for each path to Microsoft Graph in O(tenant_id) and returns, per path, the result of
    O(query) if given, else the items (C(value)) of a collection, else the response JSON.
  - Uses the same client library, token cache and connection options (with the same C(CSP_*) environment
    variables) as the modules.
  - Runs on the controller. Reads only.
  - With O(all_pages) the items of every page are held in memory together (O(query) needs them
    together); only the O(query) result is returned when one is given. To keep a large listing (many
    thousands of items) out of memory, write it to a file with the P(cloudpartner.csp.graph_request#module)
    module's O(cloudpartner.csp.graph_request#module:dest) option instead; a lookup writes no files (it
    runs again wherever a variable that holds it is templated, and in check mode).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection.plugins
options:
  _terms:
    description: Paths relative to the API version (V(/users)) or full URLs on the Graph endpoint.
    type: list
    elements: str
    required: true
  api_version:
    description: Graph API version.
    type: str
    choices: [v1.0, beta]
    default: v1.0
  params:
    description:
      - 'Query parameters, for example C({"$select": "id,displayName"}).'
    type: dict
  headers:
    description:
      - 'Extra request headers, for example C({"ConsistencyLevel": "eventual"}).'
    type: dict
  all_pages:
    description: Follow C(@odata.nextLink) and return the items of every page.
    type: bool
    default: false
  max_pages:
    description: With O(all_pages), stop after this many pages.
    type: int
  query:
    description: JMESPath expression applied to each result (compiled before any request).
    type: str
  fresh_token:
    description: Use a new access token instead of a cached one.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Sign-in names of every user of a customer tenant
  ansible.builtin.debug:
    msg: "{{ lookup('cloudpartner.csp.graph', '/users', tenant_id=customer_tenant_id,
             all_pages=true, query='[].userPrincipalName') }}"

- name: Does the customer tenant have a Partner Center service principal?
  ansible.builtin.set_fact:
    pc_sp: "{{ lookup('cloudpartner.csp.graph', '/servicePrincipals', tenant_id=customer_tenant_id,
                params={'$filter': \"appId eq 'fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd'\"}) }}"
"""

RETURN = r"""
_raw:
  description: One element per path; the O(query) result, the C(value) items of a collection, or the JSON.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError
from ansible_collections.cloudpartner.csp.plugins.module_utils.http import HAS_REQUESTS
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import (
    CONNECTION_ENV, ConnectionOptions, empty_env_hidden, is_unset, without_empty)
from ansible_collections.cloudpartner.csp.plugins.module_utils.query import apply_query, compile_query
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.token_cache import HAS_MSAL


# the vars: names of the connection options (doc fragment connection.PLUGINS)
_CONNECTION_VARS = ["csp_" + name for name in CONNECTION_ENV if name != "token_cache_path"] + ["csp_token_cache"]


class _TemplatedOptions:
    """Options read from ``vars:`` arrive untemplated (e.g. ``csp_tenant_id: "{{ x }}"``); template them."""

    def __init__(self, plugin):
        self._plugin = plugin

    def get_option(self, name):
        value = self._plugin.get_option(name)
        templar = getattr(self._plugin, "_templar", None)
        if isinstance(value, str) and "{{" in value and templar is not None:
            value = templar.template(value)
        return value


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        # Empty means unset (AWX injects "" for every credential field left empty): an empty CSP_*
        # variable, csp_* variable or keyword must not become the working directory or fail `choices`.
        variables = variables or {}
        empty_vars = [key for key in _CONNECTION_VARS if key in variables and is_unset(variables[key])]
        if empty_vars:
            variables = {key: value for key, value in variables.items() if key not in empty_vars}
        with empty_env_hidden():
            self.set_options(var_options=variables, direct=without_empty(kwargs, CONNECTION_ENV))
        if not HAS_REQUESTS or not HAS_MSAL:
            raise AnsibleError("cloudpartner.csp.graph needs the Python libraries 'requests' and 'msal' "
                               "on the controller")
        try:
            compiled = compile_query(self.get_option("query"))
            client = CspClient(ConnectionOptions.from_plugin(_TemplatedOptions(self)))
            graph = client.graph(api_version=self.get_option("api_version"),
                                 fresh_token=self.get_option("fresh_token"))
            results = []
            for term in terms:
                results.append(apply_query(compiled, self._read(graph, term)))
            return results
        except CspError as err:
            text = str(err)
            if err.hint:
                text += ". " + err.hint
            raise AnsibleLookupError("cloudpartner.csp.graph: %s" % text) from None

    def _read(self, graph, term):
        headers = {str(k): str(v) for k, v in (self.get_option("headers") or {}).items()}
        if any(k.lower() == "authorization" for k in headers):
            raise AnsibleLookupError("cloudpartner.csp.graph: headers cannot set Authorization")
        params = self.get_option("params")
        if self.get_option("all_pages"):
            return graph.get_all(term, params=params, headers=headers, max_pages=self.get_option("max_pages"))
        data = graph.request("GET", term, params=params, headers=headers).json
        if isinstance(data, dict) and isinstance(data.get("value"), list):
            return data["value"]
        return data
