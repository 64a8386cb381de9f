"""Well-known Microsoft first-party APIs and built-in Entra roles.

Every appId, app role id, delegated scope id and role template id below is Microsoft's real,
published value (Microsoft Graph "All permissions and IDs", the Entra built-in roles reference,
and the appIds Microsoft documents for its first-party service principals). Where an id could not
be confirmed it is a stable uuid5 and says so next to it. Only a realistic subset of each API's
permissions is listed: what partner tooling and this collection use, plus a few neighbours.
"""

import uuid

MICROSOFT_GRAPH = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
AZURE_SERVICE_MANAGEMENT = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
PARTNER_CUSTOMER_DELEGATED_ADMIN = "2832473f-ec63-45fb-976f-5d45a7d4bb91"
AZURE_KEY_VAULT = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"

# Namespace for ids Microsoft does not publish (kept stable across runs and machines).
_UNCONFIRMED_NS = uuid.UUID("6f1c2a4e-2b7d-4c55-9a53-2c6b3e1f0a77")


def _unconfirmed_id(name: str) -> str:
    return str(uuid.uuid5(_UNCONFIRMED_NS, name))


def _role(rid: str, value: str, display: str, description: str) -> dict:
    return {
        "id": rid,
        "value": value,
        "displayName": display,
        "description": description,
        "allowedMemberTypes": ["Application"],
        "isEnabled": True,
        "origin": "Application",
    }


def _scope(sid: str, value: str, display: str, kind: str = "Admin", description: str = "") -> dict:
    return {
        "id": sid,
        "value": value,
        "adminConsentDisplayName": display,
        "adminConsentDescription": description or f"Allows the app to {display[0].lower()}{display[1:]}.",
        "userConsentDisplayName": display,
        "userConsentDescription": description or f"Allows the app to {display[0].lower()}{display[1:]}.",
        "type": kind,
        "isEnabled": True,
        "origin": "Application",
    }


