#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: token
short_description: Get an access token for a tenant and resource from the Microsoft identity platform
version_added: 0.1.0
description:
  - Gets an access token by client credentials (client secret or certificate) or, when O(refresh_token) is
    set, by the Secure Application Model refresh token (a delegated app+user token).
  - The token can be for the partner tenant or any customer tenant (O(tenant_id)), for Microsoft Graph,
    Partner Center, Azure Resource Manager or any scope.
  - Tokens come from the cache while they have more than 5 minutes left; O(fresh=true) asks the identity
    platform for a new one, which is needed right after a customer or a consent was created.
  - Returns the useful claims of the token (decoded, not verified) so a play can check, for example, that
    the token's C(appid) is the app being consented. The token itself is only returned with O(return_token=true).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details: The token is still obtained (a read); O(refresh_token_path) is not written.
  diff_mode:
    support: none
options:
  resource:
    description:
      - What the token is for. V(graph) is Microsoft Graph, V(partner_center) the Partner Center API
        (C(user_impersonation) for delegated tokens), V(azure_management) Azure Resource Manager.
      - Any other value is used as a scope (or space-separated scopes), for example
        V(https://graph.microsoft.com/.default); an API URI without a path gets C(/.default) appended.
    type: str
    default: graph
  fresh:
    description:
      - Ignore cached access tokens and ask the identity platform (the new token is cached).
    type: bool
    default: false
  return_token:
    description:
      - Return the access token as RV(access_token). Put C(no_log) on the task when you use this.
    type: bool
    default: false
  refresh_token_path:
    description:
      - File to write the newest (rotated) refresh token to, atomically and with mode 0600. The file is
        only rewritten when its content changes (that is the only change this module reports).
      - It is written through the collection's file refresh token store (a lock in C(<path>.lock), a check
        that the file still holds what was read, a temp file renamed over it) and holds only the token, so a
        play can read it back as O(refresh_token). To keep a token between runs without a file of your own,
        prefer O(refresh_token_store).
      - Needs O(refresh_token).
    type: path
  return_refresh_token:
    description:
      - Return the newest refresh token as RV(refresh_token). Put C(no_log) on the task when you use this.
    type: bool
    default: false
notes:
  - Microsoft returns a new refresh token on every use and does not revoke the old one; an unused refresh
    token expires after 90 days. Store the rotated one (O(refresh_token_path) or a vault) to keep it alive.
seealso:
  - module: cloudpartner.csp.graph_request
  - module: cloudpartner.csp.tenant_info
"""

EXAMPLES = r"""
- name: Graph token for the US partner tenant (client credentials)
  cloudpartner.csp.token:
    tenant_id: 10000000-0000-4000-8000-000000000001
    client_id: 20000000-0000-4000-8000-000000000001
    client_secret: "{{ vault_us_client_secret }}"
  register: us_token

- name: Delegated Partner Center token, keeping the rotated refresh token
  cloudpartner.csp.token:
    resource: partner_center
    refresh_token: "{{ vault_us_refresh_token }}"
    refresh_token_path: /etc/csp/us.refresh_token
  no_log: true

- name: Fresh Graph token in a customer tenant right after consent
  cloudpartner.csp.token:
    tenant_id: 30000000-0000-4000-8000-000000000001
    fresh: true
  register: customer_token

- name: The token's app must be the app we consent
  ansible.builtin.assert:
    that: customer_token.claims.appid == partner_app_id

- name: Hand a token to a tool that needs one
  cloudpartner.csp.token:
    return_token: true
  register: raw_token
  no_log: true
"""

RETURN = r"""
tenant_id:
  description: GUID of the tenant the token is for.
  returned: always
  type: str
  sample: 10000000-0000-4000-8000-000000000001
grant:
  description: How the token was obtained.
  returned: always
  type: str
  sample: client_credentials
  choices: [client_credentials, refresh_token]
