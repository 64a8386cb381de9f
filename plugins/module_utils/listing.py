# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Graph listings written to a file while they are read: JSON Lines or CSV, atomically, memory flat.

Each page's items are encoded and written (and hashed) as the page arrives, so memory does not grow
with the number of pages. The file replaces the old one only when its bytes differ: a listing is a
read, and writing the same listing again is no change. In check mode nothing is written; the bytes
are only hashed, so the answer to "would it change" is still exact.
"""

import csv
import hashlib
import io
import json
import os
import stat

from .errors import CspValidationError
from .files import AtomicFile, file_sha1

FORMATS = ("jsonl", "csv")
FILE_MODE = 0o600


def select_columns(params):
    """The properties named by ``$select`` in request parameters, in order ([] without one)."""
    for key, value in (params or {}).items():
        if str(key).lower() in ("$select", "select"):
            parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return [str(p).strip() for p in parts if str(p).strip()]
    return []


def check_dest(path, fmt, params):
    """Refuse, before any request, a destination that cannot be written or a CSV without columns."""
    if fmt not in FORMATS:
        raise CspValidationError("dest_format must be one of %s" % ", ".join(FORMATS), code="InvalidOption")
    if fmt == "csv" and not select_columns(params):
        raise CspValidationError("dest_format csv needs $select in params: the selected properties are the "
                                 "CSV columns", code="InvalidOption")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CspValidationError("the directory of dest %s does not exist" % path, code="InvalidDest")
    if os.path.isdir(path):
        raise CspValidationError("dest %s is a directory; name the file to write" % path, code="InvalidDest")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CspValidationError("the directory of dest %s is not writable" % path, code="InvalidDest")


def page_records(page):
    """The records of one response: the items of a collection, else the response itself."""
    if not page:
        return []
    if "value" in page:
        value = page["value"]
        if isinstance(value, list):
            return value
        return [] if value is None else [value]
    return [page]


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


class ListingFile:
    """Records appended to ``path`` page by page (``add``), then ``finish()``.

    ``write=False`` (check mode) only hashes. ``finish()`` keeps the file there when it already holds
    the same bytes with mode 0600 and returns whether anything changed; ``count``, ``size`` and
    ``checksum`` (SHA-1, as ``ansible.builtin.stat`` reports it) describe the listing.
    """

    def __init__(self, path, fmt="jsonl", columns=None, write=True):
        if fmt not in FORMATS:
            raise CspValidationError("dest_format must be one of %s" % ", ".join(FORMATS), code="InvalidOption")
        self.path = path
        self.fmt = fmt
        self.columns = list(columns or [])
        self.count = 0
        self.size = 0
        self.checksum = None
        self._digest = hashlib.sha1()
        self._file = AtomicFile(path, mode=FILE_MODE) if write else None
        if fmt == "csv":
            self._emit(self._csv([self.columns]))

    def add(self, records):
        """Append a page's records."""
        if not records:
            return
        if self.fmt == "csv":
            rows = []
            for record in records:
                if not isinstance(record, dict):
                    record = {self.columns[0]: record} if self.columns else {}
                rows.append([_cell(record.get(column)) for column in self.columns])
            data = self._csv(rows)
        else:
            data = "".join(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
                           for record in records).encode("utf-8")
        self.count += len(records)
        self._emit(data)

    @staticmethod
    def _csv(rows):
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return buffer.getvalue().encode("utf-8")

    def _emit(self, data):
        self._digest.update(data)
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)

    def finish(self):
        """Replace the file when its content differs, set mode 0600; True when either changed."""
        self.checksum = self._digest.hexdigest()
        content_changed = file_sha1(self.path) != self.checksum
        mode_changed = not content_changed and stat.S_IMODE(os.stat(self.path).st_mode) != FILE_MODE
        if self._file is not None:
            if content_changed:
                self._file.commit()
            else:
                self._file.discard()
                if mode_changed:
                    os.chmod(self.path, FILE_MODE)
        return content_changed or mode_changed

    def discard(self):
        if self._file is not None:
            self._file.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False

    def result(self):
        return {"dest": self.path, "count": self.count, "size": self.size, "checksum": self.checksum}
