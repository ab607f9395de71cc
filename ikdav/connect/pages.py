"""Rendering the connect app's pages from Jinja2 templates, autoescaped.

Templates live in ``templates/`` next to this module; every page extends ``base.html``. The
context always carries ``root`` (the app's URL prefix) so forms and links stay inside the app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ikdav.accounts.store import STATUS_CONNECTED, Account, AppPassword
from ikdav.config import Config
from ikdav.connect.failures import Failure
from ikdav.connect.web import Request, Response, html

TEMPLATES = Path(__file__).with_name("templates")

# Why an account needs reconnecting, in words; keys are the store's status reasons.
STATUS_REASONS = {
    "disconnected": "it was disconnected here, so ikdav holds no token for it",
    "refresh_token_revoked": "Infomaniak revoked its authorisation (the refresh token was refused)",
    "not_renew": "Infomaniak did not renew its authorisation",
    "invalid_grant": "Infomaniak no longer accepts its authorisation",
    "token refused": "Infomaniak refused its token, which cannot be refreshed (a personal token that "
                     "was revoked or lapsed, or an authorisation without a refresh token)",
}


def status_text(account: Account) -> str:
    if account.status == STATUS_CONNECTED:
        return "connected"
    reason = STATUS_REASONS.get(account.status_reason, account.status_reason or "its token no longer works")
    return f"reconnect needed: {reason}"


def last_used(account: Account, passwords: Sequence[AppPassword]) -> float | None:
    """When the account was last used: by the share, or by signing in with one of its passwords."""
    times = [t for t in (account.last_used_at, *(p.last_used_at for p in passwords)) if t]
    return max(times) if times else None


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def human_bytes(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


class MountHelp:
    """The values the mount instructions need, derived from the public URL."""

    def __init__(self, config: Config, user: str, password: str = "") -> None:
        self.url = config.share_url
        parts = urlsplit(self.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.gnome_url = ("davs" if self.https else "dav") + self.url[len(parts.scheme):]
        self.user = user
        self.password = password or "APP-PASSWORD"
        self.has_password = bool(password)


class Pages:
    """Renders templates into :class:`Response` objects."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = when
        self.env.filters["bytes"] = human_bytes
        self.env.globals["status_text"] = status_text
        self.env.globals["last_used"] = last_used

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("signed_in", None)
        text = self.env.get_template(template).render(
            root=request.script_name, oauth_enabled=self.config.oauth_enabled, **context)
        return html(status, text)

    def failure(self, request: Request, failure: Failure, **context: Any) -> Response:
        response = self.render(request, "failure.html", failure.status, failure=failure, **context)
        response.headers.extend(failure.headers)
        return response

    def mount_help(self, user: str, password: str = "") -> MountHelp:
        return MountHelp(self.config, user, password)
