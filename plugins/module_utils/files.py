# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file helpers: secrets on disk (token cache, rotated refresh tokens), listings written to a file."""

import hashlib
import os
import stat
import tempfile

from .errors import CspValidationError


def check_private_dir(path, what="directory"):
    """Refuse a directory another user could write to: owned by someone else, or group/other-writable.

    Anyone who can write there could swap a token file or a lock for their own. Returns ``path``.
    """
    info = os.stat(path)
    if info.st_uid != os.geteuid():
        raise CspValidationError("the %s %s is owned by another user (uid %d); use a directory of your own, mode 0700"
                                 % (what, path, info.st_uid), code="UnsafeDirectory")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CspValidationError("the %s %s is writable by group or others (mode %04o): anyone there could replace "
                                 "the tokens; run chmod 700 on it (or go-w)" % (what, path, stat.S_IMODE(info.st_mode)),
                                 code="UnsafeDirectory")
    return path


def ensure_private_dir(path, what="directory"):
    """Create ``path`` (and parents) with mode 0700 when missing; refuse it when others can write it."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    return check_private_dir(path, what)


class AtomicFile:
    """A file written in pieces that replaces ``path`` only on ``commit()``: readers see the old or
    the new file, never half.

    Temp file in the same directory (same filesystem for rename), created with ``mode`` before any
    byte is written; ``commit()`` fsyncs it, renames it over the target and fsyncs the directory;
    ``discard()`` (or leaving a ``with`` block by an exception) removes it.
    """

    def __init__(self, path, mode=0o600):
        self.path = path
        self.directory = os.path.dirname(os.path.abspath(path))
        fd, self.tmp = tempfile.mkstemp(dir=self.directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
        try:
            os.fchmod(fd, mode)
            self.handle = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(self.tmp)
            raise

    def write(self, data):
        self.handle.write(data)

    def commit(self):
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        _fsync_dir(self.directory)

    def discard(self):
        if not self.handle.closed:
            self.handle.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False


def _fsync_dir(directory):
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write(path, data, mode=0o600):
    """Write ``data`` (str or bytes) to ``path`` atomically (see ``AtomicFile``)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with AtomicFile(path, mode=mode) as handle:
        handle.write(data)
        handle.commit()


def file_sha1(path, chunk=1 << 20):
    """SHA-1 of a file's bytes (what ``ansible.builtin.stat`` returns as checksum), None if missing."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(chunk), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def read_text(path):
    """File content as text, or None when the file does not exist."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
