"""The browser OAuth flow: start (state + PKCE kept server side) and the callback.

The start is a POST carrying the browser's CSRF token, so another site cannot start a flow in
someone's browser; a plain GET of the start URL only shows a button. The ``state`` and the PKCE
verifier go into the store bound to the browser cookie, single use, for 10 minutes. The callback
takes the state exactly once, exchanges the code at once (codes live 60 s), reads the profile,
checks what the token reaches, stores the account and lands on the success page, or shows a
failure page that names the cause and the fix. A token that will not be stored is revoked.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from ikdav.accounts.store import KIND_OAUTH, Account
from ikdav.config import CALLBACK_PATH
from ikdav.connect import failures, linking
from ikdav.connect.context import ConnectContext
from ikdav.connect.failures import Failure
from ikdav.connect.flash import Flash
from ikdav.connect.web import Request, Response, redirect
from ikdav.infomaniak import InfomaniakError, OAuthClient, OAuthError, TokenSet

log = logging.getLogger("ikdav.connect")

START_PATH = "/api/infomaniak/auth/connect"
STATE_MAX_AGE = 600.0  # seconds between start and callback


def callback_paths(redirect_uri: str) -> set[str]:
    """Where the callback is served: the fixed path, and the registered URI's path if it differs."""
    paths = {CALLBACK_PATH}
    registered = urlsplit(redirect_uri).path.rstrip("/")
    if registered.endswith(CALLBACK_PATH):  # e.g. behind a proxy that keeps a path prefix
        paths.add(registered)
    return paths


class OAuthFlow:
    def __init__(self, ctx: ConnectContext) -> None:
        self.ctx = ctx
        self.services = ctx.services
        self.redirect_uri = ctx.services.config.infomaniak.redirect_uri

    def _oauth(self) -> OAuthClient:
        if self.services.oauth is None:
            raise failures.oauth_not_configured()
        return self.services.oauth

    # -- start --------------------------------------------------------------------------------
    def start_page(self, request: Request) -> Response:
        """GET of the start URL: a button, because only a POST with CSRF may start the flow."""
        self._oauth()
        browser = self.ctx.sessions.browser_id(request) or ""
        return self.ctx.pages.render(request, "start.html",
                                     csrf_token=self.ctx.sessions.anonymous_csrf(browser))

    def start(self, request: Request) -> Response:
        self.ctx.require_anonymous_csrf(request)
        return self.begin(request)

    def begin(self, request: Request, account_id: int | None = None) -> Response:
        """Redirect to the authorize URL; ``account_id`` marks a reconnection of that account."""
        oauth = self._oauth()
        browser = self.ctx.sessions.browser_id(request)
        if browser is None:  # the app binds every browser before dispatching; never reached
            raise failures.csrf_refused()
        state, verifier = oauth.new_state(), oauth.new_code_verifier()
        self.services.store.put_state(state, verifier, browser, account_id)
        return redirect(oauth.authorization_url(state, verifier), 303)

    # -- callback -----------------------------------------------------------------------------
    def callback(self, request: Request) -> Response:
        oauth = self._oauth()
        state = request.arg("state")
        if not state:
            raise failures.state_missing()
        if request.fresh_browser:
            raise failures.cookie_missing(self.redirect_uri)
        browser = self.ctx.sessions.browser_id(request) or ""
        pending = self.services.store.pop_state(state, browser, max_age=STATE_MAX_AGE)
        if pending is None:
            raise failures.state_invalid()
        if not request.arg("code") and not request.arg("error"):
            raise failures.code_missing()
        try:
            code = oauth.code_from_callback(request.query, expected_state=state)
        except OAuthError as exc:
            raise failures.oauth_error(exc, self.redirect_uri) from exc
        try:
            token_set = oauth.exchange_code(code, pending.verifier)
        except InfomaniakError as exc:
            raise failures.from_error(exc, self.redirect_uri) from exc
        try:
            owner = linking.owner_of_oauth_token(self.services, token_set)
            target = self._reconnected_account(pending.account_id, owner)
        except Failure:
            self._revoke_quietly(oauth, token_set)
            raise
        account = linking.save_connection(
            self.services, owner, auth_kind=KIND_OAUTH, access_token=token_set.access_token,
            refresh_token=token_set.refresh_token, expires_at=token_set.expires_at)
        if target is None:
            return self.ctx.welcome(request, account, owner.reach, "browser connection")
        response = redirect(request.url_for("/account"))
        signed_in = self.ctx.sessions.signed_in(request)
        if signed_in is not None and signed_in.account.id == account.id:
            session_id = signed_in.session_id
        else:
            session_id = self.ctx.sessions.sign_in(request, account.id, response)
        self.ctx.flashes.put(session_id, Flash(notice="Reconnected: Infomaniak granted a new authorisation, "
                                                      "and your app passwords keep working."))
        return response

    def _reconnected_account(self, account_id: int | None, owner: linking.TokenOwner) -> Account | None:
        """For a reconnection, the account being reconnected; it must be the same person."""
        if account_id is None:
            return None
        account = self.services.store.get(account_id)
        if account is None:
            raise Failure(404, "The account no longer exists",
                          "It was removed while Infomaniak was asking for consent.",
                          "Connect it again from the connect page.", code="account_gone")
        same = (owner.user_id == account.infomaniak_user_id if account.infomaniak_user_id and owner.user_id
                else owner.email.lower() == account.email.lower())
        if not same:
            raise failures.other_user(account.email, owner.email)
        return account

    @staticmethod
    def _revoke_quietly(oauth: OAuthClient, token_set: TokenSet) -> None:
        """A grant ikdav will not keep is revoked, so no live authorisation lingers at Infomaniak."""
        try:
            oauth.revoke(token_set.access_token)
        except InfomaniakError as exc:
            log.info("could not revoke a refused grant (%s)", type(exc).__name__)
