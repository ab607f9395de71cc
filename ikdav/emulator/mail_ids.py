"""Identifiers and dates on the mail host (infomaniak-api.md §5.1, D29, D37).

Folder ids are derived from the folder's IMAP path, so a rename changes the id of the folder
and of every subfolder; long message uids are ``"<short uid>@<folder id>"``. Everything here is
pure and stateless so the store and the routes agree on one spelling.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from datetime import UTC, datetime, timedelta, timezone, tzinfo

SEPARATOR = "/"
MAX_UID = 2**32 - 1  # IMAP UIDs are unsigned 32-bit numbers

_FOLDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _local_zone() -> tzinfo:
    """Europe/Zurich when the time-zone database is available, else a fixed +01:00."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Zurich")
    except Exception:
        return timezone(timedelta(hours=1))


MAIL_ZONE = _local_zone()


def folder_id(path: str) -> str:
    """base64url(zlib(UTF-8 path)) with each ``=`` turned into ``-`` (D29)."""
    packed = base64.urlsafe_b64encode(zlib.compress(path.encode("utf-8")))
    return packed.decode("ascii").replace("=", "-")


def folder_path(folder_id_text: str) -> str | None:
    """The path a folder id stands for, or ``None`` if it is not a well-formed id."""
    if not _FOLDER_ID_RE.match(folder_id_text or "") or len(folder_id_text) % 4:
        return None
    # "-" is both a base64url digit and the stand-in for "=" padding; only the last two
    # characters can be padding, so try the longest padding first.
    trailing = len(folder_id_text) - len(folder_id_text.rstrip("-"))
    for padding in range(min(trailing, 2), -1, -1):
        candidate = folder_id_text[:len(folder_id_text) - padding] + "=" * padding
        try:
            path = zlib.decompress(base64.urlsafe_b64decode(candidate)).decode("utf-8")
        except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError):
            continue
        if folder_id(path) == folder_id_text:
            return path
    return None


def long_uid(short_uid: int, folder_id_text: str) -> str:
    return f"{short_uid}@{folder_id_text}"


def parse_long_uid(value: object) -> tuple[int, str] | None:
    """``(short uid, folder id)`` from ``"1042@<folder id>"``, or ``None`` if malformed."""
    if not isinstance(value, str):
        return None
    short, at, folder = value.partition("@")
    if not at or not folder or not short.isascii() or not short.isdigit():
        return None
    number = int(short)
    if not 1 <= number <= MAX_UID or not _FOLDER_ID_RE.match(folder):
        return None
    return number, folder


def parse_short_uid(value: str) -> int | None:
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if 1 <= number <= MAX_UID else None


def parse_uid_set(text: str, highest: int) -> set[int] | None:
    """An IMAP sequence set of uids (``"1:3,5,7:*"``); ``*`` is ``highest``. ``None`` if malformed."""
    result: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            return None
        first, colon, last = part.partition(":")
        start = highest if first == "*" else parse_short_uid(first)
        end = start if not colon else (highest if last == "*" else parse_short_uid(last))
        if start is None or end is None:
            return None
        low, high = min(start, end), max(start, end)
        if high - low > 1_000_000:
            return None
        result.update(range(low, high + 1))
    return result


def rfc3339(moment: datetime) -> str:
    """``2025-12-31T23:59:59+01:00``: seconds precision and a colon offset (D37)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def rfc3339_local(moment: datetime) -> str:
    """Like :func:`rfc3339`, in the mail host's own zone (how it writes internal dates)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return rfc3339(moment.astimezone(MAIL_ZONE))