_GRAPH_ROLES = [
    _role("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", "Read directory data",
          "Allows the app to read data in your organization's directory, such as users, groups and apps, "
          "without a signed-in user."),
    _role("19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Directory.ReadWrite.All", "Read and write directory data",
          "Allows the app to read and write data in your organization's directory, such as users, and "
          "groups, without a signed-in user. Does not allow user or group deletion."),
    _role("df021288-bdef-4463-88db-98f22de89214", "User.Read.All", "Read all users' full profiles",
          "Allows the app to read user profiles without a signed in user."),
    _role("741f803b-c850-494e-b5df-cde7c675a1ca", "User.ReadWrite.All", "Read and write all users' full profiles",
          "Allows the app to read and update user profiles without a signed in user."),
    _role("5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", "Read all groups",
          "Allows the app to read group properties and memberships without a signed-in user."),
    _role("62a82d76-70ea-41e2-9197-370581804d09", "Group.ReadWrite.All", "Read and write all groups",
          "Allows the app to create groups, read all group properties and memberships, update group "
          "properties and memberships, and delete groups, without a signed-in user."),
    _role("bf7b1a76-6e77-406b-b258-bf5c7720e98f", "Group.Create", "Create groups",
          "Allows the app to create groups without a signed-in user."),
    _role("98830695-27a2-44f7-8c18-0c3ebc9698f6", "GroupMember.Read.All", "Read all group memberships",
          "Allows the app to read memberships and basic group properties for all groups without a "
          "signed-in user."),
    _role("dbaae8cf-10b5-4b86-a4a1-f871c94c6695", "GroupMember.ReadWrite.All", "Read and write all group memberships",
          "Allows the app to list groups, read basic properties, read and update the membership of the "
          "groups this app has access to without a signed-in user."),
    _role("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", "Read all applications",
          "Allows the app to read all applications and service principals without a signed-in user."),
    _role("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "Application.ReadWrite.All", "Read and write all applications",
          "Allows the app to create, read, update and delete applications and service principals without "
          "a signed-in user. Does not allow management of consent grants."),
    _role("18a4783c-866b-4cc7-a460-3d5e5662c884", "Application.ReadWrite.OwnedBy",
          "Manage apps that this app creates or owns",
          "Allows the app to create other applications, and fully manage those applications, without a "
          "signed-in user. It cannot update any apps that it is not an owner of."),
    _role("06b708a9-e830-4db3-a914-8e69da51d44f", "AppRoleAssignment.ReadWrite.All", "Manage app permission grants "
          "and app role assignments",
          "Allows the app to manage permission grants for application permissions to any API and "
          "application assignments for any app, without a signed-in user."),
    _role("8e8e4742-1d95-4f68-9d56-6ee75648c72a", "DelegatedPermissionGrant.ReadWrite.All",
          "Manage all delegated permission grants",
          "Allows the app to manage permission grants for delegated permissions exposed by any API, "
          "without a signed-in user."),
    _role("498476ce-e0fe-48b0-b801-37ba7e2685c6", "Organization.Read.All", "Read organization information",
          "Allows the app to read the organization and related resources, without a signed-in user."),
    _role("292d869f-3427-49a8-9dab-8c70152b74e9", "Organization.ReadWrite.All", "Read and write organization "
          "information",
          "Allows the app to read and write the organization and related resources, without a signed-in "
          "user."),
    _role("dbb9058a-0e50-45d7-ae91-66909b5d4664", "Domain.Read.All", "Read domains",
          "Allows the app to read all domain properties without a signed-in user."),
    _role("f6e9e124-4586-492f-adc0-c6f96e4823fd", "DelegatedAdminRelationship.Read.All",
          "Read Delegated Admin relationships with customers",
          "Allows the app to read details of delegated admin relationships with customers like access "
          "details (that includes roles) and the duration as well as specific role assignments to "
          "security groups without a signed-in user."),
    _role("cc13eba4-8cd8-44c6-b4d4-f93237adce58", "DelegatedAdminRelationship.ReadWrite.All",
          "Manage Delegated Admin relationships with customers",
          "Allows the app to manage (create-update-terminate) Delegated Admin relationships with "
          "customers and role assignments to security groups for active Delegated Admin relationships "
          "without a signed-in user."),
    _role("246dd0d5-5bd0-4def-940b-0421030a5b68", "Policy.Read.All", "Read your organization's policies",
          "Allows the app to read all your organization's policies without a signed in user."),
    _role("230c1aed-a721-4c5d-9cb4-a90514e508ef", "Reports.Read.All", "Read all usage reports",
          "Allows an app to read all service usage reports without a signed-in user."),
    _role("b0afded3-3588-46d8-8b3d-9842eff778da", "AuditLog.Read.All", "Read all audit log data",
          "Allows the app to read and query your audit log activities, without a signed-in user."),
]

