# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options of every module (mirrors module_utils/options.py CONNECTION_ARGSPEC).

``DOCUMENTATION`` is for modules, ``PLUGINS`` for lookup/inventory plugins (same options, plus the
ini/env/vars sources plugins read).
"""


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  tenant_id:
    description:
      - Tenant the token is for, as a GUID or a verified domain such as C(contoso.onmicrosoft.com).
      - Usually the regional partner tenant; with a Secure Application Model O(refresh_token) it can be
        any customer tenant the partner has delegated access to.
      - If not set, the environment variable E(CSP_TENANT_ID) is used.
    type: str
  client_id:
    description:
      - Application (client) ID of the partner-managed app, a GUID.
      - If not set, the environment variable E(CSP_CLIENT_ID) is used.
    type: str
  client_secret:
    description:
      - Client secret (the value, not its ID) of the app.
      - Mutually exclusive with O(client_certificate_path).
      - If not set, the environment variable E(CSP_CLIENT_SECRET) is used.
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file holding the app's unencrypted private key and its certificate.
      - Mutually exclusive with O(client_secret).
      - If not set, the environment variable E(CSP_CLIENT_CERTIFICATE_PATH) is used.
    type: path
  refresh_token:
    description:
      - Secure Application Model refresh token of the partner's MFA-enabled integration user.
      - When set, tokens are delegated (app+user) tokens obtained with it; the app credential
        (O(client_secret) or O(client_certificate_path)) is still needed.
      - Microsoft returns a new refresh token on every use; with O(token_cache_path) the newest one is
        kept in the cache and used next time.
      - If not set, the environment variable E(CSP_REFRESH_TOKEN) is used.
      - Mutually exclusive with O(refresh_token_store), the better way to keep a rotating token.
    type: str
  refresh_token_store:
    description:
      - Where the Secure Application Model refresh token is kept, instead of O(refresh_token). Tokens are
        delegated (app+user) tokens; every exchange stores the new refresh token the identity platform returns
        (locked, compare-and-swap on the version read, atomic writes), so the token never passes through task
        variables or results and never goes back to an older one.
      - A path or V(file:///path) (JSON file, mode 0600), V(ansible-vault:///path) (encrypted with Ansible Vault;
        the password file comes from C(?vault_password_file=/path) in the URI, E(CSP_VAULT_PASSWORD_FILE) or
        E(ANSIBLE_VAULT_PASSWORD_FILE)), V(keyvault://VAULT/SECRET) (an Azure Key Vault secret, read and
        written with an app-only token of the app) or V(keyvault+https://HOST:PORT/SECRET).
      - A dict with C(type) (V(file), V(ansible_vault), V(keyvault)) and C(path), C(vault_password_file),
        C(vault_name)/C(vault_url) and C(secret_name) is accepted too.
      - A vault password is never accepted inline (no C(vault_password) key, no C(?vault_password=) in a URI),
        because the option would be logged with it. Such a store is refused before anything is sent or logged.
        Name a password file (or an executable that prints the password) with C(vault_password_file).
      - The first token is stored by M(cloudpartner.csp.sam_device_code); see the Secure Application Model guide.
      - If not set, the environment variable E(CSP_REFRESH_TOKEN_STORE) is used.
    type: raw
  cloud:
    description:
      - Microsoft cloud whose sign-in and API hosts are used.
      - If not set, the environment variable E(CSP_CLOUD) is used.
    type: str
    choices: [public, usgov, china]
    default: public
  authority_host:
    description:
      - Overrides the sign-in host of O(cloud), for example V(https://127.0.0.1:8443) for the local emulator.
      - If not set, the environment variable E(CSP_AUTHORITY_HOST) is used.
    type: str
  graph_endpoint:
    description:
      - Overrides the Microsoft Graph endpoint of O(cloud) (V(https://graph.microsoft.com) in the public cloud).
      - If not set, the environment variable E(CSP_GRAPH_ENDPOINT) is used.
    type: str
  partner_center_endpoint:
    description:
      - Overrides the Partner Center endpoint of O(cloud) (V(https://api.partnercenter.microsoft.com) in the
        public cloud).
      - If not set, the environment variable E(CSP_PARTNER_CENTER_ENDPOINT) is used.
    type: str
  ca_bundle:
    description:
      - CA certificate file (PEM) to trust for every HTTPS connection, instead of the system store.
      - TLS verification is never turned off.
      - If not set, the environment variable E(CSP_CA_BUNDLE) is used.
    type: path
  token_cache_path:
    description:
      - Directory of a persistent token cache shared by all forks and module runs (created with mode 0700;
        files are written 0600 under a file lock).
      - With it, a playbook asks the identity platform once per tenant, app and resource per token lifetime.
      - Tokens of different login hosts, apps, credentials, tenants, users and scopes never mix.
      - If not set, the environment variable E(CSP_TOKEN_CACHE) is used; without either, tokens are kept in
        memory for one module run.
    type: path
notes:
  - Secrets, refresh tokens and access tokens never appear in results or error messages.
  - An empty environment variable counts as unset (AWX injects an empty string for every credential field left
    empty), so the option keeps its default.
requirements:
  - python >= 3.9
  - msal >= 1.24.0
  - requests >= 2.25.0
  - cryptography >= 3.4
"""

    PLUGINS = r"""
options:
  tenant_id:
    description:
      - Tenant the token is for, as a GUID or a verified domain.
    type: str
    env:
      - name: CSP_TENANT_ID
    vars:
      - name: csp_tenant_id
  client_id:
    description:
      - Application (client) ID of the partner-managed app, a GUID.
    type: str
    env:
      - name: CSP_CLIENT_ID
    vars:
      - name: csp_client_id
  client_secret:
    description:
      - Client secret of the app. Mutually exclusive with O(client_certificate_path).
    type: str
    env:
      - name: CSP_CLIENT_SECRET
    vars:
      - name: csp_client_secret
  client_certificate_path:
    description:
      - Path to a PEM file holding the app's unencrypted private key and its certificate.
    type: path
    env:
      - name: CSP_CLIENT_CERTIFICATE_PATH
    vars:
      - name: csp_client_certificate_path
  refresh_token:
    description:
      - Secure Application Model refresh token; when set, tokens are delegated (app+user) tokens.
    type: str
    env:
      - name: CSP_REFRESH_TOKEN
    vars:
      - name: csp_refresh_token
  refresh_token_store:
    description:
      - Where the Secure Application Model refresh token is kept (a path, V(file:///path),
        V(ansible-vault:///path), V(keyvault://VAULT/SECRET)); every exchange stores the new token.
    type: raw
    env:
      - name: CSP_REFRESH_TOKEN_STORE
    vars:
      - name: csp_refresh_token_store
  cloud:
    description:
      - Microsoft cloud whose sign-in and API hosts are used.
    type: str
    choices: [public, usgov, china]
    default: public
    env:
      - name: CSP_CLOUD
    ini:
      - section: cloudpartner_csp
        key: cloud
    vars:
      - name: csp_cloud
  authority_host:
    description:
      - Overrides the sign-in host of O(cloud).
    type: str
    env:
      - name: CSP_AUTHORITY_HOST
    ini:
      - section: cloudpartner_csp
        key: authority_host
    vars:
      - name: csp_authority_host
  graph_endpoint:
    description:
      - Overrides the Microsoft Graph endpoint of O(cloud).
    type: str
    env:
      - name: CSP_GRAPH_ENDPOINT
    ini:
      - section: cloudpartner_csp
        key: graph_endpoint
    vars:
      - name: csp_graph_endpoint
  partner_center_endpoint:
    description:
      - Overrides the Partner Center endpoint of O(cloud).
    type: str
    env:
      - name: CSP_PARTNER_CENTER_ENDPOINT
    ini:
      - section: cloudpartner_csp
        key: partner_center_endpoint
    vars:
      - name: csp_partner_center_endpoint
  ca_bundle:
    description:
      - CA certificate file (PEM) to trust for every HTTPS connection. TLS verification is never turned off.
    type: path
    env:
      - name: CSP_CA_BUNDLE
    ini:
      - section: cloudpartner_csp
        key: ca_bundle
    vars:
      - name: csp_ca_bundle
  token_cache_path:
    description:
      - Directory of the persistent token cache shared by all forks and module runs.
    type: path
    env:
      - name: CSP_TOKEN_CACHE
    ini:
      - section: cloudpartner_csp
        key: token_cache_path
    vars:
      - name: csp_token_cache
notes:
  - An empty value (environment variable, variable or keyword) counts as unset, before any type conversion, so
    the option takes its next source or its default (AWX injects an empty string for every credential field left
    empty).
requirements:
  - python >= 3.9
  - msal >= 1.24.0
  - requests >= 2.25.0
  - cryptography >= 3.4
"""
