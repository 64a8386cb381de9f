"""Token material: the RS256 signing key and JWKS, access/id tokens, verification of bearer
tokens and client assertions, and refresh-token / device-code records."""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import json
import secrets
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from . import catalog, certs
from .clock import iso
from .world import DAY, Tenant, World

SERVICE_AUDIENCE: dict[str, str | None] = {
    "graph": catalog.MICROSOFT_GRAPH,
    "partner_center": catalog.PARTNER_CENTER,
    "login": None,
    "keyvault": catalog.AZURE_KEY_VAULT,
}


class TokenError(Exception):
    """A bearer token or client assertion that does not verify. ``code`` is the Graph-style
    error code, ``aadsts`` the identity platform code where one applies."""

    def __init__(self, message: str, code: str = "InvalidAuthenticationToken", aadsts: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.aadsts = aadsts


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


# --------------------------------------------------------------------------------- signing key
class SigningKey:
    """The emulator's token signing key with a self-signed certificate (for ``x5c``/``x5t``)."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = _dt.datetime.now(_dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.private_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=365))
                .sign(self.private_key, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        # Entra uses the base64url SHA-1 thumbprint as both kid and x5t.
        self.kid = b64url(hashlib.sha1(der).digest())  # noqa: S324 - x5t is SHA-1 by definition
        numbers = self.private_key.public_key().public_numbers()
        self.jwk = {
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": _uint(numbers.n), "e": _uint(numbers.e),
            "x5c": [base64.b64encode(der).decode()], "cloud_instance_name": "microsoftonline.com",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        }
        self.public_key = self.private_key.public_key()

    def sign(self, claims: dict, header_extra: dict | None = None) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        if header_extra:
            header.update(header_extra)
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = self.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}


_fallback_lock = threading.Lock()


def signing_key(world: World) -> SigningKey:
    runtime = world.runtime
    if runtime is not None and getattr(runtime, "signing_key", None) is not None:
        return runtime.signing_key
    with _fallback_lock:  # a world used without a server (unit tests)
        key = world.extra.get("signing_key")
        if key is None:
            key = world.extra["signing_key"] = SigningKey()
        return key


def login_base(world: World) -> str:
    runtime = world.runtime
    if runtime is not None and runtime.urls.get("login"):
        return runtime.urls["login"]
    return "https://login.microsoftonline.com"


# ------------------------------------------------------------------------------- access tokens
def access_token_issuer(tenant_id: str) -> str:
    # Graph and Partner Center accept v1.0 tokens, whatever endpoint issued them.
    return f"https://sts.windows.net/{tenant_id}/"


def issue_access_token(world: World, *, tenant: Tenant, app_id: str, resource_app_id: str,
                       roles: list[str] | None = None, scp: list[str] | None = None,
                       user: dict | None = None, wids: list[str] | None = None,
                       app_display_name: str | None = None, sp_oid: str | None = None,
                       amr: list[str] | None = None) -> tuple[str, int]:
    """An RS256 access token for ``resource_app_id``; returns (token, expires_in).
    App-only when ``user`` is None (``roles``), delegated otherwise (``scp``, ``wids``)."""
    now = int(world.clock.now())
    lifetime = int(world.settings.get("access_token_lifetime", 3599))
    aud = catalog.primary_audience(resource_app_id) or resource_app_id
    claims: dict[str, Any] = {
        "aud": aud, "iss": access_token_issuer(tenant.id), "iat": now, "nbf": now, "exp": now + lifetime,
        "aio": b64url(secrets.token_bytes(24)), "app_displayname": app_display_name,
        "appid": app_id, "appidacr": "1", "azp": app_id, "azpacr": "1",
        "idp": access_token_issuer(tenant.id), "rh": "0.emulator.", "tid": tenant.id,
        "uti": b64url(secrets.token_bytes(16)), "ver": "1.0",
        "xms_tcdt": int(tenant.created_at),
    }
    if user is None:
        claims["idtyp"] = "app"
        claims["oid"] = sp_oid
        claims["sub"] = sp_oid
        claims["roles"] = sorted(set(roles or []))
    else:
        claims["idtyp"] = "user"
        claims["oid"] = user["id"]
        claims["sub"] = b64url(hashlib.sha256(f"{user['id']}:{app_id}".encode()).digest()[:32])
        claims["upn"] = user.get("userPrincipalName")
        claims["unique_name"] = user.get("userPrincipalName")
        claims["name"] = user.get("displayName")
        claims["scp"] = " ".join(scp or [])
        claims["wids"] = sorted(set(wids or []))
        claims["amr"] = amr or ["pwd", "mfa"]
        home = user.get("_home_tenant_id")
        if home and home != tenant.id:
            claims["idp"] = access_token_issuer(home)
            claims["altsecid"] = None
    claims = {k: v for k, v in claims.items() if v is not None}
    world.count("tokens.issued")
    token = signing_key(world).sign(claims)
    _remember_issued(world, "access_tokens", token)
    return token, lifetime


# Leak tests look for every token the emulator handed out (GET /_emulator/issued-tokens); the newest
# ISSUED_KEEP of each kind are kept, the count of older ones dropped is reported.
ISSUED_KEEP = 20000


def _remember_issued(world: World, kind: str, token: str) -> None:
    issued = world.extra.get("issued_tokens")
    if issued is None:
        issued = world.extra.setdefault("issued_tokens", {"access_tokens": deque(maxlen=ISSUED_KEEP),
                                                           "id_tokens": deque(maxlen=ISSUED_KEEP), "dropped": 0})
    tokens = issued[kind]
    if len(tokens) == tokens.maxlen:
        issued["dropped"] += 1
    tokens.append(token)


def issued_tokens(world: World) -> dict:
    """Every access and id token issued since the world was loaded (the newest ISSUED_KEEP of each), and
    every refresh token the world knows: its seeds and the ones issued."""
    issued = world.extra.get("issued_tokens") or {}
    with world.lock:
        refresh = sorted(world.refresh_tokens)
    return {"access_tokens": list(issued.get("access_tokens", ())), "id_tokens": list(issued.get("id_tokens", ())),
            "refresh_tokens": refresh, "dropped": issued.get("dropped", 0)}


def id_token(world: World, *, tenant: Tenant, client_id: str, user: dict, nonce: str | None = None) -> str:
    now = int(world.clock.now())
    claims = {
        "aud": client_id, "iss": f"{login_base(world)}/{tenant.id}/v2.0", "iat": now, "nbf": now,
        "exp": now + 3600, "name": user.get("displayName"), "oid": user["id"],
        "preferred_username": user.get("userPrincipalName"), "sub": user["id"], "tid": tenant.id,
        "uti": b64url(secrets.token_bytes(16)), "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
    token = signing_key(world).sign(claims)
    _remember_issued(world, "id_tokens", token)
    return token


def client_info(user_id: str, home_tenant_id: str) -> str:
    return b64url(json.dumps({"uid": user_id, "utid": home_tenant_id}, separators=(",", ":")).encode())


def unverified_parts(token: str) -> tuple[dict, dict, bytes, bytes]:
    """(header, claims, signing input, signature) without verification; raises TokenError."""
    try:
        head, body, sig = token.split(".")
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
        signature = b64url_decode(sig)
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise TokenError("IDX14100: JWT is not well formed.", aadsts=50027) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("IDX14100: JWT is not well formed.", aadsts=50027)
    return header, claims, f"{head}.{body}".encode("ascii"), signature


_verified: OrderedDict[str, dict] = OrderedDict()
_verified_lock = threading.Lock()
_VERIFIED_MAX = 4096


def decode_and_verify(world: World, token: str, audience: str | tuple[str, ...] | None) -> dict:
    """Claims of an emulator-issued bearer token valid now for ``audience`` (an appId or URI of
    a catalog API, or a tuple of accepted ``aud`` values). Raises TokenError."""
    key = signing_key(world)
    cache_key = f"{id(key)}:{token}"
    with _verified_lock:
        claims = _verified.get(cache_key)
    if claims is None:
        header, claims, signing_input, signature = unverified_parts(token)
        if header.get("alg") != "RS256":
            raise TokenError("Access token validation failure.")
        try:
            key.public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise TokenError("Access token validation failure. Invalid signature.") from None
        with _verified_lock:
            _verified[cache_key] = claims
            if len(_verified) > _VERIFIED_MAX:
                _verified.popitem(last=False)
    now = world.clock.now()
    if not isinstance(claims.get("exp"), (int, float)) or now >= claims["exp"] or now + 300 < claims.get("nbf", 0):
        raise TokenError("Lifetime validation failed, the token is expired.")
    if audience is not None:
        accepted = _accepted_audiences(audience)
        if str(claims.get("aud", "")).lower().rstrip("/") not in accepted:
            raise TokenError("Invalid audience.", code="InvalidAuthenticationToken")
    return claims


@functools.lru_cache(maxsize=256)
def _accepted_audiences(audience: str | tuple[str, ...]) -> frozenset[str]:
    values = (audience,) if isinstance(audience, str) else audience
    accepted: set[str] = set()
    for value in values:
        app_id = catalog.resolve_api(value) or value
        api = catalog.API_BY_APPID.get(app_id)
        uris = api["audience_uris"] if api else [value]
        accepted.update(u.lower().rstrip("/") for u in uris)
        accepted.add(value.lower().rstrip("/"))
    return frozenset(accepted)


# --------------------------------------------------------------------------- client assertions
_cert_cache: dict[str, certs.CertInfo | None] = {}


def _cert_info(key_b64: str) -> certs.CertInfo | None:
    info = _cert_cache.get(key_b64, False)
    if info is False:
        try:
            info = certs.load_cert(key_b64)
        except (ValueError, TypeError):
            info = None
        _cert_cache[key_b64] = info
    return info  # type: ignore[return-value]


def verify_client_assertion(world: World, assertion: str, app: dict, client_id: str,
                            token_endpoints: list[str]) -> None:
    """Check a ``client_assertion`` JWT against the app's registered certificates.
    Raises TokenError with the AADSTS code the identity platform returns."""
    header, claims, signing_input, signature = unverified_parts(assertion)
    alg = header.get("alg")
    if alg not in ("RS256", "PS256"):
        raise TokenError(f"The client assertion uses an unsupported algorithm '{alg}'.", aadsts=5002738)
    thumb_field = "x5t" if alg == "RS256" else "x5t#S256"
    thumb = header.get(thumb_field) or header.get("x5t#S256") or header.get("x5t")
    if not isinstance(thumb, str):
        raise TokenError("Client assertion contains an invalid signature. [Reason - The key was not found., "
                         f"Thumbprint of key used by client: '', Please visit the Azure Portal, Graph Explorer "
                         f"or directly use MS Graph to see configured keys for app Id '{client_id}'.]",
                         aadsts=700027)
    try:
        thumb_bytes = b64url_decode(thumb)
    except ValueError:
        thumb_bytes = b""
    use_sha256 = thumb_field == "x5t#S256" or (len(thumb_bytes) == 32)
    now = world.clock.now()
    found: certs.CertInfo | None = None
    expired = False
    for cred in app.get("keyCredentials") or []:
        info = _cert_info(cred.get("key") or "")
        if info is None:
            continue
        if (info.sha256 if use_sha256 else info.sha1) != thumb_bytes:
            continue
        from .clock import parse_iso

        end = parse_iso(cred.get("endDateTime")) or info.not_after
        if end <= now:
            expired = True
            continue
        found = info
        break
    if found is None:
        hex_thumb = thumb_bytes.hex().upper()
        if expired:
            raise TokenError(f"The certificate with thumbprint '{hex_thumb}' used to sign the client assertion "
                             f"has expired for app '{client_id}'.", aadsts=700027)
        raise TokenError("Client assertion contains an invalid signature. [Reason - The key was not found., "
                         f"Thumbprint of key used by client: '{hex_thumb}', Please visit the Azure Portal, "
                         f"Graph Explorer or directly use MS Graph to see configured keys for app Id "
                         f"'{client_id}'.]", aadsts=700027)
    try:
        pad = (padding.PKCS1v15() if alg == "RS256"
               else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH))
        found.public_key.verify(signature, signing_input, pad, hashes.SHA256())  # type: ignore[attr-defined]
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        raise TokenError("Client assertion failed signature validation. [Reason - The provided signature value "
                         f"did not match the expected signature value., Thumbprint of key used by client: "
                         f"'{found.thumbprint}']", aadsts=700027) from None
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    accepted = {u.rstrip("/").lower() for u in token_endpoints}
    if not any(isinstance(a, str) and a.rstrip("/").lower() in accepted for a in auds):
        raise TokenError(f"The audience claim value '{aud}' is invalid for the client assertion; expected the "
                         "token endpoint.", aadsts=700212)
    if str(claims.get("iss", "")).lower() != client_id.lower() or str(claims.get("sub", "")).lower() != client_id.lower():
        raise TokenError("Client assertion application identifier doesn't match 'client_id' parameter.",
                         aadsts=700021)
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
    if not isinstance(exp, (int, float)) or now > exp + 300 or (isinstance(nbf, (int, float)) and nbf > now + 300):
        raise TokenError(f"Client assertion is not within its valid time range. Current time: "
                         f"{iso(now)}, assertion valid from {iso(nbf) if isinstance(nbf, (int, float)) else '?'}, "
                         f"expiry time of assertion {iso(exp) if isinstance(exp, (int, float)) else '?'}.",
                         aadsts=700024)


# ------------------------------------------------------------------------------ refresh tokens
@dataclass
class RefreshToken:
    value: str
    user_id: str
    home_tenant_id: str
    client_id: str
    issued_at: float
    last_used: float
    mfa: bool = True
    used: int = 0
    superseded_by: str | None = None  # the newer token this one's last use returned

    def public(self, world: World) -> dict:
        state, _ = refresh_token_state(world, self)
        return {
            "value": self.value, "client_id": self.client_id, "user_id": self.user_id,
            "tenant_id": self.home_tenant_id, "issued_at": iso(self.issued_at),
            "last_used": iso(self.last_used), "uses": self.used, "state": state,
            "valid": state == "valid", "superseded_by": self.superseded_by,
        }


def add_refresh_token(world: World, *, user: dict, tenant: Tenant, client_id: str, value: str | None = None,
                      issued_at: float | None = None, mfa: bool = True) -> RefreshToken:
    now = world.clock.now() if issued_at is None else issued_at
    # Real refresh tokens are long opaque strings starting with a version marker.
    token = value or "1.AQ" + b64url(secrets.token_bytes(48)) + "_emu"
    record = RefreshToken(token, user["id"], tenant.id, client_id.lower(), now, now, mfa)
    with world.lock:
        world.refresh_tokens[token] = record
        world.extra.setdefault("rt_newest", {})[(user["id"], record.client_id)] = token
    return record


def refresh_token_state(world: World, record: RefreshToken) -> tuple[str, float | None]:
    """("valid" | "expired" | "revoked", revocation time)."""
    home = world.tenants.get(record.home_tenant_id)
    user = home.users.get(record.user_id) if home else None
    if user is None:
        return "revoked", None
    valid_from = user.get("_tokens_valid_from")
    if valid_from is not None and record.issued_at < valid_from:
        return "revoked", valid_from
    limit = float(world.settings.get("refresh_token_inactivity_days", 90)) * DAY
    if world.clock.now() - record.last_used > limit:
        return "expired", None
    return "valid", None


def revoke_user(world: World, user: dict) -> None:
    """Invalidate every refresh token of ``user`` issued until now (like revokeSignInSessions
    or a password change)."""
    with world.lock:
        user["_tokens_valid_from"] = world.clock.now() + 1e-6
        user["signInSessionsValidFromDateTime"] = world.clock.iso()


def newest_refresh_token(world: World, user_id: str, client_id: str) -> str | None:
    return world.extra.get("rt_newest", {}).get((user_id, client_id.lower()))


def refresh_tokens_of(world: World, user_id: str) -> list[RefreshToken]:
    return [r for r in world.refresh_tokens.values() if r.user_id == user_id]


# --------------------------------------------------------------------------------- device code
@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    tenant_segment: str  # the tenant in the URL (an id, a domain, organizations, common)
    scope: str
    expires_at: float
    interval: int
    user_id: str | None = None
    user_tenant_id: str | None = None
    mfa: bool = True
    redeemed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"


def new_device_code(world: World, client_id: str, tenant_segment: str, scope: str) -> DeviceCode:
    now = world.clock.now()
    record = DeviceCode(
        device_code="DAQABAAEAAA" + b64url(secrets.token_bytes(64)),
        user_code="".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9)),
        client_id=client_id.lower(), tenant_segment=tenant_segment, scope=scope,
        expires_at=now + float(world.settings.get("device_code_lifetime", 900)),
        interval=int(world.settings.get("device_code_interval", 5)),
    )
    with world.lock:
        world.device_codes[record.device_code] = record
    return record


def device_code_by_user_code(world: World, user_code: str) -> DeviceCode | None:
    wanted = (user_code or "").replace("-", "").upper()
    with world.lock:
        for record in world.device_codes.values():
            if record.user_code == wanted:
                return record
    return None
