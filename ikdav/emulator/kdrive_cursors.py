"""Server-side cursors for kDrive's cursor lists and change feed (§3.3, §4.9, D15).

A cursor is an opaque token naming a saved position: the folder, a snapshot of its ordered
child ids, how far the client got, and the change-log position when the listing started.
Cursors live 24 h and may be reused within that time; an unknown or expired one gives
400 ``invalid_cursor_error``.

The ``expire_cursors`` knob makes every cursor issued before the knob was switched on fail
once, on its next use: the client restarts its listing and the new cursors work, which is
what a real expiry looks like from the client's side.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ikdav.emulator.faults import Knobs
from ikdav.emulator.web import ApiError

CURSOR_LIFETIME = 24 * 3600
LIST = "files"
LISTING = "listing"


@dataclass(slots=True)
class Cursor:
    kind: str
    drive_id: int
    dir_id: int
    user_id: int
    ids: list[int]  # the folder's children in list order, as at the first page (shared)
    offset: int  # how many of ``ids`` were handed out
    seq: int  # change-log position when the listing started, or of the last action sent
    fields: frozenset[str]
    created_at: float

    @property
    def files_done(self) -> bool:
        return self.offset >= len(self.ids)


@dataclass(frozen=True)
class RequestKey:
    """What the ``match`` part of a knob looks at."""

    role: str
    method: str
    path: str


def invalid_cursor(description: str = "The cursor is invalid or has expired") -> ApiError:
    return ApiError(400, "invalid_cursor_error", description)


class CursorStore:
    """Issued cursors by token, oldest first, bounded. Thread-safe."""

    def __init__(self, knobs: Knobs, clock: Callable[[], float], capacity: int = 100_000) -> None:
        self.knobs = knobs
        self.clock = clock
        self.capacity = capacity
        self.lifetime = CURSOR_LIFETIME
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._expiry_epoch: float | None = None  # when ``expire_cursors`` was first noticed

    def _notice_knob(self, key: RequestKey) -> bool:
        active = bool(self.knobs.peek("expire_cursors", key.role, key.method, key.path))
        if not active:
            self._expiry_epoch = None
        elif self._expiry_epoch is None:
            self._expiry_epoch = self.clock()
        return active

    def issue(self, cursor: Cursor, key: RequestKey) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._notice_knob(key)
            now = self.clock()
            cursor.created_at = now
            self._cursors[token] = cursor
            while len(self._cursors) > self.capacity:
                self._cursors.popitem(last=False)
            self._prune(now)
        return token

    def redeem(self, token: str | None, kind: str, drive_id: int, dir_id: int, user_id: int,
               key: RequestKey) -> Cursor:
        """The saved position for ``token``, or 400 ``invalid_cursor_error``."""
        if not token:
            raise invalid_cursor("A cursor is required")
        with self._lock:
            cursor = self._cursors.get(token)
            now = self.clock()
            if cursor is None or now - cursor.created_at > self.lifetime:
                self._cursors.pop(token, None)
                raise invalid_cursor()
            if (cursor.kind, cursor.drive_id, cursor.dir_id, cursor.user_id) != (
                    kind, drive_id, dir_id, user_id):
                raise invalid_cursor("The cursor belongs to another listing")
            if self._notice_knob(key) and self._expiry_epoch is not None \
                    and cursor.created_at < self._expiry_epoch:
                self.knobs.take("expire_cursors", key.role, key.method, key.path)
                del self._cursors[token]
                raise invalid_cursor()
            return Cursor(cursor.kind, cursor.drive_id, cursor.dir_id, cursor.user_id, cursor.ids,
                          cursor.offset, cursor.seq, cursor.fields, cursor.created_at)

    def _prune(self, now: float) -> None:
        while self._cursors:
            token, oldest = next(iter(self._cursors.items()))
            if now - oldest.created_at <= self.lifetime:
                return
            del self._cursors[token]

    def __len__(self) -> int:
        with self._lock:
            return len(self._cursors)
