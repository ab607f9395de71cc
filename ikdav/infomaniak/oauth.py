"""OAuth 2 with Infomaniak's login host (§1): code flow with PKCE, refresh, revoke, check.

Built on authlib's protocol pieces (grant URI, PKCE challenge, token request body, random
tokens); the HTTP goes through httpx directly so that every reply of the login host, including
the optional ``reason`` of an error, reaches :class:`~.errors.OAuthError` intact.

Typical flow, as the connect app runs it::

    client = OAuthClient(endpoints, client_id, client_secret, redirect_uri)
    state, verifier = client.new_state(), client.new_code_verifier()
    # keep (state, verifier) server side, send the browser to client.authorization_url(state, verifier)
    code = client.code_from_callback(request_query, expected_state=state)
    token_set = client.exchange_code(code, verifier)
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ikdav.infomaniak.errors import (
    InvalidGrant,
    OAuthError,
    UnexpectedResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ikdav.infomaniak.http import ClientSettings, Endpoints
from ikdav.infomaniak.models import TokenSet

log = logging.getLogger("ikdav.infomaniak.oauth")

DEFAULT_SCOPES = "user_info kdrive mail"
FORM_HEADERS = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
_REGISTRATION_ERRORS = ("invalid_redirect_uri", "invalid_client")


class OAuthClient:
    """The OAuth client of one registered Infomaniak application.

    ``redirect_uri`` MUST be byte-identical to the one registered (D4). The client secret goes in
    the form body (``client_secret_post``, D6). Thread-safe; close it with :meth:`close`.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: str = DEFAULT_SCOPES,
        *,
        settings: ClientSettings | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = " ".join(scopes.split())
        self.settings = settings or ClientSettings()
        self._http = http_client or httpx.Client(
            timeout=self.settings.httpx_timeout(), follow_redirects=False,
            headers={"User-Agent": self.settings.user_agent})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    # -- the authorization request -----------------------------------------------------------
    @staticmethod
    def new_state() -> str:
        """A single-use ``state``: 43 characters of a 62-letter alphabet (> 250 random bits)."""
        return generate_token(43)

    @staticmethod
    def new_code_verifier() -> str:
        """A PKCE code verifier of 64 unreserved characters (RFC 7636 wants 43..128)."""
        return generate_token(64)

    def authorization_url(self, state: str, code_verifier: str) -> str:
        """Where to send the browser: code flow, PKCE S256, ``access_type=offline`` (§1.2, D5, D7)."""
        return prepare_grant_uri(
            self.endpoints.login("/authorize"),
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=self.scopes,
            state=state,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
            access_type="offline",
        )

    def code_from_callback(self, params: Mapping[str, Any], expected_state: str) -> str:
        """The ``code`` of the redirect back, after checking ``state``; errors become :class:`OAuthError`.

        The caller MUST also make sure ``expected_state`` is used only once (it owns the store).
        """
        def first(name: str) -> str | None:
            value = params.get(name)
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            return str(value) if value is not None else None

        state = first("state") or ""
        if not expected_state or not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise OAuthError("invalid_request", "the state of the callback does not match this sign-in")
        error = first("error")
        if error:
            raise OAuthError(error, first("error_description") or "", redirect_uri=self.redirect_uri)
        code = first("code")
        if not code:
            raise OAuthError("invalid_request", "the callback carries no code")
        return code

    def verify_registration(self) -> None:
        """Ask the login host whether client id and redirect URI are registered (for ``ikdav check``).

        An unknown client or URI gets a 400 page instead of a redirect (D4); this raises the
        matching :class:`OAuthError`. Nothing is granted: the consent page is only fetched.
        """
        url = self.authorization_url(self.new_state(), self.new_code_verifier())
        response = self._send("GET", url, headers={"Accept": "text/html"})
        if response.status_code < 400:
            return
        text = response.text
        for error in _REGISTRATION_ERRORS:
            if error in text:
                raise OAuthError(error, status=response.status_code, redirect_uri=self.redirect_uri)
        raise self._error(response)

    # -- the token endpoint ------------------------------------------------------------------
    def exchange_code(self, code: str, code_verifier: str) -> TokenSet:
        """Trade an authorization code for tokens (exchange it at once: codes live 60 s, D5)."""
        return self._token_request(prepare_token_request(
            "authorization_code", code=code, code_verifier=code_verifier, redirect_uri=self.redirect_uri,
            client_id=self.client_id, client_secret=self._client_secret))

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new token pair; the old refresh token is dead afterwards (D2)."""
        return self._token_request(prepare_token_request(
            "refresh_token", refresh_token=refresh_token,
            client_id=self.client_id, client_secret=self._client_secret))

    def revoke(self, access_token: str) -> None:
        """Revoke the whole grant (§1.4). A 2xx or a 401 (already dead) both count as done (D10)."""
        response = self._send("DELETE", self.endpoints.login("/token"), headers=_bearer(access_token))
        if response.status_code < 300 or response.status_code == 401:
            return
        raise self._error(response)

    def check(self, access_token: str) -> bool:
        """Whether the login host still accepts ``access_token``; reads the status only (D11)."""
        response = self._send("GET", self.endpoints.login("/token/check"), headers=_bearer(access_token))
        if response.status_code < 300:
            return True
        if response.status_code in (401, 403):
            return False
        raise self._error(response)

    # -- plumbing -----------------------------------------------------------------------------
    def _token_request(self, form: str) -> TokenSet:
        response = self._send("POST", self.endpoints.login("/token"), content=form.encode(),
                              headers=FORM_HEADERS)
        if response.status_code >= 300:
            raise self._error(response)
        try:
            data = response.json()
            return TokenSet.from_json(data, requested_scope=self.scopes)
        except (ValueError, AttributeError) as exc:
            raise UnexpectedResponse("the token endpoint sent no usable token",
                                     status=response.status_code) from exc

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the Infomaniak login host did not answer in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"the Infomaniak login host is not reachable ({type(exc).__name__})"
                                      ) from exc

    def _error(self, response: httpx.Response) -> Exception:
        """The error of a refused login-host reply: OAuth errors at any status (D3), 5xx transient."""
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):  # an API-style envelope, e.g. a 401 on /token
            error = error.get("code")
        if response.status_code >= 500 or response.status_code == 429:
            return UpstreamUnavailable(f"the login host answered {response.status_code}",
                                       status=response.status_code, code=error if isinstance(error, str)
                                       else None)
        if not isinstance(error, str) or not error:
            match = re.search(r"\b(invalid_[a-z_]+|access_denied|unsupported_[a-z_]+)\b", response.text)
            error = match.group(1) if match else f"http_{response.status_code}"
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        reason = body.get("reason") if isinstance(body, dict) else None
        cls = InvalidGrant if error == "invalid_grant" else OAuthError
        return cls(error, description, reason=str(reason) if reason else None,
                   status=response.status_code, redirect_uri=self.redirect_uri)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
