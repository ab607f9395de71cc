"""Access tokens on demand for a stored account, refreshed once at a time everywhere.

:class:`AccountTokenProvider` implements the client library's ``TokenProvider`` protocol on top
of the account store. A refresh is single-flight within a process (a lock per account) and
across processes sharing the database (``BEGIN IMMEDIATE`` around read-refresh-write): whoever
gets the write lock second sees the new tokens and does not refresh again. The rotated refresh
token is committed before the new access token is handed out, because the old one is dead as
soon as the login host answered (D2).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ikdav.accounts.store import STATUS_RECONNECT, AccountStore, StoredTokens
from ikdav.infomaniak.errors import InvalidGrant, OAuthError, ReconnectRequired, UpstreamUnavailable
from ikdav.infomaniak.oauth import OAuthClient
from ikdav.infomaniak.tokens import same_token

log = logging.getLogger("ikdav.accounts.tokens")

REFRESH_MARGIN = 60.0  # seconds before expiry (§1.3: min(60 s, expires_in / 2))


class AccountTokenProvider:
    """``provider(stale=None) -> access token`` for one account of the store.

    MUST raise :class:`ReconnectRequired` (with a message naming the connect page) when the
    account needs reconnecting. SHOULD refresh ahead of expiry; MUST keep the tokens on network
    errors and 5xx; MUST mark the account ``reconnect_required`` on ``invalid_grant``.
    """

    def __init__(self, store: AccountStore, account_id: int, oauth: OAuthClient | None, *,
                 reconnect_hint: str = "open the ikdav connect page and reconnect the account",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.account_id = account_id
        self.oauth = oauth
        self.reconnect_hint = reconnect_hint
        self.clock = clock
        self._lock = threading.Lock()

    def _reconnect_error(self, why: str) -> ReconnectRequired:
        account = self.store.get(self.account_id)
        who = account.email if account else f"account {self.account_id}"
        return ReconnectRequired(
            why, user_message=f"The Infomaniak connection of {who} must be renewed ({why}): "
                              f"{self.reconnect_hint}.")

    def _due(self, tokens: StoredTokens, stale: str | None) -> bool:
        """Whether these stored tokens need a refresh for this caller."""
        if stale is not None:
            return same_token(stale, tokens.access_token)
        if tokens.expires_at is None:
            return False
        lifetime = max(0.0, tokens.expires_at - tokens.updated_at)
        return self.clock() >= tokens.expires_at - min(REFRESH_MARGIN, lifetime / 2)

    def __call__(self, stale: str | None = None) -> str:
        tokens = self.store.read_tokens(self.account_id)
        self._check_usable(tokens)
        if not self._due(tokens, stale):
            assert tokens.access_token is not None
            return tokens.access_token
        with self._lock:
            return self._refresh(stale)

    def _check_usable(self, tokens: StoredTokens) -> None:
        if tokens.status == STATUS_RECONNECT or tokens.access_token is None:
            raise self._reconnect_error("Infomaniak refused the saved authorisation")

    def _refresh(self, stale: str | None) -> str:
        failure: Exception | None = None
        with self.store.transaction() as conn:
            tokens = self.store.read_tokens(self.account_id, conn)
            self._check_usable(tokens)
            assert tokens.access_token is not None
            if not self._due(tokens, stale):
                return tokens.access_token  # another thread or process refreshed meanwhile
            if tokens.refresh_token is None or self.oauth is None:
                if stale is None:
                    return tokens.access_token  # cannot refresh ahead; the server will tell
                self.store.set_status(conn, self.account_id, STATUS_RECONNECT, "token refused")
                failure = self._reconnect_error("the token was refused and cannot be refreshed")
            else:
                try:
                    fresh = self.oauth.refresh(tokens.refresh_token)
                except InvalidGrant as exc:
                    self.store.set_status(conn, self.account_id, STATUS_RECONNECT, exc.reason or exc.error)
                    failure = self._reconnect_error("the refresh token was refused")
                except (UpstreamUnavailable, OAuthError) as exc:
                    # Keep the tokens: a transient failure is not a logout.
                    expired = tokens.expires_at is not None and self.clock() >= tokens.expires_at
                    if stale is not None or expired:
                        failure = exc
                    else:
                        log.warning("token refresh for account %s failed (%s); using the current token",
                                    self.account_id, type(exc).__name__)
                        return tokens.access_token
                else:
                    self.store.write_tokens(conn, self.account_id, fresh.access_token,
                                            fresh.refresh_token or tokens.refresh_token, fresh.expires_at)
                    log.info("refreshed the access token of account %s", self.account_id)
                    return fresh.access_token
        assert failure is not None
        raise failure

    def __repr__(self) -> str:
        return f"AccountTokenProvider(account_id={self.account_id})"
