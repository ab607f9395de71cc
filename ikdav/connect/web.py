"""Just enough WSGI for a handful of pages: requests, responses, cookies and safe headers.

The connect app serves a few HTML forms, so a framework would be more code to audit than it
saves. Everything a response needs for safety is added here once: the security headers, the
cookie attributes (HttpOnly, SameSite=Lax, Secure on https) and ``no-store`` caching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

MAX_FORM_BYTES = 64 * 1024  # our forms hold a token, an e-mail and a label at most
FORM_TYPE = "application/x-www-form-urlencoded"

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
)

StartResponse = Callable[..., Any]


class BadRequest(Exception):
    """A request the app cannot read (oversized or malformed form); answered with a 4xx page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    """The parts of a WSGI environ the pages use; the form body is read at most once."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "GET").upper()
        self.script_name: str = environ.get("SCRIPT_NAME", "").rstrip("/")
        self.path: str = environ.get("PATH_INFO", "") or "/"
        self.query: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self._form: dict[str, list[str]] | None = None
        self.cookies = _parse_cookies(environ.get("HTTP_COOKIE", ""))
        self.fresh_browser = False  # True when this request came without the browser cookie

    @property
    def remote_address(self) -> str:
        return str(self.environ.get("REMOTE_ADDR") or "unknown")

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict[str, list[str]]:
        """The url-encoded body of a POST (empty for other methods); refuses oversized bodies."""
        if self._form is not None:
            return self._form
        self._form = {}
        if self.method != "POST":
            return self._form
        content_type = self.environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise BadRequest(400, "The request has a malformed Content-Length.") from exc
        if length > MAX_FORM_BYTES:
            raise BadRequest(413, "The form is larger than this page ever sends.")
        if length <= 0:
            return self._form
        body = self.environ["wsgi.input"].read(length)
        if content_type != FORM_TYPE:
            return self._form
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(400, "The form is not valid UTF-8.") from exc
        self._form = parse_qs(text, keep_blank_values=True)
        return self._form

    def field(self, name: str) -> str:
        """One form value, stripped; empty when absent."""
        values = self.form().get(name)
        return values[0].strip() if values else ""

    def url_for(self, path: str) -> str:
        """An in-app path (always starting with ``/``): redirects never leave the app."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"not an in-app path: {path!r}")
        return self.script_name + path


@dataclass
class Cookie:
    name: str
    value: str
    max_age: int | None = None  # None: a browser-session cookie; 0: delete


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[Cookie] = field(default_factory=list)
    cacheable: bool = False

    def set_cookie(self, name: str, value: str, max_age: int | None = None) -> None:
        self.cookies.append(Cookie(name, value, max_age))

    def delete_cookie(self, name: str) -> None:
        self.cookies.append(Cookie(name, "", 0))

    def __call__(self, start_response: StartResponse, *, secure: bool) -> Iterable[bytes]:
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))),
                   *SECURITY_HEADERS, *self.headers]
        headers.append(("Cache-Control", "public, max-age=3600" if self.cacheable else "no-store"))
        if not self.cacheable:
            headers.append(("Pragma", "no-cache"))
        headers.extend(("Set-Cookie", cookie_header(c, secure=secure)) for c in self.cookies)
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", headers)
        return [self.body]


def html(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"))


def redirect(location: str, status: int = 303) -> Response:
    """See Other: after a POST the browser GETs ``location`` (an in-app path from ``url_for``)."""
    return Response(status, b"", "text/plain; charset=utf-8", [("Location", location)])


def cookie_header(cookie: Cookie, *, secure: bool) -> str:
    """``Set-Cookie`` value: always HttpOnly and SameSite=Lax on ``/``; Secure on https."""
    parts = [f"{cookie.name}={cookie.value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if cookie.max_age is not None:
        parts.append(f"Max-Age={cookie.max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _parse_cookies(header: str) -> dict[str, str]:
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        # One malformed cookie (from another app on the same host) must not hide ours.
        found: dict[str, str] = {}
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name and name not in found:
                found[name] = value
        return found
    return {name: morsel.value for name, morsel in jar.items()}