_GRAPH_SCOPES = [
    _scope("e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read", "Sign in and read user profile", "User",
           "Allows users to sign-in to the app, and allows the app to read the profile of signed-in users."),
    _scope("a154be20-db9c-4678-8ab7-66f6cc099a59", "User.Read.All", "Read all users' full profiles"),
    _scope("204e0828-b5ca-4ad8-b9f3-f32a958e7cc4", "User.ReadWrite.All", "Read and write all users' full profiles"),
    _scope("b340eb25-3456-403f-be2f-af7a0d370277", "User.ReadBasic.All", "Read all users' basic profiles", "User"),
    _scope("0e263e50-5827-48a4-b97c-d940288653c7", "Directory.AccessAsUser.All",
           "Access directory as the signed in user", "Admin",
           "Allows the app to have the same access to information in the directory as the signed-in user."),
    _scope("06da0dbc-49e2-44d2-8312-53f166ab848a", "Directory.Read.All", "Read directory data"),
    _scope("c5366453-9fb0-48a5-a156-24f0c49a4b84", "Directory.ReadWrite.All", "Read and write directory data"),
    _scope("5f8c59db-677d-491f-a6b8-5f174b11ec1d", "Group.Read.All", "Read all groups"),
    _scope("4e46008b-f24c-477d-8fff-7bb4ec7aafe0", "Group.ReadWrite.All", "Read and write all groups"),
    _scope("bc024368-1153-4739-b217-4326f2e966d0", "GroupMember.Read.All", "Read group memberships"),
    _scope("f81125ac-d3b7-4573-a3b2-7099cc39df9e", "GroupMember.ReadWrite.All", "Read and write group memberships"),
    _scope("c79f8feb-a9db-4090-85f9-90d820caa0eb", "Application.Read.All", "Read applications"),
    _scope("bdfbf15f-ee85-4955-8675-146e8e5296b5", "Application.ReadWrite.All", "Read and write all applications"),
    _scope("84bccea3-f856-4a8a-967b-dbe0a3d53a64", "AppRoleAssignment.ReadWrite.All",
           "Manage app permission grants and app role assignments"),
    _scope("41ce6ca6-6826-4807-84f1-1c82854f7ee5", "DelegatedPermissionGrant.ReadWrite.All",
           "Manage all delegated permission grants"),
    _scope("4908d5b9-3fb2-4b1e-9336-1888b7937185", "Organization.Read.All", "Read organization information"),
    _scope("2f9ee017-59c1-4f1d-9472-bd5529a7b311", "Domain.Read.All", "Read domains"),
    _scope("0c0064ea-477b-4130-82a5-4c2cc4ff68aa", "DelegatedAdminRelationship.Read.All",
           "Read Delegated Admin relationships with customers"),
    _scope("885f682f-a990-4bad-a642-36736a74b0c7", "DelegatedAdminRelationship.ReadWrite.All",
           "Manage Delegated Admin relationships with customers"),
    _scope("572fea84-0151-49b2-9301-11cb16974376", "Policy.Read.All", "Read your organization's policies"),
    _scope("7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "offline_access", "Maintain access to data you have given it "
           "access to", "User", "Allows the app to see and update the data you gave it access to, even when "
           "users are not currently using the app."),
    _scope("37f7f235-527c-4136-accd-4a02d197296e", "openid", "Sign users in", "User",
           "Allows users to sign in to the app with their work or school accounts."),
    _scope("14dad69e-099b-42c9-810b-d002981feec1", "profile", "View users' basic profile", "User",
           "Allows the app to see your users' basic profile (e.g., name, picture, user name, email address)."),
    _scope("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "email", "View users' email address", "User",
           "Allows the app to read your users' primary email address."),
]

API_BY_APPID: dict[str, dict] = {
    MICROSOFT_GRAPH: {
        "displayName": "Microsoft Graph",
        "appRoles": _GRAPH_ROLES,
        "oauth2PermissionScopes": _GRAPH_SCOPES,
        # Access tokens carry the URI form; v1 tokens requested by appId carry the GUID form.
        "audience_uris": ["https://graph.microsoft.com", "https://graph.microsoft.com/", MICROSOFT_GRAPH],
    },
    PARTNER_CENTER: {
        "displayName": "Microsoft Partner Center",
        "appRoles": [],
        "oauth2PermissionScopes": [
            _scope("1cebfa2a-fb4d-419e-b5f9-839b4383e05a", "user_impersonation", "Access Partner Center",
                   "Admin", "Allows the app to access Partner Center as the signed-in user."),
        ],
        "audience_uris": ["https://api.partnercenter.microsoft.com", "https://api.partnercenter.microsoft.com/",
                          PARTNER_CENTER],
    },
    AZURE_SERVICE_MANAGEMENT: {
        "displayName": "Windows Azure Service Management API",
        "appRoles": [],
        "oauth2PermissionScopes": [
            _scope("41094075-9dad-400e-a0bd-54e686782033", "user_impersonation",
                   "Access Azure Service Management as organization users (preview)", "User",
                   "Allows the application to access the Azure Management Service API acting as users in the "
                   "organization."),
        ],
        "audience_uris": ["https://management.azure.com", "https://management.azure.com/",
                          "https://management.core.windows.net", "https://management.core.windows.net/",
                          AZURE_SERVICE_MANAGEMENT],
    },
    EXCHANGE_ONLINE: {
        "displayName": "Office 365 Exchange Online",
        "appRoles": [
            _role("dc50a0fb-09a3-484d-be87-e023b12c6440", "Exchange.ManageAsApp", "Manage Exchange As Application",
                  "Allows the app to manage the organization's Exchange environment without any user interaction."),
        ],
        "oauth2PermissionScopes": [
            # Unconfirmed id: generated stable uuid5.
            _scope(_unconfirmed_id("exchange:Exchange.Manage"), "Exchange.Manage",
                   "Manage Exchange configuration", "Admin"),
        ],
        "audience_uris": ["https://outlook.office365.com", "https://outlook.office365.com/",
                          "https://outlook.office.com", "https://outlook.office.com/", EXCHANGE_ONLINE],
    },
    AZURE_KEY_VAULT: {
        # Data-plane access is Azure RBAC on the vault, not app roles: app-only tokens carry no roles.
        "displayName": "Azure Key Vault",
        "appRoles": [],
        "oauth2PermissionScopes": [
            _scope("f53da476-18e3-4152-8e01-aec403e6edc0", "user_impersonation", "Have full access to the Azure "
                   "Key Vault service", "User", "Allow the application full access to the Azure Key Vault "
                   "service on behalf of the signed-in user"),
        ],
        "audience_uris": ["https://vault.azure.net", "https://vault.azure.net/", AZURE_KEY_VAULT],
    },
    PARTNER_CUSTOMER_DELEGATED_ADMIN: {
        # Needed in the partner tenant for app-only GDAP calls; it exposes nothing a client requests.
        "displayName": "Partner Customer Delegated Administration",
        "appRoles": [],
        "oauth2PermissionScopes": [],
        "audience_uris": [PARTNER_CUSTOMER_DELEGATED_ADMIN],
    },
}

