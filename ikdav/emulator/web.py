"""A very small WSGI toolkit for the emulator: requests, responses, routing, envelopes.

The emulator speaks plain WSGI so that it runs under the same cheroot server as the bridge
and needs no web framework. Handlers receive a :class:`Request` and return a :class:`Response`
or raise :class:`ApiError`, which becomes the contract's error envelope (infomaniak-api.md §3.1).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

JSON_TYPE = "application/json"

HTTP_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content", 302: "Found",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 413: "Payload Too Large", 416: "Range Not Satisfiable",
    422: "Unprocessable Entity", 423: "Locked", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error answered with the API envelope ``{"result": "error", "error": {...}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str = "",
        *,
        context: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description or code.replace("_", " ").capitalize()
        self.context = context
        self.errors = errors
        self.headers = headers or []

    def to_response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "description": self.description}
        if self.context is not None:
            error["context"] = self.context
        if self.errors is not None:
            error["errors"] = self.errors
        response = json_response({"result": "error", "error": error}, self.status)
        response.headers.extend(self.headers)
        return response


class OAuthError(Exception):
    """An OAuth error: plain JSON ``{"error", "error_description", "reason"?}`` (§1.5)."""

    def __init__(self, status: int, error: str, description: str = "", reason: str | None = None):
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description or error.replace("_", " ")
        self.reason = reason

    def to_response(self) -> Response:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.reason:
            body["reason"] = self.reason
        return json_response(body, self.status)


@dataclass
class Response:
    """What a handler returns; ``body`` is bytes or an iterable of bytes (for streams)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        reason = HTTP_REASONS.get(self.status, "Unknown")
        headers = list(self.headers)
        if isinstance(self.body, bytes | bytearray):
            if not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(self.body))))
            start_response(f"{self.status} {reason}", headers)
            if environ.get("REQUEST_METHOD") == "HEAD":
                return [b""]
            return [bytes(self.body)]
        start_response(f"{self.status} {reason}", headers)
        return self.body


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return Response(status, [("Content-Type", JSON_TYPE), *(headers or [])], body)


def ok(data: Any, *, kdrive: bool = False, **extra: Any) -> Response:
    """The success envelope; kDrive replies always carry ``response_at`` (§3.1)."""
    envelope: dict[str, Any] = {"result": "success", "data": data}
    if kdrive:
        envelope["response_at"] = int(time.time())
    envelope.update(extra)
    return json_response(envelope)


def html_response(html: str, status: int = 200) -> Response:
    return Response(status, [("Content-Type", "text/html; charset=utf-8")], html.encode("utf-8"))


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, [("Location", location), ("Content-Type", "text/plain")], b"")


