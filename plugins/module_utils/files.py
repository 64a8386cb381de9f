# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file helpers for secrets on disk (token cache, rotated refresh tokens)."""

import os
import tempfile


def ensure_private_dir(path):
    """Create ``path`` (and parents) with mode 0700 when missing; return it."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


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
