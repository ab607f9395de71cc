"""The connect app: the WSGI application behind ikdav's web pages (mounted at ``/``).

Routes::

    GET  /                                   home: what ikdav does, Connect button, personal-token form
    GET  /static/style.css                   the one stylesheet (no inline style or script: CSP 'self')
    GET  /api/infomaniak/auth/connect        a button that POSTs to the same URL
    POST /api/infomaniak/auth/connect        start the OAuth flow (CSRF checked)
    GET  /api/infomaniak/auth/connect/callback   the OAuth callback (and the registered URI's path)
    POST /connect/token                      connect with a personal API token
    GET  /connected                          the success page: WebDAV URL, user, one-time password
    GET  /account                            the account page, or its sign-in form
    POST /account/login | logout | passwords | passwords/revoke | reconnect | disconnect | remove | token

Every response carries the security headers of :mod:`.web` and ``Cache-Control: no-store``
(except the stylesheet). A failure is a page with a 4xx status (502 when Infomaniak is not
reachable) that names the cause and the fix; an unexpected error is logged and answered with a
plain 500 page, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from ikdav.accounts.crypto import SecretKeyError
from ikdav.accounts.store import StoreError
from ikdav.connect import failures
from ikdav.connect.account_pages import AccountPages
from ikdav.connect.context import ConnectContext
from ikdav.connect.failures import Failure
from ikdav.connect.flash import FlashStore
from ikdav.connect.oauth_flow import START_PATH, OAuthFlow, callback_paths
from ikdav.connect.pages import TEMPLATES, Pages
from ikdav.connect.sessions import BrowserSessions
from ikdav.connect.token_flow import TokenFlow
from ikdav.connect.web import BadRequest, Request, Response, StartResponse, html, redirect
from ikdav.infomaniak import InfomaniakError
from ikdav.services import Services

log = logging.getLogger("ikdav.connect")

STATIC = TEMPLATES.with_name("static")
STATIC_TYPES = {".css": "text/css; charset=utf-8"}

Handler = Callable[[Request], Response]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ConnectApp:
    """The connect pages as one WSGI callable; build it with :func:`build_connect_app`."""

    def __init__(self, services: Services) -> None:
        config = services.config
        self.services = services
        self.secure = config.tls_enabled or urlsplit(config.public_url).scheme == "https"
        self.ctx = ConnectContext(services, BrowserSessions(services.store, secure=self.secure),
                                  Pages(config), FlashStore())
        oauth = OAuthFlow(self.ctx)
        tokens = TokenFlow(self.ctx)
        account = AccountPages(self.ctx, oauth)
        self.static = {f"/static/{path.name}": (path.read_bytes(), STATIC_TYPES[path.suffix])
                       for path in STATIC.iterdir() if path.suffix in STATIC_TYPES}
        self.routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self.home},
            START_PATH: {"GET": oauth.start_page, "POST": oauth.start},
            "/connect/token": {"POST": tokens.connect},
            "/connected": {"GET": self.connected},
            "/account": {"GET": account.page},
            "/account/login": {"GET": self.to_account, "POST": account.login},
            "/account/logout": {"POST": account.logout},
            "/account/passwords": {"POST": account.new_password},
            "/account/passwords/revoke": {"POST": account.revoke_password},
            "/account/reconnect": {"POST": account.reconnect},
            "/account/disconnect": {"POST": account.disconnect},
            "/account/remove": {"POST": account.remove},
            "/account/token": {"POST": tokens.replace},
        }
        for path in callback_paths(config.infomaniak.redirect_uri):
            self.routes[path] = {"GET": oauth.callback}

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        if path in self.static and request.method in ("GET", "HEAD"):
            body, content_type = self.static[path]
            response = Response(200, body, content_type, cacheable=True)
        else:
            fresh_browser = self.ctx.sessions.bind_browser(request)
            response = self._respond(request, path)
            if fresh_browser is not None:
                self.ctx.sessions.set_browser_cookie(response, fresh_browser)
        body_iter = response(start_response, secure=self.secure)
        return [b""] if request.method == "HEAD" else body_iter

    def _respond(self, request: Request, path: str) -> Response:
        pages = self.ctx.pages
        try:
            methods = self.routes.get(path)
            if methods is None:
                raise Failure(404, "Page not found", f"ikdav has no page at {path}.",
                              "Start from the home page.", code="not_found")
            handler = methods.get("GET" if request.method == "HEAD" else request.method)
            if handler is None:
                raise Failure(405, "Method not allowed", f"{path} does not answer {request.method}.",
                              "Use the page's own buttons.", code="method",
                              headers=[("Allow", ", ".join(sorted(methods)))])
            return handler(request)
        except Failure as failure:
            return pages.failure(request, failure)
        except BadRequest as exc:
            return pages.failure(request, Failure(exc.status, "The request could not be read", exc.message,
                                                  "Go back and send the form again.", code="bad_request"))
        except InfomaniakError as exc:
            failure = failures.from_error(exc, self.services.config.infomaniak.redirect_uri)
            return pages.failure(request, failure)
        except StoreError as exc:
            log.info("connect page %s: %s", path, exc)
            return pages.failure(request, Failure(
                409, "The account changed meanwhile", "It was removed or changed while this page was open.",
                "Reload the account page, or connect the account again.", code="store"))
        except SecretKeyError as exc:
            log.error("connect page %s: %s", path, exc)
            return pages.failure(request, Failure(
                503, "ikdav cannot open its stored tokens", str(exc),
                "Ask the administrator to restore the secret key.", code="secret_key"))
        except Exception:
            log.exception("connect page %s %s failed", request.method, path)
            return html(500, "<!doctype html><title>ikdav: internal error</title>"
                             "<h1>Internal error</h1><p>ikdav failed on this page; the details are in "
                             "its log.</p><p><a href=\"/\">Home</a></p>")

    # -- small pages ----------------------------------------------------------------------------
    def home(self, request: Request) -> Response:
        sessions = self.ctx.sessions
        browser = sessions.browser_id(request) or ""
        config = self.services.config
        return self.ctx.pages.render(
            request, "home.html", csrf_token=sessions.anonymous_csrf(browser),
            signed_in=sessions.signed_in(request), dav_url=config.share_url,
            redirect_uri=config.infomaniak.redirect_uri)

    def connected(self, request: Request) -> Response:
        """The success page, once: the flash holds the new password; a reload goes to the account."""
        signed_in = self.ctx.sessions.signed_in(request)
        flash = self.ctx.flashes.pop(signed_in.session_id) if signed_in else None
        if signed_in is None or flash is None or not flash.password:
            return redirect(request.url_for("/account"))
        account = signed_in.account
        return self.ctx.pages.render(
            request, "connected.html", account=account, flash=flash, signed_in=signed_in,
            csrf_token=signed_in.csrf_token, help=self.ctx.pages.mount_help(account.email, flash.password))

    @staticmethod
    def to_account(request: Request) -> Response:
        return redirect(request.url_for("/account"))


def build_connect_app(services: Services) -> WSGIApp:
    """The connect app for ``services`` (mounted at ``/`` by :func:`ikdav.server.build_app`)."""
    return ConnectApp(services)
