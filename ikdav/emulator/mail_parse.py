"""What the mail host tells about a message, read from its raw RFC 822 bytes (§5.5).

The store keeps only raw bytes and flags; the header-derived fields of the message object are
computed here once per message (lazily: a 10,000-message folder costs nothing until listed).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from urllib.parse import quote

PREVIEW_CHARS = 140
FILENAME_CHARS = 100

_TAG_RE = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SPACE_RE = re.compile(r"\s+")
_FORBIDDEN_IN_FILENAME = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')


@dataclass
class MessageSummary:
    """The header-derived part of a message object; flags and ids live in the store."""

    msg_id: str | None = None
    subject: str | None = None
    date: datetime | None = None
    from_: list[dict[str, str]] = field(default_factory=list)
    to: list[dict[str, str]] = field(default_factory=list)
    cc: list[dict[str, str]] = field(default_factory=list)
    bcc: list[dict[str, str]] = field(default_factory=list)
    reply_to: list[dict[str, str]] = field(default_factory=list)
    in_reply_to: str | list[str] | None = None
    references: str | None = None
    priority: str = "normal"
    dkim_status: str = "not_signed"
    has_attachments: bool = False
    preview: str = ""


def parse_summary(raw: bytes) -> MessageSummary:
    """Read the fields of §5.5 from raw bytes; malformed headers degrade to empty values."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return MessageSummary(
        msg_id=_text_header(message, "Message-ID"),
        subject=_text_header(message, "Subject", keep_empty=True),
        date=_date_header(message),
        from_=_addresses(message, "From"),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        in_reply_to=_in_reply_to(message),
        references=_text_header(message, "References"),
        priority=_priority(message),
        dkim_status="valid" if message.get("DKIM-Signature") else "not_signed",
        has_attachments=any(part.is_attachment() for part in message.walk()),
        preview=_preview(message),
    )


def _header(message: EmailMessage, name: str) -> Any:
    try:
        return message.get(name)
    except (ValueError, IndexError, TypeError):  # the email package's strict parsers may choke
        return None


def _text_header(message: EmailMessage, name: str, *, keep_empty: bool = False) -> str | None:
    value = _header(message, name)
    if value is None:
        return None
    text = _SPACE_RE.sub(" ", str(value)).strip()
    return text if text or keep_empty else None


def _date_header(message: EmailMessage) -> datetime | None:
    value = _header(message, "Date")
    if value is None:
        return None
    moment = getattr(value, "datetime", None)
    if moment is None:
        try:
            moment = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
    return moment if moment and moment.tzinfo else None


def _addresses(message: EmailMessage, name: str) -> list[dict[str, str]]:
    value = _header(message, name)
    if value is None:
        return []
    found: list[dict[str, str]] = []
    addresses = getattr(value, "addresses", None)
    if addresses is not None:
        for address in addresses:
            if address.addr_spec and address.addr_spec != "<>":
                found.append({"email": address.addr_spec, "name": address.display_name or ""})
        return found
    for display, email in getaddresses([str(value)]):
        if email:
            found.append({"email": email, "name": display})
    return found


def _in_reply_to(message: EmailMessage) -> str | list[str] | None:
    value = _text_header(message, "In-Reply-To")
    if value is None:
        return None
    ids = re.findall(r"<[^<>]+>", value)
    return ids if len(ids) > 1 else value


def _priority(message: EmailMessage) -> str:
    x_priority = (_text_header(message, "X-Priority") or "").strip()[:1]
    importance = (_text_header(message, "Importance") or "").lower()
    if x_priority in ("1", "2") or importance == "high":
        return "high"
    if x_priority in ("4", "5") or importance == "low":
        return "low"
    return "normal"


def _preview(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        text = body.get_content()
    except (LookupError, ValueError, AssertionError, KeyError):
        return ""
    if not isinstance(text, str):
        return ""
    if body.get_content_subtype() == "html":
        text = html.unescape(_TAG_RE.sub(" ", text))
    return _SPACE_RE.sub(" ", text).strip()[:PREVIEW_CHARS]


def download_disposition(subject: str | None) -> str:
    """``attachment; filename="<sanitised subject>.eml"`` plus an RFC 5987 UTF-8 form (§5.6)."""
    cleaned = unicodedata.normalize("NFC", _FORBIDDEN_IN_FILENAME.sub(" ", subject or ""))
    cleaned = _SPACE_RE.sub(" ", cleaned).strip(" .")[:FILENAME_CHARS].strip(" .") or "message"
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode("ascii")
    ascii_name = _SPACE_RE.sub(" ", ascii_name).strip(" .") or "message"
    header = f'attachment; filename="{ascii_name}.eml"'
    if ascii_name != cleaned:
        header += f"; filename*=UTF-8''{quote(cleaned + '.eml', safe='')}"
    return header
