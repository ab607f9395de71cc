"""What the share knows about one account's mail: mailboxes, folder trees and folder indexes.

A :class:`FolderIndex` holds the metadata of every message of one folder. It is built once from
the uid list plus metadata in batches of 200 (50 calls for 10,000 messages, never one per
message) and then kept current through the folder's change feed: after ``mail_ttl`` seconds the
next listing asks ``activities`` what was added or deleted since the saved signature, instead of
listing everything again (D32: a refused signature, or more than 1500 changes, rebuilds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from cachetools import TTLCache

from ikdav.dav.cache import MISSING, CacheSettings
from ikdav.dav.names import message_file_name
from ikdav.infomaniak import Mail, Mailbox, MailFolder, Message
from ikdav.infomaniak.errors import InfomaniakError, InvalidCursor, RateLimited, Unauthorized

log = logging.getLogger("ikdav.dav.mail")

T = TypeVar("T")
REBUILD_ABOVE = 1500  # more changes than this: list again rather than apply them (D32)
MAX_INDEXES = 256  # folder indexes kept per account (least recently used dropped)
ALIAS_TTL = 300.0  # seconds a moved message stays reachable under the name the client gave it


def file_name(message: Message) -> str:
    when = message.internal_date or message.date or datetime.fromtimestamp(0).astimezone()
    return message_file_name(when, message.subject, message.short_uid)


class FolderIndex:
    """Every message of one folder, by short uid, with the signature of the folder's change feed."""

    def __init__(self, mailbox_uuid: str, folder_id: str) -> None:
        self.mailbox_uuid = mailbox_uuid
        self.folder_id = folder_id
        self.lock = threading.RLock()
        self.messages: dict[str, Message] = {}
        self.loaded = False
        self.signature: str | None = None
        self.checked_at = 0.0
        self.singles: dict[str, Message | None] = {}  # looked up one by one before a full load
        self.aliases: dict[str, tuple[str, float]] = {}  # file name -> (uid, expiry)

    # -- keeping current ------------------------------------------------------------------------
    def ensure_current(self, mail: Mail, ttl: float) -> None:
        with self.lock:
            if self.loaded and time.monotonic() - self.checked_at < ttl:
                return
            if self.loaded and self.signature:
                try:
                    self._follow_changes(mail)
                    return
                except InvalidCursor:
                    log.info("mail signature of folder %s refused; listing it again", self.folder_id)
            self._rebuild(mail)

    def _rebuild(self, mail: Mail) -> None:
        listed = mail.message_uids(self.mailbox_uuid, self.folder_id)
        found = mail.messages(self.mailbox_uuid, self.folder_id, listed.uids)
        self.messages = {message.short_uid: message for message in found}
        self.signature = listed.signature
        self.loaded = True
        self.singles.clear()
        self.checked_at = time.monotonic()

    def _follow_changes(self, mail: Mail) -> None:
        assert self.signature is not None
        changes = mail.activities(self.mailbox_uuid, self.folder_id, self.signature)
        if len(changes.added) + len(changes.deleted) > REBUILD_ABOVE:
            self._rebuild(mail)
            return
        for uid in changes.deleted:
            self.messages.pop(str(uid), None)
        added = [str(uid) for uid in changes.added if str(uid) not in self.messages]
        if added:
            for message in mail.messages(self.mailbox_uuid, self.folder_id, added):
                self.messages[message.short_uid] = message
        self.signature = changes.signature or self.signature
        self.checked_at = time.monotonic()

    def mark_stale(self) -> None:
        """Something changed here that we did not see (e.g. a message moved in): ask the feed next time."""
        with self.lock:
            self.checked_at = 0.0

    # -- reading ----------------------------------------------------------------------------------
    def find(self, mail: Mail, uid: str) -> Message | None:
        """One message, from the index when loaded, else with a single metadata call."""
        with self.lock:
            if self.loaded:
                return self.messages.get(uid)
            if uid in self.singles:
                return self.singles[uid]
        found = mail.messages(self.mailbox_uuid, self.folder_id, [uid])
        message = found[0] if found else None
        with self.lock:
            self.singles[uid] = message
        return message

    def alias(self, name: str) -> str | None:
        with self.lock:
            entry = self.aliases.get(name)
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self.aliases[name]
                return None
            return entry[0]

    def add_alias(self, name: str, uid: str) -> None:
        with self.lock:
            self.aliases[name] = (uid, time.monotonic() + ALIAS_TTL)

    # -- our own changes ------------------------------------------------------------------------
    def forget(self, uid: str) -> None:
        with self.lock:
            self.messages.pop(uid, None)
            self.singles.pop(uid, None)
            for name in [n for n, (u, _) in self.aliases.items() if u == uid]:
                del self.aliases[name]

    def newest(self) -> datetime | None:
        with self.lock:
            dates = [m.internal_date for m in self.messages.values() if m.internal_date]
        return max(dates) if dates else None


