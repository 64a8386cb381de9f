# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection option contract (DESIGN.md) and its validation.

``CONNECTION_ARGSPEC`` is merged into every module; ``ConnectionOptions`` reads the same options
from a module, a lookup/inventory plugin or a plain dict, so everything below is shared.
"""

import os
import re
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from ansible.module_utils.common.parameters import AnsibleFallbackNotFound

from .cloud import CLOUD_NAMES, get_cloud
from .errors import CspValidationError, register_secret

# name -> environment variable; the order is the order of the docs
CONNECTION_ENV = {
    "tenant_id": "CSP_TENANT_ID",
    "client_id": "CSP_CLIENT_ID",
    "client_secret": "CSP_CLIENT_SECRET",
    "client_certificate_path": "CSP_CLIENT_CERTIFICATE_PATH",
    "refresh_token": "CSP_REFRESH_TOKEN",
    "refresh_token_store": "CSP_REFRESH_TOKEN_STORE",
    "cloud": "CSP_CLOUD",
    "authority_host": "CSP_AUTHORITY_HOST",
    "graph_endpoint": "CSP_GRAPH_ENDPOINT",
    "partner_center_endpoint": "CSP_PARTNER_CENTER_ENDPOINT",
    "ca_bundle": "CSP_CA_BUNDLE",
    "token_cache_path": "CSP_TOKEN_CACHE",
}

# Not connection options, but read from the same CSP_* environment by the customers inventory plugin.
PLUGIN_ENV = ("CSP_PARTNER_NAME", "CSP_PARTNER_REGION")


def is_unset(value):
    """Empty means unset: ``None``, ``""`` (or only blanks) and ``{}``.

    AWX renders every credential field the credential does not hold as ``""``, so every
    ``CSP_*`` variable can arrive empty; it must read exactly as if it were absent.
    """
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, dict) and not value


def env_fallback(*names):
    """``env_fallback`` of AnsibleModule, except that an empty variable counts as unset.

    It runs before type conversion and ``choices`` (``CSP_CLOUD=""`` must not fail validation).
    """
    for name in names:
        if not is_unset(os.environ.get(name)):
            return os.environ[name]
    raise AnsibleFallbackNotFound


@contextmanager
def empty_env_hidden(names=None):
    """Hide empty ``CSP_*`` variables while a plugin's options are resolved, then restore them.

    ansible-core resolves plugin options from the environment and converts them by type: ``""``
    becomes the working directory for ``type: path`` and fails ``choices``. Hidden, the option takes
    its next source (ini, default) exactly as if the variable were absent.
    """
    names = tuple(CONNECTION_ENV.values()) + PLUGIN_ENV if names is None else tuple(names)
    hidden = {name: os.environ.pop(name) for name in names
              if name in os.environ and is_unset(os.environ[name])}
    try:
        yield
    finally:
        os.environ.update(hidden)


def without_empty(values, names=None):
    """A copy of a dict without the entries that are unset (``""``, ``None``); ``names`` limits the check."""
    return {key: value for key, value in (values or {}).items()
            if not ((names is None or key in names) and is_unset(value))}


CONNECTION_ARGSPEC = {
    "tenant_id": dict(type="str", fallback=(env_fallback, ["CSP_TENANT_ID"])),
    "client_id": dict(type="str", fallback=(env_fallback, ["CSP_CLIENT_ID"])),
    "client_secret": dict(type="str", no_log=True, fallback=(env_fallback, ["CSP_CLIENT_SECRET"])),
    "client_certificate_path": dict(type="path", fallback=(env_fallback, ["CSP_CLIENT_CERTIFICATE_PATH"])),
    "refresh_token": dict(type="str", no_log=True, fallback=(env_fallback, ["CSP_REFRESH_TOKEN"])),
    # a path, URI or dict naming where the refresh token lives (module_utils/identity/refresh_token_store.py)
    "refresh_token_store": dict(type="raw", no_log=False, fallback=(env_fallback, ["CSP_REFRESH_TOKEN_STORE"])),
    "cloud": dict(type="str", default="public", choices=list(CLOUD_NAMES),
                  fallback=(env_fallback, ["CSP_CLOUD"])),
    "authority_host": dict(type="str", fallback=(env_fallback, ["CSP_AUTHORITY_HOST"])),
    "graph_endpoint": dict(type="str", fallback=(env_fallback, ["CSP_GRAPH_ENDPOINT"])),
    "partner_center_endpoint": dict(type="str", fallback=(env_fallback, ["CSP_PARTNER_CENTER_ENDPOINT"])),
    "ca_bundle": dict(type="path", fallback=(env_fallback, ["CSP_CA_BUNDLE"])),
    # "token" in the name makes Ansible guess it is secret; it is a directory path.
    "token_cache_path": dict(type="path", no_log=False, fallback=(env_fallback, ["CSP_TOKEN_CACHE"])),
}

# options that name a refresh token store (a path, a URI or a dict)
STORE_OPTIONS = ("refresh_token_store", "store", "secret_store")


def holds_inline_vault_password(value):
    """True when a store spec (dict or URI) carries ``vault_password`` itself (always refused)."""
    if isinstance(value, dict):
        keys = value.keys()
    elif isinstance(value, str):
        keys = parse_qs(urlsplit(value.strip()).query, keep_blank_values=True).keys()
    else:
        return False
    return any(str(k).strip().replace("-", "_").lower() == "vault_password" for k in keys)


GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$")


def is_guid(value):
    return isinstance(value, str) and bool(GUID_RE.match(value))


def is_domain(value):
    return isinstance(value, str) and bool(DOMAIN_RE.match(value))


def check_guid(value, name, what="a GUID", code="InvalidGuid"):
    """``value`` as a lower-case GUID, or a validation error naming the option ``name``."""
    text = str(value if value is not None else "").strip()
    if not is_guid(text):
        raise CspValidationError("%s %r is not %s" % (name, value, what), code=code)
    return text.lower()


def check_store(value, name):
    """Parse a refresh token store option (path, URI or dict) before any request; errors name the option.

    Returns the parsed spec (``None`` when unset); ``parse_store_spec`` checks it all (a Key Vault URL must be
    https, like every endpoint).
    """
    from .identity.refresh_token_store import parse_store_spec
    try:
        return parse_store_spec(value)
    except CspValidationError as err:
        raise CspValidationError("%s: %s" % (name, err.message), code=err.code) from None


def check_tenant(value, name="tenant_id"):
    """A tenant is a GUID or a verified domain; returns it normalised (GUIDs lower case)."""
    if not value:
        raise CspValidationError("%s is required (or set %s)" % (name, CONNECTION_ENV.get(name, "it")),
                                 code="MissingTenant")
    value = str(value).strip()
    if is_guid(value):
        return value.lower()
    if is_domain(value):
        return value.lower()
    raise CspValidationError(
        "%s %r is neither a GUID nor a domain name (such as contoso.onmicrosoft.com); "
        "common/organizations cannot be used by an app acting on its own" % (name, value),
        code="InvalidTenant")


def normalize_https_url(value, name):
    """Accept ``https://host[:port]`` (or a bare host); return ``https://host[:port]``."""
    text = str(value).strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise CspValidationError("%s must be an https URL, got %r (TLS is never turned off)" % (name, value),
                                 code="InvalidEndpoint")
    try:
        _port = parts.port  # noqa: F841 - parsing the port validates it
    except ValueError:
        raise CspValidationError("%s has an invalid port: %r" % (name, value), code="InvalidEndpoint") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise CspValidationError("%s must be https://host[:port] without path or query, got %r" % (name, value),
                                 code="InvalidEndpoint")
    return "https://" + parts.netloc