NAME_TO_APPID: dict[str, str] = {
    "microsoft_graph": MICROSOFT_GRAPH,
    "graph": MICROSOFT_GRAPH,
    "partner_center": PARTNER_CENTER,
    "azure_service_management": AZURE_SERVICE_MANAGEMENT,
    "azure_key_vault": AZURE_KEY_VAULT,
    "exchange_online": EXCHANGE_ONLINE,
    "partner_customer_delegated_admin": PARTNER_CUSTOMER_DELEGATED_ADMIN,
}

# Every built-in Entra role: display name -> role template id, as the "All roles" table of
# Microsoft's "Microsoft Entra built-in roles" reference lists them (entra-docs,
# docs/identity/role-based-access-control/permissions-reference.md, May 2025: 112 roles).
# GDAP relationships and access assignments accept any of these and nothing else.
ROLE_TEMPLATES: dict[str, str] = {
    "AI Administrator": "d2562ede-74db-457e-a7b6-544e236ebb61",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Application Developer": "cf1c38e5-3621-4004-a7cb-879624dced7c",
    "Attack Payload Author": "9c6df0f2-1e7c-4dc3-b195-66dfbd24aa8f",
    "Attack Simulation Administrator": "c430b396-e693-46cc-96f3-db01bf8bb62a",
    "Attribute Assignment Administrator": "58a13ea3-c632-46ae-9ee0-9c0d43cd7f3d",
    "Attribute Assignment Reader": "ffd52fa5-98dc-465c-991d-fc073eb59f8f",
    "Attribute Definition Administrator": "8424c6f0-a189-499e-bbd0-26c1753c96d4",
    "Attribute Definition Reader": "1d336d2c-4ae8-42ef-9711-b3604ce3fc2c",
    "Attribute Log Administrator": "5b784334-f94b-471a-a387-e7219fc49ca2",
    "Attribute Log Reader": "9c99539d-8186-4804-835f-fd51ef9e2dcd",
    "Attribute Provisioning Administrator": "ecb2c6bf-0ab6-418e-bd87-7986f8d63bbe",
    "Attribute Provisioning Reader": "422218e4-db15-4ef9-bbe0-8afb41546d79",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Authentication Extensibility Administrator": "25a516ed-2fa0-40ea-a2d0-12923a21473a",
    "Authentication Policy Administrator": "0526716b-113d-4c15-b2c8-68e3c22b9f80",
    "Azure DevOps Administrator": "e3973bdf-4987-49ae-837a-ba8e231c7286",
    "Azure Information Protection Administrator": "7495fdc4-34c4-4d15-a289-98788ce399fd",
    "B2C IEF Keyset Administrator": "aaf43236-0c0d-4d5f-883a-6955382ac081",
    "B2C IEF Policy Administrator": "3edaf663-341e-4475-9f94-5c398ef6c070",
    "Billing Administrator": "b0f54661-2d74-4c50-afa3-1ec803f12efe",
    "Cloud App Security Administrator": "892c5842-a9a6-463a-8041-72aa08ca3cf6",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Cloud Device Administrator": "7698a772-787b-4ac8-901f-60d6b08affd2",
    "Compliance Administrator": "17315797-102d-40b4-93e0-432062caca18",
    "Compliance Data Administrator": "e6d1a23a-da11-4be4-9570-befc86d067a7",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "Customer LockBox Access Approver": "5c4f9dcd-47dc-4cf7-8c9a-9e4207cbfc91",
    "Desktop Analytics Administrator": "38a96431-2bdf-4b4c-8b6e-5d3d8abac1a4",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "Directory Synchronization Accounts": "d29b2b05-8046-44ba-8758-1e26182fcf32",
    "Directory Writers": "9360feb5-f418-4baa-8175-e2a00bac4301",
    "Domain Name Administrator": "8329153b-31d0-4727-b945-745eb3bc5f31",
    "Dynamics 365 Administrator": "44367163-eba1-44c3-98af-f5787879f96a",
    "Dynamics 365 Business Central Administrator": "963797fb-eb3b-4cde-8ce3-5878b3f32a3f",
    "Edge Administrator": "3f1acade-1e04-4fbc-9b69-f0302cd84aef",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "Exchange Recipient Administrator": "31392ffb-586c-42d1-9346-e59415a2cc4e",
    "External ID User Flow Administrator": "6e591065-9bad-43ed-90f3-e9424366d2f0",
    "External ID User Flow Attribute Administrator": "0f971eea-41eb-4569-a71e-57bb8a3eff1e",
    "External Identity Provider Administrator": "be2f45a1-457d-42af-a067-6ec1fa63bc45",
    "Fabric Administrator": "a9ea8996-122f-4c74-9520-8edcd192826c",
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Global Secure Access Administrator": "ac434307-12b9-4fa1-a708-88bf58caabc1",
    "Global Secure Access Log Reader": "843318fb-79a6-4168-9e6f-aa9a07481cc4",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Guest Inviter": "95e79109-95c0-4d8e-aee3-d01accf2d47b",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Hybrid Identity Administrator": "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "Identity Governance Administrator": "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",
    "Insights Administrator": "eb1f4a8d-243a-41f0-9fbd-c7cdf6c5ef7c",
    "Insights Analyst": "25df335f-86eb-4119-b717-0ff02de207e9",
    "Insights Business Leader": "31e939ad-9672-4796-9c2e-873181342d2d",
    "Intune Administrator": "3a2c62db-5318-420d-8d74-23affee5d9d5",
    "IoT Device Administrator": "2ea5ce4c-b2d8-4668-bd81-3680bd2d227a",
    "Kaizala Administrator": "74ef975b-6605-40af-a5d2-b9539d836353",
    "Knowledge Administrator": "b5a8dcf3-09d5-43a9-a639-8e29ef291470",
    "Knowledge Manager": "744ec460-397e-42ad-a462-8b3f9747a02c",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "Lifecycle Workflows Administrator": "59d46f88-662b-457b-bceb-5c3809e5908f",
    "Message Center Privacy Reader": "ac16e43d-7b2d-40e0-ac05-243ff356ab5b",
    "Message Center Reader": "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b",
    "Microsoft 365 Backup Administrator": "1707125e-0aa2-4d4d-8655-a7c786c76a25",
    "Microsoft 365 Migration Administrator": "8c8b803f-96e1-4129-9349-20738d9f9652",
    "Microsoft Entra Joined Device Local Administrator": "9f06204d-73c1-4d4c-880a-6edb90606fd8",
    "Microsoft Graph Data Connect Administrator": "ee67aa9c-e510-4759-b906-227085a7fd4d",
    "Microsoft Hardware Warranty Administrator": "1501b917-7653-4ff9-a4b5-203eaf33784f",
    "Microsoft Hardware Warranty Specialist": "281fe777-fb20-4fbb-b7a3-ccebce5b0d96",
    "Modern Commerce Administrator": "d24aef57-1500-4070-84db-2666f29cf966",
    "Network Administrator": "d37c8bed-0711-4417-ba38-b4abe66ce4c2",
    "Office Apps Administrator": "2b745bdf-0803-4d80-aa65-822c4493daac",
    "Organizational Branding Administrator": "92ed04bf-c94a-4b82-9729-b799a7a4c178",
    "Organizational Messages Approver": "e48398e2-f4bb-4074-8f31-4586725e205b",
    "Organizational Messages Writer": "507f53e4-4e52-4077-abd3-d2e1558b6ea2",
    "Partner Tier1 Support": "4ba39ca4-527c-499a-b93d-d9b492c50246",
    "Partner Tier2 Support": "e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8",
    "Password Administrator": "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "People Administrator": "024906de-61e5-49c8-8572-40335f1e0e10",
    "Permissions Management Administrator": "af78dc32-cf4d-46f9-ba4e-4428526346b5",
    "Power Platform Administrator": "11648597-926c-4cf3-9c36-bcebb0ba8dcc",
    "Printer Administrator": "644ef478-e28f-4e28-b9dc-3fdde9aa0b1f",
    "Printer Technician": "e8cef6f1-e4bd-4ea8-bc07-4b8d950f4477",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Reports Reader": "4a5d8f65-41da-4de4-8968-e035b65339cf",
    "Search Administrator": "0964bb5e-9bdb-4d7b-ac29-58e794862a40",
    "Search Editor": "8835291a-918c-4fd7-a9ce-faa49f0cf7d9",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Security Operator": "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Service Support Administrator": "f023fd81-a637-4b56-95fd-791ac0226033",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "SharePoint Embedded Administrator": "1a7d78b6-429f-476b-b8eb-35fb715fffd4",
    "Skype for Business Administrator": "75941009-915a-4869-abe7-691bff18279e",
    "Teams Administrator": "69091246-20e8-4a56-aa4d-066075b2a7a8",
    "Teams Communications Administrator": "baf37b3a-610e-45da-9e62-d9d1e5e8914b",
    "Teams Communications Support Engineer": "f70938a0-fc10-4177-9e90-2178f8765737",
    "Teams Communications Support Specialist": "fcf91098-03e3-41a9-b5ba-6f0ec8188a12",
    "Teams Devices Administrator": "3d762c5a-1b6c-493f-843e-55a3b42923d4",
    "Teams Telephony Administrator": "aa38014f-0993-46e9-9b45-30501a20909d",
    "Tenant Creator": "112ca1a2-15ad-4102-995e-45b0bc479a6a",
    "Usage Summary Reports Reader": "75934031-6c7e-415a-99d7-48dbd49e875e",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "User Experience Success Manager": "27460883-1df1-4691-b032-3b79643e5e63",
    "Virtual Visits Administrator": "e300d9e7-4a2b-4295-9eff-f1c78b36cc98",
    "Viva Glint Tenant Administrator": "0ec3f692-38d6-4d14-9e69-0377ca7797ad",
    "Viva Goals Administrator": "92b086b3-e367-4ef2-b869-1de128fb986e",
    "Viva Pulse Administrator": "87761b17-1ed2-4af3-9acd-92a150038160",
    "Windows 365 Administrator": "11451d60-acb2-45eb-a7d6-43d0f0125c13",
    "Windows Update Deployment Administrator": "32696413-001a-46ae-978c-ce0f6b3620d2",
    "Yammer Administrator": "810a2642-a034-447f-a5e8-41beaa378541",
}
ROLE_NAME_BY_TEMPLATE: dict[str, str] = {v: k for k, v in ROLE_TEMPLATES.items()}

