# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file helpers for secrets on disk (token cache, rotated refresh tokens)."""

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


def atomic_write(path, data, mode=0o600):
    """Write ``data`` (str or bytes) to ``path`` so readers see the old or the new file, never half.

    Temp file in the same directory (same filesystem for rename), created 0600 before any byte is
    written, fsync'd, then renamed over the target; the directory entry is fsync'd too.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
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


def read_text(path):
    """File content as text, or None when the file does not exist."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
