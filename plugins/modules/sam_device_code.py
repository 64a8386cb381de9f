#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: sam_device_code
short_description: One-time Secure Application Model consent by device code, on a headless server
version_added: 0.1.0
description:
  - The Secure Application Model needs one interactive, MFA sign-in of the partner's integration user to
    create the first refresh token. This module does it with the device code flow, so it works from a server
    without a browser - a person opens the link on any device and types the code.
  - O(state=started) asks the identity platform for a device code and returns the RV(user_code) and
    RV(verification_uri) to show; the device code itself stays in a private 0600 file under O(flow_dir)
    and never appears in a result.
  - O(state=completed) waits until the person has signed in, then stores the refresh token in O(store)
    as the start of a new chain of tokens (the stored version grows). Only the token's non-secret facts
    are returned.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: O(state=started) sends no request and says whether a new code would be asked for;
      O(state=completed) neither polls nor stores.
  diff_mode:
    support: full
    details: With O(state=completed), the stored version and time before and after; never the token.
options:
  state:
    description:
      - V(started) asks for a device code (or returns the pending one). V(completed) waits for the sign-in and
        stores the refresh token.
    type: str
    choices: [started, completed]
    default: started
  store:
    description:
      - Where to keep the refresh token, as in M(cloudpartner.csp.refresh_token) (a path, C(file://),
        C(ansible-vault://), C(keyvault://) or a dict). Needed with O(state=completed).
    type: raw
  vault_password_file:
    description:
      - Ansible Vault password file for an C(ansible-vault://) store.
    type: path
  flow_dir:
    description:
      - Directory (created 0700) for the pending flow between the two states. One file per login host,
        tenant and app.
    type: path
    default: ~/.ansible/cloudpartner.csp
  restart:
    description:
      - With O(state=started), forget a pending code and ask for a new one.
    type: bool
    default: false
  timeout:
    description:
      - With O(state=completed), seconds to wait for the sign-in (at most until the code expires, about 15 minutes).
    type: int
    default: 900
  resource:
    description:
      - What the first access token is for (V(graph), V(partner_center) or a scope). C(offline_access),
        C(openid) and C(profile) are always added so a refresh token is returned.
    type: str
    default: graph
  require_mfa:
    description:
      - Refuse to store a token whose sign-in did not use multi-factor authentication (it would fail with
        AADSTS50076 at the first exchange).
    type: bool
    default: true
notes:
  - The app's credential (O(client_secret) or O(client_certificate_path)) is required and is sent with the poll,
    as the identity platform requires from a confidential client; the app registration does not need
    "Allow public client flows" (C(isFallbackPublicClient)).
  - Sign in as the integration user (the account in the partner's AdminAgents group), with MFA.
seealso:
  - module: cloudpartner.csp.refresh_token
"""

EXAMPLES = r"""
- name: Ask for a device code
  cloudpartner.csp.sam_device_code:
    state: started
  register: consent

- name: Show the person what to do
  ansible.builtin.debug:
    msg: "{{ consent.message }}"

- name: Wait for the sign-in and store the refresh token in Ansible Vault
  cloudpartner.csp.sam_device_code:
    state: completed
    store: ansible-vault:///etc/cloudpartner/us.refresh_token.vault
    vault_password_file: /etc/cloudpartner/vault-pass
    timeout: 900
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
user_code:
  description: The code the person types at RV(verification_uri).
  returned: O(state=started)
  type: str
  sample: BQXKDM3RT
verification_uri:
  description: The page to open.
  returned: O(state=started)
  type: str
  sample: https://microsoft.com/devicelogin
message:
  description: The identity platform's instruction text.
  returned: O(state=started)
  type: str
expires_at:
  description: When the code expires, seconds since the epoch.
  returned: O(state=started)
  type: int
pending:
  description: Whether the code returned was already pending from an earlier run.
  returned: O(state=started)
  type: bool
user:
  description: The user who signed in.
  returned: O(state=completed)
  type: str
store:
  description: Where the refresh token was stored (no secrets).
  returned: O(state=completed)
  type: str
refresh_token_info:
  description: Version, time and age of the stored token (as in M(cloudpartner.csp.refresh_token)); never the token.
  returned: O(state=completed) and not in check mode
  type: dict
error:
  description: Microsoft's error when the module failed (for example C(AADSTS70020) when the code expired).
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.cloud import check_resource
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_store
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import (
    INACTIVITY_DAYS,
    DeviceFlow,
    SamClient,
    classify,
    flow_path_for,
    open_module_store,
    store_hygiene,
)


def argument_spec():
    return dict(
        state=dict(type="str", default="started", choices=["started", "completed"]),
        store=dict(type="raw"),
        vault_password_file=dict(type="path", no_log=False),
        flow_dir=dict(type="path", default="~/.ansible/cloudpartner.csp"),
        restart=dict(type="bool", default=False),
        timeout=dict(type="int", default=900),
        resource=dict(type="str", default="graph"),
        require_mfa=dict(type="bool", default=True),
    )


def started(module, sam, path):
    flow = DeviceFlow.load(path)
    if flow is not None and not flow.expired() and not module.params["restart"]:
        return dict(changed=False, pending=True, **flow.public())
    if module.check_mode:
        return dict(changed=True, pending=False)
    flow = sam.start_device_code(resource=module.params["resource"])
    flow.save(path)
    return dict(changed=True, pending=False, **flow.public())


def completed(module, client, sam, path):
    params = module.params
    store = open_module_store(client, params["store"], params["vault_password_file"])
    flow = DeviceFlow.load(path)
    if flow is None:
        raise CspValidationError("no device code is pending for this tenant and app: run with state=started first",
                                 code="NoPendingDeviceCode")
    if flow.expired():
        DeviceFlow.remove(path)
        raise CspValidationError("the device code has expired before the sign-in; run state=started again",
                                 code="AADSTS70020")
    result = dict(changed=True, store=store.describe())
    before = store.load()
    if module.check_mode:
        return result
    try:
        response = sam.poll_device_code(flow, timeout=params["timeout"])
    except CspError:
        DeviceFlow.remove(path)  # declined or expired: the code cannot be used again
        raise
    if response is None:
        raise CspValidationError("nobody signed in within %d seconds; the code stays valid until it expires, run "
                                 "state=completed again" % params["timeout"], code="AADSTS70016")
    DeviceFlow.remove(path)
    stored = sam.store_consent(store, response, require_mfa=params["require_mfa"])
    info = stored.describe(INACTIVITY_DAYS)
    result.update(user=info["user"], refresh_token_info=info)
    store_hygiene(module, store, result)
    if module.diff_mode:
        result["diff"] = {
            "before": {"version": before.version, "stored_at": before.describe()["stored_at"]} if before else {},
            "after": {"version": stored.version, "stored_at": info["stored_at"], "user": info["user"]},
        }
    return result


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True,
                       required_if=[("state", "completed", ("store",))])
    params = module.params
    try:
        if params["timeout"] < 0:
            raise CspValidationError("timeout must not be negative", code="InvalidTimeout")
        check_resource(params["resource"])
        check_store(params["store"], "store")
        client = module.client
        options = client.options
        path = flow_path_for(params["flow_dir"], options.authority_host, options.tenant_id, options.client_id)
        sam = SamClient(options, client.http, tokens=client.tokens)
        if params["state"] == "started":
            result = started(module, sam, path)
        else:
            result = completed(module, client, sam, path)
    except CspError as err:
        module.fail_from_error(err, health=classify(err))
    except OSError as err:
        module.fail_json(msg="cannot use flow_dir %s: %s" % (params["flow_dir"], err.strerror))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