# Roles with which a user may grant tenant-wide consent (application consent through Partner Center
# needs one of these in the customer tenant, per the GDAP documentation).
CONSENT_ROLES = frozenset({
    ROLE_TEMPLATES["Global Administrator"],
    ROLE_TEMPLATES["Application Administrator"],
    ROLE_TEMPLATES["Cloud Application Administrator"],
})

# Precomputed look-ups; the token endpoint and permission checks hit these on every request.
_AUDIENCE_TO_APPID = {
    uri.lower(): app_id for app_id, api in API_BY_APPID.items() for uri in api["audience_uris"]
}
_ROLE_BY_ID = {app_id: {r["id"]: r for r in api["appRoles"]} for app_id, api in API_BY_APPID.items()}
_ROLE_BY_VALUE = {app_id: {r["value"]: r for r in api["appRoles"]} for app_id, api in API_BY_APPID.items()}
_SCOPE_BY_ID = {app_id: {s["id"]: s for s in api["oauth2PermissionScopes"]} for app_id, api in API_BY_APPID.items()}
MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
_SP_NAMES = {
    app_id: [app_id, *[u for u in api["audience_uris"] if u.startswith("https") and not u.endswith("/")]]
    for app_id, api in API_BY_APPID.items()
}
_SCOPE_BY_VALUE = {
    app_id: {s["value"]: s for s in api["oauth2PermissionScopes"]} for app_id, api in API_BY_APPID.items()
}


