"""Typed, immutable views of what the Infomaniak APIs return.

Every ``from_json`` is tolerant in the ways the contract asks (§0 and D36): unknown fields are
ignored, numbers may come as numeric strings, optional fields may be missing or ``null``.
Secrets (access and refresh tokens) are kept out of ``repr`` so a logged object never leaks one.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

# -- tolerant field readers --------------------------------------------------------------------


def as_int(value: Any, default: int | None = None) -> int | None:
    """An int from an int, a float or a numeric string; ``default`` otherwise."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return int(float(text))
            except ValueError:
                return default
    return default


def as_str(value: Any, default: str | None = None) -> str | None:
    if value is None:
        return default
    return str(value)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def nfc(name: str) -> str:
    """Names are stored and compared in Unicode NFC (D19)."""
    return unicodedata.normalize("NFC", name)


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from RFC 3339 (``+01:00``), ``+0100``, ``Z`` or Unix seconds (D37).

    A naive value is taken as UTC, so every result can be compared with every other.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    number = as_int(text)
    if number is not None and text.lstrip("-").isdigit():
        return datetime.fromtimestamp(number, UTC)
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- OAuth and profile -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned (§1.3), plus the absolute expiry computed on receipt.

    ``expires_in``/``expires_at`` are ``None`` for a non-expiring token (D7); ``user_id`` is an
    int whatever JSON type the server used (D8).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    expires_in: int | None = None
    expires_at: float | None = None
    user_id: int | None = None
    scope: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, requested_scope: str | None = None,
                  now: float | None = None) -> TokenSet:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("the token reply has no access_token")
        expires_in = as_int(data.get("expires_in"))
        received = time.time() if now is None else now
        return cls(
            access_token=access,
            refresh_token=as_str(data.get("refresh_token")) or None,
            token_type=as_str(data.get("token_type"), "Bearer") or "Bearer",
            expires_in=expires_in,
            expires_at=None if expires_in is None else received + expires_in,
            user_id=as_int(data.get("user_id")),
            scope=as_str(data.get("scope")) or requested_scope,
        )

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset((self.scope or "").split())

    def refresh_due(self, now: float | None = None, margin: float = 60.0) -> bool:
        """True when the token expires within ``min(margin, expires_in / 2)`` seconds (§1.3)."""
        if self.expires_at is None:
            return False
        lead = min(margin, (self.expires_in or 0) / 2)
        return (time.time() if now is None else now) >= self.expires_at - lead

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (time.time() if now is None else now) >= self.expires_at

    def with_refresh_token(self, refresh_token: str | None) -> TokenSet:
        return replace(self, refresh_token=refresh_token)


@dataclass(frozen=True)
class Profile:
    """The person behind a token (§2); either spelling of the name fields is accepted (D12)."""

    id: int
    email: str | None
    display_name: str | None
    first_name: str | None = None
    last_name: str | None = None
    login: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        first = as_str(data.get("first_name", data.get("firstname")))
        last = as_str(data.get("last_name", data.get("lastname")))
        display = as_str(data.get("display_name")) or " ".join(p for p in (first, last) if p) or None
        return cls(
            id=as_int(data.get("id"), 0) or 0,
            email=as_str(data.get("email")),
            display_name=display,
            first_name=first,
            last_name=last,
            login=as_str(data.get("login")),
        )


# -- kDrive ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drive:
    """A kDrive with its quota (§4.1). While in maintenance or locked it is served read-only."""

    id: int
    name: str
    size: int | None = None
    used_size: int | None = None
    in_maintenance: bool = False
    maintenance_reason: str | None = None
    is_locked: bool = False
    role: str | None = None
    account_id: int | None = None

    @property
    def free(self) -> int | None:
        """Bytes left, or ``None`` when the quota is unknown."""
        if self.size is None or self.used_size is None:
            return None
        return max(0, self.size - self.used_size)

    @property
    def read_only(self) -> bool:
        return self.in_maintenance or self.is_locked

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Drive:
        return cls(
            id=as_int(data.get("id"), 0) or 0,
            name=nfc(as_str(data.get("name"), "") or ""),
            size=as_int(data.get("size")),
            used_size=as_int(data.get("used_size")),
            in_maintenance=as_bool(data.get("in_maintenance")),
            maintenance_reason=as_str(data.get("maintenance_reason")) or None,
            is_locked=as_bool(data.get("is_locked")),
            role=as_str(data.get("role")),
            account_id=as_int(data.get("account_id")),
        )

    @classmethod
    def from_listing(cls, item: Mapping[str, Any]) -> Drive:
        """One entry of the drive list: the nested ``drive`` object, completed by the entry's keys."""
        nested = _mapping(item.get("drive"))
        drive = cls.from_json(nested) if nested else cls(id=0, name="")
        drive_id = as_int(item.get("drive_id")) or drive.id
        name = drive.name or nfc(as_str(item.get("drive_name"), "") or "")
        return replace(drive, id=drive_id, name=name, role=drive.role or as_str(item.get("role")))