class MailCache:
    """Mailboxes, folder lists and folder indexes of one account."""

    def __init__(self, settings: CacheSettings) -> None:
        self.ttl = settings.mail_ttl
        self.lock = threading.RLock()
        self._mailboxes: TTLCache[str, list[Mailbox]] = TTLCache(4, settings.mail_ttl or 0.001)
        self._folders: TTLCache[str, list[MailFolder]] = TTLCache(256, settings.mail_ttl or 0.001)
        self._newest: TTLCache[tuple[str, str], Any] = TTLCache(4096, settings.mail_ttl or 0.001)
        self._indexes: OrderedDict[tuple[str, str], FolderIndex] = OrderedDict()

    def _get_or_load(self, cache: TTLCache[Any, Any], key: Any, load: Callable[[], T]) -> T:
        with self.lock:
            value = cache.get(key, MISSING)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        value = load()
        with self.lock:
            cache[key] = value
        return value

    def mailboxes(self, load: Callable[[], list[Mailbox]]) -> list[Mailbox]:
        return self._get_or_load(self._mailboxes, "mailboxes", load)

    def folders(self, mailbox_uuid: str, load: Callable[[], list[MailFolder]]) -> list[MailFolder]:
        return self._get_or_load(self._folders, mailbox_uuid, load)

    def forget_folders(self, mailbox_uuid: str) -> None:
        with self.lock:
            self._folders.pop(mailbox_uuid, None)

    def index(self, mailbox_uuid: str, folder_id: str) -> FolderIndex:
        key = (mailbox_uuid, folder_id)
        with self.lock:
            index = self._indexes.get(key)
            if index is None:
                index = FolderIndex(mailbox_uuid, folder_id)
                self._indexes[key] = index
                while len(self._indexes) > MAX_INDEXES:
                    self._indexes.popitem(last=False)
            else:
                self._indexes.move_to_end(key)
            return index

    def cached_index(self, mailbox_uuid: str, folder_id: str) -> FolderIndex | None:
        with self.lock:
            return self._indexes.get((mailbox_uuid, folder_id))

    def newest(self, mail: Mail, mailbox_uuid: str, folder_id: str) -> datetime | None:
        """Internal date of a folder's newest message: from its index, else two small calls."""
        index = self.cached_index(mailbox_uuid, folder_id)
        if index is not None and index.loaded:
            return index.newest()

        def probe() -> datetime | None:
            try:
                newest = mail.message_uids(mailbox_uuid, folder_id, limit=1)
                if not newest.uids:
                    return None
                found = mail.messages(mailbox_uuid, folder_id, newest.uids[:1])
            except (Unauthorized, RateLimited):
                raise
            except InfomaniakError as exc:  # a date is not worth failing a listing for
                log.info("no newest-message date for folder %s: %s", folder_id, exc)
                return None
            return found[0].internal_date if found else None

        return self._get_or_load(self._newest, (mailbox_uuid, folder_id), probe)
