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
import time

from ..errors import CspValidationError
from ..files import atomic_write, ensure_private_dir, read_text

# The one import of MSAL: auth and sam take ``msal`` and ``require_msal`` from here.
try:
    import msal
    MSAL_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - sanity's import test runs without it
    msal = None
    MSAL_IMPORT_ERROR = exc
HAS_MSAL = msal is not None

_KEY_SLOTS = 1 << 20  # record-lock offsets for token keys (collisions only serialize, never mix)
_DISCOVERY_SLOT = _KEY_SLOTS + 1  # record-lock offset of the discovery file
DISCOVERY_TTL = 24 * 3600  # as long as MSAL's own http_cache keeps a discovery GET
_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


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

        def _deserialize(self, state):
            """Load ``state``; False when it is damaged (the cache then starts empty: it is only a cache).
            The one parse of the file: at a thousand customers it is megabytes."""
            try:
                self.deserialize(state)
                return True
            except ValueError:
                self.deserialize(None)
                return False

        def load(self, state):
            """Load ``state``; False when it was damaged."""
            self.journal = []
            return self._deserialize(state)

        def rebase(self, state):
            """Load ``state`` (the newest file) and re-apply this process's changes on top of it.
            ``(changed, intact)``: whether there were changes to write, and whether ``state`` was readable."""
            journal, self.journal = self.journal, []
            intact = self._deserialize(state)
            self._replaying = True
            try:
                for credential_type, old_entry, new_pairs in journal:
                    super().modify(credential_type, old_entry, new_pairs)
            finally:
                self._replaying = False
            return bool(journal), intact
else:  # pragma: no cover
    JournaledTokenCache = None


class DiscoveryCache:
    """Successful OpenID discovery answers, so a run asks once per authority, not once per process.

    MSAL keeps discovery GETs in its ``http_cache`` for 24 hours, but that cache lives and dies with
    one module process; its own persistence recipe pickles response objects, and unpickling a file
    is running code. So the answers are kept here instead, as JSON (status, content type, body; no
    token and no personal data is in them), in a 0600 file beside the token cache, written
    atomically under the cache's lock file; ``MsalHttpAdapter`` serves MSAL's discovery GETs from it.
    Without a path it is an in-memory cache for the run.
    """

    def __init__(self, path=None, lock=None, clock=time.time):
        self.path = path
        self._lock = lock
        self.clock = clock
        self._entries = None

    @staticmethod
    def wanted(method, url, params=None):
        return method == "GET" and not params and str(url).split("?", 1)[0].endswith(_DISCOVERY_SUFFIX)

    def _read(self):
        if not self.path:
            return {}
        try:
            data = json.loads(read_text(self.path) or "{}")
        except (OSError, ValueError):
            return {}  # a damaged cache is only a cache
        entries = data.get("entries") if isinstance(data, dict) else None
        return entries if isinstance(entries, dict) else {}

    def get(self, url):
        """``(status, headers, body)`` of a fresh cached answer, or None."""
        if self._entries is None:
            self._entries = self._read()
        entry = self._entries.get(url)
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
            return None
        if float(entry.get("expires_at") or 0) <= self.clock():
            return None
        return int(entry.get("status") or 200), {"Content-Type": entry.get("content_type") or "application/json"}, \
            entry["body"]

    def put(self, url, status, content_type, body):
        now = self.clock()
        entry = {"status": status, "content_type": content_type, "body": body, "expires_at": now + DISCOVERY_TTL}
        if self._entries is None:
            self._entries = self._read()
        self._entries[url] = entry
        if not self.path:
            return
        with self._lock():
            entries = {k: v for k, v in self._read().items()
                       if isinstance(v, dict) and float(v.get("expires_at") or 0) > now}
            entries[url] = entry
            atomic_write(self.path, json.dumps({"version": 1, "entries": entries}, indent=1))
            self._entries = entries


class MemoryTokenStore:
    """No ``token_cache_path``: tokens live as long as the module run."""

    persistent = False

    def __init__(self):
        self.cache = JournaledTokenCache()
        self.accounts = {}
        self.targets = {}
        self.discovery = DiscoveryCache()

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
        # discovery answers depend on the login host only, not on the app
        self.discovery = DiscoveryCache(os.path.join(directory, "discovery-%s.cache" % host),
                                        lock=lambda: self._locked(_DISCOVERY_SLOT, exclusive=True))
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
        """(MSAL state text, accounts, targets) as on disk. The state is parsed once, by the cache loading it
        (``load``, ``save``); a damaged state or index is only a cache: the run starts over rather than fails."""
        state = read_text(self.path)
        index_text = read_text(self.accounts_path)
        try:
            index = json.loads(index_text) if index_text else {}
        except ValueError:
            return None, {}, {}
        if not isinstance(index, dict):
            index = {}
        # an index written before targets were remembered simply has none
        return state, _mapping(index.get("accounts")), _mapping(index.get("targets"))

    def load(self):
        with self._locked(0, exclusive=False):
            state, accounts, targets = self._read()
        if not self.cache.load(state):
            # the index names accounts of the damaged state: start over with both
            accounts, targets = {}, {}
        self.accounts = accounts
        self.targets = targets

    def save(self):
        if not self.cache.journal and not self._new_accounts and not self._new_targets:
            return
        with self._locked(0, exclusive=True):
            state, accounts, targets = self._read()
            changed, intact = self.cache.rebase(state)
            if not intact:
                accounts, targets = {}, {}
            if changed or not intact:
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
