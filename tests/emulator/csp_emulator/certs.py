"""TLS material: a throw-away CA and a server certificate for 127.0.0.1/localhost, plus
self-signed certificates for app registrations (``certificates: [{generate: path}]``)."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import ipaddress
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class TlsFiles:
    ca_bundle: str  # CA certificate PEM that clients trust
    cert_file: str  # server certificate chain PEM
    key_file: str  # server private key PEM


def _key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


_tls_cache: tuple[bytes, bytes, bytes] | None = None
_tls_lock = threading.Lock()


def create_tls_files(directory: str | os.PathLike) -> TlsFiles:
    """A CA and a server certificate signed by it, written into ``directory``. Generated once
    per process (RSA key generation dominates an emulator's start-up; tests start many)."""
    global _tls_cache
    with _tls_lock:
        if _tls_cache is None:
            _tls_cache = _generate_tls()
        ca_pem, cert_pem, key_pem = _tls_cache
    directory = Path(directory)
    files = TlsFiles(
        ca_bundle=str(directory / "ca.pem"),
        cert_file=str(directory / "server.pem"),
        key_file=str(directory / "server-key.pem"),
    )
    _write(Path(files.ca_bundle), ca_pem)
    _write(Path(files.cert_file), cert_pem)
    _write(Path(files.key_file), key_pem, private=True)
    return files


def _generate_tls() -> tuple[bytes, bytes, bytes]:
    now = _dt.datetime.now(_dt.timezone.utc)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csp_emulator local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=29))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return (ca_cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.PEM),
            _key_pem(key))


def generate_app_certificate(common_name: str, days: int = 365) -> tuple[bytes, bytes]:
    """A self-signed client certificate for an app registration: (key PEM, cert PEM)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def write_key_and_cert(path: str | os.PathLike, key_pem: bytes, cert_pem: bytes) -> None:
    """One PEM with the private key then the certificate (what ``client_certificate_path`` takes)."""
    _write(Path(path), key_pem + cert_pem, private=True)


@dataclass(frozen=True)
class CertInfo:
    der: bytes
    sha1: bytes
    sha256: bytes
    public_key: object
    not_before: float
    not_after: float

    @property
    def thumbprint(self) -> str:
        """Hex SHA-1 thumbprint, upper case as the portal shows it."""
        return self.sha1.hex().upper()


def load_cert(data: bytes | str) -> CertInfo:
    """Parse a PEM or base64/DER certificate (keyCredentials ``key`` is base64 DER)."""
    if isinstance(data, str):
        data = data.encode()
    if b"-----BEGIN" in data:
        cert = x509.load_pem_x509_certificate(data)
    else:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(data, validate=False))
        except ValueError:
            cert = x509.load_der_x509_certificate(data)
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertInfo(
        der=der,
        sha1=hashlib.sha1(der).digest(),  # noqa: S324 - x5t is defined as SHA-1
        sha256=hashlib.sha256(der).digest(),
        public_key=cert.public_key(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )
