"""The account page: sign in with e-mail + app password, see the status, manage the connection.

Signing in is throttled exactly like WebDAV logins (the same :class:`LoginThrottle`), so the form
is no faster way to guess app passwords. Every change is a POST carrying the session's CSRF
token. What the account reaches is asked from Infomaniak live on each visit; a failure there is
shown, not raised, and may itself reveal that the account needs reconnecting.
"""

from __future__ import annotations

from ikdav.accounts.store import KIND_OAUTH
from ikdav.connect import linking
from ikdav.connect.context import ConnectContext
from ikdav.connect.failures import Failure
from ikdav.connect.flash import Flash
from ikdav.connect.oauth_flow import OAuthFlow
from ikdav.connect.web import Request, Response, redirect


class AccountPages:
    def __init__(self, ctx: ConnectContext, oauth_flow: OAuthFlow) -> None:
        self.ctx = ctx
        self.services = ctx.services
        self.store = ctx.services.store
        self.oauth_flow = oauth_flow

    # -- signing in and out --------------------------------------------------------------------
    def login_form(self, request: Request, status: int = 200, error: str = "", email: str = "") -> Response:
        browser = self.ctx.sessions.browser_id(request) or ""
        return self.ctx.pages.render(request, "login.html", status, error=error, email=email,
                                     csrf_token=self.ctx.sessions.anonymous_csrf(browser))

    def login(self, request: Request) -> Response:
        self.ctx.require_anonymous_csrf(request)
        email, password = request.field("email"), request.form().get("password", [""])[0]
        address = request.remote_address
        throttle = self.services.throttle
        wait = throttle.retry_after(email, address)
        if wait > 0:
            seconds = str(int(wait) + 1)
            raise Failure(429, "Too many failed sign-ins",
                          "Several wrong passwords were sent from this address.",
                          f"Wait {seconds} seconds, then sign in with the account's e-mail and one of its "
                          "app passwords.", code="throttled", headers=[("Retry-After", seconds)])
        account = self.store.check_app_password(email, password) if email and password else None
        if account is None:
            throttle.failed(email, address)
            return self.login_form(request, 401, "Wrong e-mail or app password.", email)
        throttle.succeeded(email, address)
        response = redirect(request.url_for("/account"))
        self.ctx.sessions.sign_in(request, account.id, response)
        return response

    def logout(self, request: Request) -> Response:
        self.ctx.require_session(request)
        response = redirect(request.url_for("/"))
        self.ctx.sessions.sign_out(request, response)
        return response

    # -- the page ------------------------------------------------------------------------------
    def page(self, request: Request) -> Response:
        signed_in = self.ctx.sessions.signed_in(request)
        if signed_in is None:
            return self.login_form(request)
        flash = self.ctx.flashes.pop(signed_in.session_id) or Flash()
        account = signed_in.account
        reach = None
        if account.connected:
            with self.services.new_client(account.id) as client:
                reach = linking.reach_of(client)
            account = self.store.get(account.id) or account  # the live check may have changed the status
            if not account.connected:
                self.services.forget_account(account.id)  # the share must not serve cached listings
        return self.ctx.pages.render(
            request, "account.html", account=account, reach=reach, flash=flash,
            passwords=self.store.app_passwords(account.id), csrf_token=signed_in.csrf_token,
            signed_in=signed_in, can_reconnect=self.services.oauth is not None,
            help=self.ctx.pages.mount_help(account.email, flash.password))

    # -- app passwords -------------------------------------------------------------------------
    def new_password(self, request: Request) -> Response:
        signed_in = self.ctx.require_session(request)
        label = request.field("label") or "app password"
        _, password = self.store.create_app_password(signed_in.account.id, label)
        self.ctx.flashes.put(signed_in.session_id, Flash(password=password, password_label=label))
        return redirect(request.url_for("/account"))

    def revoke_password(self, request: Request) -> Response:
        signed_in = self.ctx.require_session(request)
        try:
            password_id = int(request.field("password_id"))
        except ValueError:
            raise Failure(400, "No app password chosen", "The form named no app password.",
                          "Go back to the account page and use a Revoke button.", code="bad_form") from None
        revoked = self.store.revoke_app_password(signed_in.account.id, password_id)
        self.services.forget_account(signed_in.account.id)
        notice = "The app password is revoked." if revoked else "That app password was already revoked."
        self.ctx.flashes.put(signed_in.session_id, Flash(notice=notice))
        return redirect(request.url_for("/account"))

    # -- the connection --------------------------------------------------------------------------
    def reconnect(self, request: Request) -> Response:
        signed_in = self.ctx.require_session(request)
        return self.oauth_flow.begin(request, account_id=signed_in.account.id)

    def disconnect(self, request: Request) -> Response:
        signed_in = self.ctx.require_session(request)
        outcome = linking.disconnect(self.services, signed_in.account, remove=False)
        revoked = signed_in.account.auth_kind == KIND_OAUTH and not outcome.revoke_problem
        notice = "Disconnected: ikdav deleted its tokens" + (
            " and Infomaniak revoked the authorisation." if revoked else ".")
        warning = (f"Infomaniak could not revoke the authorisation: {outcome.revoke_problem} The local "
                   "tokens are deleted anyway." if outcome.revoke_problem else outcome.note)
        self.ctx.flashes.put(signed_in.session_id, Flash(notice=notice, warning=warning))
        return redirect(request.url_for("/account"))

    def remove(self, request: Request) -> Response:
        signed_in = self.ctx.require_session(request)
        outcome = linking.disconnect(self.services, signed_in.account, remove=True)
        response = self.ctx.pages.render(request, "removed.html", email=signed_in.account.email,
                                         outcome=outcome)
        self.ctx.sessions.sign_out(request, response)
        return response