scopes:
  description: The scopes that were asked for.
  returned: always
  type: list
  elements: str
  sample: [https://graph.microsoft.com/.default]
expires_on:
  description: Expiry of the access token, seconds since the epoch.
  returned: always
  type: int
  sample: 1790000000
expires_at:
  description: Expiry of the access token, ISO 8601 UTC.
  returned: always
  type: str
  sample: "2026-09-21T14:13:20Z"
token_source:
  description: V(cache) when the token came from the token cache, V(identity_provider) when it was issued now.
  returned: always
  type: str
  sample: cache
claims:
  description: Useful claims of the access token, decoded without verification (absent claims are left out).
  returned: always
  type: dict
  contains:
    aud:
      description: Audience (the API).
      type: str
      returned: when present
    tid:
      description: Tenant of the token.
      type: str
      returned: when present
    appid:
      description: Application (client) ID that obtained the token.
      type: str
      returned: when present
    oid:
      description: Object ID of the user or the service principal.
      type: str
      returned: when present
    idtyp:
      description: V(app) or V(user).
      type: str
      returned: when present
    roles:
      description: Application permissions (app-only tokens).
      type: list
      elements: str
      returned: when present
    scp:
      description: Delegated permissions, space-separated (app+user tokens).
      type: str
      returned: when present
    wids:
      description: Directory role template IDs of the user.
      type: list
      elements: str
      returned: when present
    upn:
      description: Sign-in name of the user.
      type: str
      returned: when present
    exp:
      description: Expiry, seconds since the epoch.
      type: int
      returned: when present
  sample: {aud: https://graph.microsoft.com, tid: 10000000-0000-4000-8000-000000000001, idtyp: app}
access_token:
  description: The access token. Only with O(return_token=true); use C(no_log) on the task.
  returned: when O(return_token=true)
  type: str
refresh_token:
  description: The newest refresh token. Only with O(return_refresh_token=true); use C(no_log) on the task.
  returned: when O(return_refresh_token=true) and a refresh token was used
  type: str
refresh_token_path:
  description: The file the refresh token was (or in check mode would be) written to.
  returned: when O(refresh_token_path) is set
  type: str
error:
  description: Microsoft's error when the module failed.
  returned: on failure
  type: dict
  contains:
    code:
      description: Microsoft's error code, for example C(AADSTS7000222).
      type: str
    message:
      description: Microsoft's error message.
      type: str
    request_id:
      description: Request (trace) id to give Microsoft support.
      type: str
    status:
      description: HTTP status.
      type: int
    hint:
      description: What to do about it, for common errors.
      type: str
"""

import datetime
import os

from ansible_collections.cloudpartner.csp.plugins.module_utils.cloud import check_resource
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import (
    PlainFileRefreshTokenStore,
    RefreshTokenStoreError,
)


def argument_spec():
    return dict(
        resource=dict(type="str", default="graph"),
        fresh=dict(type="bool", default=False),
        return_token=dict(type="bool", default=False, no_log=False),
        refresh_token_path=dict(type="path", no_log=False),
        return_refresh_token=dict(type="bool", default=False, no_log=False),
    )


def write_refresh_token(module, path, value):
    """Save ``value`` in the file store at ``path`` unless it is already there; returns changed."""
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        if module.check_mode:
            return True
        raise CspValidationError("the directory of refresh_token_path %s does not exist" % path,
                                 code="MissingDirectory")
    try:
        store = PlainFileRefreshTokenStore(path)
        current = store.load()
        if current is not None and current.token == value:
            return False
        if not module.check_mode:
            store.save(value, None if current is None else current.version,
                       metadata={"source": "exchange"})
    except RefreshTokenStoreError as err:
        raise CspValidationError("refresh_token_path %s: %s" % (path, err.message),
                                 code=err.code or "UnwritableFile") from None
    return True


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    result = dict(changed=False)
    try:
        check_resource(params["resource"])
        options = module.connection_options()
        if params["refresh_token_path"] and not options.refresh_token:
            raise CspValidationError("refresh_token_path needs refresh_token (the token to rotate)",
                                     code="MissingRefreshToken")
        if (params["return_token"] or params["return_refresh_token"]) and not module.no_log:
            module.warn("The result contains a token: set no_log: true on this task.")
        token = module.client.tokens.get_token(resource=params["resource"], fresh=params["fresh"])
        result.update(
            tenant_id=token.tenant_id,
            grant=token.grant,
            scopes=token.scopes,
            expires_on=token.expires_on,
            expires_at=datetime.datetime.fromtimestamp(token.expires_on, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            token_source=token.token_source,
            claims=token.useful_claims,
        )
        if params["return_token"]:
            result["access_token"] = token.token
        if params["return_refresh_token"] and token.refresh_token:
            result["refresh_token"] = token.refresh_token
        if params["refresh_token_path"]:
            if not token.refresh_token:
                raise CspValidationError("the identity platform returned no refresh token to write",
                                         code="NoRefreshToken")
            result["refresh_token_path"] = params["refresh_token_path"]
            result["changed"] = write_refresh_token(module, params["refresh_token_path"], token.refresh_token)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
