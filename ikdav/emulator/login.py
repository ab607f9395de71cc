"""The login host: OAuth 2 authorization-code flow with PKCE, tokens, revocation (§1, D2–D11).

``GET /authorize`` shows a consent form (pick a user, untick scopes, Allow or Deny) unless the
``consent`` knob answers by itself. ``POST /token`` exchanges codes and refresh tokens with
``client_secret_post`` only; refresh tokens rotate and the old one dies at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ikdav.emulator.sample_data import JANE_ID
from ikdav.emulator.state import (
    ACCESS_TOKEN_TTL,
    SCOPE_ALIASES,
    AccessToken,
    AuthCode,
    EmulatorState,
    Grant,
    OAuthClient,
    canonical_scopes,
    new_secret,
)
from ikdav.emulator.web import (
    ApiError,
    OAuthError,
    Request,
    Response,
    Router,
    html_response,
    json_response,
    redirect,
)

CODE_LIFETIME = 60  # seconds (D5)
PENDING_LIFETIME = 600  # a consent form stays valid this long
VERIFIER_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass
class PendingConsent:
    """An /authorize request that passed validation and waits for the user's decision."""

    id: str
    client: OAuthClient
    redirect_uri: str
    scope_text: str
    state: str | None
    code_challenge: str
    offline: bool
    expires_at: float


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if "?" in uri else "?"
    return uri + separator + urlencode(params)


def error_page(status: int, error: str, message: str) -> Response:
    body = (f"<!doctype html><html><head><title>{html.escape(error)}</title></head><body>"
            f"<h1>Error: {html.escape(error)}</h1><p>{html.escape(message)}</p></body></html>")
    return html_response(body, status)