def resolve_api(name_or_appid: str) -> str | None:
    """appId of a catalog API given its appId, a NAME_TO_APPID name or an audience URI."""
    if not name_or_appid:
        return None
    key = name_or_appid.strip()
    if key.lower() in API_BY_APPID:
        return key.lower()
    if key.lower() in NAME_TO_APPID:
        return NAME_TO_APPID[key.lower()]
    return appid_for_audience(key)


def appid_for_audience(resource: str) -> str | None:
    """appId of the API a resource URI / `scope` prefix names (e.g. `https://graph.microsoft.com`)."""
    if not resource:
        return None
    key = resource.strip().lower()
    return _AUDIENCE_TO_APPID.get(key) or _AUDIENCE_TO_APPID.get(key.rstrip("/"))


def primary_audience(app_id: str) -> str | None:
    """The `aud` Microsoft puts in v2 access tokens for this API (its first audience URI)."""
    api = API_BY_APPID.get(app_id)
    return api["audience_uris"][0] if api else None


def app_role(app_id: str, id_or_value: str) -> dict | None:
    """An app role of a catalog API by id or by value (e.g. `Directory.Read.All`)."""
    return _ROLE_BY_ID.get(app_id, {}).get(id_or_value) or _ROLE_BY_VALUE.get(app_id, {}).get(id_or_value)


