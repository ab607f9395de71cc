"""Names in the share: validating path segments and naming mail messages.

Every path component that reaches the provider goes through :func:`validate_segment`, so the
layers below never see ``..``, NUL, control characters, undecodable bytes or names longer than
kDrive accepts; :func:`check_url_path` refuses URLs that normalising would change (dot segments,
encoded slashes) before anything resolves them. Message files are named
``<local date> <HHMM> <clean subject> [<uid>].eml``; the uid in brackets makes the name unique
and lets a path resolve without listing the folder.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from email.header import decode_header, make_header
from urllib.parse import unquote

MAX_NAME_BYTES = 255
MAX_SUBJECT_CHARS = 100
MAX_SUBJECT_BYTES = 200
NO_SUBJECT = "(no subject)"
FORBIDDEN_IN_SUBJECT = re.compile(r'[/\\:*?"<>|]')
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MESSAGE_NAME = re.compile(r"\[(\d{1,20})\]\.eml\Z")
SURROGATE = re.compile("[\ud800-\udfff]")
ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


class InvalidName(ValueError):
    """A path segment the share refuses; the message says why in plain words."""


def validate_segment(name: str) -> str:
    """The segment in NFC, or :class:`InvalidName`."""
    if name in ("", ".", ".."):
        raise InvalidName(f"{name!r} is not a valid name")
    if SURROGATE.search(name):
        raise InvalidName("the name is not valid UTF-8")
    if "/" in name or "\x00" in name:
        raise InvalidName("a name cannot contain '/' or NUL")
    if CONTROL.search(name):
        raise InvalidName("a name cannot contain control characters")
    normalized = unicodedata.normalize("NFC", name)
    if len(normalized.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"the name is longer than {MAX_NAME_BYTES} bytes")
    return normalized


def check_url_path(raw_path: str) -> None:
    """Refuse a percent-encoded URL path that normalising would silently change.

    ``..`` and ``.`` segments (also as ``%2e%2e``) would be resolved to another folder, and an
    encoded slash (``%2F``) would either split a name in two or stay literal, depending on the
    layer. Neither ever comes from a client that means well, so both are an :class:`InvalidName`.
    """
    for part in raw_path.split("/"):
        if ENCODED_SLASH.search(part):
            raise InvalidName("a name cannot contain an encoded '/' (%2F)")
        if part in (".", "..") or (("%" in part) and unquote(part) in (".", "..")):
            raise InvalidName("'.' and '..' segments are not allowed in a path")


def split_path(path: str) -> list[str]:
    """Validated segments of a share path such as ``/kDrive/My kDrive/Private/a.txt``."""
    return [validate_segment(part) for part in path.split("/") if part != ""]


def is_finder_metadata(name: str) -> bool:
    """macOS side files (``._name`` AppleDouble, ``.DS_Store``) that never go to Infomaniak."""
    return name == ".DS_Store" or name.startswith("._")


def decode_subject(subject: str | None) -> str:
    """A subject with any RFC 2047 encoded words decoded (APIs usually decode them already)."""
    if not subject:
        return ""
    if "=?" not in subject:
        return subject
    try:
        return str(make_header(decode_header(subject)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return subject


def clean_subject(subject: str | None) -> str:
    """The subject made safe for a file name on every client (DESIGN.md rules)."""
    text = unicodedata.normalize("NFC", decode_subject(subject))
    text = CONTROL.sub(" ", text)
    text = FORBIDDEN_IN_SUBJECT.sub(" ", text)
    text = SURROGATE.sub("", text)
    text = " ".join(text.split())
    text = text[:MAX_SUBJECT_CHARS]
    while len(text.encode("utf-8")) > MAX_SUBJECT_BYTES:
        text = text[:-1]
    text = text.strip(" .")
    return text or NO_SUBJECT


def message_file_name(internal_date: datetime, subject: str | None, uid: str) -> str:
    """``2026-11-27 1402 Quarterly report [1042].eml`` (date and time in the server's zone)."""
    try:
        local = internal_date.astimezone()
    except (OverflowError, ValueError, OSError):
        local = internal_date  # at the edge of the calendar (year 1, 9999): shown in its own zone
    return f"{local:%Y-%m-%d %H%M} {clean_subject(subject)} [{uid}].eml"


def uid_from_file_name(name: str) -> str | None:
    """The short uid a message file name carries, or ``None`` for any other name."""
    match = MESSAGE_NAME.search(name)
    return match.group(1) if match else None