ABSENT_STATUSES = frozenset({"trashed", "trash_inherited", "erasing"})


@dataclass(frozen=True)
class File:
    """A kDrive file or directory (§4.2). Times are Unix seconds."""

    id: int
    parent_id: int | None
    drive_id: int | None
    name: str
    is_dir: bool
    size: int | None = None
    mime_type: str | None = None
    status: str | None = None
    visibility: str | None = None
    created_at: int | None = None
    last_modified_at: int | None = None
    updated_at: int | None = None
    added_at: int | None = None
    hash: str | None = None
    path: str | None = None
    capabilities: frozenset[str] | None = None

    @property
    def is_present(self) -> bool:
        """False for trashed, trash-inherited and erasing items, which count as absent (D20)."""
        return self.status not in ABSENT_STATUSES

    @property
    def is_locked(self) -> bool:
        return self.status == "locked"

    @property
    def content_hash(self) -> str | None:
        """The hash only when it is an exact ``xxh3:`` value (D21); anything else is unknown."""
        if self.hash and self.hash.startswith("xxh3:") and len(self.hash) == 21:
            return self.hash.lower()
        return None

    def can(self, capability: str) -> bool | None:
        """``can_write`` etc.; ``None`` when capabilities were not requested."""
        if self.capabilities is None:
            return None
        return capability in self.capabilities

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> File:
        capabilities = data.get("capabilities")
        return cls(
            id=as_int(data.get("id"), 0) or 0,
            parent_id=as_int(data.get("parent_id")),
            drive_id=as_int(data.get("drive_id")),
            name=nfc(as_str(data.get("name"), "") or ""),
            is_dir=as_str(data.get("type")) == "dir",
            size=as_int(data.get("size")),
            mime_type=as_str(data.get("mime_type")),
            status=as_str(data.get("status")) or None,
            visibility=as_str(data.get("visibility")),
            created_at=as_int(data.get("created_at")),
            last_modified_at=as_int(data.get("last_modified_at")),
            updated_at=as_int(data.get("updated_at")),
            added_at=as_int(data.get("added_at")),
            hash=as_str(data.get("hash")) or None,
            path=as_str(data.get("path")),
            capabilities=(frozenset(k for k, v in capabilities.items() if as_bool(v))
                          if isinstance(capabilities, Mapping) else None),
        )


@dataclass(frozen=True)
class TopFolders:
    """The special folders of root ``1``, found by ``visibility`` (§4.3, D18)."""

    private: File
    common: File | None = None
    shared: File | None = None

    def all(self) -> list[File]:
        return [f for f in (self.private, self.common, self.shared) if f is not None]


@dataclass(frozen=True)
class Cancellable:
    """The reply of rename, move and trash (D17): an undo handle, never a File."""

    cancel_id: str | None
    valid_until: int | None

    @classmethod
    def from_json(cls, data: Any) -> Cancellable:
        data = _mapping(data)
        return cls(as_str(data.get("cancel_id")),
                   as_int(data.get("cancel_valid_until", data.get("valid_until"))))


@dataclass(frozen=True)
class FileAction:
    """One entry of a change feed's ``actions`` (§4.9); unknown action names are kept as they are."""

    action: str
    file_id: int
    parent_id: int | None = None
    path: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileAction:
        return cls(as_str(data.get("action"), "") or "", as_int(data.get("file_id"), 0) or 0,
                   as_int(data.get("parent_id")), as_str(data.get("path")))


