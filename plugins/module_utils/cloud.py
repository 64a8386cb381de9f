# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft clouds: where to sign in, where the APIs live and which token audiences they use.

Endpoint overrides (authority_host, graph_endpoint, partner_center_endpoint) change where requests
go, never the audience of the token: the emulator, like a proxy, accepts the cloud's real audiences.
"""

from collections import namedtuple

from .errors import CspValidationError

Cloud = namedtuple("Cloud", [
    "name",
    "authority_host",          # https://login host
    "graph_endpoint",
    "partner_center_endpoint",  # None when Microsoft documents none for that cloud
    "azure_management_endpoint",
    "graph_audience",
    "partner_center_audience",
    "azure_management_audience",
    "cloud_instance_names",    # values of the discovery document's cloud_instance_name
])

CLOUDS = {
    "public": Cloud(
        name="public",
        authority_host="https://login.microsoftonline.com",
        graph_endpoint="https://graph.microsoft.com",
        partner_center_endpoint="https://api.partnercenter.microsoft.com",
        azure_management_endpoint="https://management.azure.com",
        graph_audience="https://graph.microsoft.com",
        partner_center_audience="https://api.partnercenter.microsoft.com",
        azure_management_audience="https://management.azure.com",
        cloud_instance_names=("microsoftonline.com",),
    ),
    "usgov": Cloud(
        name="usgov",
        authority_host="https://login.microsoftonline.us",
        graph_endpoint="https://graph.microsoft.us",
        # Partner Center for US Government publishes no endpoint we could confirm: set
        # partner_center_endpoint explicitly there.
        partner_center_endpoint=None,
        azure_management_endpoint="https://management.usgovcloudapi.net",
        graph_audience="https://graph.microsoft.us",
        partner_center_audience="https://api.partnercenter.microsoft.com",
        azure_management_audience="https://management.usgovcloudapi.net",
        cloud_instance_names=("microsoftonline.us",),
    ),
    "china": Cloud(
        name="china",
        # MSAL's constant; Microsoft's docs also name login.partner.microsoftonline.cn
        authority_host="https://login.chinacloudapi.cn",
        graph_endpoint="https://microsoftgraph.chinacloudapi.cn",
        partner_center_endpoint="https://partner.partnercenterapi.microsoftonline.cn",
        azure_management_endpoint="https://management.chinacloudapi.cn",
        graph_audience="https://microsoftgraph.chinacloudapi.cn",
        partner_center_audience="https://partner.partnercenterapi.microsoftonline.cn",
        azure_management_audience="https://management.chinacloudapi.cn",
        cloud_instance_names=("partner.microsoftonline.cn", "chinacloudapi.cn"),
    ),
}

CLOUD_NAMES = tuple(CLOUDS)

RESOURCES = ("graph", "partner_center", "azure_management")


def get_cloud(name):
    """Return the ``Cloud`` for a name (``None`` means public); unknown names are a validation error."""
    key = "public" if name is None else str(name).strip().lower()
    try:
        return CLOUDS[key]
    except KeyError:
        raise CspValidationError(
            "cloud %r is not known; use one of: %s" % (name, ", ".join(CLOUD_NAMES)),
            code="InvalidCloud") from None


def cloud_from_instance_name(instance_name):
    """Map a discovery document's ``cloud_instance_name`` to our cloud name (or None)."""
    if not instance_name:
        return None
    value = instance_name.lower()
    for cloud in CLOUDS.values():
        if value in cloud.cloud_instance_names:
            return cloud.name
    return None


def check_resource(resource, name="resource"):
    """The scopes a ``resource`` option names beyond the known resource names, checked before any request.

    Returns the list of scope strings (empty for a known name). An ``http://`` audience is refused: a
    token is never asked for an API that would be called in clear (``api://`` App ID URIs are fine).
    """
    if resource is None or (isinstance(resource, str) and resource in RESOURCES):
        return []
    if isinstance(resource, (list, tuple)):
        scopes = [str(s).strip() for s in resource if str(s).strip()]
    else:
        scopes = str(resource).split()
    if not scopes:
        raise CspValidationError("%s must name a resource (%s) or at least one scope" % (name, ", ".join(RESOURCES)),
                                 code="InvalidResource")
    for scope in scopes:
        if scope.lower().startswith("http://"):
            raise CspValidationError("%s %r is not an https audience or scope (TLS is never turned off)"
                                     % (name, scope), code="InvalidResource")
    return scopes


def resource_scopes(cloud, resource, delegated):
    """Scopes to request for a resource name, a scope string or a list of scopes.

    ``delegated`` (refresh-token grant) asks Partner Center for ``user_impersonation``, the scope
    its app+user calls need; app-only tokens always use ``<audience>/.default``.
    """
    if resource is None or resource == "graph":
        return [cloud.graph_audience + "/.default"]
    if resource == "partner_center":
        suffix = "/user_impersonation" if delegated else "/.default"
        return [cloud.partner_center_audience + suffix]
    if resource == "azure_management":
        return [cloud.azure_management_audience + "/.default"]
    scopes = check_resource(resource)
    result = []
    for scope in scopes:
        # "https://host" (an audience, not a scope) means that API's .default scope
        if scope.startswith("https://") and scope.count("/") == 2:
            scope += "/.default"
        elif scope.startswith("https://") and scope.endswith("/"):
            scope += ".default"
        result.append(scope)
    return result
