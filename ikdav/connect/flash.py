"""One-time messages carried across a redirect, kept server side and read once.

A new app password must reach the page that shows it without ever travelling in a URL (URLs
end up in histories, logs and Referer headers). The handler that creates it puts it here under
the session's id and redirects; the page pops it. A reload finds nothing, so the password is
shown exactly once. Entries live in this process's memory and expire after ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Flash:
    """What the next page shows once: a notice, a new password and what the account reaches."""

    notice: str = ""
    warning: str = ""
    password: str = field(default="", repr=False)
    password_label: str = ""
    reach: Any = None  # ikdav.connect.linking.Reach, set right after connecting


class FlashStore:
    """Thread-safe, single-use, expiring. Keys are hashes of session ids, never the ids."""

    def __init__(self, ttl: float = 600.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, Flash]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def put(self, session_id: str, flash: Flash) -> None:
        now = self.clock()
        with self._lock:
            for key in [k for k, (expires, _) in self._entries.items() if expires < now]:
                del self._entries[key]
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[self._key(session_id)] = (now + self.ttl, flash)

    def pop(self, session_id: str) -> Flash | None:
        with self._lock:
            entry = self._entries.pop(self._key(session_id), None)
        if entry is None or entry[0] < self.clock():
            return None
        return entry[1]
