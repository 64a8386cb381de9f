#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: app_secret_rotate
short_description: Replace the partner app's client secret before it expires, never losing a working one
version_added: 0.1.0
description:
  - Finds the app's client secret that expires within O(rotate_within_days) days (or the one named by
    O(key_id)), adds a new secret (Microsoft Graph C(addPassword)), stores its value in O(secret_store),
    proves it works by getting a token with it, and only then removes the old secret (C(removePassword)).
  - When the new secret cannot be stored or does not work, the old one is left in place and the task fails,
    naming the new secret's key id so it can be removed by hand.
  - The secret value never appears in the result; it goes only to O(secret_store).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: Reads the app and reports whether a secret would be rotated; nothing is added, stored or removed.
  diff_mode:
    support: full
    details: The key ids, names and end dates of the app's secrets before and after.
options:
  app_id:
    description:
      - Application (client) ID of the app whose secret is rotated. Defaults to O(client_id).
    type: str
  key_id:
    description:
      - Key id of the secret to replace. Without it, the unexpired secret whose hint (first characters) matches
        O(client_secret) and that expires within O(rotate_within_days) days is replaced (the one in use; when
        several match, the one that expires first).
      - When the app has no secret with this key id (it was already replaced) nothing is done, with a warning.
    type: str
  rotate_within_days:
    description:
      - Rotate when the secret expires within this many days. V(0) only rotates O(key_id) (or an expired one).
    type: int
    default: 30
  force:
    description:
      - Rotate O(key_id) (or the secret in use) whatever its expiry.
    type: bool
    default: false
  validity_days:
    description:
      - Lifetime of the new secret in days (Microsoft recommends at most 180-365).
    type: int
    default: 180
  display_name:
    description:
      - Display name of the new secret. Defaults to C(cloudpartner.csp rotated YYYY-MM-DD).
    type: str
  secret_store:
    description:
      - Where to store the new secret's value, as for O(refresh_token_store) (a path, C(file://),
        C(ansible-vault://), C(keyvault://) or a dict). It is required, since a secret that is not stored is lost.
    type: raw
    required: true
  vault_password_file:
    description:
      - Ansible Vault password file for an C(ansible-vault://) O(secret_store).
    type: path
  verify_timeout:
    description:
      - Seconds to keep trying a token with the new secret (a new secret can take a moment to replicate).
    type: int
    default: 120
notes:
  - The app needs C(Application.ReadWrite.All) (or to own its registration) to add and remove its secrets.
  - Update the credential your jobs use (for example the AWX credential) from O(secret_store) afterwards.
seealso:
  - module: cloudpartner.csp.app_credentials_info
"""

EXAMPLES = r"""
- name: Rotate the app's secret when it expires within 30 days
  cloudpartner.csp.app_secret_rotate:
    secret_store: ansible-vault:///etc/cloudpartner/us.client_secret.vault
    vault_password_file: /etc/cloudpartner/vault-pass
  register: rotated

- name: Replace one secret now
  cloudpartner.csp.app_secret_rotate:
    key_id: 14000000-0000-4000-8000-000000010002
    force: true
    secret_store: keyvault://contoso-kv/us-client-secret
"""

RETURN = r"""
rotated:
  description: Whether a secret was (or in check mode would be) replaced.
  returned: always
  type: bool
old_secret:
  description: The secret that was (or would be) replaced.
  returned: when a secret needs rotation
  type: dict
  contains:
    key_id:
      description: Its key id.
      type: str
    display_name:
      description: Its display name.
      type: str
    end:
      description: Its end of validity.
      type: str
new_secret:
  description: The new secret's key id, display name, hint and end of validity (never its value).
  returned: when rotated
  type: dict
secret_store:
  description: Where the new value was stored (no secrets).
  returned: when rotated
  type: str
verified:
  description: Whether a token was obtained with the new secret before the old one was removed.
  returned: when rotated
  type: bool
error:
  description: Microsoft's error when the module failed.
  returned: on failure
  type: dict
"""

import datetime
import time

from ansible_collections.cloudpartner.csp.plugins.module_utils.client import CspClient
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import (
    CspAuthError,
    CspError,
    CspValidationError,
    register_secret,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.graph import odata_quote
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import ConnectionOptions, check_guid, check_store, is_guid
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import open_module_store
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import parse_graph_time as parse_time


def argument_spec():
    return dict(
        app_id=dict(type="str"),
        key_id=dict(type="str", no_log=False),
        rotate_within_days=dict(type="int", default=30),
        force=dict(type="bool", default=False),
        validity_days=dict(type="int", default=180),
        display_name=dict(type="str"),
        secret_store=dict(type="raw", required=True, no_log=False),
        vault_password_file=dict(type="path", no_log=False),
        verify_timeout=dict(type="int", default=120),
    )


def _view(cred):
    return {"key_id": cred.get("keyId"), "display_name": cred.get("displayName"), "end": cred.get("endDateTime"),
            "hint": cred.get("hint")}


def pick_secret(creds, params, current_secret, now):
    """The secret to replace, or None."""
    if params["key_id"]:
        candidates = [c for c in creds if str(c.get("keyId", "")).lower() == params["key_id"].lower()]
        if not candidates:
            return None  # already replaced (idempotent); main() warns
    else:
        # the secret in use: its hint (first characters) matches, and it has not expired
        hint = (current_secret or "")[:3]
        candidates = [c for c in creds if hint and c.get("hint") == hint
                      and (parse_time(c.get("endDateTime")) or now + 1) > now]
        if not candidates:
            raise CspValidationError("no unexpired client secret of the app matches client_secret; name the one to "
                                     "rotate with key_id", code="SecretNotFound")
    limit = now + params["rotate_within_days"] * 86400
    due = []
    for cred in candidates:
        end = parse_time(cred.get("endDateTime"))
        if params["force"] or end is None or end <= limit:
            due.append((end or 0, cred))
    if not due:
        return None
    due.sort(key=lambda item: item[0])
    return due[0][1]


def verify(module, options, secret, timeout, sleep=time.sleep):
    """Get a token with ``secret`` (no cache); retries while the new secret replicates."""
    names = ("tenant_id", "client_id", "cloud", "authority_host", "graph_endpoint", "partner_center_endpoint",
             "ca_bundle")
    values = {name: options.get(name) for name in names}
    values["client_secret"] = secret
    deadline = time.monotonic() + timeout
    delay = 2.0
    while True:
        try:
            client = CspClient(ConnectionOptions.from_dict(values, use_env=False))
            client.tokens.get_token(resource="graph", grant="client_credentials", fresh=True)
            return True
        except CspAuthError as err:
            if time.monotonic() + delay > deadline or err.code not in ("AADSTS7000215", "AADSTS7000222"):
                raise
        sleep(delay)
        delay = min(delay * 2, 15.0)


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    result = dict(changed=False, rotated=False)
    new_key = None
    try:
        for name in ("rotate_within_days", "verify_timeout"):
            if params[name] < 0:
                raise CspValidationError("%s must not be negative" % name, code="InvalidArgument")
        if not 1 <= params["validity_days"] <= 730:
            raise CspValidationError("validity_days must be between 1 and 730", code="InvalidArgument")
        if params["key_id"]:
            params["key_id"] = check_guid(params["key_id"], "key_id", "a credential key id (a GUID)")
        check_store(params["secret_store"], "secret_store")
        options = module.connection_options().validate()
        app_id = (params["app_id"] or options.client_id).lower()
        if not is_guid(app_id):
            raise CspValidationError("app_id %r is not a GUID" % app_id, code="InvalidAppId")
        client = module.client
        store = open_module_store(client, params["secret_store"], params["vault_password_file"])
        graph = client.graph()
        path = "/applications(appId=%s)" % odata_quote(app_id)
        app = graph.get(path, params={"$select": "id,appId,displayName,passwordCredentials"})
        creds = app.get("passwordCredentials") or []
        old = pick_secret(creds, params, options.client_secret if isinstance(options.client_secret, str) else None,
                          time.time())
        before = [_view(c) for c in creds]
        if old is None:
            if params["key_id"]:
                module.warn("The app has no client secret with key id %s (already rotated?)" % params["key_id"])
            module.exit_json(**result)
        result.update(changed=True, rotated=True, old_secret=_view(old))
        if module.check_mode:
            if module.diff_mode:
                result["diff"] = {"before": {"secrets": before},
                                  "after": {"secrets": [v for v in before if v["key_id"] != old.get("keyId")]
                                            + [{"key_id": "(new)", "display_name": params["display_name"]}]}}
            module.exit_json(**result)
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {"passwordCredential": {
            "displayName": params["display_name"] or "cloudpartner.csp rotated %s" % now.strftime("%Y-%m-%d"),
            "endDateTime": (now + datetime.timedelta(days=params["validity_days"])).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }}
        added = graph.request("POST", path + "/addPassword", body=body).json or {}
        secret = added.get("secretText")
        register_secret(secret)
        new_key = added.get("keyId")
        if not secret:
            raise CspError("addPassword returned no secret text", code="NoSecretText")
        current = store.load()
        store.save(secret, current.version if current else None,
                   metadata={"source": "app_secret_rotate", "client_id": app_id})
        result["secret_store"] = store.describe()
        result["new_secret"] = {"key_id": new_key, "display_name": added.get("displayName"),
                                "hint": added.get("hint"), "end": added.get("endDateTime")}
        result["verified"] = verify(module, options, secret, params["verify_timeout"])
        graph.request("POST", path + "/removePassword", body={"keyId": old.get("keyId")})
        if module.diff_mode:
            after = [v for v in before if v["key_id"] != old.get("keyId")] + [dict(result["new_secret"])]
            result["diff"] = {"before": {"secrets": before}, "after": {"secrets": after}}
    except CspError as err:
        extra = {}
        if new_key:
            extra["new_secret_key_id"] = new_key
            err.message = "%s (the new secret %s was added; the old one was kept)" % (err.message, new_key)
        module.fail_from_error(err, **extra)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
