"""The account store: SQLite in ``data_dir`` with a versioned schema.

Holds connected Infomaniak accounts (tokens encrypted with :class:`TokenCipher`), their app
passwords (scrypt hashes only), pending OAuth states and connect-app sessions. Several threads
and several processes may share one database file: every connection uses WAL and a busy
timeout, and token refreshes serialise on ``BEGIN IMMEDIATE`` (see :mod:`ikdav.accounts.tokens`).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ikdav.accounts.crypto import TokenCipher
from ikdav.accounts.passwords import generate_app_password, hash_password, verify_password

STATUS_CONNECTED = "connected"
STATUS_RECONNECT = "reconnect_required"
KIND_OAUTH = "oauth"
KIND_TOKEN = "token"  # a personal API token pasted by the user

MIGRATIONS: list[str] = [
    # 1: the initial schema
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        infomaniak_user_id INTEGER,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        status_reason TEXT NOT NULL DEFAULT '',
        auth_kind TEXT NOT NULL,
        scopes TEXT NOT NULL DEFAULT '',
        access_token BLOB,
        refresh_token BLOB,
        expires_at REAL,
        token_generation INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE UNIQUE INDEX accounts_user ON accounts(infomaniak_user_id)
        WHERE infomaniak_user_id IS NOT NULL;
    CREATE TABLE app_passwords (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE INDEX app_passwords_account ON app_passwords(account_id);
    CREATE TABLE oauth_states (
        state_hash TEXT PRIMARY KEY,
        verifier BLOB NOT NULL,
        browser_hash TEXT NOT NULL,
        account_id INTEGER,
        created_at REAL NOT NULL
    );
    CREATE TABLE web_sessions (
        id_hash TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
]

LAST_USED_RESOLUTION = 60.0  # seconds: don't write last_used_at more often than this


def digest(value: str) -> str:
    """SHA-256 hex of a random secret (states, session ids): the store never keeps them in clear."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Account:
    id: int
    infomaniak_user_id: int | None
    email: str
    display_name: str
    status: str
    status_reason: str
    auth_kind: str
    scopes: str
    expires_at: float | None
    has_refresh_token: bool
    token_generation: int
    created_at: float
    updated_at: float
    last_used_at: float | None

    @property
    def connected(self) -> bool:
        return self.status == STATUS_CONNECTED


@dataclass(frozen=True)
class StoredTokens:
    access_token: str | None
    refresh_token: str | None
    expires_at: float | None
    generation: int
    status: str
    updated_at: float


@dataclass(frozen=True)
class AppPassword:
    id: int
    account_id: int
    label: str
    created_at: float
    last_used_at: float | None


@dataclass(frozen=True)
class PasswordMatch:
    """A successful app-password check: whose account, and which of its passwords matched."""

    account: Account
    password_id: int


@dataclass(frozen=True)
class PendingState:
    verifier: str
    account_id: int | None
    created_at: float


class StoreError(Exception):
    """A store operation that cannot be carried out (unknown account, taken e-mail, ...)."""


