"""WebDAV errors that say what happened in plain words, and the mapping from upstream errors.

Every error the share answers is a :class:`DavFailure`: a WsgiDAV ``DAVError`` whose body is one
plain-text sentence (never a traceback, never an exception repr). :func:`dav_error_from` turns the
client library's errors into the status a WebDAV client expects (DESIGN.md, "Errors from
upstream"): missing 404, rights 403, clashes 409, locks 423, quota 507, rate limits 503 with
``Retry-After``, upstream failures 502/504.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from http import HTTPStatus

from wsgidav import dav_error
from wsgidav.dav_error import DAVError

from ikdav.infomaniak import errors as upstream

log = logging.getLogger("ikdav.dav")

# WsgiDAV only knows the reason phrases of some statuses; teach it the rest (507, 503, ...).
for _status in HTTPStatus:
    dav_error.ERROR_DESCRIPTIONS.setdefault(int(_status), f"{int(_status)} {_status.phrase}")


def plain_status_page(error: DAVError) -> tuple[str, bytes]:
    """WsgiDAV's status pages as one plain sentence instead of HTML with a version banner.

    Installed as ``DAVError.get_response_page`` so that WsgiDAV's own answers (201 after a PUT,
    404, 405, ...) read like ours. Precondition errors keep their XML body, which clients parse.
    """
    if error.err_condition:
        return "application/xml; charset=utf-8", error.err_condition.as_string().encode("utf-8")
    phrase = HTTPStatus(error.value).phrase if error.value in HTTPStatus._value2member_map_ else "Status"
    if error.value < 300 and not error.context_info:
        return "text/plain; charset=utf-8", f"{phrase}.\n".encode()
    detail = error.context_info or dav_error.ERROR_RESPONSES.get(error.value) or phrase
    return "text/plain; charset=utf-8", f"{error.value} {phrase}: {detail}\n".encode()


DAVError.get_response_page = plain_status_page  # type: ignore[method-assign]


class DavFailure(DAVError):
    """A DAV error with a plain-text explanation as its body."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None,
                 err_condition: str | None = None) -> None:
        headers = [("Retry-After", str(max(1, int(retry_after + 0.999))))] if retry_after else None
        super().__init__(status, message, err_condition=err_condition, add_headers=headers)
        self.message = message

    def get_user_info(self) -> str:
        return f"{self.value} {HTTPStatus(self.value).phrase}: {self.message}"

    def get_response_page(self) -> tuple[str, bytes]:
        if self.err_condition:
            return super().get_response_page()
        return "text/plain; charset=utf-8", (self.message.rstrip() + "\n").encode("utf-8")


class Created(DavFailure):
    """Not a failure: lets a natively handled COPY/MOVE answer 201 instead of WsgiDAV's fixed 204."""

    def __init__(self) -> None:
        super().__init__(201, "Created.")


def exists_already(name: str) -> DavFailure:
    """MKCOL onto a name taken meanwhile (the cache had not seen it): RFC 4918 §9.3.1 says 405."""
    return DavFailure(405, f"'{name}' exists already.")


def read_only(what: str) -> DavFailure:
    return DavFailure(403, f"{what} is part of ikdav's fixed layout and cannot be changed.")


def dav_error_from(exc: upstream.InfomaniakError) -> DavFailure:
    """The WebDAV answer for an error of the Infomaniak client library."""
    message = exc.user_message
    if isinstance(exc, upstream.ReconnectRequired | upstream.Unauthorized):
        return DavFailure(403, message)
    if isinstance(exc, upstream.ScopeMissing | upstream.Forbidden | upstream.NoTrashFolder):
        return DavFailure(403, message)
    if isinstance(exc, upstream.NoAccess):
        return DavFailure(404, message)
    if isinstance(exc, upstream.StillUploading):
        return DavFailure(409, message, retry_after=5)
    if isinstance(exc, upstream.Conflict):
        return DavFailure(409, message)
    if isinstance(exc, upstream.Locked):
        return DavFailure(423, message)
    if isinstance(exc, upstream.QuotaExceeded):
        return DavFailure(507, message)
    if isinstance(exc, upstream.LimitExceeded):
        return DavFailure(413, message)
    if isinstance(exc, upstream.RangeNotSatisfiable):
        return DavFailure(416, message)
    if isinstance(exc, upstream.RateLimited):
        return DavFailure(503, message, retry_after=exc.retry_after or 60)
    if isinstance(exc, upstream.Invalid):
        return DavFailure(400, message)
    if isinstance(exc, upstream.UpstreamTimeout):
        return DavFailure(504, message)
    if isinstance(exc, upstream.Maintenance):
        return DavFailure(503, message, retry_after=getattr(exc, "retry_after", None) or 60)
    if isinstance(exc, upstream.UpstreamUnavailable):
        return DavFailure(502, message)
    return DavFailure(502, message)


@contextlib.contextmanager
def upstream_errors() -> Iterator[None]:
    """Turn client-library errors raised inside the block into :class:`DavFailure`."""
    try:
        yield
    except upstream.InfomaniakError as exc:
        failure = dav_error_from(exc)
        log.info("upstream refused: %s -> %s", type(exc).__name__, failure.value)
        raise failure from exc
