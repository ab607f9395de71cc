"""One live session per connected account: its Infomaniak client and its caches.

Sessions are created on an account's first DAV request and shared by all requests of that
account (the client pools connections; the token provider single-flights refreshes). They are
dropped when an account is removed, reconnected or disconnected, so nothing of one account ever
serves another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ikdav.dav.cache import CacheSettings, KDriveCache
from ikdav.dav.mail_index import MailCache
from ikdav.dav.sidecar import SidecarStore
from ikdav.infomaniak import InfomaniakClient


@dataclass
class AccountSession:
    """What the provider needs to serve one account."""

    account_id: int
    client: InfomaniakClient
    kdrive_cache: KDriveCache
    mail_cache: MailCache
    sidecar: SidecarStore

    def close(self) -> None:
        self.client.close()
        self.sidecar.clear()


class AccountSessions:
    """Thread-safe registry of :class:`AccountSession`, keyed by account id."""

    def __init__(self, make_client: Callable[[int], InfomaniakClient], cache_settings: CacheSettings) -> None:
        self._make_client = make_client
        self._cache_settings = cache_settings
        self._sessions: dict[int, AccountSession] = {}
        self._lock = threading.Lock()

    def get(self, account_id: int) -> AccountSession:
        with self._lock:
            session = self._sessions.get(account_id)
            if session is None:
                session = AccountSession(account_id, self._make_client(account_id),
                                         KDriveCache(self._cache_settings), MailCache(self._cache_settings),
                                         SidecarStore())
                self._sessions[account_id] = session
            return session

    def drop(self, account_id: int) -> None:
        with self._lock:
            session = self._sessions.pop(account_id, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
