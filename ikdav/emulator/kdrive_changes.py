"""A drive's change log, the source of the per-folder change feed (infomaniak-api.md §4.9).

Every change to a node is recorded with the folder it concerns (``parent_id``): a move is two
entries, ``file_move_out`` in the old folder and ``file_move`` in the new one. Entries are kept
up to a bound; a feed cursor older than the oldest kept entry is refused like an expired one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

ACTIONS = ("file_create", "file_rename", "file_move", "file_move_out", "file_trash", "file_delete",
           "file_restore", "file_update")


@dataclass(slots=True, frozen=True)
class Change:
    seq: int
    action: str
    file_id: int
    parent_id: int
    path: str | None
    at: int

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"action": self.action, "file_id": self.file_id,
                                   "parent_id": self.parent_id}
        if self.path is not None:
            data["path"] = self.path
        return data


class ChangeLog:
    """Append-only, bounded, ordered by ``seq``. The caller holds the store's lock."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self.seq = 0
        self._entries: list[Change] = []
        self._seqs: list[int] = []

    def record(self, action: str, file_id: int, parent_id: int, path: str | None, at: int) -> Change:
        if action not in ACTIONS:
            raise ValueError(f"unknown change action {action!r}")
        self.seq += 1
        change = Change(self.seq, action, file_id, parent_id, path, at)
        self._entries.append(change)
        self._seqs.append(change.seq)
        if len(self._entries) > self.capacity:
            drop = len(self._entries) - self.capacity + self.capacity // 10
            del self._entries[:drop]
            del self._seqs[:drop]
        return change

    def covers(self, seq: int) -> bool:
        """Whether every change after ``seq`` is still kept."""
        if not self._entries:
            return True
        return seq >= self._entries[0].seq - 1

    def since(self, seq: int, parent_id: int, limit: int) -> tuple[list[Change], int, bool]:
        """Up to ``limit`` changes in folder ``parent_id`` after ``seq``, oldest first, the seq
        to continue from, and whether more remain."""
        found: list[Change] = []
        start = bisect.bisect_right(self._seqs, seq)
        for change in self._entries[start:]:
            if change.parent_id != parent_id:
                continue
            if len(found) == limit:
                return found, found[-1].seq, True
            found.append(change)
        return found, self.seq, False

    def __len__(self) -> int:
        return len(self._entries)