class AccountStore:
    """Thread-safe access to the SQLite account database (one connection per thread)."""

    def __init__(self, path: Path, cipher: TokenCipher) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._local = threading.local()
        self._last_used_written: dict[int, float] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # -- connections and schema --------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: one writer at a time across threads and processes."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
        if self.path.exists():
            self.path.chmod(0o600)

    @property
    def schema_version(self) -> int:
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])

    # -- accounts ------------------------------------------------------------------------------
    @staticmethod
    def _account(row: sqlite3.Row) -> Account:
        return Account(
            id=row["id"], infomaniak_user_id=row["infomaniak_user_id"], email=row["email"],
            display_name=row["display_name"], status=row["status"], status_reason=row["status_reason"],
            auth_kind=row["auth_kind"], scopes=row["scopes"], expires_at=row["expires_at"],
            has_refresh_token=row["refresh_token"] is not None,
            token_generation=row["token_generation"], created_at=row["created_at"],
            updated_at=row["updated_at"], last_used_at=row["last_used_at"],
        )

    def save_account(self, *, email: str, infomaniak_user_id: int | None, display_name: str,
                     auth_kind: str, scopes: str, access_token: str, refresh_token: str | None,
                     expires_at: float | None) -> Account:
        """Create the account, or reconnect the existing one with the same user id or e-mail."""
        now = time.time()
        with self.transaction() as conn:
            row = None
            if infomaniak_user_id is not None:
                row = conn.execute("SELECT id FROM accounts WHERE infomaniak_user_id = ?",
                                   (infomaniak_user_id,)).fetchone()
            if row is None:
                row = conn.execute("SELECT id FROM accounts WHERE email = ?", (email,)).fetchone()
            values: dict[str, Any] = {
                "email": email, "user_id": infomaniak_user_id, "name": display_name,
                "kind": auth_kind, "scopes": scopes, "access": self.cipher.encrypt(access_token),
                "refresh": self.cipher.encrypt(refresh_token), "expires": expires_at, "now": now,
                "status": STATUS_CONNECTED,
            }
            if row is None:
                cursor = conn.execute(
                    "INSERT INTO accounts (email, infomaniak_user_id, display_name, status, auth_kind, "
                    "scopes, access_token, refresh_token, expires_at, created_at, updated_at) VALUES "
                    "(:email, :user_id, :name, :status, :kind, :scopes, :access, :refresh, :expires, "
                    ":now, :now)", values)
                account_id = int(cursor.lastrowid or 0)
            else:
                account_id = int(row["id"])
                values["id"] = account_id
                conn.execute(
                    "UPDATE accounts SET email = :email, infomaniak_user_id = :user_id, "
                    "display_name = :name, status = :status, status_reason = '', auth_kind = :kind, "
                    "scopes = :scopes, access_token = :access, refresh_token = :refresh, "
                    "expires_at = :expires, token_generation = token_generation + 1, "
                    "updated_at = :now WHERE id = :id", values)
        account = self.get(account_id)
        assert account is not None
        return account

    def get(self, account_id: int) -> Account | None:
        row = self.connection().execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return self._account(row) if row else None

    def by_email(self, email: str) -> Account | None:
        row = self.connection().execute("SELECT * FROM accounts WHERE email = ?", (email,)).fetchone()
        return self._account(row) if row else None

    def list(self) -> list[Account]:
        rows = self.connection().execute("SELECT * FROM accounts ORDER BY email").fetchall()
        return [self._account(row) for row in rows]

    def remove(self, account_id: int) -> bool:
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
        return cursor.rowcount > 0

    def mark_reconnect_required(self, account_id: int, reason: str) -> None:
        with self.transaction() as conn:
            self.set_status(conn, account_id, STATUS_RECONNECT, reason)

    @staticmethod
    def set_status(conn: sqlite3.Connection, account_id: int, status: str, reason: str) -> None:
        """Change an account's status; call inside :meth:`transaction`."""
        conn.execute("UPDATE accounts SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
                     (status, reason, time.time(), account_id))

    def touch(self, account_id: int) -> None:
        """Record use, at most once a minute per account (DAV clients call a lot)."""
        now = time.time()
        if now - self._last_used_written.get(account_id, 0.0) < LAST_USED_RESOLUTION:
            return
        self._last_used_written[account_id] = now
        self.connection().execute("UPDATE accounts SET last_used_at = ? WHERE id = ?", (now, account_id))

    # -- tokens --------------------------------------------------------------------------------
    def read_tokens(self, account_id: int, conn: sqlite3.Connection | None = None) -> StoredTokens:
        row = (conn or self.connection()).execute(
            "SELECT access_token, refresh_token, expires_at, token_generation, status, updated_at "
            "FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise StoreError(f"account {account_id} does not exist")
        return StoredTokens(self.cipher.decrypt(row["access_token"]),
                            self.cipher.decrypt(row["refresh_token"]),
                            row["expires_at"], row["token_generation"], row["status"],
                            row["updated_at"])

    def write_tokens(self, conn: sqlite3.Connection, account_id: int, access_token: str,
                     refresh_token: str | None, expires_at: float | None) -> None:
        """Store a refreshed pair; call inside :meth:`transaction`."""
        conn.execute(
            "UPDATE accounts SET access_token = ?, refresh_token = ?, expires_at = ?, "
            "token_generation = token_generation + 1, status = ?, status_reason = '', updated_at = ? "
            "WHERE id = ?",
            (self.cipher.encrypt(access_token), self.cipher.encrypt(refresh_token), expires_at,
             STATUS_CONNECTED, time.time(), account_id))

    def clear_tokens(self, account_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE accounts SET access_token = NULL, refresh_token = NULL, status = ?, "
                         "status_reason = 'disconnected', updated_at = ? WHERE id = ?",
                         (STATUS_RECONNECT, time.time(), account_id))

    def rotate_key(self, new_cipher: TokenCipher) -> int:
        """Re-encrypt every token under ``new_cipher``'s first key; returns the rows rewritten.

        ``new_cipher`` must still hold the old key(s) so the current values can be opened.
        """
        count = 0
        with self.transaction() as conn:
            rows = conn.execute("SELECT id, access_token, refresh_token FROM accounts").fetchall()
            for row in rows:
                conn.execute("UPDATE accounts SET access_token = ?, refresh_token = ? WHERE id = ?",
                             (new_cipher.rotate(row["access_token"]), new_cipher.rotate(row["refresh_token"]),
                              row["id"]))
                count += 1
            states = conn.execute("SELECT state_hash, verifier FROM oauth_states").fetchall()
            for state in states:
                conn.execute("UPDATE oauth_states SET verifier = ? WHERE state_hash = ?",
                             (new_cipher.rotate(state["verifier"]), state["state_hash"]))
        self.cipher = new_cipher
        return count

    # -- app passwords ---------------------------------------------------------------------------
    def create_app_password(self, account_id: int, label: str,
                            plain: str | None = None) -> tuple[AppPassword, str]:
        """A new app password; the plain text is returned once and never stored.

        ``plain`` fixes the password (``ikdav demo --password``); otherwise a random one is made.
        """
        plain = plain or generate_app_password()
        now = time.time()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is None:
                raise StoreError(f"account {account_id} does not exist")
            cursor = conn.execute(
                "INSERT INTO app_passwords (account_id, label, hash, created_at) VALUES (?, ?, ?, ?)",
                (account_id, label.strip()[:100] or "app password", hash_password(plain), now))
        return AppPassword(int(cursor.lastrowid or 0), account_id, label, now, None), plain

    def app_passwords(self, account_id: int) -> list[AppPassword]:
        rows = self.connection().execute(
            "SELECT id, account_id, label, created_at, last_used_at FROM app_passwords "
            "WHERE account_id = ? ORDER BY created_at", (account_id,)).fetchall()
        return [AppPassword(r["id"], r["account_id"], r["label"], r["created_at"], r["last_used_at"])
                for r in rows]

    def revoke_app_password(self, account_id: int, password_id: int) -> bool:
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM app_passwords WHERE id = ? AND account_id = ?",
                                  (password_id, account_id))
        return cursor.rowcount > 0

    def verify_app_password(self, email: str, password: str) -> PasswordMatch | None:
        """The account and the id of the app password that matches (slow: scrypt per stored hash).

        Every stored hash is checked, and an unknown e-mail costs one check too, so the time taken
        reveals neither which e-mails exist nor which of several passwords matched.
        """
        account = self.by_email(email)
        if account is None:
            # Same work as a real check, so timing does not reveal which e-mails exist.
            verify_password(password, _DUMMY_HASH)
            return None
        rows = self.connection().execute("SELECT id, hash FROM app_passwords WHERE account_id = ?",
                                         (account.id,)).fetchall()
        matched = None
        for row in rows:
            if verify_password(password, row["hash"]):
                matched = int(row["id"])
        if not rows:
            verify_password(password, _DUMMY_HASH)
        if matched is None:
            return None
        self.connection().execute("UPDATE app_passwords SET last_used_at = ? WHERE id = ?",
                                  (time.time(), matched))
        return PasswordMatch(account, matched)

    def check_app_password(self, email: str, password: str) -> Account | None:
        """The account if ``password`` is one of its app passwords (see :meth:`verify_app_password`)."""
        match = self.verify_app_password(email, password)
        return match.account if match else None

    def app_password_alive(self, account_id: int, password_id: int) -> bool:
        """Whether this app password still exists: one indexed lookup, cheap enough per request.

        Lets a cached login notice a revocation or removal made by another process.
        """
        row = self.connection().execute("SELECT 1 FROM app_passwords WHERE id = ? AND account_id = ?",
                                        (password_id, account_id)).fetchone()
        return row is not None

    # -- OAuth states ------------------------------------------------------------------------------
    def put_state(self, state: str, verifier: str, browser_binding: str,
                  account_id: int | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM oauth_states WHERE created_at < ?", (time.time() - 3600,))
            conn.execute("INSERT INTO oauth_states (state_hash, verifier, browser_hash, account_id, "
                         "created_at) VALUES (?, ?, ?, ?, ?)",
                         (digest(state), self.cipher.encrypt(verifier), digest(browser_binding),
                          account_id, time.time()))

    def pop_state(self, state: str, browser_binding: str, max_age: float = 600.0) -> PendingState | None:
        """Take a state exactly once; ``None`` if unknown, replayed, expired or from another browser."""
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM oauth_states WHERE state_hash = ?", (digest(state),)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM oauth_states WHERE state_hash = ?", (digest(state),))
        if row["browser_hash"] != digest(browser_binding) or row["created_at"] < time.time() - max_age:
            return None
        verifier = self.cipher.decrypt(row["verifier"])
        assert verifier is not None
        return PendingState(verifier, row["account_id"], row["created_at"])

    # -- connect-app sessions ----------------------------------------------------------------------
    def create_session(self, session_id: str, account_id: int, csrf_token: str, lifetime: float) -> None:
        now = time.time()
        with self.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE expires_at < ?", (now,))
            conn.execute("INSERT INTO web_sessions (id_hash, account_id, csrf_token, created_at, "
                         "expires_at) VALUES (?, ?, ?, ?, ?)",
                         (digest(session_id), account_id, csrf_token, now, now + lifetime))

    def session(self, session_id: str) -> tuple[int, str] | None:
        """(account id, CSRF token) of a live session."""
        row = self.connection().execute(
            "SELECT account_id, csrf_token FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
            (digest(session_id), time.time())).fetchone()
        return (row["account_id"], row["csrf_token"]) if row else None

    def end_session(self, session_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (digest(session_id),))


_DUMMY_HASH = hash_password("timing-equaliser")
