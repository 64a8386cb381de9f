#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: application_consent
short_description: Consent to the partner app in a customer tenant through Partner Center
version_added: 0.1.0
description:
  - Gives (or removes) the Partner Center application consent of the partner-managed app in a customer tenant,
    the GDAP-era replacement for DAP pre-consent.
  - Before anything is written the module checks that the calling token is for the app being consented
    (Partner Center accepts nothing else) and that every API in O(grants) has a service principal in the
    customer tenant. A missing one fails with the API's name and the admin-consent link a Global
    Administrator of the customer can use instead.
  - What is consented now is read from the customer tenant through Microsoft Graph (the app's service principal
    and its delegated permission grants). Equal scopes change nothing; different scopes are replaced by removing
    the consent and giving it again, as Microsoft's sample does. "Already exists" from Partner Center is success.
  - While the app is not present in the customer tenant at all, the customer tenant refuses tokens for it; the
    consent is then taken as absent and the service principals are checked by Partner Center itself (its error
    is reported the same way).
  - When Partner Center answers that the consent already exists (HTTP 409) although Graph did not list it (Graph
    can lag behind Partner Center), the module reads the grants again for up to O(verify_timeout) seconds.
    Equal scopes change nothing; different scopes are replaced (delete, then create); grants that still cannot
    be read fail with C(ConsentNotVerified). The module never reports an unverified consent as unchanged.
  - After any consent change the customer tenant's cached access tokens are dropped from the token cache, so
    the next call there gets a token with the new permissions.
  - With O(proof) the module then proves access in the same run with one Graph C(GET) of O(proof.path) in the
    customer tenant with a new token, as a separate M(cloudpartner.csp.graph_request) with
    O(cloudpartner.csp.graph_request#module:fresh_token=true) would. It costs the same requests (one token
    request, one C(GET)) and one module process less.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details:
      - The token check and the reads run; nothing is written.
      - O(proof) is a read and runs in check mode when the consent is already right. When the consent would
        change, no proof is made (RV(proof) is V(null)); the proof follows the real run.
  diff_mode:
    support: full
options:
  customer_tenant_id:
    description:
      - Tenant id of the customer, or one of its verified domains.
    type: str
    required: true
  application_id:
    description:
      - Application (client) id of the app to consent. Defaults to O(client_id), which it must equal anyway.
    type: str
  display_name:
    description:
      - Display name sent with the consent.
    type: str
  grants:
    description:
      - The APIs and their permissions (scopes) to consent. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      api:
        description:
          - The API's appId, or one of V(microsoft_graph), V(partner_center), V(azure_service_management),
            V(exchange_online), V(sharepoint_online), V(azure_active_directory_graph).
        type: str
        required: true
      scopes:
        description:
          - Permission names, for example V(Directory.Read.All) or V(user_impersonation).
        type: list
        elements: str
        required: true
  verify_timeout:
    description:
      - After Partner Center answered "already exists", how many seconds to wait for Graph to list the consent's
        grants before failing.
    type: int
    default: 60
  state:
    description:
      - V(present) gives the consent with exactly O(grants), V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  proof:
    description:
      - After the consent is in place (given, replaced, or found already right), prove access with one Graph
        C(GET) in the customer tenant with a new token; the cached access token for the tenant is not used but
        replaced, as with O(cloudpartner.csp.graph_request#module:fresh_token=true).
      - Only with O(state=present).
      - A proof that fails (token refused, Graph error) fails the task with Microsoft's error in RV(error);
        the result still has C(changed), RV(actions) and RV(grants) of the consent, and RV(proof) has
        C(path) and C(failed=true).
    type: dict
    suboptions:
      path:
        description:
          - Graph path, as O(cloudpartner.csp.graph_request#module:path) (V(/organization),
            V(/organization?$select=displayName)). URLs on other hosts are refused before anything is sent.
        type: str
        required: true
      query:
        description:
          - JMESPath expression applied to the response JSON; its outcome is C(proof.result). Checked before
            anything is sent.
        type: str
      app_only:
        description:
          - Prove with the app's own token (client credentials) in the customer tenant instead of the
            integration user's app + user token, so that the consent alone must let the app in.
        type: bool
        default: false
notes:
  - Partner Center needs an app + user token (O(refresh_token) of the integration user) whose user holds
    Global, Application or Cloud Application Administrator in the customer (usually through a GDAP access
    assignment).
seealso:
  - module: cloudpartner.csp.gdap_access_assignment
  - module: cloudpartner.csp.application_permissions_info
"""

EXAMPLES = r"""
- name: Consent to the partner app in Margie's Travel
  cloudpartner.csp.application_consent:
    customer_tenant_id: 30000000-0000-4000-8000-000000000017
    display_name: Contoso CSP App
    grants:
      - api: microsoft_graph
        scopes: [Directory.AccessAsUser.All, Directory.Read.All, Group.ReadWrite.All]
      - api: partner_center
        scopes: [user_impersonation]
  register: consent

- name: Consent to exactly what the app registration requires (see application_permissions_info)
  cloudpartner.csp.application_consent:
    customer_tenant_id: "{{ customer_id }}"
    grants: "{{ app_permissions.consent_grants }}"

- name: Consent and prove access with the app's own token in the same run
  cloudpartner.csp.application_consent:
    customer_tenant_id: "{{ customer_id }}"
    grants: "{{ app_permissions.consent_grants }}"
    proof:
      path: /organization
      query: value[0].displayName
      app_only: true
  register: consent  # consent.proof.result is the customer's name

- name: Remove the consent
  cloudpartner.csp.application_consent:
    customer_tenant_id: 30000000-0000-4000-8000-000000000017
    state: absent
"""

RETURN = r"""
grants:
  description:
    - What is consented after the run (in check mode, what would be).
    - Keys are C(<api name> (<appId>)), values the sorted scopes.
  returned: always (on failure, when the consent was in place and the proof failed)
  type: dict
  sample: {"microsoft_graph (00000003-0000-0000-c000-000000000000)": [Directory.Read.All]}
actions:
  description:
    - Partner Center writes done (or, in check mode, that would be done) in order, C(delete) and/or C(create).
    - On failure, the writes done before it (C(changed) is true when there are any).
  returned: always
  type: list
  elements: str
  sample: [delete, create]
application_id:
  description: The consented app.
  returned: always
  type: str
customer_tenant_id:
  description: The customer's tenant id.
  returned: always
  type: str
consent_readable:
  description: False when the customer tenant refused a token for the app (no consent yet), so nothing could be read.
  returned: always
  type: bool
admin_consent_url:
  description:
    - The link a Global Administrator of the customer can open to consent manually, on the login host of the
      configured O(cloud) or O(authority_host).
  returned: always
  type: str
proof:
  description:
    - The proof of access (O(proof)); V(null) in check mode when the consent would change.
    - When the proof failed, C(path) and C(failed=true) only; Microsoft's error is in RV(error), and
      C(changed) and RV(actions) still say what was done to the consent before.
  returned: when O(proof) is set and the consent is in place (also when the proof failed)
  type: dict
  contains:
    path:
      description: O(proof.path).
      type: str
      sample: /organization
    result:
      description: The outcome of O(proof.query), or the response JSON without a query.
      type: raw
      sample: Margie's Travel
    token_source:
      description: Where the token came from, as the C(token_source) of M(cloudpartner.csp.token); always
        V(identity_provider) (a new token).
      type: str
      sample: identity_provider
    request_id:
      description: Graph's request id of the proof.
      type: str
    failed:
      description: True when the proof failed.
      type: bool
error:
  description:
    - Microsoft's error when the module failed (Partner Center C(code), Graph C(error.code) or C(AADSTS...)).
    - With C(code=MissingServicePrincipal), C(details) holds C(missing_apis) (C(app_id) and C(name) of each API
      without a service principal in the customer), C(admin_consent_url), C(customer_tenant_id) and
      C(application_id), plus Partner Center's own C(code) and C(message) when it refused the consent.
    - With C(code=ConsentNotVerified), C(details) holds C(waited_seconds) and C(admin_consent_url).
  returned: on failure
  type: dict
"""

from ansible_collections.cloudpartner.csp.plugins.module_utils.consent import (
    AccessProof,
    ConsentClient,
    ConsentEnsurer,
    check_calling_app,
    grants_view,
    normalize_grants,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import check_tenant, is_guid


def argument_spec():
    return dict(
        customer_tenant_id=dict(type="str", required=True),
        application_id=dict(type="str"),
        display_name=dict(type="str"),
        grants=dict(type="list", elements="dict", options=dict(
            api=dict(type="str", required=True),
            scopes=dict(type="list", elements="str", required=True),
        )),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        verify_timeout=dict(type="int", default=60),
        proof=dict(type="dict", options=dict(
            path=dict(type="str", required=True),
            query=dict(type="str"),
            app_only=dict(type="bool", default=False),
        )),
    )


def access_proof(client, customer_tenant, params):
    """The ``AccessProof`` O(proof) asks for (its path and query checked now, before any request), or None."""
    spec = params["proof"]
    if spec is None:
        return None
    if params["state"] != "present":
        raise CspValidationError("proof works with state=present only", code="InvalidOption")
    graph = client.graph(tenant=customer_tenant, fresh_token=True,
                         grant="client_credentials" if spec["app_only"] else None)
    return AccessProof(graph, spec["path"], spec["query"])


def main():
    module = CspModule(argument_spec=argument_spec(), required_if=[("state", "present", ("grants",))],
                       supports_check_mode=True)
    params = module.params
    # filled as the run goes, so that a failure still says what was written (and whether the proof failed)
    result = dict(changed=False, actions=[])
    try:
        desired = normalize_grants(params["grants"]) if params["state"] == "present" else None
        if params["verify_timeout"] < 0:
            raise CspValidationError("verify_timeout must be >= 0", code="InvalidOption")
        app_id = params["application_id"] or params["client_id"]
        if not is_guid(app_id or ""):
            raise CspValidationError("application_id %r is not a GUID" % app_id, code="InvalidApplicationId")
        app_id = app_id.lower()
        customer_tenant = check_tenant(params["customer_tenant_id"], name="customer_tenant_id")
        client = module.client
        proof = access_proof(client, customer_tenant, params)
        customer = client.tokens.resolve_tenant(customer_tenant)
        # the token Partner Center will get: its appid must be the app being consented
        check_calling_app(client.tokens.get_token(resource="partner_center"), app_id)
        consents = ConsentClient(client.graph(tenant=customer), client.partner_center(), customer, app_id,
                                 client.options.authority_host,
                                 on_change=lambda: client.tokens.forget_tenant(customer))
        ensurer = ConsentEnsurer(consents, check_mode=module.check_mode)
        result["actions"] = ensurer.actions  # the same list: writes done before a failure are reported
        if params["state"] == "present":
            before, after = ensurer.present(desired, params["display_name"], verify_timeout=params["verify_timeout"])
        else:
            before, after = ensurer.absent()
        result.update(changed=bool(ensurer.actions), grants=grants_view(after), application_id=app_id,
                      customer_tenant_id=customer, consent_readable=consents.readable,
                      admin_consent_url=consents.manual_url())
        if module.diff_mode:
            result["diff"] = dict(before=grants_view(before), after=grants_view(after))
        if proof is not None:
            # a consent check mode only plans cannot be proven: the proof follows the real run
            result["proof"] = None if module.check_mode and ensurer.actions else proof.failed()
            if result["proof"] is not None:
                result["proof"] = proof.run()
    except CspError as err:
        result["changed"] = bool(result["actions"])
        module.fail_from_error(err, **result)
    for warning in ensurer.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
