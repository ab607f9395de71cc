"""What every handler of the connect app works with, and the landing after a new connection."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ikdav.accounts.store import Account
from ikdav.connect import failures
from ikdav.connect.failures import Failure
from ikdav.connect.flash import Flash, FlashStore
from ikdav.connect.linking import Reach
from ikdav.connect.pages import Pages
from ikdav.connect.sessions import BrowserSessions, SignedIn
from ikdav.connect.web import Request, Response, redirect
from ikdav.services import Services


@dataclass
class ConnectContext:
    services: Services
    sessions: BrowserSessions
    pages: Pages
    flashes: FlashStore

    def require_anonymous_csrf(self, request: Request) -> None:
        if not self.sessions.check_anonymous_csrf(request):
            raise failures.csrf_refused()

    def require_session(self, request: Request) -> SignedIn:
        """The signed-in session of a POST, with its CSRF token checked; else a 4xx failure."""
        signed_in = self.sessions.signed_in(request)
        if signed_in is None:
            raise Failure(401, "You are not signed in",
                          "This session ended (signed out, expired, or the account was removed). Nothing "
                          "was changed.", "Sign in again on the account page.", code="signed_out")
        if not self.sessions.check_session_csrf(request, signed_in):
            raise failures.csrf_refused()
        return signed_in

    def welcome(self, request: Request, account: Account, reach: Reach, how: str) -> Response:
        """After a new connection: a new app password, a session, and the success page.

        The password travels to the page in a server-side, single-use flash, never in the URL.
        """
        label = f"{how}, {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}"
        _, password = self.services.store.create_app_password(account.id, label)
        response = redirect(request.url_for("/connected"))
        session_id = self.sessions.sign_in(request, account.id, response)
        self.flashes.put(session_id, Flash(password=password, password_label=label, reach=reach))
        return response
