#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: refresh_token
short_description: Renew the stored Secure Application Model refresh token and report its health
version_added: 0.1.0
description:
  - Exchanges the integration user's refresh token kept in O(store) at the identity platform and stores the
    new refresh token it returns, in one locked step (compare-and-swap on the version read), so the store
    never goes back to an older token, even with many forks renewing at once.
  - A refresh token that is not used for 90 days expires; running this module on a schedule (for example
    C(playbooks/renew_refresh_tokens.yml) in AWX) keeps it alive.
  - Reports the stored token's version, age and days left, and a RV(health) entry that maps the identity
    platform's error (AADSTS700082, 50173, 70043, 53003, 50076, 65001, 90099, ...) to what to do.
  - The refresh token and the access token never appear in the result.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: Nothing is sent to the identity platform (an exchange rotates the token); the age of the stored
      token decides whether a renewal would happen.
  diff_mode:
    support: full
    details: The stored version and time before and after; never the token.
options:
  store:
    description:
      - Where the refresh token is kept. A path or C(file:///path) (JSON file, mode 0600),
        C(ansible-vault:///path) (the same document encrypted with Ansible Vault, see O(vault_password_file)),
        C(keyvault://VAULT/SECRET) (an Azure Key Vault secret; the app needs the Key Vault Secrets Officer role)
        or C(keyvault+https://HOST:PORT/SECRET) (a Key Vault at another address, such as the emulator).
      - A dict with C(type) (V(file), V(ansible_vault), V(keyvault)) and C(path), or C(vault_name)/C(vault_url)
        and C(secret_name), is accepted too.
      - A file holding just a refresh token (as C(cloudpartner.csp.token) writes it) is adopted as version 0.
    type: raw
    required: true
  vault_password_file:
    description:
      - File with the Ansible Vault password for an C(ansible-vault://) store (an executable script is run
        and its output used). Defaults to E(CSP_VAULT_PASSWORD_FILE), then E(ANSIBLE_VAULT_PASSWORD_FILE).
    type: path
  tenant:
    description:
      - Tenant to exchange the refresh token in (GUID or domain). Defaults to O(tenant_id), the partner tenant.
    type: str
  resource:
    description:
      - What the access token obtained by the exchange is for (V(graph), V(partner_center) or a scope).
        The access token is only used to read its claims (user, tenant) and is not returned.
    type: str
    default: graph
  renew_if_older_than_days:
    description:
      - Only exchange when the stored token is older than this many days; V(0) always exchanges.
      - With a value above 0 a second run reports C(changed=false), which makes the task idempotent.
    type: float
    default: 0
  warn_days:
    description:
      - RV(health.status) is V(expiring) when the stored token has this many days or fewer left.
    type: int
    default: 14
  fail_on_error:
    description:
      - When V(false), an exchange the identity platform refuses does not fail the task; RV(health) says what
        happened and what to do. Bad input still fails.
    type: bool
    default: true
notes:
  - O(refresh_token) is not used by this module; the token comes from O(store).
  - The app credential (O(client_secret) or O(client_certificate_path)) is needed for the exchange.
seealso:
  - module: cloudpartner.csp.sam_device_code
  - module: cloudpartner.csp.app_credentials_info
"""

EXAMPLES = r"""
- name: Renew the US partner tenant's refresh token kept in a 0600 file
  cloudpartner.csp.refresh_token:
    tenant_id: 10000000-0000-4000-8000-000000000001
    client_id: 20000000-0000-4000-8000-000000000001
    client_secret: "{{ vault_us_client_secret }}"
    store: /etc/cloudpartner/us.refresh_token.json
  register: us_rt

- name: Renew from Ansible Vault, only when older than 7 days, and report instead of failing
  cloudpartner.csp.refresh_token:
    store: ansible-vault:///etc/cloudpartner/eu.refresh_token.vault
    vault_password_file: /etc/cloudpartner/vault-pass
    renew_if_older_than_days: 7
    fail_on_error: false
  register: eu_rt

- name: Tell a human what to do
  ansible.builtin.debug:
    msg: "{{ eu_rt.health.status }}: {{ eu_rt.health.action_text }}"
  when: eu_rt.health.status != 'ok'

- name: Keep the token in Azure Key Vault
  cloudpartner.csp.refresh_token:
    store: keyvault://contoso-partner-kv/us-refresh-token
"""

RETURN = r"""
keyvault_versions:
  description:
    - For a Key Vault store, after the new token was stored, how many versions of the secret can still be read
      and how many superseded ones this run disabled. Every version but the newest and the one before it is
      disabled after each write, so a superseded refresh token is not left readable in the vault.
    - C(enabled) is null when the clean-up failed (a warning says why; the new token is stored all the same).
  returned: when a Key Vault store was written
  type: dict
  contains:
    enabled:
      description: Versions still enabled (readable); 2 at most.
      type: int
      sample: 2
    disabled_now:
      description: Versions this run disabled.
      type: int
      sample: 1
renewed:
  description: Whether the token was exchanged and the new one stored.
  returned: always
  type: bool
store:
  description: Where the token is kept (no secrets).
  returned: always
  type: str
  sample: file store /etc/cloudpartner/us.refresh_token.json
refresh_token_info:
  description: What is known about the stored token (after the renewal). Never the token itself.
  returned: when the store holds a token
  type: dict
  contains:
    version:
      description: Store version; grows by one on every stored token.
      type: int
    previous_version:
      description: The version kept as the previous one.
      type: int
    stored_at:
      description: When the token was stored (ISO 8601 UTC).
      type: str
    consented_at:
      description: When the chain of tokens started (the consent sign-in), if known.
      type: str
    age_days:
      description: Days since the token was stored.
      type: float
    days_left:
      description: Days before the token expires if it is not used (90 days of inactivity).
      type: float
    user:
      description: The integration user the token belongs to.
      type: str
  sample: {version: 12, previous_version: 11, stored_at: "2026-11-22T03:00:00Z", age_days: 0.0, days_left: 90.0,
           user: integration@contosopartnerus.onmicrosoft.com}
health:
  description: The token's health and what to do.
  returned: always
  type: dict
  contains:
    status:
      description: V(ok), V(expiring), V(expired), V(revoked), V(conditional_access), V(mfa_required),
        V(consent_missing), V(not_consented), V(invalid), V(credential_invalid), V(credential_expired),
        V(store_error) or V(error).
      type: str
    code:
      description: Microsoft's error code (for example C(AADSTS700082)) or the store's error code.
      type: str
    meaning:
      description: What the status means.
      type: str
    action:
      description: What to do, as a keyword (V(none), V(renew), V(redo_consent), V(redo_consent_with_mfa),
        V(review_conditional_access), V(grant_consent), ...).
      type: str
    action_text:
      description: What to do, for a human.
      type: str
  sample: {status: expired, code: AADSTS700082, action: redo_consent}
claims:
  description: Useful claims of the access token the exchange returned (tenant, user, scopes), decoded without
    verification.
  returned: when renewed
  type: dict
error:
  description: Microsoft's (or the store's) error when the module failed.
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.cloud import check_resource
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_store, check_tenant
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import RefreshTokenStoreError
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import (
    INACTIVITY_DAYS,
    STORE_ARGSPEC,
    SamClient,
    classify,
    open_module_store,
    store_hygiene,
)


def argument_spec():
    spec = dict(STORE_ARGSPEC)
    spec.update(
        tenant=dict(type="str"),
        resource=dict(type="str", default="graph"),
        renew_if_older_than_days=dict(type="float", default=0),
        warn_days=dict(type="int", default=14),
        fail_on_error=dict(type="bool", default=True),
    )
    return spec


def _state(stored):
    return {"version": stored.version, "stored_at": stored.describe()["stored_at"]} if stored else {}


def run(module, client, store):
    params = module.params
    result = dict(changed=False, renewed=False, store=store.describe())
    current = store.load()
    if current is None:
        err = RefreshTokenStoreError("%s holds no refresh token yet: run the one-time consent "
                                     "(cloudpartner.csp.sam_device_code)" % store.describe(),
                                     code="RefreshTokenStoreEmpty")
        result["health"] = classify(err)
        return result, err
    age = current.age_days()
    wanted = params["renew_if_older_than_days"] <= 0 or age is None or age >= params["renew_if_older_than_days"]
    info = current.describe(INACTIVITY_DAYS)
    if not wanted or module.check_mode:
        result["changed"] = wanted
        result["refresh_token_info"] = info
        result["health"] = classify(None, info["days_left"], params["warn_days"])
        if wanted and module.diff_mode:
            after = {"version": current.version + 1, "stored_at": "(now)"}
            result["diff"] = {"before": _state(current), "after": after}
        return result, None
    try:
        token, stored = SamClient(client.options, client.http, tokens=client.tokens).exchange(
            store, tenant=params["tenant"], resource=params["resource"])
    except CspError as err:
        result["refresh_token_info"] = info
        result["health"] = classify(err)
        return result, err
    info = stored.describe(INACTIVITY_DAYS)
    result.update(changed=stored.version != current.version, renewed=True, refresh_token_info=info,
                  health=classify(None, info["days_left"], params["warn_days"]),
                  claims={k: v for k, v in token.useful_claims.items() if k in ("tid", "upn", "scp", "aud", "wids")})
    if module.diff_mode:
        result["diff"] = {"before": _state(current), "after": _state(stored)}
    store_hygiene(module, store, result)
    return result, None


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        if params["tenant"]:
            params["tenant"] = check_tenant(params["tenant"], name="tenant")
        if params["warn_days"] < 0:
            raise CspValidationError("warn_days must not be negative", code="InvalidWarnDays")
        check_resource(params["resource"])
        check_store(params["store"], "store")
        client = module.client
        store = open_module_store(client, params["store"], params["vault_password_file"])
        result, err = run(module, client, store)
    except CspError as err:
        module.fail_from_error(err, health=classify(err))
    if err is not None and params["fail_on_error"]:
        module.fail_from_error(err, **{k: v for k, v in result.items() if k != "changed"})
    if err is not None:
        result["error"] = err.to_result()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
