"""Who the browser is: a binding cookie for every visitor, a session cookie once signed in.

Two cookies, both HttpOnly and SameSite=Lax:

- the *browser* cookie: a random id given to every visitor. It binds a pending OAuth ``state``
  to the browser that started the flow (a callback link opened in another browser fails), and
  anonymous forms carry a CSRF token derived from it;
- the *session* cookie: set after connecting or signing in with an app password. The store keeps
  only its hash, next to the session's own CSRF token.

On https the names carry the ``__Host-`` prefix, so no other host or path can plant them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from ikdav.accounts.store import Account, AccountStore
from ikdav.connect.web import Request, Response

SESSION_LIFETIME = 8 * 3600  # seconds a connect-app session lasts
BROWSER_COOKIE_AGE = 30 * 24 * 3600
_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    account: Account
    csrf_token: str


class BrowserSessions:
    """Cookie names, the browser binding, sessions and CSRF tokens of one connect app.

    Anonymous CSRF tokens are an HMAC of the browser id under a key that lives as long as the
    process: a form loaded before a restart is refused once and works after a reload.
    """

    def __init__(self, store: AccountStore, *, secure: bool) -> None:
        self.store = store
        self.secure = secure
        prefix = "__Host-" if secure else ""
        self.browser_cookie = f"{prefix}ikdav_browser"
        self.session_cookie = f"{prefix}ikdav_session"
        self._csrf_key = secrets.token_bytes(32)

    # -- the browser binding -------------------------------------------------------------------
    def browser_id(self, request: Request) -> str | None:
        value = request.cookies.get(self.browser_cookie, "")
        return value if _plausible(value) else None

    def bind_browser(self, request: Request) -> str | None:
        """Give a browser without a binding cookie a new id; returns it (for the cookie) or None.

        The request is marked ``fresh_browser``: a callback that arrives without the cookie can
        then say why the flow cannot be matched.
        """
        if self.browser_id(request) is not None:
            return None
        fresh = secrets.token_urlsafe(32)
        request.cookies[self.browser_cookie] = fresh
        request.fresh_browser = True
        return fresh

    def set_browser_cookie(self, response: Response, browser_id: str) -> None:
        response.set_cookie(self.browser_cookie, browser_id, BROWSER_COOKIE_AGE)

    # -- CSRF -----------------------------------------------------------------------------------
    def anonymous_csrf(self, browser_id: str) -> str:
        return hmac.new(self._csrf_key, b"csrf\0" + browser_id.encode(), hashlib.sha256).hexdigest()

    def check_anonymous_csrf(self, request: Request) -> bool:
        browser = self.browser_id(request)
        if browser is None:
            return False
        return _same(request.field("csrf_token"), self.anonymous_csrf(browser))

    @staticmethod
    def check_session_csrf(request: Request, signed_in: SignedIn) -> bool:
        return _same(request.field("csrf_token"), signed_in.csrf_token)

    # -- sessions -------------------------------------------------------------------------------
    def signed_in(self, request: Request) -> SignedIn | None:
        session_id = request.cookies.get(self.session_cookie, "")
        if not _plausible(session_id):
            return None
        found = self.store.session(session_id)
        if found is None:
            return None
        account = self.store.get(found[0])
        if account is None:
            return None
        return SignedIn(session_id, account, found[1])

    def sign_in(self, request: Request, account_id: int, response: Response) -> str:
        """A new session (never a reused id: no fixation) with its cookie on ``response``.

        A session this browser had before (perhaps of another account) ends here.
        """
        previous = request.cookies.get(self.session_cookie, "")
        if _plausible(previous):
            self.store.end_session(previous)
        session_id = secrets.token_urlsafe(32)
        self.store.create_session(session_id, account_id, secrets.token_urlsafe(32), SESSION_LIFETIME)
        response.set_cookie(self.session_cookie, session_id, SESSION_LIFETIME)
        return session_id

    def sign_out(self, request: Request, response: Response) -> None:
        session_id = request.cookies.get(self.session_cookie, "")
        if _plausible(session_id):
            self.store.end_session(session_id)
        response.delete_cookie(self.session_cookie)


def _plausible(value: str) -> bool:
    """Ids we mint are 43 url-safe characters; anything else is not worth a database lookup."""
    return 20 <= len(value) <= 100 and set(value) <= _ID_CHARACTERS


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