def load_certificate(path):
    """Read a PEM file holding a private key and a certificate.

    Returns MSAL's ``client_credential`` dict (private_key, thumbprint (SHA-1 hex),
    public_certificate) or raises ``CspValidationError`` naming what is wrong.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
    except ImportError:
        raise CspValidationError("client_certificate_path needs the Python library 'cryptography'",
                                 code="MissingLibrary") from None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CspValidationError("client_certificate_path %s cannot be read: %s" % (path, exc.strerror),
                                 code="UnreadableCertificate") from None
    key_match = re.search(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", data, re.S)
    cert_match = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)
    if not key_match or not cert_match:
        missing = " and ".join(n for n, m in (("a private key", key_match), ("a certificate", cert_match)) if not m)
        raise CspValidationError("client_certificate_path %s is not a PEM file with a private key and a "
                                 "certificate (missing %s)" % (path, missing), code="InvalidCertificate")
    if b"ENCRYPTED" in key_match.group(0):
        raise CspValidationError("the private key in %s is encrypted; store it unencrypted with mode 0600 "
                                 "(or in a vault that writes it at run time)" % path, code="InvalidCertificate")
    try:
        key = serialization.load_pem_private_key(key_match.group(0), password=None)
        cert = x509.load_pem_x509_certificate(cert_match.group(0))
    except (ValueError, TypeError) as exc:
        raise CspValidationError("client_certificate_path %s cannot be parsed: %s" % (path, exc),
                                 code="InvalidCertificate") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise CspValidationError("the private key in %s does not belong to its certificate" % path,
                                 code="InvalidCertificate")
    return {
        "private_key": key_match.group(0).decode("ascii"),
        # MSAL sends the SHA-1 thumbprint as x5t (RS256), as Entra ID expects for PEM certificates
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # nosec - identifier, not security
        "public_certificate": cert_match.group(0).decode("ascii"),
    }


class ConnectionOptions:
    """The validated connection options, however they were supplied."""

    def __init__(self, values):
        # empty means unset, whatever the source (an AWX injection, a template rendering "")
        self._raw = {name: None if is_unset(values.get(name)) else values.get(name) for name in CONNECTION_ENV}
        for name in ("client_secret", "refresh_token"):
            register_secret(self._raw.get(name))
        self._validated = False
        self.cloud = None
        self.credential = None
        self.authority_host = None
        self.graph_endpoint = None
        self.partner_center_endpoint = None
        self.refresh_token_store_spec = None

    # --- constructors (the option adapter) ---------------------------------------------
    @classmethod
    def from_module(cls, module):
        return cls(module.params)

    @classmethod
    def from_plugin(cls, plugin):
        """Read options from a lookup/inventory plugin (its ``get_option`` resolves ini/env/vars)."""
        values = {}
        for name in CONNECTION_ENV:
            try:
                values[name] = plugin.get_option(name)
            except KeyError:
                values[name] = None
        return cls(values)

    @classmethod
    def from_dict(cls, values, use_env=True):
        """Plain dict; missing options fall back to the CSP_* environment like modules do."""
        merged = {}
        for name, env in CONNECTION_ENV.items():
            value = values.get(name)
            if is_unset(value) and use_env:
                value = os.environ.get(env)
            merged[name] = value
        return cls(merged)

    def __getattr__(self, name):
        raw = self.__dict__.get("_raw", {})
        if name in raw:
            return raw[name]
        raise AttributeError(name)

    def get(self, name, default=None):
        value = self._raw.get(name)
        return default if value is None else value

    # --- validation ------------------------------------------------------------------
    def validate(self, credentials=True):
        """Check everything that can be checked without a request; idempotent."""
        self.cloud = get_cloud(self._raw.get("cloud"))
        self.authority_host = normalize_https_url(
            self._raw.get("authority_host") or self.cloud.authority_host, "authority_host")
        self.graph_endpoint = normalize_https_url(
            self._raw.get("graph_endpoint") or self.cloud.graph_endpoint, "graph_endpoint")
        pc_endpoint = self._raw.get("partner_center_endpoint") or self.cloud.partner_center_endpoint
        self.partner_center_endpoint = (normalize_https_url(pc_endpoint, "partner_center_endpoint")
                                        if pc_endpoint else None)
        ca_bundle = self._raw.get("ca_bundle")
        if ca_bundle:
            if not os.path.isfile(ca_bundle) or not os.access(ca_bundle, os.R_OK):
                raise CspValidationError("ca_bundle %s is not a readable file" % ca_bundle, code="InvalidCaBundle")
        cache = self._raw.get("token_cache_path")
        if cache and os.path.exists(cache) and not os.path.isdir(cache):
            raise CspValidationError("token_cache_path %s must be a directory (the cache keeps one file per "
                                     "login host and app in it)" % cache, code="InvalidTokenCache")
        store = self._raw.get("refresh_token_store")
        if store is not None:
            if self._raw.get("refresh_token"):
                raise CspValidationError("refresh_token and refresh_token_store are mutually exclusive: the store "
                                         "holds the (rotating) refresh token; check the CSP_* environment too",
                                         code="AmbiguousRefreshToken")
            self.refresh_token_store_spec = check_store(store, "refresh_token_store")
        else:
            self.refresh_token_store_spec = None
        if credentials:
            self._validate_credentials()
        else:  # not needed here, but a malformed value is still a mistake worth naming now
            if self._raw.get("tenant_id"):
                self._raw["tenant_id"] = check_tenant(self._raw["tenant_id"])
            if self._raw.get("client_id"):
                self._raw["client_id"] = check_guid(self._raw["client_id"], "client_id",
                                                    "a GUID (the app's Application (client) ID)", "InvalidClientId")
        self._validated = True
        return self

    def _validate_credentials(self):
        self._raw["tenant_id"] = check_tenant(self._raw.get("tenant_id"))
        client_id = self._raw.get("client_id")
        if not client_id:
            raise CspValidationError("client_id is required (or set CSP_CLIENT_ID)", code="MissingClientId")
        self._raw["client_id"] = check_guid(client_id, "client_id", "a GUID (the app's Application (client) ID)",
                                            "InvalidClientId")
        secret = self._raw.get("client_secret")
        cert_path = self._raw.get("client_certificate_path")
        if secret and cert_path:
            raise CspValidationError("client_secret and client_certificate_path are mutually exclusive; give one "
                                     "credential for the app (check the CSP_* environment too)",
                                     code="AmbiguousCredential")
        if not secret and not cert_path:
            delegated = self._raw.get("refresh_token") or self._raw.get("refresh_token_store")
            extra = " (a refresh_token needs the app's credential too)" if delegated else ""
            raise CspValidationError("no credential: give client_secret or client_certificate_path%s" % extra,
                                     code="MissingCredential")
        if cert_path:
            self.credential = load_certificate(cert_path)
        else:
            self.credential = secret

    # --- derived --------------------------------------------------------------------
    @property
    def grant(self):
        """The default grant: refresh token (delegated, app+user) when one is given."""
        delegated = self._raw.get("refresh_token") or self._raw.get("refresh_token_store") is not None
        return "refresh_token" if delegated else "client_credentials"

    @property
    def verify(self):
        return self._raw.get("ca_bundle") or True

    def credential_fingerprint(self):
        """A non-secret digest of the app credential, so a rotated credential never reuses old tokens."""
        import hashlib
        if isinstance(self.credential, dict):
            material = "cert:" + self.credential["thumbprint"]
        else:
            material = "secret:" + str(self.credential or "")
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]
