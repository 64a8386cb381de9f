"""The world clock: real time plus an offset that tests move forward with ``advance``."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self._offset = float(offset)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch on the world clock."""
        return time.time() + self._offset

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), timezone.utc)

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the world clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
        return self.now()

    def iso(self, ts: float | None = None) -> str:
        """Graph style timestamp, e.g. ``2024-05-01T10:00:00Z``."""
        return iso(self.now() if ts is None else ts)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(ts: float) -> str:
    """Timestamp with milliseconds, as Graph puts in ``innerError.date`` style fields."""
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str | None) -> float | None:
    """Parse an ISO 8601 timestamp (``Z`` or offset, optional fraction) to epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # fromisoformat in 3.11 accepts up to 6 fractional digits only; Graph sends 7.
        if "." in text:
            head, _, rest = text.partition(".")
            digits = ""
            i = 0
            while i < len(rest) and rest[i].isdigit():
                digits += rest[i]
                i += 1
            text = head + "." + (digits[:6] or "0") + rest[i:]
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
