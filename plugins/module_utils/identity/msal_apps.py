# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place the collection builds MSAL applications.

``TokenProvider``'s applications (one per tenant) and the one a device code sign-in uses
(``SamClient``) all come from ``MsalApps``, so every one of them:

- talks through one HTTP client, ``MsalHttpAdapter`` over the run's ``HttpClient`` (TLS verification
  with ``ca_bundle``, retries honouring ``Retry-After``, the collection's User-Agent), which serves
  OpenID discovery from the token cache's ``DiscoveryCache``: one discovery per authority per run;
- shares MSAL's in-memory ``http_cache`` of its tenant (what a ``fresh`` token request clears);
- uses the authority ``<authority_host>/<tenant>`` of the connection's cloud (``public``, ``usgov``,
  ``china``, or ``authority_host``) with MSAL's instance discovery off: national clouds and the
  emulator are not in Microsoft's list of instances, and the configured host is the one trusted;
- names itself the same way (``app_name``, ``app_version``) and sends the app's credential, also with a
  device code poll: the partner-managed app is a confidential client, which the identity platform
  refuses without its credential (AADSTS7000218), and its refresh tokens are then redeemed by the same
  confidential app;
- turns a failed discovery into Microsoft's own error.

Token caches: the provider's applications share the token store's cache. A device code sign-in gets a
private in-memory cache (``private_cache=True``): MSAL adds every token it obtains to its cache,
and the refresh token of a sign-in belongs in a refresh token store only, never in the token cache.
"""

from .._version import COLLECTION_VERSION
from ..errors import CspAuthError
from ..http import MsalHttpAdapter, error_from_response
from .token_cache import msal

APP_NAME = "cloudpartner.csp"


class MsalApps:
    """MSAL applications for one app (validated ``ConnectionOptions``), per tenant, built on first use."""

    def __init__(self, options, http, store):
        self.options = options
        self.store = store
        self.adapter = MsalHttpAdapter(http, discovery=store.discovery)
        self._http_caches = {}
        self._apps = {}

    def authority(self, tenant_id):
        return "%s/%s" % (self.options.authority_host, tenant_id)

    def get(self, tenant_id, private_cache=False):
        """The ``ConfidentialClientApplication`` for ``tenant_id`` (with the store's token cache, or with a
        private in-memory one)."""
        key = (tenant_id, bool(private_cache))
        if key not in self._apps:
            self._apps[key] = self._build(tenant_id, msal.TokenCache() if private_cache else self.store.cache)
        return self._apps[key]

    def forget(self, tenant_id):
        """Drop what MSAL's http cache keeps for ``tenant_id`` (it replays a token error for 60 s)."""
        self._http_caches.get(tenant_id, {}).clear()

    def _build(self, tenant_id, token_cache):
        try:
            return msal.ConfidentialClientApplication(
                self.options.client_id,
                client_credential=self.options.credential,
                authority=self.authority(tenant_id),
                instance_discovery=False,
                token_cache=token_cache,
                http_client=self.adapter,
                http_cache=self._http_caches.setdefault(tenant_id, {}),
                app_name=APP_NAME,
                app_version=COLLECTION_VERSION,
            )
        except ValueError as exc:
            # MSAL raises ValueError for a failed discovery; give back Microsoft's own error
            last, self.adapter.last_error = self.adapter.last_error, None
            if last is not None:
                raise error_from_response(last, "login", action="OpenID discovery for tenant %s" % tenant_id) from None
            raise CspAuthError("Cannot use authority %s: %s" % (self.authority(tenant_id), exc),
                               code="InvalidAuthority") from None
