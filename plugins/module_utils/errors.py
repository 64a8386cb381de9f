# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the client library and the redaction every message goes through.

Modules catch ``CspError`` once in ``main()``; lookups turn it into ``AnsibleError``.
Nothing here imports Ansible, so the library is usable (and testable) on its own.
"""

import re
import threading

# Values that must never be shown (client secret, refresh tokens, access tokens) are
# registered here by the option adapter and the token provider, so that even a value
# that does not *look* like a secret (the emulator's refresh tokens are plain words)
# is masked wherever it is echoed back, e.g. in an error_description.
_SECRETS = set()
_SECRETS_LOCK = threading.Lock()
_MASK = "********"

_PATTERNS = [
    # Authorization / Bearer headers in any rendering ("Authorization: Bearer x", "'Bearer x'")
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(['\"]?authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\r\n]+"), r"\1" + _MASK),
    # form or query encoded credentials
    (re.compile(r"(?i)\b(client_secret|refresh_token|access_token|id_token|client_assertion|assertion"
                r"|password|code|MS-ContinuationToken)=[^&\s'\"]+"), r"\1=" + _MASK),
    # JSON / repr encoded credentials
    (re.compile(r"(?i)(['\"](?:client_secret|refresh_token|access_token|id_token|client_assertion"
                r"|password|secret|private_key)['\"]\s*:\s*['\"])[^'\"]*"), r"\1" + _MASK),
    # anything JWT-shaped (header.payload.signature, base64url, header starts with '{"')
    (re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"), _MASK),
    # PEM private key blocks
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), _MASK),
]

# AADSTS codes partners meet, with what to do about them.
AADSTS_HINTS = {
    "7000215": "The client secret is invalid: check client_secret (the secret value, not its id).",
    "7000222": "The client secret has expired: create a new secret for the app and update client_secret.",
    "700082": "The refresh token expired (90 days without use) or is no longer valid: sign the integration "
              "user in again (Secure Application Model consent) and store the new refresh token.",
    "65001": "Consent is missing: the app has not been granted the permission in this tenant. Give "
             "application consent (Partner Center applicationconsents) or admin consent, then retry with fresh=true.",
    "90099": "The partner app is not authorized in this customer tenant: give application consent through "
             "Partner Center for this customer, then retry with a fresh token.",
    "700016": "The app was not found in this tenant: check client_id and tenant_id, and that the app is "
              "multitenant and consented (has a service principal) in the target tenant.",
    "50076": "Multi-factor authentication is required: the refresh token must come from an MFA sign-in of "
             "the integration user (Secure Application Model).",
    "50079": "Multi-factor authentication registration is required for the integration user.",
    "50173": "The refresh token was revoked (password change or session revocation): sign the integration "
             "user in again and store the new refresh token.",
    "53003": "Blocked by Conditional Access in the tenant: ask its administrator to exclude or allow this sign-in.",
    "70043": "The refresh token expired because of a Conditional Access sign-in frequency policy: sign in again.",
    "90002": "The tenant was not found: check tenant_id (GUID or a verified domain) and the cloud.",
    "700027": "The client assertion signature is invalid: the certificate in client_certificate_path is not "
              "registered on the app, or its key does not match.",
    "7000112": "The app is disabled in the tenant.",
    "500011": "The resource principal was not found in the tenant: the API (e.g. Partner Center) has no "
              "service principal there yet.",
}


def register_secret(value):
    """Remember a secret value so every later ``redact()`` masks it verbatim."""
    if isinstance(value, str) and len(value) >= 6:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(value):
    """Mask secrets and tokens in a string (other types are converted with ``str``)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_data(data):
    """Redact every string inside a JSON-like structure (copy)."""
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    if isinstance(data, str):
        return redact(data)
    return data


def clean_description(text):
    """First line of an identity-platform error_description without the Trace/Correlation ID tail."""
    if not text:
        return text
    first = text.splitlines()[0] if text.splitlines() else text
    first = re.split(r"\s*Trace ID:", first)[0].strip()
    if re.match(r"^AADSTS\d+:", first):
        first = first.split(":", 1)[1].strip()
    return first


def aadsts_code(text):
    """Return the AADSTS number from an error_description ("AADSTS700082: ...") or None."""
    if not text:
        return None
    match = re.search(r"AADSTS(\d+)", text)
    return match.group(1) if match else None


class CspError(Exception):
    """Base of every error the library raises; carries what Microsoft said."""

    service = None
    kind = "error"

    def __init__(self, message, code=None, status=None, request_id=None, correlation_id=None,
                 service=None, hint=None, client_request_id=None, details=None):
        self.message = redact(message)
        self.code = None if code is None else str(code)
        self.status = status
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.client_request_id = client_request_id
        if service is not None:
            self.service = service
        self.hint = hint if hint is not None else self._default_hint()
        self.details = redact_data(details) if details else None
        super().__init__(self.message)

    def _default_hint(self):
        number = aadsts_code(self.code) or aadsts_code(self.message)
        return AADSTS_HINTS.get(number) if number else None

    def __str__(self):
        parts = []
        if self.service:
            parts.append(self.service)
        if self.status:
            parts.append("HTTP %s" % self.status)
        if self.code and (self.service or self.status):  # our own validation codes are noise in a message
            parts.append(self.code)
        prefix = " ".join(parts)
        text = "%s: %s" % (prefix, self.message) if prefix else self.message
        if self.request_id:
            text += " (request id %s)" % self.request_id
        return text

    def to_result(self):
        """The ``error`` dict modules return (no secrets, only what helps a human)."""
        result = {
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "request_id": self.request_id,
            "correlation_id": self.correlation_id,
            "client_request_id": self.client_request_id,
            "service": self.service,
            "type": self.kind,
            "hint": self.hint,
        }
        if self.details:
            result["details"] = self.details
        return result


class CspValidationError(CspError):
    """Bad input found before any request was sent."""

    kind = "validation"


class CspAuthError(CspError):
    """The identity platform refused to issue a token (AADSTS...)."""

    service = "login"
    kind = "auth"


class CspTransportError(CspError):
    """The service could not be reached (DNS, TLS, connection dropped, timeout)."""

    kind = "transport"


class CspHttpError(CspError):
    """A service answered with an unexpected HTTP status."""

    kind = "http"

    def __init__(self, message, retry_after=None, body=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.body = redact_data(body) if body is not None else None


class GraphError(CspHttpError):
    service = "graph"


class PartnerCenterError(CspHttpError):
    service = "partner_center"


class LoginHttpError(CspHttpError, CspAuthError):
    """An identity platform endpoint (discovery, token) answered with an error status."""

    service = "login"
    kind = "auth"
