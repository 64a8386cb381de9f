# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything about identity: tokens, the token cache, refresh-token stores, the Secure Application Model.

- ``provider``: ``TokenProvider`` (client credentials and delegated tokens through MSAL), ``AccessToken``,
  OpenID discovery, JWT claims.
- ``msal_apps``: ``MsalApps``, the one place MSAL applications are built (the provider's and the device code
  sign-in's): one HTTP client, one discovery cache, one authority rule.
- ``token_cache``: the one import of MSAL, the locked token cache shared by all forks, the discovery cache.
- ``refresh_token_store``: where a refresh token lives between runs (file, Ansible Vault, Key Vault) and
  its rotation (lock, compare-and-swap, atomic write), the only place a refresh token is redeemed and saved.
- ``sam``: the Secure Application Model lifecycle (device-code consent, exchange-and-store, health).
"""
