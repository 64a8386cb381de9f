# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``CspClient``: one HTTP session, one token provider and the service clients for a run."""

from .identity.provider import TokenProvider
from .graph import GraphClient
from .http import HttpClient
from .partner_center import PartnerCenterClient


class CspClient:
    """Everything a module, lookup or inventory plugin needs, built from ``ConnectionOptions``."""

    def __init__(self, options, http=None):
        options.validate()
        self.options = options
        self.http = http or HttpClient(verify=options.verify)
        self._tokens = None

    @property
    def tokens(self):
        if self._tokens is None:
            self._tokens = TokenProvider(self.options, self.http)
        return self._tokens

    def graph(self, tenant=None, api_version="v1.0", fresh_token=False, grant=None):
        return GraphClient(self.http, self.tokens, tenant=tenant, endpoint=self.options.graph_endpoint,
                           api_version=api_version, fresh_token=fresh_token, grant=grant)

    def partner_center(self, grant=None):
        """Partner Center client for the partner tenant (the connection's tenant_id)."""
        return PartnerCenterClient(self.http, self.tokens, self.options.partner_center_endpoint,
                                   tenant=None, grant=grant)
