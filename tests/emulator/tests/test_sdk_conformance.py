"""Microsoft's own clients against the emulator: msgraph-sdk typed calls (kiota deserialization)
authenticated by azure-identity credentials (secret, certificate) and by MSAL's refresh-token
grant. MSAL's own refresh-token and device-code flows are in test_msal_conformance.py.

These are test extras (tests/requirements-conformance.txt), never runtime dependencies of the
collection; without them the module is skipped. TLS verification stays on: httpx and azure-core
get the emulator's CA explicitly (the environment's REQUESTS_CA_BUNDLE is not the emulator's CA).

"0 deserialization errors": every call returns typed models whose documented properties are set
(kiota leaves a property None, or raises, when the JSON does not fit the model); enums parse
to their members; unknown properties would land in additional_data, which stays free of
anything but OData annotations.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import warnings

import pytest

msgraph = pytest.importorskip("msgraph")
azure_identity = pytest.importorskip("azure.identity")

with warnings.catch_warnings():  # the generated builders warn about their own deprecated classes
    warnings.simplefilter("ignore", DeprecationWarning)
    import httpx  # noqa: E402 - after the importorskip: an extra of msgraph-sdk
    import msal  # noqa: E402
    from azure.core.credentials import AccessToken  # noqa: E402
    from azure.core.exceptions import ClientAuthenticationError  # noqa: E402
    from graph_client import US, US_GROUPS  # noqa: E402
    from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
    from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
    from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder  # noqa: E402
    from msgraph.generated.models.delegated_admin_access_details import DelegatedAdminAccessDetails  # noqa: E402
    from msgraph.generated.models.delegated_admin_relationship import DelegatedAdminRelationship  # noqa: E402
    from msgraph.generated.models.delegated_admin_relationship_customer_participant import (  # noqa: E402
        DelegatedAdminRelationshipCustomerParticipant,
    )
    from msgraph.generated.models.delegated_admin_relationship_status import DelegatedAdminRelationshipStatus  # noqa: E402
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: E402
    from msgraph.generated.models.service_principal import ServicePrincipal  # noqa: E402
    from msgraph.generated.models.unified_role import UnifiedRole  # noqa: E402
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: E402
    from msgraph_core import GraphClientFactory  # noqa: E402

# The generated request builders warn about their own deprecated classes on import and use.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
DYNAMICS_365_ADMIN = "44367163-eba1-44c3-98af-f5787879f96a"
CUSTOMER03 = "30000000-0000-4000-8000-000000000003"
ODATA_ANNOTATIONS = ("@odata.",)


def graph_client(emu, credential) -> GraphServiceClient:
    """msgraph-sdk pointed at the emulator: its default middleware (retry, redirect, …) on an
    httpx client that trusts the emulator's CA, the base URL the emulator's Graph."""
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=context, timeout=30))
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{emu.graph_endpoint}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def secret_credential(emu, partner=US):
    return azure_identity.ClientSecretCredential(
        partner["tenant"], partner["client_id"], partner["secret"], authority=emu.authority_host,
        disable_instance_discovery=True, connection_verify=emu.ca_bundle)


class RefreshTokenCredential:
    """An azure-core TokenCredential over MSAL's refresh-token grant: the Secure Application Model
    integration user's token, as partner tooling gets it."""

    def __init__(self, emu, partner=US) -> None:
        session = _VerifyingSession(emu.ca_bundle)
        self.app = msal.ConfidentialClientApplication(
            partner["client_id"], client_credential=partner["secret"],
            authority=f"{emu.authority_host}/{partner['tenant']}", instance_discovery=False, http_client=session)
        self.refresh_token = partner["refresh_token"]

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        result = self.app.acquire_token_by_refresh_token(self.refresh_token, scopes=list(scopes))
        assert "access_token" in result, result
        self.refresh_token = result.get("refresh_token") or self.refresh_token
        return AccessToken(result["access_token"], int(datetime.datetime.now().timestamp()) + int(result["expires_in"]))


