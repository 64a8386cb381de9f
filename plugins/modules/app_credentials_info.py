#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: app_credentials_info
short_description: List the partner app's client secrets and certificates and the ones that expire soon
version_added: 0.1.0
description:
  - Reads the app registration (Microsoft Graph C(GET /applications(appId='...'))) in the partner tenant and
    returns its client secrets (C(passwordCredentials)) and certificates (C(keyCredentials)) with their expiry,
    days left, and which are expired or expire within O(within_days) days.
  - Secret values are never returned by Microsoft Graph after creation; only the hint (first characters).
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes.INFO_MODULE
options:
  app_id:
    description:
      - Application (client) ID of the app to look at. Defaults to O(client_id), the app used to sign in.
    type: str
  within_days:
    description:
      - Credentials that expire within this many days are listed in RV(expiring).
    type: int
    default: 30
notes:
  - The app needs C(Application.Read.All) (or to own the app registration) in the partner tenant.
seealso:
  - module: cloudpartner.csp.refresh_token
"""

EXAMPLES = r"""
- name: Which secrets and certificates of the partner app expire within 45 days?
  cloudpartner.csp.app_credentials_info:
    within_days: 45
  register: creds

- name: Warn about them
  ansible.builtin.debug:
    msg: "{{ item.type }} {{ item.display_name }} expires in {{ item.days_left }} days"
  loop: "{{ creds.expiring }}"
"""

RETURN = r"""
application:
  description: The app registration.
  returned: always
  type: dict
  sample: {id: 13000000-0000-4000-8000-000000000001, app_id: 20000000-0000-4000-8000-000000000001,
           display_name: Contoso CSP App (us)}
credentials:
  description: Every client secret and certificate of the app, soonest expiry first.
  returned: always
  type: list
  elements: dict
  contains:
    type:
      description: V(secret) or V(certificate).
      type: str
    key_id:
      description: The credential's key id.
      type: str
    display_name:
      description: Its display name.
      type: str
    hint:
      description: First characters of a secret (secrets only).
      type: str
    start:
      description: Start of validity (ISO 8601).
      type: str
    end:
      description: End of validity (ISO 8601).
      type: str
    days_left:
      description: Days until it expires (negative when expired).
      type: float
    expired:
      description: Whether it has expired.
      type: bool
    expiring:
      description: Whether it expires within O(within_days) days (and has not expired yet).
      type: bool
expiring:
  description: The credentials that expire within O(within_days) days.
  returned: always
  type: list
  elements: dict
expired:
  description: The credentials that have expired.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.graph import odata_quote
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import is_guid
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import parse_graph_time as parse_time


def argument_spec():
    return dict(
        app_id=dict(type="str"),
        within_days=dict(type="int", default=30),
    )


def credential_view(kind, cred, now, within_days):
    end = parse_time(cred.get("endDateTime"))
    days_left = None if end is None else round((end - now) / 86400.0, 2)
    view = {
        "type": kind,
        "key_id": cred.get("keyId"),
        "display_name": cred.get("displayName"),
        "start": cred.get("startDateTime"),
        "end": cred.get("endDateTime"),
        "days_left": days_left,
        "expired": days_left is not None and days_left <= 0,
        "expiring": days_left is not None and 0 < days_left <= within_days,
    }
    if kind == "secret":
        view["hint"] = cred.get("hint")
    return view


def summarize(app, within_days, now=None):
    now = time.time() if now is None else now
    creds = [credential_view("secret", c, now, within_days) for c in app.get("passwordCredentials") or []]
    creds += [credential_view("certificate", c, now, within_days) for c in app.get("keyCredentials") or []]
    creds.sort(key=lambda c: (c["days_left"] is None, c["days_left"] or 0))
    return {
        "application": {"id": app.get("id"), "app_id": app.get("appId"), "display_name": app.get("displayName")},
        "credentials": creds,
        "expiring": [c for c in creds if c["expiring"]],
        "expired": [c for c in creds if c["expired"]],
    }


def main():
    module = CspModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        if params["within_days"] < 0:
            raise CspValidationError("within_days must not be negative", code="InvalidWithinDays")
        app_id = params["app_id"] or module.connection_options().validate().client_id
        if not is_guid(str(app_id)):
            raise CspValidationError("app_id %r is not a GUID" % app_id, code="InvalidAppId")
        graph = module.client.graph()
        app = graph.get("/applications(appId=%s)" % odata_quote(str(app_id).lower()),
                        params={"$select": "id,appId,displayName,passwordCredentials,keyCredentials"})
        result = summarize(app, params["within_days"])
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