class Request:
    """A parsed view of a WSGI environ; the body is read at most once."""

    def __init__(self, environ: dict[str, Any], role: str, prefix: str = "") -> None:
        self.environ = environ
        self.role = role
        self.method: str = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "") or "/"
        try:  # WSGI hands PATH_INFO over as latin-1 decoded bytes.
            raw_path = raw_path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        if prefix and raw_path.startswith(prefix):
            raw_path = raw_path[len(prefix):] or "/"
        self.path: str = raw_path
        self.query_string: str = environ.get("QUERY_STRING", "")
        self.query: dict[str, list[str]] = parse_qs(self.query_string, keep_blank_values=True)
        self._body: bytes | None = None
        self._form: dict[str, list[str]] | None = None

    # -- headers ---------------------------------------------------------------------------
    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            value = self.environ.get(key)
        else:
            value = self.environ.get("HTTP_" + key)
        return value if value not in (None, "") else None

    @property
    def content_length(self) -> int | None:
        value = self.header("Content-Length")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    @property
    def is_chunked(self) -> bool:
        return "chunked" in (self.header("Transfer-Encoding") or "").lower()

    @property
    def bearer(self) -> str | None:
        auth = self.header("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    # -- query -----------------------------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise ApiError(
                422, "validation_failed", f"{name} must be an integer",
                errors=[{"code": "validation_failed", "description": f"{name} must be an integer"}],
            ) from exc

    def with_fields(self) -> set[str]:
        """The ``with=`` parameter as a set, ``files.`` prefixes removed (§4.2)."""
        names: set[str] = set()
        for value in self.args("with"):
            for part in value.split(","):
                part = part.strip()
                if part.startswith("files."):
                    part = part[len("files."):]
                if part:
                    names.add(part)
        return names

    # -- body ------------------------------------------------------------------------------
    @property
    def stream(self) -> Any:
        return self.environ["wsgi.input"]

    def iter_body(self, block: int = 1 << 20) -> Iterator[bytes]:
        """Stream the body in blocks without holding it whole (uploads may be 1 GiB)."""
        remaining = self.content_length
        stream = self.stream
        if remaining is None:
            if not self.is_chunked:
                return
            while True:
                chunk = stream.read(block)
                if not chunk:
                    return
                yield chunk
        while remaining > 0:
            chunk = stream.read(min(block, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def body(self, limit: int = 16 << 20) -> bytes:
        """The whole body, for small JSON and form bodies only."""
        if self._body is None:
            parts: list[bytes] = []
            size = 0
            for chunk in self.iter_body():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "validation_failed", "Request body too large")
                parts.append(chunk)
            self._body = b"".join(parts)
        return self._body

    def json(self, *, required: bool = False) -> dict[str, Any]:
        raw = self.body()
        if not raw.strip():
            if required:
                raise ApiError(422, "validation_failed", "A JSON body is required")
            return {}
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "validation_failed", "The body is not valid JSON") from exc
        if not isinstance(value, dict):
            raise ApiError(422, "validation_failed", "The JSON body must be an object")
        return value

    def form(self) -> dict[str, list[str]]:
        """Form fields from ``x-www-form-urlencoded`` or ``multipart/form-data`` bodies."""
        if self._form is None:
            content_type = self.header("Content-Type") or ""
            if content_type.lower().startswith("multipart/form-data"):
                self._form = parse_multipart(self.body(), content_type)
            else:
                self._form = parse_qs(self.body().decode("utf-8", "replace"), keep_blank_values=True)
        return self._form

    def form_value(self, name: str) -> str | None:
        values = self.form().get(name)
        return values[0] if values else None


def parse_multipart(body: bytes, content_type: str) -> dict[str, list[str]]:
    """Parse the text fields of a multipart/form-data body (files are not expected)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, list[str]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields.setdefault(str(name), []).append(payload.decode("utf-8", "replace"))
    return fields


Handler = Callable[..., Response]


@dataclass
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Maps ``METHOD /path/{name}`` patterns to handlers; path parameters become kwargs.

    ``{name}`` matches one path segment, ``{name:int}`` digits only, ``{name:path}`` the rest.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, methods: str, template: str, handler: Handler) -> None:
        regex = "^"
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{") and part.endswith("}"):
                name, _, kind = part[1:-1].partition(":")
                body = {"int": r"\d+", "path": r".+"}.get(kind, r"[^/]+")
                regex += f"(?P<{name}>{body})"
            else:
                regex += re.escape(part)
        regex += "/?$"
        self.routes.append(Route(tuple(methods.upper().split()), re.compile(regex), handler))

    def route(self, methods: str, template: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add(methods, template, handler)
            return handler

        return decorator

    def dispatch(self, request: Request) -> Response:
        path_matched = False
        for route in self.routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            path_matched = True
            methods = route.methods
            if request.method in methods or (request.method == "HEAD" and "GET" in methods):
                kwargs = {k: int(v) if v.isdigit() and _is_int_param(route, k) else v
                          for k, v in match.groupdict().items()}
                return route.handler(request, **kwargs)
        if path_matched:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        raise ApiError(404, "route_not_found", f"No route for {request.method} {request.path}")


def _is_int_param(route: Route, name: str) -> bool:
    return f"(?P<{name}>\\d+)" in route.pattern.pattern
