# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token cache shared by every fork and every module run of a playbook.

Layout under ``token_cache_path`` (a directory, 0700): one MSAL cache file per
(login host, client id, credential fingerprint), so apps, clouds/emulators and rotated credentials
never share tokens; inside a file MSAL's own keys separate tenants (realm), scopes (target) and
users (home account). Beside it an index (no secrets) maps a digest of the refresh token a user
gave to the MSAL account it belongs to, so the right user's (rotated) refresh token is used, and each
token key to the target (scopes) MSAL filed its last access token under: MSAL files a token under the
scopes the server granted, which for a ``.default`` request are not the scopes that were asked for.

Concurrency: a lock file holds POSIX record locks. Byte 0 guards the data files (shared to read,
exclusive to write). Each token key (grant, tenant, scopes, user) locks its own byte while it is
looked up and, on a miss, fetched: forks that want the same token wait for the first one and then
find it in the cache (one token request), forks that want different tokens run in parallel.
Writes re-read the file under the exclusive lock and replay only this process's changes (a
journal), so concurrent writers never drop each other's tokens. Files are written atomically, 0600.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re

from .errors import CspValidationError
from .files import atomic_write, ensure_private_dir, read_text

# The one import of MSAL: auth and sam take ``msal`` and ``require_msal`` from here.
try:
    import msal
    MSAL_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - sanity's import test runs without it
    msal = None
    MSAL_IMPORT_ERROR = exc
HAS_MSAL = msal is not None

_KEY_SLOTS = 1 << 20  # record-lock offsets for token keys (collisions only serialize, never mix)


def digest(text):
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


def _mapping(value):
    return {str(k): v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


if HAS_MSAL:
    class JournaledTokenCache(msal.SerializableTokenCache):
        """An MSAL cache that remembers its own changes since the last load."""

        def __init__(self):
            super().__init__()
            self.journal = []
            self._replaying = False

        def modify(self, credential_type, old_entry, new_key_value_pairs=None):
            super().modify(credential_type, old_entry, new_key_value_pairs)
            if not self._replaying:
                self.journal.append((credential_type, dict(old_entry),
                                     dict(new_key_value_pairs) if new_key_value_pairs else None))

        def load(self, state):
            self.deserialize(state)
            self.journal = []

        def rebase(self, state):
            """Load ``state`` (the newest file) and re-apply this process's changes on top of it."""
            journal, self.journal = self.journal, []
            self.deserialize(state)
            self._replaying = True
            try:
                for credential_type, old_entry, new_pairs in journal:
                    super().modify(credential_type, old_entry, new_pairs)
            finally:
                self._replaying = False
            return bool(journal)
else:  # pragma: no cover
    JournaledTokenCache = None


class MemoryTokenStore:
    """No ``token_cache_path``: tokens live as long as the module run."""

    persistent = False

    def __init__(self):
        self.cache = JournaledTokenCache()
        self.accounts = {}
        self.targets = {}

    @contextlib.contextmanager
    def transaction(self, key):
        yield self

    def set_account(self, refresh_token_digest, home_account_id):
        self.accounts[refresh_token_digest] = home_account_id

    def set_target(self, key, target):
        self.targets[key] = target


class FileTokenStore:
    """One persistent cache file (see the module doc)."""

    persistent = True

    def __init__(self, directory, authority_host, client_id, credential_fingerprint):
        ensure_private_dir(directory, "token_cache_path directory")
        host = re.sub(r"[^A-Za-z0-9.-]+", "_", authority_host.split("://", 1)[-1]).strip("_")
        base = "msal-%s-%s-%s" % (host, client_id, credential_fingerprint)
        self.path = os.path.join(directory, base + ".json")
        self.accounts_path = os.path.join(directory, base + ".accounts.json")
        self.lock_path = os.path.join(directory, base + ".lock")
        self.cache = JournaledTokenCache()
        self.accounts = {}
        self.targets = {}
        self._new_accounts = {}
        self._new_targets = {}
        self._lock_fd = None

    def _fd(self):
        # One descriptor per process for the lock file: closing any descriptor of a file drops
        # every POSIX record lock the process holds on it.
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd

    @contextlib.contextmanager
    def _locked(self, offset, exclusive):
        fd = self._fd()
        fcntl.lockf(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, 1, offset)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)

    def _read(self):
        """(MSAL state, accounts, targets) as on disk."""
        state = read_text(self.path)
        index_text = read_text(self.accounts_path)
        try:
            if state:
                json.loads(state)
            index = json.loads(index_text) if index_text else {}
        except ValueError:
            # A damaged cache is only a cache: start over rather than fail the run.
            return None, {}, {}
        if not isinstance(index, dict):
            index = {}
        # an index written before targets were remembered simply has none
        return state, _mapping(index.get("accounts")), _mapping(index.get("targets"))

    def load(self):
        with self._locked(0, exclusive=False):
            state, accounts, targets = self._read()
        self.cache.load(state)
        self.accounts = accounts
        self.targets = targets

    def save(self):
        if not self.cache.journal and not self._new_accounts and not self._new_targets:
            return
        with self._locked(0, exclusive=True):
            state, accounts, targets = self._read()
            if self.cache.rebase(state):
                atomic_write(self.path, self.cache.serialize())
            if self._new_accounts or self._new_targets:
                # merge into the newest index, like the journal replay, so no writer drops another's entries
                accounts.update(self._new_accounts)
                targets.update(self._new_targets)
                atomic_write(self.accounts_path, json.dumps(
                    {"version": 1, "accounts": accounts, "targets": targets}, indent=1))
                self._new_accounts = {}
                self._new_targets = {}
            self.accounts = accounts
            self.targets = targets

    @contextlib.contextmanager
    def transaction(self, key):
        """Hold the key's lock, load the newest state, and save this process's changes at the end."""
        offset = 1 + int(digest(key)[:12], 16) % _KEY_SLOTS
        with self._locked(offset, exclusive=True):
            self.load()
            try:
                yield self
            finally:
                self.save()

    def set_account(self, refresh_token_digest, home_account_id):
        if self.accounts.get(refresh_token_digest) != home_account_id:
            self.accounts[refresh_token_digest] = home_account_id
            self._new_accounts[refresh_token_digest] = home_account_id

    def set_target(self, key, target):
        if self.targets.get(key) != target:
            self.targets[key] = target
            self._new_targets[key] = target

    def close(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def require_msal():
    """Fail with the typed error modules report when MSAL is not installed."""
    if not HAS_MSAL:
        raise CspValidationError("the Python library 'msal' is required (%s)" % MSAL_IMPORT_ERROR, code="MissingLibrary")


def open_store(options, authority_host):
    """The store for these options: a file store when token_cache_path is set, else memory."""
    require_msal()
    path = options.get("token_cache_path")
    if not path:
        return MemoryTokenStore()
    try:
        return FileTokenStore(path, authority_host, options.client_id, options.credential_fingerprint())
    except OSError as exc:
        raise CspValidationError("token_cache_path %s cannot be used: %s" % (path, exc.strerror or exc),
                                 code="InvalidTokenCache") from None
