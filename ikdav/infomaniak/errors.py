"""Every error the Infomaniak client raises, in one tree.

Callers decide on the class, never on message text. The tree::

    InfomaniakError                 base; every error has ``user_message`` (a sentence a person can act on)
    ├── ApiError                    the service refused (``status``, ``code``, ``description``, ``context``)
    │   ├── NoAccess                missing or not reachable: 403 and 404 are treated alike (D28)
    │   │   ├── NotFound            404 ``object_not_found``, ``folder__not_exists``, ...
    │   │   └── Forbidden           403 ``forbidden_error``, ``access_denied``, ``folder__protected_folder``
    │   │       ├── ScopeMissing    the grant lacks a scope (``scope``: "user_info", "kdrive", "mail")
    │   │       └── NoTrashFolder   a mail delete outside Trash/Spam/Drafts in a mailbox without Trash
    │   ├── Conflict                409
    │   │   ├── AlreadyExists       a name clash (D16)
    │   │   └── StillUploading      409 ``still_uploading_error``: busy, try later
    │   ├── Locked                  423 ``lock_error``, ``mailbox_locked`` (D27)
    │   ├── Invalid                 422 / 411 ``validation_failed`` and friends; never retried
    │   │   └── RangeNotSatisfiable 416 from the content host
    │   ├── Refused                 400: a business rule said no
    │   │   ├── QuotaExceeded       ``quota_exceeded_error`` (D26)
    │   │   ├── LimitExceeded       ``limit_exceeded_error``
    │   │   ├── InvalidCursor       a stale cursor (D15) or mail signature (D32): list again from scratch
    │   │   ├── UploadNotTerminated a finish with missing chunks
    │   │   ├── UploadFailed        ``upload_error``, ``upload_failed_error``
    │   │   └── UploadSessionGone   any upload-token error (D23): start a new session
    │   ├── RateLimited             429 the client would not wait for (``retry_after`` seconds)
    │   ├── Unauthorized            401 ``not_authorized``
    │   │   └── ReconnectRequired   the token is dead and cannot be refreshed: the person must reconnect
    │   └── UnexpectedResponse      a reply the contract does not allow (unexpected 3xx, unreadable JSON)
    ├── UpstreamUnavailable         5xx after retries, maintenance, connection errors (``retry_after`` hint)
    │   ├── Maintenance             503 ``product_maintenance`` / ``drive_is_in_maintenance_error``
    │   └── UpstreamTimeout         no reply within the configured timeout
    └── OAuthError                  the login host refused (``error``, ``reason``, ``description``)
        └── InvalidGrant            ``invalid_grant``: the code or refresh token is dead

:func:`error_from_reply` builds the right class from a reply: it decides on ``error.code`` (§3.2, D1)
and falls back to the HTTP status only when the body has no JSON code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "NO_KDRIVE_MESSAGE",
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "Forbidden",
    "InfomaniakError",
    "Invalid",
    "InvalidCursor",
    "InvalidGrant",
    "LimitExceeded",
    "Locked",
    "Maintenance",
    "NoAccess",
    "NoTrashFolder",
    "NotFound",
    "OAuthError",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RateLimited",
    "ReconnectRequired",
    "Refused",
    "ScopeMissing",
    "StillUploading",
    "Unauthorized",
    "UnexpectedResponse",
    "UploadFailed",
    "UploadNotTerminated",
    "UploadSessionGone",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "error_from_reply",
]

NO_KDRIVE_MESSAGE = (
    "This account reaches no kDrive: the drive list is empty. Check in the Infomaniak Manager that the "
    "user has access to a kDrive, and that the token was granted the kdrive scope."
)


class InfomaniakError(Exception):
    """Base of every error raised by :mod:`ikdav.infomaniak`.

    ``status``/``code``/``description``/``context`` are filled when the service answered; they are
    ``None``/empty for errors that happened before a reply (connection refused, timeout).
    """

    default_message = "The Infomaniak service could not complete the request."

    def __init__(
        self,
        description: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        context: Mapping[str, Any] | None = None,
        errors: list[Any] | None = None,
        user_message: str | None = None,
    ) -> None:
        self.description = description or self.default_message
        self.status = status
        self.code = code
        self.context: dict[str, Any] = dict(context or {})
        self.errors: list[Any] = list(errors or [])
        self._user_message = user_message
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [str(self.status)] if self.status is not None else []
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        return f"{prefix}: {self.description}" if prefix else self.description

    @property
    def user_message(self) -> str:
        """A sentence a person can act on (shown in the connect app and in DAV error bodies)."""
        return self._user_message or self.description


# -- the service refused -----------------------------------------------------------------------
class ApiError(InfomaniakError):
    """The API or mail host answered with an error envelope (or an error status without one)."""


class NoAccess(ApiError):
    """Not found or not allowed; the contract treats both alike for access checks (D28)."""


class NotFound(NoAccess):
    default_message = "The object does not exist (or is in the trash)."


class Forbidden(NoAccess):
    default_message = "Infomaniak refused access to this object."


class ScopeMissing(Forbidden):
    """The token works but lacks a scope; never a reason to log the account out (D9)."""

    def __init__(self, scope: str, description: str = "", **kwargs: Any) -> None:
        self.scope = scope
        kwargs.setdefault("user_message", _scope_message(scope))
        super().__init__(description or f"The token was not granted the {scope} scope.", **kwargs)


class NoTrashFolder(Forbidden):
    default_message = (
        "This mailbox has no Trash folder, so messages outside Trash, Spam and Drafts cannot be deleted."
    )


class Conflict(ApiError):
    default_message = "The request conflicts with the current state."


class AlreadyExists(Conflict):
    default_message = "An item with this name already exists."


class StillUploading(Conflict):
    default_message = "The file is still being uploaded; try again when the upload has finished."


class Locked(ApiError):
    default_message = "The item is locked and cannot be changed right now."


class Invalid(ApiError):
    default_message = "Infomaniak rejected the request as invalid."


class RangeNotSatisfiable(Invalid):
    default_message = "The requested byte range lies outside the file."


class Refused(ApiError):
    default_message = "Infomaniak refused the request."


class QuotaExceeded(Refused):
    default_message = "The kDrive is full: the quota does not leave room for this."


class LimitExceeded(Refused):
    default_message = "The request exceeds an Infomaniak limit (for example the size of one upload)."


class InvalidCursor(Refused):
    default_message = "The saved listing position expired; the listing must start again."


class UploadNotTerminated(Refused):
    default_message = "The upload was finished before all its parts had arrived."


class UploadFailed(Refused):
    default_message = "Infomaniak could not store the uploaded file."


class UploadSessionGone(Refused):
    default_message = "The upload session expired or was cancelled."


class RateLimited(ApiError):
    """Too many requests, and waiting ``retry_after`` seconds was longer than the client may block."""

    default_message = "Infomaniak asks to slow down (too many requests)."

    def __init__(self, description: str = "", *, retry_after: float = 60.0, **kwargs: Any) -> None:
        self.retry_after = float(retry_after)
        super().__init__(description, **kwargs)


class Unauthorized(ApiError):
    default_message = "Infomaniak did not accept the access token."


class ReconnectRequired(Unauthorized):
    """The token is dead and no refresh can revive it; the person must connect the account again.

    ``refreshed`` is True when a refresh did succeed but the new token was refused too, which on
    some routes means "scope missing" rather than "dead token" (see :mod:`.profile`).
    """

    default_message = "The Infomaniak account must be connected again (its access was revoked or expired)."

    def __init__(self, description: str = "", *, refreshed: bool = False, **kwargs: Any) -> None:
        self.refreshed = refreshed
        kwargs.setdefault("user_message", self.default_message)
        super().__init__(description, **kwargs)


class UnexpectedResponse(ApiError):
    default_message = "Infomaniak sent a reply this client does not understand."


# -- the service is not there ------------------------------------------------------------------
class UpstreamUnavailable(InfomaniakError):
    """Transient: a 5xx that survived the retries, maintenance, or no connection at all."""

    default_message = "Infomaniak is not reachable right now; try again shortly."

    def __init__(self, description: str = "", *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(description, **kwargs)


class Maintenance(UpstreamUnavailable):
    default_message = "The Infomaniak service is in maintenance."

    @property
    def reason(self) -> str | None:
        """``technical``, ``not_renew``, ``demo_end``, ``invoice_overdue`` (``context.reason``)."""
        reason = self.context.get("reason")
        return str(reason) if reason else None


class UpstreamTimeout(UpstreamUnavailable):
    default_message = "Infomaniak did not answer in time."


# -- the login host refused --------------------------------------------------------------------
_OAUTH_MESSAGES = {
    "invalid_client": (
        "The OAuth client id or secret is wrong: copy both again from the OAuth application in the "
        "Infomaniak Manager (the secret is sent in the request body)."
    ),
    "invalid_grant": (
        "Infomaniak no longer accepts this sign-in (it was revoked, expired or already used): "
        "connect the account again."
    ),
    "invalid_scope": (
        "The OAuth application may not ask for the requested scopes: allow them for the application in "
        "the Infomaniak Manager, or remove them from infomaniak.scopes."
    ),
    "access_denied": "Access was refused on the Infomaniak consent page; connect again and choose Allow.",
    "invalid_request": "Infomaniak rejected the sign-in request as malformed; start the connection again.",
    "unsupported_grant_type": "Infomaniak does not support this kind of sign-in request.",
    "unsupported_response_type": "Infomaniak does not support this kind of sign-in request.",
}


def oauth_user_message(error: str, redirect_uri: str | None = None) -> str:
    """The sentence shown to a person for an OAuth ``error`` code."""
    if error == "invalid_redirect_uri":
        uri = f" {redirect_uri}" if redirect_uri else " the infomaniak.redirect_uri setting"
        return (
            "The redirect URI registered for the OAuth app must be exactly"
            f"{uri} (same scheme, host, port and path): fix it in the Infomaniak Manager or in the config."
        )
    return _OAUTH_MESSAGES.get(error, f"Infomaniak refused the sign-in ({error}).")


class OAuthError(InfomaniakError):
    """An OAuth error from the login host (§1.5): ``error``, optional ``reason``, ``description``."""

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        reason: str | None = None,
        status: int | None = None,
        redirect_uri: str | None = None,
    ) -> None:
        self.error = error
        self.reason = reason
        super().__init__(
            description or error.replace("_", " "),
            status=status,
            code=error,
            user_message=oauth_user_message(error, redirect_uri),
        )


class InvalidGrant(OAuthError):
    """The authorization code or refresh token is dead (revoked, rotated, expired, used)."""


def _scope_message(scope: str) -> str:
    if scope == "user_info":
        return (
            "The user_info scope was not granted, so ikdav cannot read the profile (name, e-mail); "
            "kDrive and Mail keep working. Allow user_info for the OAuth application to see them."
        )
    return (
        f"The {scope} scope was not granted to this token: allow it for the OAuth application "
        "(or create a personal token with it) and connect again."
    )


# -- mapping replies to errors -----------------------------------------------------------------
_CODE_CLASSES: dict[str, type[InfomaniakError]] = {}
for _cls, _codes in (
    (Unauthorized, "not_authorized invalid_credentials"),
    (Forbidden, "access_denied forbidden_error upload_destination_not_writable_error "
                "folder__protected_folder"),
    (NotFound, "object_not_found upload_destination_not_found_error mail__message_not_found "
               "mail__message_attachment_not_found folder__not_exists folder__root_destination_not_exists "
               "mail__move_destination_folder_not_found"),
    (AlreadyExists, "destination_already_exists conflict_error file_already_exists_error "
                    "folder__destination_already_exists folder__destination_folder_already_exists"),
    (StillUploading, "still_uploading_error"),
    (Invalid, "validation_failed folder__name_too_long folder__unable_to_move_folder_in_its_sub_folders"),
    (Locked, "lock_error mailbox_locked"),
    (QuotaExceeded, "quota_exceeded_error"),
    (LimitExceeded, "limit_exceeded_error"),
    (InvalidCursor, "invalid_cursor_error"),
    (UploadNotTerminated, "upload_not_terminated upload_not_terminated_error"),
    (UploadSessionGone, "invalid_upload_token_error upload_token_is_not_valid upload_token_canceled"),
    (UploadFailed, "upload_error upload_failed_error"),
    (RateLimited, "too_many_request too_many_requests"),
    (Maintenance, "product_maintenance drive_is_in_maintenance_error"),
    (UpstreamUnavailable, "unexpected_error mail__cannot_connect_to_server mail__imap_authentication_failed "
                          "mail__imap_connection_timedout mail__imap_unable_to_parse_response "
                          "mail__unable_to_move_emails folder__unable_to_create folder__unable_to_update "
                          "folder__unable_to_delete folder__unable_to_flush"),
):
    for _code in _codes.split():
        _CODE_CLASSES[_code] = _cls

_STATUS_CLASSES: dict[int, type[InfomaniakError]] = {
    400: Refused, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: NotFound,
    411: Invalid, 416: RangeNotSatisfiable, 422: Invalid, 423: Locked, 429: RateLimited,
}


def error_from_reply(
    status: int,
    body: Any,
    *,
    retry_after: float | None = None,
) -> InfomaniakError:
    """The error for a reply: by ``error.code`` when the body has one (D1), else by HTTP status.

    ``body`` is the decoded JSON (or ``None`` for a non-JSON body such as a proxy's HTML page).
    """
    error = body.get("error") if isinstance(body, dict) else None
    code: str | None = None
    description = ""
    context: Mapping[str, Any] | None = None
    details: list[Any] | None = None
    if isinstance(error, dict):
        code = str(error["code"]) if error.get("code") else None
        description = str(error.get("description") or "")
        raw_context = error.get("context")
        context = raw_context if isinstance(raw_context, dict) else None
        raw_errors = error.get("errors")
        details = raw_errors if isinstance(raw_errors, list) else None
    elif isinstance(error, str):  # the login host's plain-string form (D10)
        code = error
    cls = _CODE_CLASSES.get(code or "")
    if cls is None:
        if status >= 500:
            cls = UpstreamUnavailable
        else:
            cls = _STATUS_CLASSES.get(status, ApiError if status >= 400 else UnexpectedResponse)
    kwargs: dict[str, Any] = {"status": status, "code": code, "context": context, "errors": details}
    if details and not description:
        description = "; ".join(str(d.get("description", d)) if isinstance(d, dict) else str(d)
                                for d in details)
    if cls is RateLimited:
        return RateLimited(description, retry_after=retry_after if retry_after is not None else 60.0,
                           **kwargs)
    if issubclass(cls, UpstreamUnavailable):
        return cls(description, retry_after=retry_after, **kwargs)
    return cls(description, **kwargs)