class LoginHost:
    """Route handlers of the login host; state lives in ``EmulatorState.identity``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.identity = state.identity
        self.pending: dict[str, PendingConsent] = {}
        self.lock = threading.Lock()

    # -- /authorize --------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            return self.decide(request)
        client_id = request.arg("client_id") or ""
        client = self.identity.clients.get(client_id)
        if client is None:
            return error_page(400, "invalid_client", "Unknown client_id: this application is not registered.")
        redirect_uri = request.arg("redirect_uri") or ""
        if redirect_uri not in client.redirect_uris:
            return error_page(400, "invalid_redirect_uri",
                              "The redirect_uri is not registered for this application.")
        state = request.arg("state")

        def refuse(error: str) -> Response:
            params = {"error": error}
            if state is not None:
                params["state"] = state
            return redirect(with_query(redirect_uri, params))

        if request.arg("response_type") != "code":
            return refuse("unsupported_response_type")
        scope_text = request.arg("scope") or ""
        scopes = canonical_scopes(scope_text)
        if not scope_text.strip() or scopes is None or not scopes <= client.scopes:
            return refuse("invalid_scope")
        challenge = request.arg("code_challenge") or ""
        if request.arg("code_challenge_method") != "S256" or not _valid_challenge(challenge):
            return refuse("invalid_request")
        pending = PendingConsent(
            id=secrets.token_urlsafe(24), client=client, redirect_uri=redirect_uri,
            scope_text=" ".join(scope_text.split()), state=state, code_challenge=challenge,
            offline=request.arg("access_type") == "offline", expires_at=time.time() + PENDING_LIFETIME,
        )
        consent = self.state.knobs.get("consent", "manual")
        if consent == "approve":
            user_id = int(self.state.knobs.get("consent_user") or JANE_ID)
            return self.grant_code(pending, user_id, pending.scope_text.split())
        if consent == "deny":
            return refuse("access_denied")
        with self.lock:
            self._expire_pending()
            self.pending[pending.id] = pending
        return html_response(self.consent_form(pending))

    def consent_form(self, pending: PendingConsent) -> str:
        users = "".join(
            f'<option value="{user.id}">{html.escape(user.display_name)} &lt;{html.escape(user.email)}&gt;'
            "</option>"
            for user in self.identity.users.values()
        )
        scopes = "".join(
            f'<label><input type="checkbox" name="scope" value="{html.escape(name)}" checked> '
            f"{html.escape(name)}</label><br>"
            for name in pending.scope_text.split()
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Infomaniak login (emulator)</title>"
            "</head><body><h1>Authorize application</h1>"
            f"<p>The application <b>{html.escape(pending.client.client_id)}</b> asks for access.</p>"
            "<form method='post' action='authorize'>"
            f"<input type='hidden' name='consent_id' value='{pending.id}'>"
            f"<p><label>Account <select name='user_id' id='user_id'>{users}</select></label></p>"
            f"<fieldset><legend>Permissions</legend>{scopes}</fieldset>"
            "<p><button type='submit' name='decision' value='approve' id='approve'>Allow</button> "
            "<button type='submit' name='decision' value='deny' id='deny'>Deny</button></p>"
            "</form></body></html>"
        )

    def decide(self, request: Request) -> Response:
        consent_id = request.form_value("consent_id") or ""
        with self.lock:
            self._expire_pending()
            pending = self.pending.pop(consent_id, None)
        if pending is None:
            return error_page(400, "invalid_request", "This authorization request expired; start again.")
        if request.form_value("decision") != "approve":
            params = {"error": "access_denied"}
            if pending.state is not None:
                params["state"] = pending.state
            return redirect(with_query(pending.redirect_uri, params))
        try:
            user_id = int(request.form_value("user_id") or JANE_ID)
        except ValueError:
            return error_page(400, "invalid_request", "Unknown account.")
        if user_id not in self.identity.users:
            return error_page(400, "invalid_request", "Unknown account.")
        ticked = [s for s in request.form().get("scope", []) if s in pending.scope_text.split()]
        return self.grant_code(pending, user_id, ticked)

    def grant_code(self, pending: PendingConsent, user_id: int, scope_names: list[str]) -> Response:
        denied = {SCOPE_ALIASES.get(name, name) for name in self.state.knobs.get("deny_scopes") or []}
        kept = [name for name in scope_names if SCOPE_ALIASES.get(name) not in denied]
        scope_text = " ".join(kept)
        code = AuthCode(
            code=new_secret("code-"), client_id=pending.client.client_id,
            redirect_uri=pending.redirect_uri, user_id=user_id,
            scopes=canonical_scopes(kept) or frozenset(), scope_text=scope_text,
            code_challenge=pending.code_challenge, offline=pending.offline,
            expires_at=time.time() + CODE_LIFETIME,
        )
        with self.identity.lock:
            self.identity.codes[code.code] = code
        params = {"code": code.code}
        if pending.state is not None:
            params["state"] = pending.state
        return redirect(with_query(pending.redirect_uri, params))

    def _expire_pending(self) -> None:
        now = time.time()
        for key in [k for k, p in self.pending.items() if p.expires_at < now]:
            del self.pending[key]

    # -- /token ---------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        if request.method == "DELETE":
            return self.revoke(request)
        if (request.header("Authorization") or "").lower().startswith("basic "):
            raise OAuthError(401, "invalid_client", "Client authentication must use client_secret_post")
        form = request.form()

        def field(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        client_id, client_secret = field("client_id"), field("client_secret")
        client = self.identity.clients.get(client_id or "")
        if client is None or client_secret is None or not hmac.compare_digest(
            client.client_secret.encode(), client_secret.encode()
        ):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        grant_type = field("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type == "authorization_code":
            return self.exchange_code(client, field("code"), field("code_verifier"), field("redirect_uri"))
        if grant_type == "refresh_token":
            return self.refresh(client, field("refresh_token"))
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")

    def exchange_code(self, client: OAuthClient, code_value: str | None, verifier: str | None,
                      redirect_uri: str | None) -> Response:
        if not code_value or not verifier or not redirect_uri:
            raise OAuthError(400, "invalid_request", "code, code_verifier and redirect_uri are required")
        if not (43 <= len(verifier) <= 128) or not set(verifier) <= VERIFIER_ALPHABET:
            raise OAuthError(400, "invalid_request", "code_verifier is malformed")
        with self.identity.lock:
            code = self.identity.codes.get(code_value)
            if code is None:
                raise OAuthError(400, "invalid_grant", "Unknown authorization code")
            if code.used:
                # A replayed code revokes what it produced (RFC 6749 §10.5).
                for grant in list(self.identity.grants.values()):
                    if grant.code == code.code:
                        self.identity.revoke_grant(grant)
                raise OAuthError(400, "invalid_grant", "The authorization code was already used")
            code.used = True
        if code.expires_at < time.time():
            raise OAuthError(400, "invalid_grant", "The authorization code expired")
        if code.client_id != client.client_id or code.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "The code was issued to another client or redirect_uri")
        if not hmac.compare_digest(pkce_challenge(verifier), code.code_challenge):
            raise OAuthError(400, "invalid_grant", "PKCE verification failed")
        grant = self.identity.new_grant(code.user_id, code.scope_text, client_id=client.client_id,
                                        offline=code.offline)
        grant.code = code.code
        return self.token_reply(grant, issue_refresh=code.offline)

    def refresh(self, client: OAuthClient, refresh_value: str | None) -> Response:
        if not refresh_value:
            raise OAuthError(400, "invalid_request", "refresh_token is required")
        with self.identity.lock:
            refresh = self.identity.refresh_tokens.get(refresh_value)
            if refresh is None or not refresh.alive or not refresh.grant.alive:
                self.identity.counters["refresh_failed"] += 1
                raise OAuthError(400, "invalid_grant", "The refresh token is not valid",
                                 reason="refresh_token_revoked")
            if refresh.grant.client_id != client.client_id:
                raise OAuthError(400, "invalid_grant", "The refresh token belongs to another client")
            revoke = self.state.knobs.peek("revoke_refresh", "login", "POST", "/token")
            if revoke is not None and int(revoke.get("user", refresh.grant.user_id)) == refresh.grant.user_id:
                self.state.knobs.take("revoke_refresh", "login", "POST", "/token")
                self.identity.revoke_grant(refresh.grant)
                self.identity.counters["refresh_failed"] += 1
                raise OAuthError(400, "invalid_grant", "The refresh token was revoked",
                                 reason="refresh_token_revoked")
            refresh.alive = False  # rotation: the old refresh token dies at once (D2)
            self.identity.counters["refresh"] += 1
        return self.token_reply(refresh.grant, issue_refresh=True)

    def token_reply(self, grant: Grant, *, issue_refresh: bool) -> Response:
        ttl_knob = self.state.knobs.get("access_token_ttl")
        ttl: float | None = float(ttl_knob) if ttl_knob else (ACCESS_TOKEN_TTL if grant.offline else None)
        access = self.identity.issue_access(grant, ttl)
        user_id: Any = str(grant.user_id)
        if self.state.knobs.get("user_id_as") == "int":
            user_id = grant.user_id
        body: dict[str, Any] = {"access_token": access.token, "token_type": "Bearer",
                                "user_id": user_id, "scope": grant.scope_text}
        if ttl is not None:
            body["expires_in"] = int(ttl)
        if issue_refresh and grant.offline:
            body["refresh_token"] = self.identity.issue_refresh(grant).token
        return json_response(body, headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    # -- revocation, check, userinfo -----------------------------------------------------------
    def revoke(self, request: Request) -> Response:
        access = self.identity.lookup(request.bearer)
        if access is None:
            return json_response({"result": "error", "error": "not_authorized"}, 401)
        self.identity.revoke_grant(access.grant)
        return json_response({"result": "success", "data": True})

    def check(self, request: Request) -> Response:
        if self.identity.lookup(request.bearer) is None:
            return json_response({"result": "error", "error": "not_authorized"}, 401)
        return json_response({"result": "success", "data": True})

    def userinfo(self, request: Request) -> Response:
        access: AccessToken | None = self.identity.lookup(request.bearer)
        if access is None:
            raise ApiError(401, "not_authorized", "Authentication required")
        user = self.identity.users[access.user_id]
        return json_response({"sub": str(user.id), "email": user.email, "name": user.display_name,
                              "given_name": user.first_name, "family_name": user.last_name,
                              "picture": None})

    def login_page(self, request: Request) -> Response:
        return html_response("<!doctype html><html><body><h1>Infomaniak login</h1>"
                             "<p>Please sign in.</p></body></html>")


def _valid_challenge(challenge: str) -> bool:
    return len(challenge) == 43 and set(challenge) <= VERIFIER_ALPHABET - {".", "~"}


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    host = LoginHost(state)
    router = routers["login"]
    router.add("GET POST", "/authorize", host.authorize)
    router.add("POST DELETE", "/token", host.token)
    router.add("GET", "/token/check", host.check)
    router.add("GET", "/oauth2/userinfo", host.userinfo)
    router.add("GET", "/login", host.login_page)
    router.add("GET", "/", host.login_page)