def oauth2_scope(app_id: str, id_or_value: str) -> dict | None:
    """A delegated permission scope of a catalog API by id or by value (e.g. `User.Read`)."""
    return _SCOPE_BY_ID.get(app_id, {}).get(id_or_value) or _SCOPE_BY_VALUE.get(app_id, {}).get(id_or_value)


def permission_value(app_id: str, permission_id: str, kind: str) -> str | None:
    """Value of a `requiredResourceAccess` entry: kind `Role` (app role) or `Scope` (delegated)."""
    entry = app_role(app_id, permission_id) if kind == "Role" else oauth2_scope(app_id, permission_id)
    return entry["value"] if entry else None


def service_principal_body(app_id: str) -> dict | None:
    """Graph-shaped fields of the first-party service principal for `app_id` (without `id`).

    The permission lists are new lists, but their entries are the catalog's own dicts, shared by
    every tenant: a world of thousands of tenants would otherwise spend most of its load time and
    memory copying Microsoft Graph's permissions. Treat the entries as read-only.
    """
    api = API_BY_APPID.get(app_id)
    if api is None:
        return None
    return {
        "appId": app_id,
        "displayName": api["displayName"],
        "appDisplayName": api["displayName"],
        "servicePrincipalType": "Application",
        "accountEnabled": True,
        # Microsoft's first-party apps live in Microsoft's own tenant.
        "appOwnerOrganizationId": MICROSOFT_SERVICES_TENANT,
        "servicePrincipalNames": list(_SP_NAMES[app_id]),
        "appRoles": list(api["appRoles"]),
        "oauth2PermissionScopes": list(api["oauth2PermissionScopes"]),
        "tags": [],
    }
