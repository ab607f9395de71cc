"""The mail host's data: mailboxes, their IMAP-like folder trees, and messages as raw bytes.

Plain data classes; the rules (names, protection, uid allocation, change logs) are enforced by
:class:`~ikdav.emulator.mail_store.MailStore`, which also owns the one lock around all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ikdav.emulator.mail_changes import ChangeLog
from ikdav.emulator.mail_ids import SEPARATOR, folder_id
from ikdav.emulator.mail_parse import MessageSummary, parse_summary

ROLES = ("INBOX", "SENT", "DRAFT", "TRASH", "SPAM", "ARCHIVE", "COMMERCIAL", "SOCIALNETWORKS",
         "SNOOZED", "SCHEDULED_DRAFTS")
PERMANENT_DELETE_ROLES = frozenset({"TRASH", "SPAM", "DRAFT", "SCHEDULED_DRAFTS"})  # D33
DRAFT_ROLES = frozenset({"DRAFT", "SCHEDULED_DRAFTS"})
VIRTUAL_PREFIX = ".ik"  # the host's own folders, listed only with ``with=ik-static``

FLAG_NAMES = ("seen", "flagged", "answered", "forwarded", "scheduled", "acknowledged")


@dataclass
class StoredMessage:
    """One message in one folder; ``uid`` is the folder-scoped IMAP UID."""

    uid: int
    raw: bytes
    internal_date: datetime
    seen: bool = False
    flagged: bool = False
    answered: bool = False
    forwarded: bool = False
    scheduled: bool = False
    acknowledged: bool = False
    draft: bool = False
    _summary: MessageSummary | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Exactly the length of the bytes ``/download`` returns (D30)."""
        return len(self.raw)

    @property
    def summary(self) -> MessageSummary:
        if self._summary is None:
            self._summary = parse_summary(self.raw)
        return self._summary

    def flags(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in FLAG_NAMES}


@dataclass
class MailFolder:
    """A folder; ``key`` is its internal identity (kept across renames, never reused)."""

    key: int
    path: str
    role: str | None = None
    is_favorite: bool = False
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    changes: ChangeLog = field(default_factory=ChangeLog)

    @property
    def id(self) -> str:
        return folder_id(self.path)

    @property
    def name(self) -> str:
        return self.path.rsplit(SEPARATOR, 1)[-1]

    @property
    def parent_path(self) -> str | None:
        head, sep, _ = self.path.rpartition(SEPARATOR)
        return head if sep else None

    @property
    def is_virtual(self) -> bool:
        return self.path == VIRTUAL_PREFIX or self.path.startswith(VIRTUAL_PREFIX + SEPARATOR)

    @property
    def unread_count(self) -> int:
        return sum(1 for message in self.messages.values() if not message.seen)

    def is_within(self, path: str) -> bool:
        """True for the folder at ``path`` and every folder below it."""
        return self.path == path or self.path.startswith(path + SEPARATOR)


@dataclass
class Mailbox:
    """A mailbox and the users who attached it (only they can reach it)."""

    uuid: str
    email: str
    owners: set[int]
    mailbox_id: int
    hosting_id: int
    access_id: str
    is_primary: bool = False
    is_locked: bool = False
    is_free: bool = False
    aliases: list[str] = field(default_factory=list)
    folders: dict[str, MailFolder] = field(default_factory=dict)  # by path
    # The next IMAP UID for each path ever used: survives deletes and renames, so a path
    # never hands out the same uid twice.
    uidnext: dict[str, int] = field(default_factory=dict)

    @property
    def local_part(self) -> str:
        return self.email.partition("@")[0]

    def folder_with_role(self, role: str) -> MailFolder | None:
        for folder in self.folders.values():
            if folder.role == role:
                return folder
        return None

    @property
    def unseen_messages(self) -> int:
        inbox = self.folder_with_role("INBOX")
        return inbox.unread_count if inbox else 0
