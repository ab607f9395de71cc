"""Logging set up from the config, with secrets masked before any handler writes a line.

The mask runs as a filter on ikdav's handler, so it covers records from every library
(WsgiDAV, cheroot, httpx), their arguments, tracebacks and stack traces alike. WsgiDAV's logger
does not propagate by default; :func:`setup_logging` makes it, so its records pass the same mask.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ikdav.config import Config

__all__ = ["ACCESS_LOGGER", "SecretFilter", "mask_secrets", "setup_logging"]

# The server logs one line per request here; ``logging.access_log: false`` silences it.
ACCESS_LOGGER = "ikdav.access"
MASK = "***"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_SECRET_NAME = r"[\w.-]*?(?:token|password|passwd|pwd|secret|api[_-]?key|code_verifier)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and "Bearer xyz" anywhere in a message.
    (re.compile(r"\b([Bb]earer|Basic|BASIC|BEARER)(\s+)[A-Za-z0-9._~+/=:-]{6,}"), rf"\1\2{MASK}"),
    # token=..., "password": "...", 'client_secret': '...', secret: ... (query strings, JSON, reprs).
    (re.compile(rf"""(\b{_SECRET_NAME}["']?\s*[=:]\s*["']?)(?!\*\*\*)[^\s"'&,;)}}\]]+""", re.IGNORECASE),
     rf"\1{MASK}"),
    # OAuth authorization codes in callback URLs.
    (re.compile(r"([?&]code=)[^\s&#\"']+"), rf"\1{MASK}"),
)


def mask_secrets(text: str) -> str:
    """``text`` with bearer tokens and ``token=``/``password=``/``secret=`` style values masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretFilter(logging.Filter):
    """Rewrites each record so its message, traceback and stack hold no secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


class _IkdavHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler setup_logging owns, so a second call replaces it instead of doubling lines."""


def setup_logging(config: Config, stream: TextIO | None = None) -> None:
    """Send log records at ``config.logging.level`` to stderr (or ``stream``), secrets masked.

    Calling it again replaces the previous setup. httpx and httpcore stay at WARNING, and WsgiDAV
    at ERROR, unless the level is DEBUG: their INFO lines repeat every request.
    """
    level = getattr(logging, config.logging.level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _IkdavHandler)]:
        root.removeHandler(handler)
    handler = _IkdavHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(level)
    chatty = logging.DEBUG if level == logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(chatty)
    # WsgiDAV keeps its records to itself (``propagate = False``); route them through the handler
    # above so they are masked too. Below DEBUG only its errors: its warnings repeat per request.
    wsgidav = logging.getLogger("wsgidav")
    wsgidav.propagate = True
    wsgidav.setLevel(logging.DEBUG if level == logging.DEBUG else logging.ERROR)
    logging.getLogger(ACCESS_LOGGER).disabled = not config.logging.access_log