@dataclass(frozen=True)
class Changes:
    """What one :meth:`KDrive.changes` call learnt about a folder (§4.9).

    ``full`` is True when ``files`` is the complete listing (first call, or a restart after an
    expired cursor): the caller replaces what it had. Otherwise apply it with :func:`apply_changes`.
    """

    files: tuple[File, ...]
    actions: tuple[FileAction, ...]
    actions_files: tuple[File, ...]
    cursor: str | None
    has_more: bool = False
    full: bool = False
    response_at: int | None = None


def apply_changes(current: Mapping[int, File], changes: Changes, dir_id: int) -> dict[int, File]:
    """The folder's children after ``changes``, by file id, following the D25 rule.

    For every ``file_id`` an action names: upsert it if ``actions_files`` holds it with
    ``parent_id == dir_id`` and a present status, otherwise remove it. Action names and their
    order are deliberately ignored.
    """
    result: dict[int, File] = {} if changes.full else dict(current)
    for item in changes.files:
        if item.parent_id in (None, dir_id) and item.is_present:
            result[item.id] = item
    latest = {f.id: f for f in changes.actions_files}
    for file_id in {a.file_id for a in changes.actions} | set(latest):
        found = latest.get(file_id)
        if found is not None and found.parent_id == dir_id and found.is_present:
            result[file_id] = found
        else:
            result.pop(file_id, None)
    return result


@dataclass(frozen=True)
class UploadSession:
    """An open upload session (§4.7): chunks go to ``upload_url`` only."""

    token: str = field(repr=False)
    upload_url: str
    drive_id: int
    total_chunks: int
    chunk_size: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, drive_id: int, total_chunks: int,
                  chunk_size: int) -> UploadSession:
        token = as_str(data.get("token"))
        upload_url = as_str(data.get("upload_url"))
        if not token or not upload_url:
            raise ValueError("the upload session reply lacks token or upload_url")
        return cls(token, upload_url, drive_id, total_chunks, chunk_size)


# -- Mail --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    uuid: str
    email: str
    mailbox: str | None = None
    mailbox_id: int | None = None
    is_primary: bool = False
    is_locked: bool = False
    unseen_messages: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Mailbox:
        return cls(
            uuid=as_str(data.get("uuid"), "") or "",
            email=as_str(data.get("email"), "") or "",
            mailbox=as_str(data.get("mailbox")),
            mailbox_id=as_int(data.get("mailbox_id")),
            is_primary=as_bool(data.get("is_primary")),
            is_locked=as_bool(data.get("is_locked")),
            unseen_messages=as_int(data.get("unseen_messages")),
        )


PERMANENT_DELETE_ROLES = frozenset({"TRASH", "SPAM", "DRAFT", "SCHEDULED_DRAFTS"})


@dataclass(frozen=True)
class MailFolder:
    """A mail folder, flattened out of the tree (§5.3). ``id`` is opaque and changes on rename (D29)."""

    id: str
    path: str
    name: str
    role: str | None = None
    parent_path: str | None = None
    separator: str = "/"
    unread_count: int | None = None
    is_favorite: bool = False

    @property
    def allows_permanent_delete(self) -> bool:
        return (self.role or "").upper() in PERMANENT_DELETE_ROLES

    @classmethod
    def from_json(cls, data: Mapping[str, Any], parent_path: str | None = None) -> MailFolder:
        separator = as_str(data.get("separator"), "/") or "/"
        path = nfc(as_str(data.get("path"), "") or "")
        name = nfc(as_str(data.get("name"), "") or path.rsplit(separator, 1)[-1])
        if parent_path is None and separator in path:
            parent_path = path.rsplit(separator, 1)[0]
        role = as_str(data.get("role")) or None
        return cls(
            id=as_str(data.get("id"), "") or "",
            path=path,
            name=name,
            role=role.upper() if role else None,
            parent_path=parent_path,
            separator=separator,
            unread_count=as_int(data.get("unread_count")),
            is_favorite=as_bool(data.get("is_favorite")),
        )


