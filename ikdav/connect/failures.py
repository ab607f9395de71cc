"""Every way connecting can fail, each with its cause and its fix in the setup guide's words.

A handler raises :class:`Failure`; the app renders it as a page with the status given here:
4xx for anything the person or the configuration can fix, 502 when Infomaniak is not
reachable, never a traceback. The texts name the settings and the Infomaniak Manager steps of
the README's "Connecting an account" and "Troubleshooting" sections.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ikdav.infomaniak.errors import (
    InfomaniakError,
    InvalidGrant,
    OAuthError,
    ReconnectRequired,
    Unauthorized,
    UpstreamUnavailable,
)


class Failure(Exception):
    """A page-worthy failure: HTTP ``status``, a short ``title``, the ``cause`` and the ``fix``."""

    def __init__(self, status: int, title: str, cause: str, fix: str, *, code: str = "",
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{title}: {cause}")
        self.status = status
        self.title = title
        self.cause = cause
        self.fix = fix
        self.code = code
        self.headers = headers or []

    @property
    def message(self) -> str:
        """One line for the command line: cause, then fix."""
        return f"{self.cause} {self.fix}"


def access_denied() -> Failure:
    return Failure(
        403, "Access was refused at Infomaniak",
        "Deny was chosen on the Infomaniak consent page (access_denied), so Infomaniak gave ikdav no "
        "access.",
        "Connect again and choose Allow. ikdav asks for user_info (your e-mail, the WebDAV user name), "
        "kdrive and mail.", code="access_denied")


def state_missing() -> Failure:
    return Failure(
        400, "This sign-in cannot be matched",
        "The address Infomaniak sent the browser back to carries no state, so ikdav cannot tell which "
        "sign-in it belongs to.",
        "Start again from the connect page.", code="state_missing")


def code_missing() -> Failure:
    return Failure(
        400, "This sign-in did not finish",
        "The address the browser came back to carries neither an authorization code nor an error from "
        "Infomaniak, so there is nothing to finish the sign-in with (was the address typed or cut?).",
        "Start again from the connect page.", code="code_missing")


def state_invalid() -> Failure:
    return Failure(
        400, "This sign-in link is no longer valid",
        "Its state is unknown to ikdav: it was already used, it is older than 10 minutes, or the "
        "sign-in was started in another browser.",
        "Start again from the connect page, and finish within 10 minutes in the same browser.",
        code="state_invalid")


def cookie_missing(redirect_uri: str) -> Failure:
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    return Failure(
        400, "The browser did not send ikdav's cookie back",
        "Cookies are blocked for this site, or the connection was started at another host name than "
        f"the redirect URI's ({parts.hostname}); localhost and 127.0.0.1 count as different hosts.",
        f"Allow cookies, open ikdav at {origin}/ and connect again.", code="state_invalid")


def oauth_not_configured() -> Failure:
    return Failure(
        404, "No OAuth application is configured",
        "infomaniak.client_id is empty, so this ikdav cannot send you to Infomaniak to sign in.",
        "Use a personal API token on the connect page, or ask the administrator to set "
        "infomaniak.client_id and infomaniak.client_secret.", code="oauth_disabled")


def user_info_missing() -> Failure:
    return Failure(
        403, "Infomaniak did not grant the user_info scope",
        "The profile answered 401 although the token is valid: the token has no user_info scope, "
        "because the OAuth application does not include it or it was unticked on the consent page. "
        "ikdav needs the profile for your e-mail address, which is your WebDAV user name.",
        "Allow user_info for the OAuth application in the Infomaniak Manager (and keep it in "
        "infomaniak.scopes), then connect again and leave it ticked.", code="user_info_missing")


def nothing_reachable(email: str) -> Failure:
    return Failure(
        403, "This account reaches no kDrive and no mailbox",
        f"For {email}, the kDrive list is empty and no mailbox is reachable, so the share would be "
        "empty.",
        "Check in the Infomaniak Manager that this user has access to a kDrive or a mailbox, and that "
        "the OAuth application (or the personal token) has the kdrive (drive) and mail "
        "(workspace:mail) scopes; then connect again.", code="nothing_reachable")


def not_allowed(email: str) -> Failure:
    return Failure(
        403, "This account may not use this ikdav",
        f"{email} is not in this server's allowed_users.",
        "Ask the administrator to add it to allowed_users, or connect another Infomaniak account.",
        code="not_allowed")


def other_user(expected: str, got: str) -> Failure:
    return Failure(
        403, "Signed in as another Infomaniak user",
        f"The account being reconnected is {expected}, but Infomaniak signed in {got}.",
        f"Sign out at Infomaniak, then reconnect and sign in as {expected}.", code="other_user")


def no_email() -> Failure:
    return Failure(
        400, "The e-mail address is missing",
        "This personal token has no user_info scope, so ikdav cannot read the account's e-mail address "
        "(the WebDAV user name).",
        "Enter the e-mail address of the Infomaniak account with the token, or create a token with "
        "the user_info scope.", code="no_email")


def token_refused() -> Failure:
    return Failure(
        400, "Infomaniak does not accept this token",
        "The token was refused: it is mistyped, revoked or expired.",
        "Copy it again from the Infomaniak Manager, or create a new personal API token with the "
        "scopes user_info, drive and workspace:mail.", code="token_refused")


def csrf_refused() -> Failure:
    return Failure(
        403, "This form has expired",
        "The form did not carry this browser's security token: it was loaded before ikdav restarted, "
        "in another browser, or cookies are blocked. Nothing was changed.",
        "Reload the page and send the form again.", code="csrf")


def upstream(exc: InfomaniakError) -> Failure:
    return Failure(
        502, "Infomaniak is not reachable",
        exc.user_message, "Try again in a few minutes.", code="upstream")


def oauth_error(exc: OAuthError, redirect_uri: str) -> Failure:
    """The page for an OAuth error code from the redirect back or the token endpoint."""
    error = exc.error
    if error == "access_denied":
        return access_denied()
    if error == "invalid_client":
        return Failure(
            400, "Infomaniak rejected ikdav's client credentials",
            "The login host answered invalid_client: the OAuth client id or client secret in ikdav's "
            "configuration is wrong or belongs to another application.",
            "Copy both again from the OAuth application in the Infomaniak Manager into "
            "infomaniak.client_id and infomaniak.client_secret (check that no IKDAV_INFOMANIAK__* or "
            "Service_INFOMANIAK_* variable overrides them), restart ikdav and connect again.",
            code=error)
    if error == "invalid_grant":
        return Failure(
            400, "Infomaniak no longer accepts this sign-in",
            "The login host answered invalid_grant: the authorization code expired (codes live 60 "
            "seconds) or was already used, or the authorisation was revoked.",
            "Connect again.", code=error)
    if error == "invalid_redirect_uri":
        return Failure(
            400, "The redirect URI is not registered",
            f"The login host answered invalid_redirect_uri: the redirect URI ikdav sends ({redirect_uri}) "
            "is not registered for the OAuth application.",
            "Register exactly this URI for the application in the Infomaniak Manager (scheme, host, port "
            "and path byte for byte), or set infomaniak.redirect_uri to the registered one.", code=error)
    if error == "invalid_scope":
        return Failure(
            400, "Infomaniak refused the requested scopes",
            "The login host answered invalid_scope: the OAuth application may not ask for every scope "
            "in infomaniak.scopes.",
            "Allow user_info, kdrive and mail for the application in the Infomaniak Manager, or remove "
            "the refused scope from infomaniak.scopes.", code=error)
    return Failure(400, "Infomaniak refused the sign-in",
                   f"The login host answered {error}. {exc.user_message}",
                   "Start again from the connect page.", code=error)


def from_error(exc: InfomaniakError, redirect_uri: str) -> Failure:
    """The page for any error of the Infomaniak client during a connection."""
    if isinstance(exc, OAuthError | InvalidGrant):
        return oauth_error(exc, redirect_uri)
    if isinstance(exc, UpstreamUnavailable):
        return upstream(exc)
    if isinstance(exc, ReconnectRequired | Unauthorized):
        return Failure(400, "Infomaniak refused the new token", exc.user_message, "Connect again.",
                       code="token_refused")
    return Failure(502, "Infomaniak answered unexpectedly", exc.user_message,
                   "Try again; if it keeps failing, run ikdav check.", code="upstream")
