"""WsgiDAV middleware of the share: plain-word errors, login throttling, request guards.

Stack order (outermost first): :class:`PlainErrors` → :class:`LoginThrottle` →
WsgiDAV's ``HTTPAuthenticator`` → :class:`RequestGuard` → dir browser → request resolver.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from wsgidav import util
from wsgidav.dav_error import DAVError
from wsgidav.mw.base_mw import BaseMiddleware

from ikdav.dav.auth import ENVIRON_SERVICES, plain, throttle_middleware
from ikdav.dav.errors import DavFailure, dav_error_from
from ikdav.infomaniak.errors import InfomaniakError

log = logging.getLogger("ikdav.dav")

XML_BODY_METHODS = frozenset({"PROPFIND", "PROPPATCH", "LOCK"})
FINITE_DEPTH_BODY = (b'<?xml version="1.0" encoding="utf-8"?>\n'
                     b'<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n')


def as_failure(exc: BaseException, environ: dict[str, Any]) -> DAVError:
    """The DAV error to answer for ``exc``; unexpected ones are logged with a reference."""
    if isinstance(exc, DAVError):
        return exc
    if isinstance(exc, InfomaniakError):
        return dav_error_from(exc)
    reference = secrets.token_hex(4)
    log.error("internal error %s on %s %s:\n%s", reference, environ.get("REQUEST_METHOD"),
              environ.get("PATH_INFO"), "".join(traceback.format_exception(exc, limit=12)))
    return DavFailure(500, f"Internal error (reference {reference}); the server log has the details.")


class PlainErrors(BaseMiddleware):
    """Replaces WsgiDAV's ErrorPrinter: every error is a plain sentence, never a traceback."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        captured: dict[str, Any] = {}

        def deferred_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["args"] = (status, headers, exc_info)

        started = False
        try:
            app_iter = self.next_app(environ, deferred_start)
            try:
                for chunk in app_iter:
                    if not started:
                        start_response(*captured["args"])
                        started = True
                    yield chunk
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()
            if not started:
                start_response(*captured["args"])
        except GeneratorExit:
            raise
        except Exception as exc:
            if started:
                log.warning("%s %s failed after the response started: %s", environ.get("REQUEST_METHOD"),
                            environ.get("PATH_INFO"), type(exc).__name__)
                raise
            error = as_failure(exc, environ)
            status = f"{error.value} {HTTPStatus(error.value).phrase}"
            if error.value in (204, 304):
                start_response(status, [("Content-Length", "0")])
                return
            content_type, body = error.get_response_page()
            if environ.get("REQUEST_METHOD") == "HEAD" or not error.add_body:
                body = b""
            start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                    ("Date", util.get_rfc1123_time()), *(error.add_headers or [])])
            yield body


class LoginThrottle(BaseMiddleware):
    """429 for credentials under a login penalty; 400 for malformed Basic headers."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self._app = throttle_middleware(next_app, config[ENVIRON_SERVICES].throttle)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._app(environ, start_response)


class RequestGuard(BaseMiddleware):
    """Refuses what the share never serves, before any upstream call.

    - PROPFIND with ``Depth: infinity``: 403 with ``propfind-finite-depth``, since it would walk a
      whole drive. A PROPFIND without Depth (which RFC 4918 reads as infinity, and which several
      clients send to test whether a path exists) is served as ``Depth: 1``, as sabre/dav does;
    - XML bodies over ``dav.max_xml_body`` bytes: 413;
    - answers ``X-OC-Mtime: accepted`` when a PUT carried a modification time that was stored, so
      ownCloud-style clients (rclone) skip a second PROPPATCH.
    """

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method == "PROPFIND" and not environ.get("HTTP_DEPTH", "").strip():
            environ["HTTP_DEPTH"] = "1"
        if method == "PROPFIND" and environ["HTTP_DEPTH"].strip().lower() == "infinity":
            start_response("403 Forbidden", [("Content-Type", "application/xml; charset=utf-8"),
                                             ("Content-Length", str(len(FINITE_DEPTH_BODY)))])
            return [FINITE_DEPTH_BODY]
        if method in XML_BODY_METHODS:
            limit = self.config[ENVIRON_SERVICES].config.dav.max_xml_body
            length = environ.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > limit:
                return plain(start_response, 413, f"The XML body is larger than {limit} bytes.\n")
        if method == "PUT" and environ.get("HTTP_X_OC_MTIME"):
            def mtime_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                if status[:1] == "2":
                    headers = [*headers, ("X-OC-Mtime", "accepted")]
                if exc_info:
                    return start_response(status, headers, exc_info)
                return start_response(status, headers)

            return self.next_app(environ, mtime_start)
        return self.next_app(environ, start_response)
