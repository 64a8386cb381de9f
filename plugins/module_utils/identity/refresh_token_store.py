# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the Secure Application Model refresh token lives between runs, behind one small interface.

Every use of a refresh token returns a new one (the old one stays valid until it has been unused for
90 days), so the store is rewritten on every exchange. Three rules keep the newest token:

1. **One rotation at a time per store.** ``store.rotate(exchange)`` holds an exclusive lock (a POSIX
   record lock on ``<store>.lock``, plus a thread lock in the process) while it reads the token,
   exchanges it and writes the new one. Forks queue; each one exchanges the token the previous one
   stored, so the last token issued is the one that ends up stored.
2. **Compare-and-swap.** ``save(token, expected_version)`` re-reads the store and only writes when
   its version is still the one the caller read (``RefreshTokenStoreConflict`` otherwise), so a
   writer that lost a race (another host, a store without a working lock) never puts an older token
   back. Versions only grow.
3. **Never broken, never half-written.** The token is checked before it is written; files are
   written to a temp file in the same directory (0600), fsync'd and renamed over the old one, so a
   process killed at any moment leaves either the old or the new complete file. The previous
   version is kept inside the file.

Stores: ``file`` (JSON, 0600), ``ansible_vault`` (the same JSON, encrypted with Ansible Vault) and
``keyvault`` (an Azure Key Vault secret, each version a Key Vault secret version). A store is named
by a spec: a dict ``{type, path | vault_url + secret_name, ...}`` or a URI such as
``file:///etc/csp/us.rt.json``, ``ansible-vault:///etc/csp/us.rt.vault`` or
``keyvault://my-vault/us-refresh-token`` (``keyvault+https://host:port/secret`` for another host).
Tokens never leave the store objects except to go to the identity platform; ``repr`` hides them.
"""

import contextlib
import datetime
import fcntl
import glob
import json
import os
import re
import threading
import time
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..errors import CspError, CspValidationError, register_secret
from ..files import atomic_write, check_private_dir, ensure_private_dir, read_text

FORMAT = "cloudpartner.csp/refresh-token"
FORMAT_VERSION = 1
STORE_TYPES = ("file", "ansible_vault", "keyvault")
DEFAULT_LOCK_TIMEOUT = 300.0
# what a refresh token may look like: printable, no whitespace, sane length
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{8,16384}$")
_KEYVAULT_SECRET_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_KEYVAULT_HOSTS = {
    "public": "vault.azure.net",
    "usgov": "vault.usgovcloudapi.net",
    "china": "vault.azure.cn",
}
KEYVAULT_API_VERSION = "7.4"
KEYVAULT_AUDIENCE = {
    "public": "https://vault.azure.net",
    "usgov": "https://vault.usgovcloudapi.net",
    "china": "https://vault.azure.cn",
}

_THREAD_LOCKS = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class RefreshTokenStoreError(CspError):
    """The store cannot be read or written (the message names the store, never the token)."""

    service = None
    kind = "store"


class RefreshTokenStoreConflict(RefreshTokenStoreError):
    """Compare-and-swap failed: someone stored a newer version since it was read."""


def utc_iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    if not text:
        return None
    try:
        value = datetime.datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).timestamp()


def check_token(token):
    """Raise unless ``token`` looks like a refresh token (we never store an empty or damaged value)."""
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise RefreshTokenStoreError("refusing to store a refresh token that is empty, too long or contains "
                                     "whitespace/control characters", code="InvalidRefreshToken")
    return token


class StoredToken:
    """A stored refresh token with its version and non-secret metadata. ``repr`` hides the token."""

    __slots__ = ("token", "version", "stored_at", "consented_at", "metadata", "previous_version")

    def __init__(self, token, version, stored_at=None, consented_at=None, metadata=None, previous_version=None):
        self.token = token
        self.version = version
        self.stored_at = stored_at
        self.consented_at = consented_at
        self.metadata = dict(metadata or {})
        self.previous_version = previous_version
        register_secret(token)

    def age_days(self, now=None):
        """Days since this token was stored (issued), or None when unknown."""
        if self.stored_at is None:
            return None
        return max(0.0, ((time.time() if now is None else now) - self.stored_at) / 86400.0)

    def describe(self, inactivity_days=90, now=None):
        """Non-secret facts for a report: version, when stored, age and days left before inactivity expiry."""
        age = self.age_days(now)
        return {
            "version": self.version,
            "previous_version": self.previous_version,
            "stored_at": utc_iso(self.stored_at) if self.stored_at else None,
            "consented_at": utc_iso(self.consented_at) if self.consented_at else None,
            "age_days": None if age is None else round(age, 2),
            "days_left": None if age is None else round(max(0.0, inactivity_days - age), 2),
            "user": self.metadata.get("user"),
            "client_id": self.metadata.get("client_id"),
            "tenant_id": self.metadata.get("tenant_id"),
            "source": self.metadata.get("source"),
        }

    def __repr__(self):
        return "StoredToken(version=%r, stored_at=%r)" % (self.version, self.stored_at)


class RefreshTokenStore:
    """The interface. Subclasses implement ``_read()`` and ``_write(document)``."""

    type = None
    lock_timeout = DEFAULT_LOCK_TIMEOUT

    # --- to implement ---------------------------------------------------------------
    def describe(self):
        """Where the store is, without secrets (for messages and results)."""
        raise NotImplementedError

    def _read(self):
        """The stored document (dict) or None when nothing is stored yet."""
        raise NotImplementedError

    def _write(self, document):
        """Persist ``document`` atomically (the previous one stays intact if this fails)."""
        raise NotImplementedError

    def _lock_path(self):
        """A local file to hold the rotation lock on."""
        raise NotImplementedError

    # --- shared logic ---------------------------------------------------------------
    def load(self):
        """The current ``StoredToken`` or None."""
        document = self._read()
        if document is None:
            return None
        return self._from_document(document)

    def _from_document(self, document):
        token = document.get("refresh_token")
        version = document.get("version")
        if not isinstance(token, str) or not isinstance(version, int):
            raise RefreshTokenStoreError("%s does not hold a refresh token document" % self.describe(),
                                         code="RefreshTokenStoreDamaged")
        previous = document.get("previous") or {}
        return StoredToken(token, version, parse_iso(document.get("stored_at")),
                           parse_iso(document.get("consented_at")), document.get("metadata"),
                           previous.get("version") if isinstance(previous, dict) else None)

    def save(self, token, expected_version, metadata=None, consented=False, now=None):
        """Store ``token`` if the stored version is still ``expected_version`` (None: nothing stored).

        Returns the new ``StoredToken``. Raises ``RefreshTokenStoreConflict`` when the store moved on.
        ``consented=True`` marks the start of a new token chain (a fresh sign-in).
        """
        check_token(token)
        register_secret(token)
        with self.locked():
            current = self._read()
            current_version = current.get("version") if current else None
            if current_version != expected_version:
                raise RefreshTokenStoreConflict(
                    "%s is at version %s, not %s as read: another run stored a newer refresh token; "
                    "this one is discarded (it stays valid at Microsoft until unused for 90 days)"
                    % (self.describe(), current_version, expected_version), code="RefreshTokenStoreConflict")
            if current is not None and current.get("refresh_token") == token:
                return self._from_document(current)
            stamp = time.time() if now is None else now
            merged = dict((current or {}).get("metadata") or {})
            merged.update({k: v for k, v in (metadata or {}).items() if v is not None})
            document = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "version": (current_version or 0) + 1,
                "refresh_token": token,
                "stored_at": utc_iso(stamp),
                "consented_at": utc_iso(stamp) if consented or not current else current.get("consented_at"),
                "metadata": merged,
                "previous": None if current is None else {
                    "version": current_version,
                    "refresh_token": current.get("refresh_token"),
                    "stored_at": current.get("stored_at"),
                },
            }
            self._write(document)
            return self._from_document(document)

    def rotate(self, exchange, metadata=None):
        """Read the token, ``exchange(token) -> (new_token or None, result)``, store the new one.

        ``metadata``: a dict, or a callable ``metadata(result) -> dict``, of non-secret facts to keep.
        The whole read-exchange-write runs under the store's lock. Returns ``(result, stored)``
        where ``stored`` is the new ``StoredToken`` (or the unchanged one when no new token came).
        Raises ``RefreshTokenStoreError`` (code ``RefreshTokenStoreEmpty``) when nothing is stored.
        """
        with self.locked():
            current = self.load()
            if current is None:
                raise RefreshTokenStoreError(
                    "%s holds no refresh token yet: run the one-time consent (cloudpartner.csp.sam_device_code) "
                    "first" % self.describe(), code="RefreshTokenStoreEmpty")
            new_token, result = exchange(current.token)
            if not new_token or new_token == current.token:
                return result, current
            if callable(metadata):
                metadata = metadata(result)
            stored = self.save(new_token, current.version, metadata=metadata)
            return result, stored

    @contextlib.contextmanager
    def locked(self, timeout=None):
        """Exclusive lock for this store across threads and processes of this host (re-entrant)."""
        path = self._lock_path()
        with _THREAD_LOCKS_GUARD:
            entry = _THREAD_LOCKS.setdefault(path, [threading.RLock(), 0, None])
        rlock = entry[0]
        deadline = time.monotonic() + (self.lock_timeout if timeout is None else timeout)
        while not rlock.acquire(timeout=0.2):
            if time.monotonic() > deadline:
                raise RefreshTokenStoreError("%s is locked by another run for too long" % self.describe(),
                                             code="RefreshTokenStoreLocked")
        try:
            if entry[1] == 0:
                entry[2] = _lock_file(path, deadline, self.describe())
            entry[1] += 1
            try:
                yield self
            finally:
                entry[1] -= 1
                if entry[1] == 0:
                    fd, entry[2] = entry[2], None
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_UN)
                    finally:
                        os.close(fd)
        finally:
            rlock.release()


def _lock_file(path, deadline, name):
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise RefreshTokenStoreError("cannot create the lock file of %s: %s" % (name, exc.strerror),
                                     code="RefreshTokenStoreUnwritable") from None
    delay = 0.005
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RefreshTokenStoreError("%s is locked by another run for too long" % name,
                                             code="RefreshTokenStoreLocked") from None
            time.sleep(delay)
            delay = min(0.1, delay * 2)


# ------------------------------------------------------------------------------- file stores
class FileRefreshTokenStore(RefreshTokenStore):
    """A JSON file, mode 0600, next to ``<path>.lock``.

    A file holding only a token (as written by ``cloudpartner.csp.token``'s ``refresh_token_path``)
    is read as version 0, so an existing file can be adopted.
    """

    type = "file"

    def __init__(self, path):
        if not path:
            raise CspValidationError("a file refresh token store needs a path", code="InvalidRefreshTokenStore")
        self.path = os.path.abspath(os.path.expanduser(path))
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise CspValidationError("the directory of the refresh token store %s does not exist" % self.path,
                                     code="InvalidRefreshTokenStore")
        if os.path.isdir(self.path):
            raise CspValidationError("the refresh token store %s is a directory; name a file" % self.path,
                                     code="InvalidRefreshTokenStore")
        check_private_dir(directory, "refresh token store directory")

    def describe(self):
        return "%s store %s" % (self.type, self.path)

    def _lock_path(self):
        return self.path + ".lock"

    def _decode(self, data):
        return data

    def _encode(self, text):
        return text

    def _read(self):
        try:
            raw = read_text(self.path)
        except OSError as exc:
            raise RefreshTokenStoreError("cannot read %s: %s" % (self.describe(), exc.strerror),
                                         code="RefreshTokenStoreUnreadable") from None
        if raw is None or not raw.strip():
            return None
        text = self._decode(raw)
        stripped = text.strip()
        if not stripped.startswith("{"):
            token = stripped
            if _TOKEN_RE.match(token):  # a bare token: adopt it as version 0
                return {"version": 0, "refresh_token": token, "metadata": {"source": "imported"}}
            raise RefreshTokenStoreError("%s is damaged (neither a token nor a token document)" % self.describe(),
                                         code="RefreshTokenStoreDamaged")
        try:
            document = json.loads(stripped)
        except ValueError:
            raise RefreshTokenStoreError("%s is damaged (not valid JSON)" % self.describe(),
                                         code="RefreshTokenStoreDamaged") from None
        if not isinstance(document, dict) or not isinstance(document.get("version"), int):
            raise RefreshTokenStoreError("%s is not a refresh token document" % self.describe(),
                                         code="RefreshTokenStoreDamaged")
        return document

    def _write(self, document):
        self._remove_leftovers()
        try:
            atomic_write(self.path, self._encode(json.dumps(document, indent=1, sort_keys=True) + "\n"), mode=0o600)
        except OSError as exc:
            raise RefreshTokenStoreError("cannot write %s: %s" % (self.describe(), exc.strerror),
                                         code="RefreshTokenStoreUnwritable") from None

    def _remove_leftovers(self):
        """Temp files of a writer that was killed (we hold the lock, so no writer is active)."""
        directory, base = os.path.split(self.path)
        for name in glob.glob(os.path.join(glob.escape(directory), "." + glob.escape(base) + ".*.tmp")):
            try:
                os.unlink(name)
            except OSError:
                pass


class PlainFileRefreshTokenStore(FileRefreshTokenStore):
    """The file store writing only the token (one line, 0600), for a file a play reads back as a token
    (``cloudpartner.csp.token``'s ``refresh_token_path``). Same lock and atomic write; the version is
    always 0 once a token is there, so compare-and-swap only tells "empty" from "holds a token"."""

    def _write(self, document):
        self._remove_leftovers()
        try:
            atomic_write(self.path, self._encode(document["refresh_token"] + "\n"), mode=0o600)
        except OSError as exc:
            raise RefreshTokenStoreError("cannot write %s: %s" % (self.describe(), exc.strerror),
                                         code="RefreshTokenStoreUnwritable") from None


class MemoryRefreshTokenStore(RefreshTokenStore):
    """A store that lives as long as the run: the home of a plain ``refresh_token`` option's rotated
    token when no ``token_cache_path`` is set. Its lock is its own (stores never serialise each other)."""

    type = "memory"

    def __init__(self, name="memory"):
        self.name = name
        self._document = None
        self._lock = threading.RLock()

    def describe(self):
        return "memory store %s" % self.name

    def _read(self):
        return None if self._document is None else dict(self._document)

    def _write(self, document):
        self._document = dict(document)

    def _lock_path(self):
        return None

    @contextlib.contextmanager
    def locked(self, timeout=None):
        if not self._lock.acquire(timeout=self.lock_timeout if timeout is None else timeout):
            raise RefreshTokenStoreError("%s is locked for too long" % self.describe(), code="RefreshTokenStoreLocked")
        try:
            yield self
        finally:
            self._lock.release()


class AnsibleVaultRefreshTokenStore(FileRefreshTokenStore):
    """The file store's JSON document encrypted in the Ansible Vault format (1.1/1.2, AES256).

    ``ansible-vault view`` opens the file with the same password. The format is implemented here (with
    ``cryptography``) because a module runs from an AnsiballZ payload, where ``ansible.parsing`` cannot
    be imported. The password comes from ``vault_password_file`` only (a file, or an executable that
    prints it, as with Ansible); ``vault_id`` labels the file (format 1.2).
    """

    type = "ansible_vault"

    def __init__(self, path, vault_password_file=None, vault_id=None):
        super().__init__(path)
        self.vault_id = vault_id
        if vault_password_file:
            password = read_vault_password(vault_password_file)
        else:
            raise CspValidationError("the ansible_vault refresh token store needs vault_password_file "
                                     "(or CSP_VAULT_PASSWORD_FILE / ANSIBLE_VAULT_PASSWORD_FILE)",
                                     code="MissingVaultPassword")
        if not password:
            raise CspValidationError("the vault password is empty", code="InvalidVaultPassword")
        self._password = password

    def _decode(self, data):
        try:
            return vault_decrypt(data, self._password).decode("utf-8")
        except VaultFormatError as exc:
            raise RefreshTokenStoreError("cannot decrypt %s: %s" % (self.describe(), exc),
                                         code="RefreshTokenStoreDecryptFailed") from None

    def _encode(self, text):
        return vault_encrypt(text.encode("utf-8"), self._password, self.vault_id)


def read_vault_password(path):
    """The password in ``path`` (trailing newline stripped), or what an executable ``path`` prints."""
    import subprocess
    path = os.path.expanduser(path)
    try:
        if os.access(path, os.X_OK) and os.path.isfile(path):
            proc = subprocess.run([path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=60)
            if proc.returncode != 0:
                raise CspValidationError("the vault password script %s failed (exit %d)" % (path, proc.returncode),
                                         code="InvalidVaultPassword")
            return proc.stdout.strip()
        with open(path, "rb") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise CspValidationError("cannot read the vault password file %s: %s" % (path, exc.strerror),
                                 code="InvalidVaultPassword") from None


class VaultFormatError(Exception):
    pass


_VAULT_HEADER = "$ANSIBLE_VAULT"


def _vault_keys(password, salt):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(password)
    return derived[:32], derived[32:64], derived[64:]


def vault_encrypt(plaintext, password, vault_id=None):
    """Ansible Vault 1.1 (1.2 with a vault id) AES256 text for ``plaintext`` (bytes)."""
    import binascii
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives import hmac as crypto_hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    salt = os.urandom(32)
    key, hmac_key, iv = _vault_keys(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = crypto_hmac.HMAC(hmac_key, hashes.SHA256())
    mac.update(ciphertext)
    signature = mac.finalize()
    inner = b"\n".join([binascii.hexlify(salt), binascii.hexlify(signature), binascii.hexlify(ciphertext)])
    body = binascii.hexlify(inner).decode("ascii")
    header = "%s;1.2;AES256;%s" % (_VAULT_HEADER, vault_id) if vault_id else "%s;1.1;AES256" % _VAULT_HEADER
    lines = [header] + [body[i:i + 80] for i in range(0, len(body), 80)]
    return "\n".join(lines) + "\n"


def vault_decrypt(text, password):
    """Plaintext bytes of Ansible Vault AES256 ``text``; ``VaultFormatError`` on any problem."""
    import binascii
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives import hmac as crypto_hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith(_VAULT_HEADER + ";"):
        raise VaultFormatError("not Ansible Vault encrypted")
    header = lines[0].strip().split(";")
    if len(header) < 3 or header[1] not in ("1.1", "1.2") or header[2].strip() != "AES256":
        raise VaultFormatError("unsupported vault format %s" % lines[0].strip())
    try:
        inner = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, cipher_hex = inner.split(b"\n", 2)
        salt, signature, ciphertext = (binascii.unhexlify(salt_hex), binascii.unhexlify(mac_hex),
                                       binascii.unhexlify(cipher_hex))
    except (ValueError, binascii.Error):
        raise VaultFormatError("damaged vault file") from None
    key, hmac_key, iv = _vault_keys(password, salt)
    mac = crypto_hmac.HMAC(hmac_key, hashes.SHA256())
    mac.update(ciphertext)
    try:
        mac.verify(signature)
    except InvalidSignature:
        raise VaultFormatError("wrong vault password or damaged file") from None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultFormatError("damaged vault file") from None


# ------------------------------------------------------------------------------ Key Vault
class KeyVaultRefreshTokenStore(RefreshTokenStore):
    """An Azure Key Vault secret (REST API 7.4). Each stored token is a new secret version.

    The secret's value is the token; its tags carry the store version (``csp-version``) and the
    metadata. Key Vault has no conditional write, so the compare-and-swap re-reads the latest version
    right before writing while this host holds the store's local lock; across hosts, keep to one
    writer (one AWX instance group) per secret.
    ``access_token`` is a callable returning a bearer token for the vault audience.

    Hygiene: after every write, every version but the newest and the one before it is disabled
    (Update Secret, ``attributes.enabled=false``): a superseded refresh token stays valid at Microsoft
    for up to 90 days, so it must not stay readable. ``enabled_versions`` then says how many versions
    can still be read (2 at most once a rotation has run); ``hygiene_error`` names a failed clean-up
    (the new token is stored all the same).
    """

    type = "keyvault"
    KEEP_ENABLED = 2

    def __init__(self, vault_url, secret_name, http, access_token, lock_dir=None):
        self.vault_url = check_keyvault(vault_url, secret_name)
        self.secret_name = secret_name
        self.http = http
        self.access_token = access_token
        self.lock_dir = lock_dir or os.path.join(os.path.expanduser("~"), ".ansible", "tmp")
        self.enabled_versions = None
        self.disabled_versions = 0
        self.hygiene_error = None

    def describe(self):
        return "keyvault store %s/secrets/%s" % (self.vault_url, self.secret_name)

    def _lock_path(self):
        ensure_private_dir(self.lock_dir, "lock directory")
        safe = re.sub(r"[^A-Za-z0-9.-]+", "_", "%s-%s" % (urlsplit(self.vault_url).netloc, self.secret_name))
        return os.path.join(self.lock_dir, "csp-keyvault-%s.lock" % safe)

    def _request(self, method, path, json_body=None, expected=(200,), url=None):
        from ..http import error_from_response
        params = {"api-version": KEYVAULT_API_VERSION}
        if url is None:
            url = "%s/secrets/%s%s" % (self.vault_url, quote(self.secret_name, safe=""), path)
        else:  # a nextLink: only ever on this vault, over https (it carries its own api-version)
            parts, base = urlsplit(url), urlsplit(self.vault_url)
            if parts.scheme.lower() != "https" or parts.netloc.lower() != base.netloc.lower():
                raise RefreshTokenStoreError("%s: a version listing link leads off the vault; not followed"
                                             % self.describe(), code="ForeignUrl")
            params = None
        headers = {"Authorization": "Bearer " + self.access_token(), "Accept": "application/json"}
        response = self.http.send(method, url, headers=headers, params=params, json=json_body)
        if response.status_code == 404 and method == "GET":
            return None
        if response.status_code not in expected:
            err = error_from_response(response, "keyvault", action="%s %s" % (method, self.describe()))
            raise RefreshTokenStoreError(err.message, code=err.code, status=err.status, request_id=err.request_id)
        return response.json()

    def _read(self):
        body = self._request("GET", "")
        if body is None:
            return None
        tags = body.get("tags") or {}
        try:
            version = int(tags.get("csp-version", "0"))
        except ValueError:
            version = 0
        metadata = {}
        for key in ("user", "client_id", "tenant_id", "source"):
            if tags.get("csp-" + key.replace("_", "-")):
                metadata[key] = tags["csp-" + key.replace("_", "-")]
        value = body.get("value")
        return {
            "version": version,
            "refresh_token": value,
            "stored_at": tags.get("csp-stored-at"),
            "consented_at": tags.get("csp-consented-at"),
            "metadata": metadata,
            "previous": {"version": int(tags["csp-previous-version"])} if tags.get("csp-previous-version") else None,
            "keyvault_version": (body.get("id") or "").rstrip("/").rsplit("/", 1)[-1],
        }

    def _write(self, document):
        tags = {
            "csp-version": str(document["version"]),
            "csp-stored-at": document.get("stored_at") or "",
            "csp-consented-at": document.get("consented_at") or "",
        }
        if document.get("previous"):
            tags["csp-previous-version"] = str(document["previous"]["version"])
        for key, value in (document.get("metadata") or {}).items():
            if key in ("user", "client_id", "tenant_id", "source") and value:
                tags["csp-" + key.replace("_", "-")] = str(value)[:256]
        self._request("PUT", "", json_body={"value": document["refresh_token"], "contentType": "refresh-token",
                                            "tags": tags})
        self.disable_superseded()

    def _versions(self):
        """Every version of the secret (no values), following ``nextLink``."""
        found, body = [], self._request("GET", "/versions")
        while body:
            found.extend(item for item in body.get("value") or [] if isinstance(item, dict))
            link = body.get("nextLink")
            body = self._request("GET", "", url=link) if link else None
        return found

    @staticmethod
    def _age_key(item):
        tags = item.get("tags") or {}
        try:
            version = int(tags.get("csp-version", "0"))
        except ValueError:
            version = 0
        return (version, int((item.get("attributes") or {}).get("created") or 0))

    def disable_superseded(self):
        """Disable every enabled version but the newest ``KEEP_ENABLED``; returns how many stay enabled."""
        try:
            versions = sorted(self._versions(), key=self._age_key, reverse=True)
            enabled = [v for v in versions if (v.get("attributes") or {}).get("enabled", True)]
            keep = {v.get("id") for v in versions[:self.KEEP_ENABLED]}
            disabled = 0
            for item in enabled:
                if item.get("id") in keep:
                    continue
                version_id = str(item.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
                if not re.match(r"^[0-9a-fA-F]{32}$", version_id):
                    continue
                self._request("PATCH", "/" + version_id, json_body={"attributes": {"enabled": False}})
                disabled += 1
            self.disabled_versions += disabled
            self.enabled_versions = len(enabled) - disabled
            self.hygiene_error = None
        except RefreshTokenStoreError as err:
            self.enabled_versions = None
            self.hygiene_error = "disabling the superseded versions of %s failed: %s" % (self.describe(), err.message)
        return self.enabled_versions


# ------------------------------------------------------------------------------ specs
def parse_store_spec(spec):
    """A store spec (URI string or dict) as a dict with ``type`` and that type's keys. Validation only.

    A vault password is never taken inline (it would sit in the play, the task's arguments and
    Ansible's log): only ``vault_password_file`` names it.
    """
    if spec is None or spec == "" or spec == {}:
        return None
    from ..options import holds_inline_vault_password
    if holds_inline_vault_password(spec):
        raise CspValidationError("a vault password is never accepted inline (it would be logged): put it in a file "
                                 "(mode 0600) or an executable that prints it and name that with vault_password_file",
                                 code="InvalidRefreshTokenStore")
    if isinstance(spec, dict):
        result = {k: v for k, v in spec.items() if v is not None}
        kind = str(result.get("type") or "").replace("-", "_")
        if kind not in STORE_TYPES:
            raise CspValidationError("refresh token store type must be one of %s, got %r"
                                     % (", ".join(STORE_TYPES), result.get("type")), code="InvalidRefreshTokenStore")
        result["type"] = kind
    elif isinstance(spec, str):
        result = _parse_uri(spec.strip())
    else:
        raise CspValidationError("a refresh token store is a URI or a dict", code="InvalidRefreshTokenStore")
    if result["type"] in ("file", "ansible_vault"):
        if not result.get("path"):
            raise CspValidationError("a %s refresh token store needs a path" % result["type"],
                                     code="InvalidRefreshTokenStore")
    else:
        if not result.get("secret_name") or not (result.get("vault_url") or result.get("vault_name")):
            raise CspValidationError("a keyvault refresh token store needs vault_name (or vault_url) and secret_name",
                                     code="InvalidRefreshTokenStore")
        check_keyvault(result.get("vault_url"), result["secret_name"])
    return result


def check_keyvault(vault_url, secret_name):
    """Check a Key Vault secret's name and (when given) its vault URL, which must be https like every endpoint;
    returns the URL as ``https://host[:port][/path]`` (a path for a vault behind a gateway or on the
    emulator's shared listener)."""
    if not _KEYVAULT_SECRET_RE.match(str(secret_name or "")):
        raise CspValidationError("Key Vault secret name %r is invalid (1-127 letters, digits and dashes)"
                                 % secret_name, code="InvalidRefreshTokenStore")
    if vault_url is None:
        return None
    parts = urlsplit(str(vault_url))
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise CspValidationError("Key Vault URL %r must be https://host[:port] (TLS is never turned off)"
                                 % vault_url, code="InvalidRefreshTokenStore")
    return "https://" + parts.netloc + parts.path.rstrip("/")


def _parse_uri(text):
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme in ("", "file") and not parts.netloc:
        path = unquote(parts.path) if scheme else text
        return dict(query, type="file", path=path)
    if scheme in ("ansible-vault", "ansible_vault", "vault") and not parts.netloc:
        return dict(query, type="ansible_vault", path=unquote(parts.path))
    if scheme == "keyvault" and parts.netloc:
        return dict(query, type="keyvault", vault_name=parts.netloc, secret_name=parts.path.strip("/"))
    if scheme == "keyvault+https" and parts.netloc:
        prefix, _sep, secret = parts.path.strip("/").rpartition("/")
        return dict(query, type="keyvault", vault_url="https://" + parts.netloc + ("/" + prefix if prefix else ""),
                    secret_name=secret)
    raise CspValidationError(
        "refresh token store %r is not understood; use file:///path, ansible-vault:///path, keyvault://vault/secret "
        "or keyvault+https://host:port/secret" % redact_uri(text), code="InvalidRefreshTokenStore")


def redact_uri(text):
    parts = urlsplit(str(text))
    return parts._replace(query="").geturl() if parts.query else str(text)


def keyvault_url(spec, cloud="public"):
    if spec.get("vault_url"):
        return spec["vault_url"]
    return "https://%s.%s" % (spec["vault_name"], _KEYVAULT_HOSTS.get(cloud, _KEYVAULT_HOSTS["public"]))


def open_store(spec, http=None, access_token=None, cloud="public", vault_password_file=None, lock_dir=None):
    """Build the store a spec names. ``http``/``access_token`` are needed for Key Vault only."""
    parsed = parse_store_spec(spec)
    if parsed is None:
        return None
    if parsed["type"] == "file":
        return FileRefreshTokenStore(parsed["path"])
    if parsed["type"] == "ansible_vault":
        return AnsibleVaultRefreshTokenStore(
            parsed["path"],
            vault_password_file=(parsed.get("vault_password_file") or vault_password_file
                                 or os.environ.get("CSP_VAULT_PASSWORD_FILE")
                                 or os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")),
            vault_id=parsed.get("vault_id"))
    if http is None or access_token is None:
        raise CspValidationError("a keyvault refresh token store needs the collection's HTTP client",
                                 code="InvalidRefreshTokenStore")
    return KeyVaultRefreshTokenStore(keyvault_url(parsed, cloud), parsed["secret_name"], http, access_token,
                                     lock_dir=lock_dir)