class _VerifyingSession:
    """requests.Session that passes the emulator CA on every call (MSAL passes no verify)."""

    def __init__(self, ca_bundle: str) -> None:
        import requests

        self._session = requests.Session()
        self._ca = ca_bundle

    def get(self, url, **kwargs):
        kwargs["verify"] = self._ca
        return self._session.get(url, **kwargs)

    def post(self, url, **kwargs):
        kwargs["verify"] = self._ca
        return self._session.post(url, **kwargs)

    def close(self):
        self._session.close()


def annotations_only(model) -> None:
    """Nothing unexpected in additional_data (a property kiota could not place)."""
    extra = {k for k in (model.additional_data or {}) if not k.startswith(ODATA_ANNOTATIONS)}
    assert not extra, f"{type(model).__name__} has properties the model does not know: {sorted(extra)}"


def run(coro):
    return asyncio.run(coro)


# --- azure-identity credentials ------------------------------------------------------------------
def test_azure_identity_secret_credential(emulator):
    token = secret_credential(emulator).get_token(GRAPH_SCOPE)
    assert token.token.count(".") == 2 and token.expires_on > datetime.datetime.now().timestamp()


def test_azure_identity_certificate_credential(emulator):
    cred = azure_identity.CertificateCredential(
        US["tenant"], US["client_id"], certificate_path=os.path.join(emulator.state_dir, "us-app-cert.pem"),
        authority=emulator.authority_host, disable_instance_discovery=True, connection_verify=emulator.ca_bundle)
    token = cred.get_token(GRAPH_SCOPE)
    assert token.token.count(".") == 2
    # And msgraph-sdk runs on it.
    org = run(graph_client(emulator, cred).organization.get())
    assert org.value and org.value[0].id == US["tenant"]


def test_azure_identity_wrong_secret_surfaces_aadsts(emulator):
    bad = azure_identity.ClientSecretCredential(
        US["tenant"], US["client_id"], "wrong", authority=emulator.authority_host,
        disable_instance_discovery=True, connection_verify=emulator.ca_bundle)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        bad.get_token(GRAPH_SCOPE)


# --- msgraph-sdk typed calls -------------------------------------------------------------------
def test_users_with_paging(emulator):
    """$top=2 over the partner's users: every page (empty ones included, paging.md) followed with
    the SDK's with_url until no @odata.nextLink."""
    client = graph_client(emulator, secret_credential(emulator))

    async def all_users():
        config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            top=2, select=["id", "displayName", "userPrincipalName", "accountEnabled"]))
        page = await client.users.get(request_configuration=config)
        users, pages = list(page.value), 1
        while page.odata_next_link:
            page = await client.users.with_url(page.odata_next_link).get()
            users += page.value
            pages += 1
        return users, pages

    users, pages = run(all_users())
    assert len(users) >= 3 and pages >= 3
    assert len({u.id for u in users}) == len(users)
    for u in users:
        assert u.id and u.user_principal_name and u.display_name and isinstance(u.account_enabled, bool)
        annotations_only(u)


def test_groups_with_filter_and_type_cast_members(emulator):
    # One event loop per client: the SDK's httpx client belongs to the loop it first ran in.
    client = graph_client(emulator, secret_credential(emulator))
    # $filter alone: with $orderby too Graph wants an advanced query (ConsistencyLevel + $count).
    config = RequestConfiguration(query_parameters=GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        filter="startswith(displayName,'GDAP')"))

    async def calls():
        groups = await client.groups.get(request_configuration=config)
        members = client.groups.by_group_id(US_GROUPS["AdminAgents"]).members
        return groups.value, (await members.graph_service_principal.get()).value

    groups, sps = run(calls())
    assert sorted(g.display_name for g in groups) == ["GDAP Admins", "GDAP Helpdesk"]
    for g in groups:
        assert g.security_enabled is True and g.mail_enabled is False and isinstance(g.group_types, list)
        annotations_only(g)
    # members/graph.servicePrincipal: the URL the SDK builds for the type cast.
    assert sps and all(isinstance(sp, ServicePrincipal) and sp.app_id for sp in sps)
    assert US["client_id"] in {sp.app_id for sp in sps}


