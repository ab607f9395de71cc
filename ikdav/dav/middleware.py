"""WsgiDAV middleware of the share: plain-word errors, login throttling, request guards.

Stack order (outermost first): :class:`PlainErrors` → :class:`LoginThrottle` →
WsgiDAV's ``HTTPAuthenticator`` → :class:`RequestGuard` → dir browser → request resolver.

:class:`PlainErrors` runs first, so it also judges the raw request path: WsgiDAV would silently
resolve ``..`` and ``%2e%2e`` segments and drop the connection on a path that is not UTF-8, so
PlainErrors takes over WsgiDAV's path re-encoding (the ``re_encode_path_info`` hotfix) and answers
both with a 400 that says why. :class:`RequestGuard` runs after authentication and bounds what one
request may cost: XML bodies, Destination headers, lock lifetimes and the number of locks.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import traceback
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit
from xml.parsers import expat

from wsgidav import util
from wsgidav.dav_error import DAVError
from wsgidav.mw.base_mw import BaseMiddleware

from ikdav.accounts.crypto import SecretKeyError
from ikdav.dav.auth import ENVIRON_ACCOUNT, ENVIRON_SERVICES, plain, throttle_middleware
from ikdav.dav.base import account_ref_root
from ikdav.dav.errors import DavFailure, dav_error_from
from ikdav.dav.names import InvalidName, check_url_path, validate_segment
from ikdav.infomaniak.errors import InfomaniakError, ReconnectRequired

log = logging.getLogger("ikdav.dav")

XML_BODY_METHODS = frozenset({"PROPFIND", "PROPPATCH", "LOCK"})
FINITE_DEPTH_BODY = (b'<?xml version="1.0" encoding="utf-8"?>\n'
                     b'<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n')
# The deepest and largest XML bodies a client ever sends stay far below these (a PROPFIND names a
# few dozen properties, a LOCK owner is an href). Deeper trees would make WsgiDAV recurse until
# Python gives up; more elements multiply the work of a Depth: 1 PROPFIND by every child.
MAX_XML_DEPTH = 64
MAX_XML_ELEMENTS = 1000
# No lock outlives a day: "Infinite" and Second-99999999999 are granted as this (RFC 4918 §10.7
# lets the server choose), so a crashed client cannot block a file for a month.
MAX_LOCK_SECONDS = 86_400
# Active locks one account may hold. Clients lock the files they have open or are writing, a few
# at a time; a thousand is far beyond that and still keeps the lock store small.
UNSAFE_URL_BYTES = re.compile(rb"[^\x21-\x7e]")


def as_failure(exc: BaseException, environ: dict[str, Any]) -> DAVError:
    """The DAV error to answer for ``exc``; unexpected ones are logged with a reference."""
    if isinstance(exc, DAVError):
        return exc
    if isinstance(exc, InfomaniakError):
        return dav_error_from(exc)
    if isinstance(exc, SecretKeyError):
        log.error("cannot open the stored tokens: %s", exc)
        return DavFailure(503, "ikdav cannot open its stored tokens (the secret key is missing or wrong); "
                               "ask the administrator to restore the secret key.", retry_after=300)
    reference = secrets.token_hex(4)
    log.error("internal error %s on %s %s:\n%s", reference, environ.get("REQUEST_METHOD"),
              environ.get("PATH_INFO"), "".join(traceback.format_exception(exc, limit=12)))
    return DavFailure(500, f"Internal error (reference {reference}); the server log has the details.")


def needs_reconnect(exc: BaseException) -> bool:
    """Whether ``exc`` (or the upstream error it wraps) says the account must be reconnected."""
    return isinstance(exc, ReconnectRequired) or isinstance(exc.__cause__, ReconnectRequired)


def raw_path_problem(environ: dict[str, Any]) -> str | None:
    """Why the request target as sent is refused, judged before WsgiDAV normalises it; or None.

    Uses cheroot's ``REQUEST_URI`` (the target as received); other servers do not provide it and
    are judged on ``PATH_INFO`` alone.
    """
    target = environ.get("REQUEST_URI") or ""
    if not target.startswith("/"):
        return None  # "*" (OPTIONS) or a server that does not pass the raw target
    try:
        check_url_path(target.split("?", 1)[0])
    except InvalidName as exc:
        return f"Invalid path: {exc}."
    return None


class PlainErrors(BaseMiddleware):
    """Replaces WsgiDAV's ErrorPrinter: every error is a plain sentence, never a traceback.

    Also refuses request targets with dot segments, encoded slashes or bytes that are not UTF-8
    (400), and drops an account's session caches when upstream says it must be reconnected, so
    no cached listing is served for an account whose authorisation is gone.
    """

    # WsgiDAV would re-encode PATH_INFO (latin-1 by PEP 3333) as UTF-8 before any middleware runs,
    # and an undecodable path would then escape as an exception that drops the connection. The
    # share's configuration (ikdav.dav.app) turns that hotfix off; the decoding happens in
    # __call__ instead, where a bad path can be answered.

    @staticmethod
    def _path_problem(environ: dict[str, Any]) -> str | None:
        problem = raw_path_problem(environ)
        if problem is None:
            try:
                environ["PATH_INFO"] = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                problem = "Invalid path: the path is not valid UTF-8."
        return problem

    def _forget_session(self, exc: BaseException, environ: dict[str, Any]) -> None:
        account_id = environ.get(ENVIRON_ACCOUNT)
        if account_id is not None and needs_reconnect(exc):
            self.config[ENVIRON_SERVICES].sessions.drop(int(account_id))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        problem = self._path_problem(environ)
        if problem is not None:
            body = plain(start_response, 400, problem + "\n")
            yield b"" if environ.get("REQUEST_METHOD") == "HEAD" else body[0]
            return
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
            self._forget_session(exc, environ)
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


class _Refused(Exception):
    """An XML body the share will not hand to WsgiDAV's parser."""