@dataclass(frozen=True)
class Address:
    email: str
    name: str | None = None

    @classmethod
    def many(cls, value: Any) -> tuple[Address, ...]:
        if not isinstance(value, list):
            return ()
        return tuple(cls(as_str(v.get("email"), "") or "", as_str(v.get("name")) or None)
                     for v in value if isinstance(v, Mapping))


def short_uid(uid: Any) -> str:
    """The folder-scoped IMAP UID of a long (``"1042@<folder_id>"``) or short uid (D31)."""
    return str(uid).split("@", 1)[0]


@dataclass(frozen=True)
class Message:
    """A message in its list form (§5.5); ``size`` is the exact length of the raw download (D30)."""

    short_uid: str
    uid: str
    folder_id: str | None
    subject: str | None
    internal_date: datetime | None
    date: datetime | None
    size: int
    msg_id: str | None = None
    sender: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    seen: bool = False
    flagged: bool = False
    answered: bool = False
    forwarded: bool = False
    is_draft: bool = False
    has_attachments: bool = False

    @property
    def flags(self) -> frozenset[str]:
        """The IMAP-like flags that are set: ``seen``, ``flagged``, ``answered``, ``forwarded``, ``draft``."""
        names = ("seen", "flagged", "answered", "forwarded", "draft")
        values = (self.seen, self.flagged, self.answered, self.forwarded, self.is_draft)
        return frozenset(n for n, v in zip(names, values, strict=True) if v)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], folder_id: str | None = None) -> Message:
        uid = as_str(data.get("uid"), "") or ""
        folder = as_str(data.get("folder_id")) or (uid.split("@", 1)[1] if "@" in uid else folder_id)
        short = short_uid(uid)
        internal = parse_datetime(data.get("internal_date"))
        date = parse_datetime(data.get("date")) or internal
        return cls(
            short_uid=short,
            uid=uid if "@" in uid else f"{short}@{folder}" if folder else uid,
            folder_id=folder,
            subject=as_str(data.get("subject")),
            internal_date=internal or date,
            date=date,
            size=as_int(data.get("size"), 0) or 0,
            msg_id=as_str(data.get("msg_id")),
            sender=Address.many(data.get("from")),
            to=Address.many(data.get("to")),
            seen=as_bool(data.get("seen")),
            flagged=as_bool(data.get("flagged")),
            answered=as_bool(data.get("answered")),
            forwarded=as_bool(data.get("forwarded")),
            is_draft=as_bool(data.get("is_draft")),
            has_attachments=as_bool(data.get("has_attachments")),
        )


@dataclass(frozen=True)
class UidList:
    """Short uids of a folder, newest first (§5.4), and the signature to poll activities with."""

    uids: tuple[str, ...]
    signature: str | None

    @classmethod
    def from_json(cls, data: Any) -> UidList:
        data = _mapping(data)
        return cls(_uids(data.get("messages_uids")), as_str(data.get("signature")))


@dataclass(frozen=True)
class FlagUpdate:
    """The new flags of a message whose flags changed (``activities.updated``)."""

    short_uid: str
    seen: bool = False
    flagged: bool = False
    answered: bool = False
    forwarded: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlagUpdate:
        return cls(short_uid(data.get("uid", "")), as_bool(data.get("seen")), as_bool(data.get("flagged")),
                   as_bool(data.get("answered")), as_bool(data.get("forwarded")))


@dataclass(frozen=True)
class Activities:
    """What changed in a folder since a signature (§5.4)."""

    added: tuple[str, ...]
    deleted: tuple[str, ...]
    updated: tuple[FlagUpdate, ...]
    signature: str | None
    unread_count: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.deleted or self.updated)

    @classmethod
    def from_json(cls, data: Any) -> Activities:
        data = _mapping(data)
        updated = data.get("updated")
        return cls(
            added=_uids(data.get("added")),
            deleted=_uids(data.get("deleted")),
            updated=tuple(FlagUpdate.from_json(u) for u in updated if isinstance(u, Mapping))
            if isinstance(updated, list) else (),
            signature=as_str(data.get("signature")),
            unread_count=as_int(data.get("unread_count")),
        )


def _uids(value: Any) -> tuple[str, ...]:
    """Short uids as strings, whether the server sent strings or ints (D31)."""
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        return ()
    return tuple(short_uid(v) for v in value if v is not None and v != "")