def test_service_principal_by_app_id(emulator):
    client = graph_client(emulator, secret_credential(emulator))

    async def calls():
        found = await client.service_principals_with_app_id("00000003-0000-0000-c000-000000000000").get()
        try:
            await client.service_principals_with_app_id("00000000-0000-4000-8000-00000000dead").get()
        except ODataError as exc:
            return found, exc
        return found, None

    sp, missing = run(calls())
    assert sp.app_id == "00000003-0000-0000-c000-000000000000" and sp.display_name == "Microsoft Graph"
    assert sp.app_role_assignment_required is False and sp.info is not None
    assert sp.key_credentials == [] and sp.password_credentials == [] and sp.info is not None
    assert {r.value for r in sp.app_roles} >= {"Directory.Read.All", "User.Read.All"}
    assert all(r.id for r in sp.app_roles) and all(s.id for s in sp.oauth2_permission_scopes)
    annotations_only(sp)
    assert missing is not None and missing.response_status_code == 404
    assert missing.error.code == "Request_ResourceNotFound"


def test_gdap_list_get_create_patch_with_if_match(fresh_emulator):
    """GDAP with the integration user's token (MSAL refresh-token grant): list, create (typed
    ISO 8601 durations), get, PATCH with If-Match (kiota sends the header as given), a stale ETag
    refused with 412 as an ODataError."""
    emu = fresh_emulator
    client = graph_client(emu, RefreshTokenCredential(emu))
    rels = client.tenant_relationships.delegated_admin_relationships

    async def scenario():
        listed = await rels.get()
        assert listed.value
        for rel in listed.value:
            assert isinstance(rel.status, DelegatedAdminRelationshipStatus) and rel.id and rel.display_name
            assert isinstance(rel.duration, datetime.timedelta) and rel.customer.tenant_id
            assert rel.additional_data.get("@odata.etag", "").startswith('W/"')
            annotations_only(rel)
        # kiota-serialization-json writes a timedelta as str() ("730 days, 0:00:00"), which Graph
        # refuses as no ISO 8601 duration (so does the emulator): the durations go as text.
        body = DelegatedAdminRelationship(
            display_name="msgraph-sdk conformance",
            customer=DelegatedAdminRelationshipCustomerParticipant(tenant_id=CUSTOMER03),
            access_details=DelegatedAdminAccessDetails(unified_roles=[
                UnifiedRole(role_definition_id=EXCHANGE_ADMIN), UnifiedRole(role_definition_id=DYNAMICS_365_ADMIN)]),
            additional_data={"duration": "P730D", "autoExtendDuration": "P180D"})
        created = await rels.post(body)
        assert created.status == DelegatedAdminRelationshipStatus.Created
        assert created.duration == datetime.timedelta(days=730)
        assert created.auto_extend_duration == datetime.timedelta(days=180)
        got = await rels.by_delegated_admin_relationship_id(created.id).get()
        assert got.id == created.id and {r.role_definition_id for r in got.access_details.unified_roles} == {
            EXCHANGE_ADMIN, DYNAMICS_365_ADMIN}
        etag = got.additional_data["@odata.etag"]
        config = RequestConfiguration()
        config.headers.add("If-Match", etag)
        patched = await rels.by_delegated_admin_relationship_id(created.id).patch(
            DelegatedAdminRelationship(display_name="msgraph-sdk conformance, renamed"), request_configuration=config)
        assert patched.display_name == "msgraph-sdk conformance, renamed"
        assert patched.additional_data["@odata.etag"] != etag
        stale = RequestConfiguration()
        stale.headers.add("If-Match", etag)
        with pytest.raises(ODataError) as refused:
            await rels.by_delegated_admin_relationship_id(created.id).patch(
                DelegatedAdminRelationship(display_name="never"), request_configuration=stale)
        assert refused.value.response_status_code == 412
        customers = await client.tenant_relationships.delegated_admin_customers.get()
        assert customers.value and all(c.tenant_id and c.display_name for c in customers.value)

    run(scenario())