def xml_body_problem(body: bytes) -> str | None:
    """Why this XML request body is refused, or None if it is well-formed and harmless.

    Refused: anything not well-formed, any document type declaration (WebDAV bodies never need
    one; refusing it rules out entity expansion and external entities, whatever the parser
    below would do with them), trees deeper than :data:`MAX_XML_DEPTH` or with more than
    :data:`MAX_XML_ELEMENTS` elements.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    elements = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, elements
        depth += 1
        elements += 1
        if depth > MAX_XML_DEPTH:
            raise _Refused(f"the XML body nests deeper than {MAX_XML_DEPTH} levels")
        if elements > MAX_XML_ELEMENTS:
            raise _Refused(f"the XML body has more than {MAX_XML_ELEMENTS} elements")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def doctype(*_: Any) -> None:
        raise _Refused("the XML body has a document type declaration; entities and DTDs are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(body, True)
    except _Refused as exc:
        return str(exc)
    except expat.ExpatError as exc:
        return f"the XML body is not well-formed ({expat.ErrorString(exc.code)} at line {exc.lineno}, " \
               f"column {exc.offset})"
    return None


def capped_lock_timeout(header: str | None) -> str:
    """The ``Timeout`` header to hand WsgiDAV: the requested one, at most :data:`MAX_LOCK_SECONDS`.

    A missing, unreadable or infinite timeout gets the maximum (WsgiDAV would grant a week, and up
    to a month on request).
    """
    seconds = util.read_timeout_value_header(header or "")
    if seconds is None or seconds <= 0 or seconds > MAX_LOCK_SECONDS:
        seconds = MAX_LOCK_SECONDS
    return f"Second-{seconds}"


def destination_problem(environ: dict[str, Any], mount_path: str) -> tuple[int, str] | None:
    """Check a COPY/MOVE ``Destination`` and rewrite it in canonical form; the refusal, or None.

    Refused with 403: another scheme or host than the request's, or a path outside the share. Refused
    with 400: dot segments, encoded slashes, bytes that are not UTF-8, invalid names. WsgiDAV would
    answer the first kind with 502 and resolve or mangle the second. The accepted header is
    rewritten fully percent-encoded, so WsgiDAV's own decoding yields exactly the checked names
    (also for clients that send raw UTF-8).
    """
    header = environ.get("HTTP_DESTINATION")
    if header is None:
        return None  # WsgiDAV answers 400 for COPY/MOVE without one
    try:
        raw = header.strip().encode("latin-1")
    except UnicodeEncodeError:
        return 400, "The Destination header is not a URL."
    if not raw:
        return 400, "The Destination header is empty."
    # Some clients send names unencoded (raw UTF-8, spaces): percent-encode those bytes first.
    parts = urlsplit(UNSAFE_URL_BYTES.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii"))
    scheme, host = parts.scheme.lower(), parts.netloc.lower()
    own_schemes = {environ.get("wsgi.url_scheme", "http").lower(),
                   environ.get("HTTP_X_FORWARDED_PROTO", "").lower()}
    own_hosts = {environ.get("HTTP_HOST", "").lower(), environ.get("HTTP_X_FORWARDED_HOST", "").lower()}
    if (scheme and scheme not in own_schemes) or (host and host not in own_hosts) or (scheme and not host):
        return 403, "COPY and MOVE only work inside this share: the Destination names another server."
    mount = mount_path.rstrip("/")
    path = parts.path
    if not path.startswith("/"):
        return 400, "The Destination must be an absolute URL or a path starting with /."
    try:
        check_url_path(path)
        text = unquote_to_bytes(path).decode("utf-8")
    except InvalidName as exc:
        return 400, f"Invalid Destination: {exc}."
    except UnicodeDecodeError:
        return 400, "Invalid Destination: the path is not valid UTF-8."
    if not (text + "/").startswith(mount + "/"):
        return 403, f"COPY and MOVE only work inside this share: the Destination must lie below {mount}/."
    segments = [part for part in text[len(mount):].split("/") if part]
    try:
        names = [validate_segment(segment) for segment in segments]
    except InvalidName as exc:
        return 400, f"Invalid Destination: {exc}."
    canonical = mount + "/" + "/".join(names) + ("/" if text.endswith("/") and names else "")
    prefix = f"{parts.scheme}://{parts.netloc}" if host else ""
    environ["HTTP_DESTINATION"] = prefix + quote(canonical, safe="/")
    return None


class RequestGuard(BaseMiddleware):
    """Refuses what the share never serves, before any upstream call.

    - PROPFIND with ``Depth: infinity``: 403 with ``propfind-finite-depth``, since it would walk a
      whole drive. A PROPFIND without Depth (which RFC 4918 reads as infinity, and which several
      clients send to test whether a path exists) is served as ``Depth: 1``, as sabre/dav does;
    - XML bodies (PROPFIND, PROPPATCH, LOCK) over ``dav.max_xml_body`` bytes: 413; malformed ones,
      ones with a DTD or entities, or too deep or too large a tree: 400 (see :func:`xml_body_problem`).
      A body is read once here, bounded, and handed on from memory; chunked bodies are read the same
      way instead of being ignored;
    - COPY/MOVE ``Destination`` headers outside the share or with invalid names: 403/400;
    - LOCK: the timeout is capped at :data:`MAX_LOCK_SECONDS`; a new lock beyond
      ``dav.max_locks_per_account`` (1000 by default) active locks of the account: 507, since the
      server will not store more lock state for it (a 423 would blame another lock holder, a 503
      invites retries);
    - answers ``X-OC-Mtime: accepted`` when a PUT carried a modification time that was stored, so
      ownCloud-style clients (rclone) skip a second PROPPATCH.
    """

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        services = config[ENVIRON_SERVICES]
        self.max_xml_body: int = services.config.dav.max_xml_body
        self.mount_path: str = services.config.dav.mount_path
        self.max_locks: int = services.config.dav.max_locks_per_account

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method == "PROPFIND" and not environ.get("HTTP_DEPTH", "").strip():
            environ["HTTP_DEPTH"] = "1"
        if method == "PROPFIND" and environ["HTTP_DEPTH"].strip().lower() == "infinity":
            start_response("403 Forbidden", [("Content-Type", "application/xml; charset=utf-8"),
                                             ("Content-Length", str(len(FINITE_DEPTH_BODY)))])
            return [FINITE_DEPTH_BODY]
        if method in XML_BODY_METHODS:
            refusal = self._buffer_xml_body(environ)
            if refusal is not None:
                status, message, *extra = refusal
                return plain(start_response, status, message + "\n", list(extra))
        if method in ("COPY", "MOVE"):
            problem = destination_problem(environ, self.mount_path)
            if problem is not None:
                return plain(start_response, problem[0], problem[1] + "\n")
        if method == "LOCK":
            environ["HTTP_TIMEOUT"] = capped_lock_timeout(environ.get("HTTP_TIMEOUT"))
            if self._is_new_lock(environ) and self._active_locks(environ) >= self.max_locks:
                return plain(start_response, 507,
                             f"This account already holds {self.max_locks} active locks, the most ikdav "
                             "keeps for one account; unlock files (or let their locks expire) before "
                             "locking more.\n")
        if method == "PUT" and environ.get("HTTP_X_OC_MTIME"):
            def mtime_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                if status[:1] == "2":
                    headers = [*headers, ("X-OC-Mtime", "accepted")]
                if exc_info:
                    return start_response(status, headers, exc_info)
                return start_response(status, headers)

            return self.next_app(environ, mtime_start)
        return self.next_app(environ, start_response)

    # -- XML bodies ---------------------------------------------------------------------------------
    def _buffer_xml_body(self, environ: dict[str, Any]) -> tuple[Any, ...] | None:
        """Read the body (bounded), check it, and hand it on from memory; or the refusal."""
        limit = self.max_xml_body
        too_large = (413, f"The XML body is larger than {limit} bytes.", ("Connection", "close"))
        length_header = (environ.get("CONTENT_LENGTH") or "").strip()
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length_header and not length_header.isdigit():
            return 400, "The Content-Length header is not a number.", ("Connection", "close")
        if length_header and int(length_header) > limit:
            return too_large
        wanted = int(length_header) if length_header else (limit + 1 if chunked else 0)
        if wanted == 0:
            return None
        try:
            body = _read_up_to(environ["wsgi.input"], wanted)
        except TimeoutError:
            return 408, "The request body did not arrive in time.", ("Connection", "close")
        except OSError:
            return 400, "The request body could not be read.", ("Connection", "close")
        if len(body) > limit:
            return too_large
        if length_header and len(body) < wanted:
            return 400, "The request body is shorter than its Content-Length.", ("Connection", "close")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if body.strip():
            problem = xml_body_problem(body)
            if problem is not None:
                return 400, f"Bad request: {problem}."
        return None

    # -- locks --------------------------------------------------------------------------------------
    @staticmethod
    def _is_new_lock(environ: dict[str, Any]) -> bool:
        """A LOCK with a body asks for a new lock; one without refreshes an existing lock."""
        return (environ.get("CONTENT_LENGTH") or "0") not in ("", "0")

    def _active_locks(self, environ: dict[str, Any]) -> int:
        manager = getattr(self.wsgidav_app, "lock_manager", None)
        account_id = environ.get(ENVIRON_ACCOUNT)
        if manager is None or account_id is None:
            return 0
        tokens = manager.storage.get_lock_list(account_ref_root(int(account_id)), include_root=False,
                                               include_children=True, token_only=True)
        return len(tokens)


def _read_up_to(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``; fewer only at its end."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
