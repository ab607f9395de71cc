"""Per-folder change logs and the sync signatures that point into them (§5.4, D31, D32).

A signature is an opaque token naming one folder (by its internal key, so a rename keeps it
valid) at one version of that folder's change log. ``activities`` answers what changed between
that version and now. Signatures die after seven days, when their folder is deleted, or when
the ``expire_cursors`` knob says so.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

SIGNATURE_LIFETIME = 7 * 24 * 3600  # seconds (D32)

ADDED = "added"
DELETED = "deleted"
UPDATED = "updated"


@dataclass(frozen=True)
class Change:
    version: int
    kind: str  # ADDED, DELETED or UPDATED
    uid: int


@dataclass
class FolderChanges:
    """Which uids appeared, disappeared or changed flags since a version."""

    added: list[int]
    deleted: list[int]
    updated: list[int]


@dataclass
class ChangeLog:
    """An append-only log of one folder's message events; versions only grow."""

    version: int = 0
    events: list[Change] = field(default_factory=list)

    def record(self, kind: str, uid: int) -> None:
        self.version += 1
        self.events.append(Change(self.version, kind, uid))

    def since(self, version: int, present: Container[int],
              only: Iterable[int] | None = None) -> FolderChanges:
        """The net effect of every event after ``version``, judged against ``present`` uids.

        A uid whose first later event is ``added`` did not exist at ``version`` (uids are never
        reused within a path), so it is reported as added if it is still there, and not at all
        if it came and went. ``only`` restricts the answer to those uids.
        """
        start = bisect.bisect_right(self.events, version, key=lambda change: change.version)
        first_kind: dict[int, str] = {}
        touched: set[int] = set()
        for change in self.events[start:]:
            first_kind.setdefault(change.uid, change.kind)
            if change.kind == UPDATED:
                touched.add(change.uid)
        added: list[int] = []
        deleted: list[int] = []
        updated: list[int] = []
        for uid, kind in first_kind.items():
            existed = kind != ADDED
            if uid in present:
                if not existed:
                    added.append(uid)
                elif uid in touched:
                    updated.append(uid)
            elif existed:
                deleted.append(uid)
        if only is not None:
            wanted = set(only)
            added = [uid for uid in added if uid in wanted]
            updated = [uid for uid in updated if uid in wanted]
            deleted = [uid for uid in deleted if uid in wanted]
        return FolderChanges(sorted(added), sorted(deleted), sorted(updated))


@dataclass(frozen=True)
class Signature:
    mailbox_uuid: str
    folder_key: int
    version: int
    issued_at: float


class SignatureBook:
    """Issued signatures; not thread-safe on its own (the mail store's lock guards it)."""

    def __init__(self) -> None:
        self._issued: dict[str, Signature] = {}

    def issue(self, mailbox_uuid: str, folder_key: int, version: int, now: float) -> str:
        if len(self._issued) > 50_000:
            self.prune(now)
        token = secrets.token_urlsafe(18)
        self._issued[token] = Signature(mailbox_uuid, folder_key, version, now)
        return token

    def resolve(self, token: str, now: float) -> Signature | None:
        """The live signature behind ``token``; an expired one is forgotten and gives ``None``."""
        signature = self._issued.get(token)
        if signature is None:
            return None
        if now - signature.issued_at > SIGNATURE_LIFETIME:
            del self._issued[token]
            return None
        return signature

    def forget(self, token: str) -> None:
        self._issued.pop(token, None)

    def forget_folders(self, folder_keys: Container[int]) -> None:
        for token in [t for t, s in self._issued.items() if s.folder_key in folder_keys]:
            del self._issued[token]

    def age(self, seconds: float) -> None:
        """Make every issued signature ``seconds`` older (tests of the seven-day limit)."""
        self._issued = {token: Signature(s.mailbox_uuid, s.folder_key, s.version, s.issued_at - seconds)
                        for token, s in self._issued.items()}

    def prune(self, now: float) -> None:
        self._issued = {token: s for token, s in self._issued.items()
                        if now - s.issued_at <= SIGNATURE_LIFETIME}

    def __len__(self) -> int:
        return len(self._issued)
