"""App passwords: generated once, shown once, stored only as a slow (scrypt) hash.

DAV clients send the password on every request, so a verified (user, password) pair is cached
for a short while under an HMAC of the pair; the plain password is never kept in memory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

# scrypt cost: ~50 ms and 16 MiB per check on a small machine; slow for an attacker,
# acceptable because verified results are cached.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
# Unambiguous characters (no 0/O, 1/l/I): easy to read off a screen and type.
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
GROUPS = 5
GROUP_LENGTH = 5  # 25 characters of a 32-symbol alphabet: 125 bits


def generate_app_password() -> str:
    """A random password such as ``k3vxa-9mzqe-...`` (five groups of five)."""
    return "-".join(
        "".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Each scrypt run holds 16 MiB; a burst of clients connecting at once (32 Finder connections, or
# many wrong passwords) would otherwise stack them up. Two at a time keeps both cores busy.
KDF_SLOTS = threading.BoundedSemaphore(2)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    with KDF_SLOTS:
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                                dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; malformed hashes never match."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        with KDF_SLOTS:
            actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p),
                                    dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class VerifiedLogin:
    """What a cached login remembers: the account and which of its app passwords matched."""

    account_id: int
    password_id: int


class VerifiedCache:
    """Remembers recently verified (user, password) pairs for ``ttl`` seconds.

    Keys are HMAC-SHA256 digests under a per-process random key, so a memory dump reveals no
    password. Revoking a password or an account in this process clears the cache; the password
    id kept with each entry lets the caller notice a revocation made by another process.
    """

    def __init__(self, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, VerifiedLogin]] = {}
        self._lock = threading.Lock()
        self._checking: dict[bytes, tuple[threading.Lock, int]] = {}  # pair -> (lock, waiters)

    def _digest(self, user: str, password: str) -> bytes:
        message = user.lower().encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, user: str, password: str) -> VerifiedLogin | None:
        """The login if this pair was verified less than ``ttl`` seconds ago."""
        digest = self._digest(user, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, login = entry
            if expires < time.monotonic():
                del self._entries[digest]
                return None
            return login

    def put(self, user: str, password: str, login: VerifiedLogin) -> None:
        digest = self._digest(user, password)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl, login)

    @contextlib.contextmanager
    def checking(self, user: str, password: str) -> Iterator[None]:
        """One slow check per pair at a time: requests that arrive together wait for the first.

        Callers look the pair up again inside the block; the first one's result is then there.
        """
        digest = self._digest(user, password)
        with self._lock:
            lock, waiters = self._checking.get(digest, (threading.Lock(), 0))
            self._checking[digest] = (lock, waiters + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, waiters = self._checking[digest]
                if waiters <= 1:
                    del self._checking[digest]
                else:
                    self._checking[digest] = (lock, waiters - 1)

    def forget(self, user: str, password: str) -> None:
        """Drop one pair (its password was revoked elsewhere)."""
        with self._lock:
            self._entries.pop(self._digest(user, password), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
