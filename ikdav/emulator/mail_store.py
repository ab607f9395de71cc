"""The emulated mail host's store, and the Python API that tests and benches drive it with.

Reached as ``emulator.state.mail`` (a :class:`MailStore`). A *mailbox reference* (``ref``
below) is a :class:`Mailbox`, its uuid or its e-mail address; folders are named by their IMAP
path (``"INBOX/Projects"``). Rule violations raise :class:`~ikdav.emulator.web.ApiError` with the
contract's status and code, exactly what the HTTP routes answer; an unknown mailbox reference
raises ``KeyError``.

Python API (every method takes the store's lock; returned messages are the live objects)::

    store = emulator.state.mail
    box = store.mailbox("jane@example.ch")           # or store.mailbox_by_email(...), by uuid
    store.mailboxes_of(112233)                        # a user's mailboxes, primary first
    store.folder(box, "INBOX/Projects")               # MailFolder: .id .path .role .messages
    store.list_messages(box, "INBOX")                 # [StoredMessage] by uid
    store.message(box, "INBOX", 42)                   # StoredMessage: .uid .raw .size .seen .summary
    store.raw(box, "INBOX", 42)                       # the exact bytes /download serves
    store.folder_by_id(box, "eJzz9HPyjwAABGYBgQ--")  # the folder an HTTP id names (404 if none)
    uid = store.add_message(box, "INBOX", email_message_or_bytes, internal_date=None, seen=False)
    store.set_flags(box, "INBOX", [uid], seen=True, flagged=True)
    store.move_messages(box, "INBOX", [uid], "Archive")  # -> {old uid: new uid}
    store.delete_messages(box, "Trash", [7, 8])      # permanent, any folder (no D33 check here)
    store.bulk_add(box, "Bench/10k", 10_000)          # fast synthetic (seen) messages, folder created
    store.create_folder(box, "A/B", parents=True); store.rename_folder(box, "A", "C")
    store.delete_folder(box, "C"); store.flush_folder(box, "Spam")
    store.age_signatures(8 * 24 * 3600)               # make every sync signature that old
    store.set_locked(box, True)                       # routes answer 423 mailbox_locked

Every change made through this API lands in the folder's change log, so ``activities`` reports
it exactly as it reports changes made over HTTP.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime

from ikdav.emulator.mail_changes import ADDED, DELETED, UPDATED, FolderChanges, SignatureBook
from ikdav.emulator.mail_ids import SEPARATOR, folder_path
from ikdav.emulator.mail_model import (
    DRAFT_ROLES,
    FLAG_NAMES,
    ROLES,
    VIRTUAL_PREFIX,
    Mailbox,
    MailFolder,
    StoredMessage,
)
from ikdav.emulator.mail_parse import MessageSummary
from ikdav.emulator.web import ApiError

MAX_NAME_BYTES = 255

STANDARD_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", "INBOX"), ("Sent", "SENT"), ("Drafts", "DRAFT"), ("Trash", "TRASH"),
    ("Spam", "SPAM"), ("Archive", "ARCHIVE"),
)
VIRTUAL_FOLDERS: tuple[tuple[str, str | None], ...] = (
    (VIRTUAL_PREFIX, None), (f"{VIRTUAL_PREFIX}/Commercial", "COMMERCIAL"),
    (f"{VIRTUAL_PREFIX}/Social networks", "SOCIALNETWORKS"), (f"{VIRTUAL_PREFIX}/Snoozed", "SNOOZED"),
    (f"{VIRTUAL_PREFIX}/Scheduled", "SCHEDULED_DRAFTS"),
)

MailboxRef = Mailbox | str


def folder_not_found(what: str = "") -> ApiError:
    return ApiError(404, "folder__not_exists", f"Folder not found{': ' + what if what else ''}")


def message_not_found() -> ApiError:
    return ApiError(404, "mail__message_not_found", "Message not found")


def validation_failed(description: str) -> ApiError:
    return ApiError(422, "validation_failed", description,
                    errors=[{"code": "validation_failed", "description": description}])


def check_folder_name(name: object) -> str:
    """A new folder name, or the D35 refusal (422 for a separator or more than 255 bytes)."""
    if not isinstance(name, str) or not name.strip():
        raise validation_failed("name is required")
    if SEPARATOR in name:
        raise validation_failed(f"name must not contain the separator {SEPARATOR!r}")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise validation_failed("name must not contain control characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ApiError(422, "folder__name_too_long", f"name is longer than {MAX_NAME_BYTES} bytes")
    return name


def raw_bytes(message: bytes | bytearray | Message) -> bytes:
    """Raw RFC 822 bytes with CRLF line ends, from bytes or an ``email`` message."""
    if isinstance(message, bytes | bytearray):
        return bytes(message)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


class MailStore:
    """All mailboxes of the emulated mail host, guarded by one re-entrant lock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.mailboxes: dict[str, Mailbox] = {}  # by uuid
        self.signatures = SignatureBook()
        self._folder_keys = itertools.count(1)
        self._mailbox_ids = itertools.count(1234)
        self._hostings: dict[str, int] = {}

    # -- mailboxes -------------------------------------------------------------------------------
    def add_mailbox(self, email: str, owners: Iterable[int], *, is_primary: bool = False,
                    aliases: Iterable[str] = (), standard_folders: bool = True) -> Mailbox:
        """A new mailbox attached to ``owners``, with the standard and ``.ik`` folders."""
        with self.lock:
            number = next(self._mailbox_ids)
            mailbox = Mailbox(
                uuid=str(uuid_module.uuid3(uuid_module.NAMESPACE_URL, f"ikdav-emulator:mailbox:{email}")),
                email=email, owners=set(owners), mailbox_id=number, hosting_id=self._hosting_id(email),
                access_id=str(91011 + number), is_primary=is_primary, aliases=list(aliases),
            )
            if mailbox.uuid in self.mailboxes:
                raise ValueError(f"mailbox {email} exists already")
            self.mailboxes[mailbox.uuid] = mailbox
            if standard_folders:
                for path, role in STANDARD_FOLDERS + VIRTUAL_FOLDERS:
                    self._new_folder(mailbox, path, role)
            return mailbox

    def _hosting_id(self, email: str) -> int:
        """Mailboxes of one domain share a mail hosting, as they do at Infomaniak."""
        domain = email.partition("@")[2].lower()
        return self._hostings.setdefault(domain, 5678 + len(self._hostings))

    def mailbox(self, ref: MailboxRef) -> Mailbox:
        """The mailbox for a :class:`Mailbox`, uuid or e-mail address (``KeyError`` if none)."""
        if isinstance(ref, Mailbox):
            return ref
        with self.lock:
            found = self.mailboxes.get(ref)
            if found is None:
                found = self.mailbox_by_email(ref)
            return found

    def mailbox_by_email(self, email: str) -> Mailbox:
        with self.lock:
            for mailbox in self.mailboxes.values():
                if mailbox.email.lower() == email.lower():
                    return mailbox
        raise KeyError(email)

    def mailboxes_of(self, user_id: int) -> list[Mailbox]:
        """The mailboxes ``user_id`` attached, primary first, then by address."""
        with self.lock:
            owned = [m for m in self.mailboxes.values() if user_id in m.owners]
        return sorted(owned, key=lambda m: (not m.is_primary, m.email))

    def set_locked(self, ref: MailboxRef, locked: bool = True) -> None:
        with self.lock:
            self.mailbox(ref).is_locked = locked

    # -- folders ---------------------------------------------------------------------------------
    def folder(self, ref: MailboxRef, path: str) -> MailFolder:
        with self.lock:
            found = self.mailbox(ref).folders.get(path)
        if found is None:
            raise folder_not_found(path)
        return found

    def folder_by_id(self, ref: MailboxRef, folder_id_text: str) -> MailFolder:
        """The folder an id names now (an id from before a rename names nothing: 404)."""
        path = folder_path(folder_id_text)
        if path is None:
            raise folder_not_found()
        return self.folder(ref, path)

    def create_folder(self, ref: MailboxRef, path: str, role: str | None = None, *,
                      favorite: bool = False, parents: bool = False) -> MailFolder:
        """Create ``path``; its parent must exist unless ``parents`` (then missing ones are made)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown folder role {role!r}; known: {', '.join(ROLES)}")
        with self.lock:
            mailbox = self.mailbox(ref)
            parent, _, name = path.rpartition(SEPARATOR)
            check_folder_name(name)
            if parent and parent not in mailbox.folders:
                if not parents:
                    raise folder_not_found(parent)
                self.create_folder(mailbox, parent, parents=True)
            if path in mailbox.folders:
                if parents and role is None:
                    return mailbox.folders[path]
                raise ApiError(409, "folder__destination_already_exists", f"{path} exists already")
            folder = self._new_folder(mailbox, path, role)
            folder.is_favorite = favorite
            return folder

    def create_child(self, ref: MailboxRef, parent_path: str | None, name: object) -> MailFolder:
        """What ``POST /folder`` does: validate, refuse the host's own ``.ik`` tree, create."""
        checked = check_folder_name(name)
        with self.lock:
            mailbox = self.mailbox(ref)
            if parent_path is not None:
                parent = self.folder(mailbox, parent_path)
                if parent.is_virtual:
                    raise ApiError(403, "folder__protected_folder", "The host's own folders are read-only")
            path = checked if parent_path is None else parent_path + SEPARATOR + checked
            if path in mailbox.folders:
                raise ApiError(409, "folder__destination_already_exists", f"{path} exists already")
            return self._new_folder(mailbox, path, None)

    def rename_folder(self, ref: MailboxRef, path: str, new_name: object) -> MailFolder:
        """Rename the folder at ``path``; it and its subfolders get new paths and new ids."""
        checked = check_folder_name(new_name)
        with self.lock:
            mailbox = self.mailbox(ref)
            folder = self.folder(mailbox, path)
            self._refuse_protected(mailbox, folder)
            parent = folder.parent_path
            new_path = checked if parent is None else parent + SEPARATOR + checked
            if new_path in mailbox.folders:
                raise ApiError(409, "folder__destination_already_exists", f"{new_path} exists already")
            moving = [f for f in mailbox.folders.values() if f.is_within(path)]
            for item in moving:
                del mailbox.folders[item.path]
            for item in moving:
                old = item.path
                item.path = new_path + old[len(path):]
                mailbox.uidnext[item.path] = max(mailbox.uidnext.get(item.path, 1),
                                                 mailbox.uidnext.get(old, 1))
                mailbox.folders[item.path] = item
            return folder

    def delete_folder(self, ref: MailboxRef, path: str) -> None:
        """Delete the folder, its subfolders and all their messages."""
        with self.lock:
            mailbox = self.mailbox(ref)
            folder = self.folder(mailbox, path)
            self._refuse_protected(mailbox, folder)
            doomed = [f for f in mailbox.folders.values() if f.is_within(path)]
            for item in doomed:
                del mailbox.folders[item.path]
            self.signatures.forget_folders({item.key for item in doomed})

    def flush_folder(self, ref: MailboxRef, path: str) -> int:
        """Delete every message of the folder (not of its subfolders); returns how many."""
        with self.lock:
            folder = self.folder(ref, path)
            return len(self._remove(folder, list(folder.messages)))

    def _new_folder(self, mailbox: Mailbox, path: str, role: str | None) -> MailFolder:
        folder = MailFolder(next(self._folder_keys), path, role)
        mailbox.folders[path] = folder
        mailbox.uidnext.setdefault(path, 1)
        return folder

    @staticmethod
    def _refuse_protected(mailbox: Mailbox, folder: MailFolder) -> None:
        for item in mailbox.folders.values():
            if item.is_within(folder.path) and (item.role is not None or item.is_virtual):
                raise ApiError(403, "folder__protected_folder",
                               f"{item.path} is a special folder and cannot be changed")

    # -- messages --------------------------------------------------------------------------------
    def list_messages(self, ref: MailboxRef, path: str) -> list[StoredMessage]:
        with self.lock:
            folder = self.folder(ref, path)
            return [folder.messages[uid] for uid in sorted(folder.messages)]

    def message(self, ref: MailboxRef, path: str, uid: int) -> StoredMessage:
        with self.lock:
            found = self.folder(ref, path).messages.get(uid)
        if found is None:
            raise message_not_found()
        return found

    def raw(self, ref: MailboxRef, path: str, uid: int) -> bytes:
        return self.message(ref, path, uid).raw

    def add_message(self, ref: MailboxRef, folder_path_text: str, message: bytes | Message, *,
                    internal_date: datetime | None = None, seen: bool = False, flagged: bool = False,
                    answered: bool = False, draft: bool | None = None) -> int:
        """Deliver a message into a folder as new mail would arrive; returns its short uid."""
        with self.lock:
            folder = self.folder(ref, folder_path_text)
            stored = StoredMessage(
                uid=0, raw=raw_bytes(message), internal_date=internal_date or self.now(),
                seen=seen, flagged=flagged, answered=answered,
                draft=folder.role in DRAFT_ROLES if draft is None else draft,
            )
            return self._append(self.mailbox(ref), folder, stored)

    def bulk_add(self, ref: MailboxRef, folder_path_text: str, n: int, *, seen: bool = True,
                 start: datetime | None = None, step: timedelta = timedelta(minutes=1)) -> list[int]:
        """Add ``n`` small synthetic messages fast (10,000 in well under a few seconds).

        The folder (and missing parents) is created if needed. Internal dates grow by ``step``
        from ``start`` (default: ``n`` steps before now), so the newest message has the highest uid.
        """
        with self.lock:
            mailbox = self.mailbox(ref)
            if folder_path_text not in mailbox.folders:
                self.create_folder(mailbox, folder_path_text, parents=True)
            folder = mailbox.folders[folder_path_text]
            first = start or self.now() - step * n
            sender = {"email": "bulk@example.ch", "name": "Bulk Sender"}
            recipient = {"email": mailbox.email, "name": ""}
            uids: list[int] = []
            for index in range(n):
                moment = first + step * index
                subject = f"Bulk message {index + 1} of {n}"
                msg_id = f"<bulk-{folder.key}-{index + 1}@example.ch>"
                body = f"This is synthetic message number {index + 1}.\r\n"
                raw = (
                    f"From: Bulk Sender <bulk@example.ch>\r\nTo: {mailbox.email}\r\n"
                    f"Subject: {subject}\r\nDate: {format_datetime(moment)}\r\n"
                    f"Message-ID: {msg_id}\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
                    f"\r\n{body}"
                ).encode("ascii")
                summary = MessageSummary(msg_id=msg_id, subject=subject, date=moment, from_=[sender],
                                         to=[recipient], preview=body.strip())
                stored = StoredMessage(uid=0, raw=raw, internal_date=moment, seen=seen,
                                       _summary=summary)
                uids.append(self._append(mailbox, folder, stored))
            return uids

    def set_flags(self, ref: MailboxRef, path: str, uids: Iterable[int], **flags: bool) -> list[int]:
        """Set IMAP flags (``seen``, ``flagged``, ...); returns the uids that actually changed."""
        unknown = set(flags) - set(FLAG_NAMES)
        if unknown:
            raise ValueError(f"unknown flags: {', '.join(sorted(unknown))}")
        with self.lock:
            folder = self.folder(ref, path)
            changed: list[int] = []
            for uid in uids:
                message = folder.messages.get(uid)
                if message is None:
                    continue
                if any(getattr(message, name) != bool(value) for name, value in flags.items()):
                    for name, value in flags.items():
                        setattr(message, name, bool(value))
                    folder.changes.record(UPDATED, uid)
                    changed.append(uid)
            return changed

    def move_messages(self, ref: MailboxRef, path: str, uids: Iterable[int],
                      destination_path: str) -> dict[int, int]:
        """Move messages; each gets a new uid in the destination. Returns ``{old: new}``."""
        with self.lock:
            mailbox = self.mailbox(ref)
            source = self.folder(mailbox, path)
            destination = self.folder(mailbox, destination_path)
            if destination is source:
                return {uid: uid for uid in uids if uid in source.messages}
            moved: dict[int, int] = {}
            for message in self._remove(source, uids):
                old_uid = message.uid  # flags, the draft flag too, travel along
                moved[old_uid] = self._append(mailbox, destination, message)
            return moved

    def delete_messages(self, ref: MailboxRef, path: str, uids: Iterable[int]) -> list[int]:
        """Delete messages for good, whatever the folder; returns the uids that existed."""
        with self.lock:
            return [message.uid for message in self._remove(self.folder(ref, path), uids)]

    def date_ordered_uids(self, folder: MailFolder, *, newest_first: bool = True) -> list[int]:
        with self.lock:
            ordered = sorted(folder.messages.values(), key=lambda m: (m.internal_date, m.uid),
                             reverse=newest_first)
            return [message.uid for message in ordered]

    def _append(self, mailbox: Mailbox, folder: MailFolder, message: StoredMessage) -> int:
        uid = mailbox.uidnext.get(folder.path, 1)
        mailbox.uidnext[folder.path] = uid + 1
        message.uid = uid
        folder.messages[uid] = message
        folder.changes.record(ADDED, uid)
        return uid

    @staticmethod
    def _remove(folder: MailFolder, uids: Iterable[int]) -> list[StoredMessage]:
        removed: list[StoredMessage] = []
        for uid in list(uids):
            message = folder.messages.pop(uid, None)
            if message is not None:
                folder.changes.record(DELETED, uid)
                removed.append(message)
        return removed

    # -- sync signatures ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)

    def issue_signature(self, mailbox: Mailbox, folder: MailFolder) -> str:
        with self.lock:
            return self.signatures.issue(mailbox.uuid, folder.key, folder.changes.version, self.clock())

    def activities(self, mailbox: Mailbox, folder: MailFolder, signature: str, *,
                   only: Iterable[int] | None = None) -> tuple[FolderChanges, str]:
        """Changes since ``signature`` and a new signature; 422 for an unknown or old one (D32)."""
        with self.lock:
            saved = self.signatures.resolve(signature, self.clock())
            if saved is None or saved.mailbox_uuid != mailbox.uuid or saved.folder_key != folder.key:
                raise validation_failed("signature is unknown or expired")
            changes = folder.changes.since(saved.version, folder.messages, only)
            return changes, self.issue_signature(mailbox, folder)

    def expire_signature(self, signature: str) -> None:
        with self.lock:
            self.signatures.forget(signature)

    def age_signatures(self, seconds: float) -> None:
        with self.lock:
            self.signatures.age(seconds)
