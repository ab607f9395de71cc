"""Who is asking: HTTP Basic with app passwords, and a brake on password guessing.

:class:`AppPasswordDomainController` is WsgiDAV's domain controller: the user name is the
account e-mail, the password one of its app passwords (scrypt hashes; verified pairs cached
briefly). :class:`LoginThrottle` and :func:`throttle_middleware` stop guessing: after repeated
failures from one address, or for one user from one address, further attempts get 429 with a
growing ``Retry-After`` without the password even being checked. The right password from
another address is never locked out.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wsgidav.dc.base_dc import BaseDomainController

from ikdav.accounts.passwords import VerifiedCache, VerifiedLogin
from ikdav.accounts.store import AccountStore

ENVIRON_ACCOUNT = "ikdav.account_id"
ENVIRON_SERVICES = "ikdav.services"  # the bundle of collaborators, put in the WsgiDAV config


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Counts failed logins per address and per (user, address); thread-safe.

    After ``free_attempts`` failures a key is blocked for ``base_delay * 2**k`` seconds (capped
    at ``max_delay``), k growing with each further failure. Failures are forgotten after
    ``window`` seconds of quiet, and a success clears the (user, address) pair.
    """

    def __init__(self, *, per_pair: int = 5, per_address: int = 20, base_delay: float = 1.0,
                 max_delay: float = 900.0, window: float = 900.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Failures] = {}

    def _entry(self, key: tuple[str, str], now: float) -> _Failures:
        entry = self._entries.get(key)
        if entry is None or (now - entry.last > self.window and now >= entry.blocked_until):
            entry = _Failures()
            self._entries[key] = entry
        return entry

    def retry_after(self, user: str, address: str) -> float:
        """Seconds this attempt must wait (0 = go ahead)."""
        now = self.clock()
        with self._lock:
            waits = [self._entry(key, now).blocked_until - now for key in self._keys(user, address)]
        return max(0.0, *waits)

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._entries) > self.max_entries:
                self._evict(now)
            for key, free in zip(self._keys(user, address), (self.per_pair, self.per_address), strict=True):
                entry = self._entry(key, now)
                entry.count += 1
                entry.last = now
                if entry.count >= free:
                    delay = min(self.max_delay, self.base_delay * 2 ** (entry.count - free))
                    entry.blocked_until = now + delay

    def _evict(self, now: float) -> None:
        """Make room without forgetting live blocks: drop quiet entries, then the oldest half.

        Clearing everything would let someone who fills the table with made-up user names wipe
        the penalties of a guessing attack in progress.
        """
        quiet = [key for key, entry in self._entries.items()
                 if now - entry.last > self.window and now >= entry.blocked_until]
        for key in quiet:
            del self._entries[key]
        if len(self._entries) > self.max_entries // 2:
            by_age = sorted(self._entries.items(), key=lambda item: max(item[1].last, item[1].blocked_until))
            for key, _ in by_age[: len(by_age) // 2]:
                del self._entries[key]

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._entries.pop(("pair", f"{user.lower()}\0{address}"), None)

    @staticmethod
    def _keys(user: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("pair", f"{user.lower()}\0{address}"), ("address", address)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from a Basic header; ``None`` if absent, ``ValueError`` if malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("the Basic credentials are not valid base64 UTF-8") from exc
    user, colon, password = decoded.partition(":")
    if not colon:
        raise ValueError("the Basic credentials have no ':' between user name and password")
    return user, password


def client_address(environ: dict[str, Any]) -> str:
    return str(environ.get("REMOTE_ADDR") or "unknown")


class AppPasswordDomainController(BaseDomainController):
    """WsgiDAV domain controller: Basic auth against the account store's app passwords.

    MUST: refuse anything but a live app password of the account named by the user name, also
    when another process revoked it a moment ago (a cache hit still checks that the password row
    exists: one indexed lookup instead of a KDF run).
    SHOULD: answer repeated requests fast (verified pairs are cached for the cache's ``ttl``) and
    record when the account was last used (:meth:`AccountStore.touch` throttles the writes).
    The account id is put into ``environ["ikdav.account_id"]`` for the provider.
    """

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        services = config[ENVIRON_SERVICES]
        self.store: AccountStore = services.store
        self.throttle: LoginThrottle = services.throttle
        self.cache: VerifiedCache = services.verified_cache

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        return "ikdav"

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False

    def basic_auth_user(self, realm: str, user_name: str, password: str, environ: dict[str, Any]) -> bool:
        address = client_address(environ)
        login = self.cache.get(user_name, password)
        if login is not None and not self.store.app_password_alive(login.account_id, login.password_id):
            # Revoked or removed by another process (``ikdav accounts remove``, another instance).
            self.cache.forget(user_name, password)
            login = None
        if login is None:
            with self.cache.checking(user_name, password):
                login = self.cache.get(user_name, password)  # verified meanwhile by a parallel request
                if login is None:
                    match = self.store.verify_app_password(user_name, password)
                    if match is None:
                        self.throttle.failed(user_name, address)
                        return False
                    login = VerifiedLogin(match.account.id, match.password_id)
                    self.cache.put(user_name, password, login)
        self.throttle.succeeded(user_name, address)
        self.store.touch(login.account_id)
        environ[ENVIRON_ACCOUNT] = login.account_id
        notes = environ.get("ikdav.request_notes")
        if isinstance(notes, dict):
            notes["user"] = user_name
        return True


def throttle_middleware(app: Callable[..., Iterable[bytes]], throttle: LoginThrottle,
                        ) -> Callable[..., Iterable[bytes]]:
    """Answer 429 to throttled credentials and 400 to malformed ones, before any hash is computed."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
        except ValueError as exc:
            return plain(start_response, 400, f"Bad credentials: {exc}.\n")
        if credentials is not None:
            wait = throttle.retry_after(credentials[0], client_address(environ))
            if wait > 0:
                seconds = str(int(wait) + 1)
                return plain(start_response, 429,
                             f"Too many failed logins; try again in {seconds} seconds.\n",
                             [("Retry-After", seconds)])
        return app(environ, start_response)

    return middleware


def plain(start_response: Callable[..., Any], status: int, text: str,
          headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """A short plain-text response (errors a person reads in a client's log)."""
    from http import HTTPStatus

    body = text.encode("utf-8")
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                    *(headers or [])])
    return [body]
