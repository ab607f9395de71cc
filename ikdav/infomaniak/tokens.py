"""Where a :class:`~.http.Transport` gets its access token, and how a refresh happens only once.

The protocol is one call: ``provider(stale=None) -> access_token``. A caller that just got a 401
passes the token that was refused as ``stale``; the provider refreshes only if its current token
is still that one. So when sixteen threads hit a 401 together, the first refreshes and the other
fifteen get the new token without asking the login host again (§1.3).

Two providers ship here: :class:`StaticTokenProvider` for personal tokens and
:class:`MemoryTokenProvider` for OAuth tokens held in memory. The accounts layer implements a
persistent, cross-process provider on the same protocol.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ikdav.infomaniak.errors import InvalidGrant, OAuthError, ReconnectRequired, UpstreamUnavailable
from ikdav.infomaniak.models import TokenSet

if TYPE_CHECKING:
    from ikdav.infomaniak.oauth import OAuthClient

log = logging.getLogger("ikdav.infomaniak.tokens")


@runtime_checkable
class TokenProvider(Protocol):
    """Hands out access tokens for one account.

    MUST return a token that is valid as far as the provider knows (refreshing ahead of expiry
    when it can). When ``stale`` is given, the caller got a 401 with that token: the provider MUST
    refresh unless its current token already differs from ``stale`` (then it returns the current
    one), and MUST raise :class:`~.errors.ReconnectRequired` when no refresh is possible. It MUST be
    thread-safe and SHOULD run at most one refresh at a time per account.
    """

    def __call__(self, stale: str | None = None) -> str: ...


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens."""
    if a is None or b is None:
        return a is b
    return hmac.compare_digest(a.encode(), b.encode())


class StaticTokenProvider:
    """A personal API token (or any non-expiring token): nothing to refresh, so a 401 is final."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("an empty token")
        self._token = token

    def __call__(self, stale: str | None = None) -> str:
        if stale is not None and same_token(stale, self._token):
            raise ReconnectRequired(
                "the personal token was refused",
                user_message="Infomaniak no longer accepts this personal API token (revoked, expired "
                             "or lacking a scope): create a new one in the Infomaniak Manager and "
                             "connect again.")
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(***)"


class MemoryTokenProvider:
    """OAuth tokens in memory, refreshed on demand with a single flight per provider.

    - refreshes ``min(60 s, expires_in / 2)`` before expiry, and when a 401 reports the current
      token as stale;
    - keeps the old refresh token when the reply carries none;
    - calls ``on_refresh(token_set)`` BEFORE handing out the new access token, so a caller can
      persist the rotated refresh token first (the old one is dead from now on, D2); if the
      callback raises, the call fails but the new pair is kept in memory, the only valid one;
    - ``invalid_grant`` → :class:`~.errors.ReconnectRequired`, and every later call fails the same
      way; network errors and 5xx keep the tokens (the current access token is used while it lasts).
    """

    def __init__(
        self,
        oauth_client: OAuthClient,
        token_set: TokenSet,
        *,
        on_refresh: Callable[[TokenSet], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oauth = oauth_client
        self._tokens = token_set
        self._on_refresh = on_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._dead: ReconnectRequired | None = None
        self.refresh_count = 0

    @property
    def token_set(self) -> TokenSet:
        return self._tokens

    def __call__(self, stale: str | None = None) -> str:
        with self._lock:
            current = self._tokens
            if self._dead is not None:
                raise self._dead
            if stale is not None and not same_token(stale, current.access_token):
                return current.access_token  # someone else already refreshed
            if stale is None and not current.refresh_due(self._clock()):
                return current.access_token
            if not current.refresh_token:
                if stale is None:
                    return current.access_token  # cannot refresh ahead; the server will tell
                raise ReconnectRequired("the token was refused and there is no refresh token")
            return self._refresh(current, must=stale is not None)

    def _refresh(self, current: TokenSet, *, must: bool) -> str:
        assert current.refresh_token is not None
        try:
            fresh = self._oauth.refresh(current.refresh_token)
        except InvalidGrant as exc:
            self._dead = ReconnectRequired(f"the refresh token was refused ({exc.reason or exc.error})",
                                           status=exc.status, code=exc.error)
            raise self._dead from exc
        except (UpstreamUnavailable, OAuthError) as exc:
            # Keep the tokens: a transient failure (or a configuration error) is not a logout.
            if must or current.expired(self._clock()):
                raise
            log.warning("token refresh failed (%s); using the current token while it lasts", exc)
            return current.access_token
        if not fresh.refresh_token:
            fresh = fresh.with_refresh_token(current.refresh_token)
        self._tokens = fresh  # the old refresh token is dead: never lose the new one
        self.refresh_count += 1
        if self._on_refresh is not None:
            self._on_refresh(fresh)
        return fresh.access_token

    def __repr__(self) -> str:
        return f"MemoryTokenProvider(expires_at={self._tokens.expires_at!r})"
