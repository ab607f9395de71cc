"""Shared emulator state: who exists, which tokens are alive, what was asked of each host.

kDrive and Mail keep their own stores (``kdrive_store`` and ``mail_store``); this module holds
what every host needs: users, OAuth clients, personal tokens, grants, and the request log.
"""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ikdav.emulator.faults import Knobs
from ikdav.emulator.web import ApiError, Request, Response, redirect

# Scope names the emulator knows, mapped to the canonical name it checks (§1.2, D9).
SCOPE_ALIASES: dict[str, str] = {
    "user_info": "user_info",
    "kdrive": "kdrive",
    "drive": "kdrive",
    "mail": "mail",
    "workspace:mail": "mail",
    "user_email": "user_email",
    "openid": "openid",
    "profile": "profile",
    "email": "email",
}

ACCESS_TOKEN_TTL = 7200  # seconds, for offline grants (D7)


def canonical_scopes(scope_text: str | list[str] | set[str] | frozenset[str]) -> frozenset[str] | None:
    """Canonical scope set, or ``None`` if any scope is unknown (→ ``invalid_scope``)."""
    names = scope_text.split() if isinstance(scope_text, str) else list(scope_text)
    result = set()
    for name in names:
        canonical = SCOPE_ALIASES.get(name)
        if canonical is None:
            return None
        result.add(canonical)
    return frozenset(result)


@dataclass
class User:
    id: int
    email: str
    first_name: str
    last_name: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scopes: frozenset[str]  # canonical scopes this client may ask for


@dataclass
class Grant:
    """One authorisation: the code flow's outcome, or a personal token. Revocation kills it."""

    id: str
    user_id: int
    client_id: str | None
    scopes: frozenset[str]
    scope_text: str
    offline: bool
    kind: str = "oauth"  # "oauth" or "pat"
    alive: bool = True
    code: str | None = None  # the authorization code that produced it, if any


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float | None

    @property
    def user_id(self) -> int:
        return self.grant.user_id

    def has_scope(self, canonical: str) -> bool:
        return canonical in self.grant.scopes

    def valid(self, now: float | None = None) -> bool:
        if not self.grant.alive:
            return False
        return self.expires_at is None or (now or time.time()) < self.expires_at


@dataclass
class RefreshToken:
    token: str
    grant: Grant
    alive: bool = True


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_id: int
    scopes: frozenset[str]
    scope_text: str
    code_challenge: str
    offline: bool
    expires_at: float
    used: bool = False


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class Identity:
    """Users, clients, grants and tokens. All methods are thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[int, User] = {}
        self.clients: dict[str, OAuthClient] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.counters: Counter[str] = Counter()  # "token_issued", "refresh", "refresh_failed", ...

    # -- registry ----------------------------------------------------------------------------
    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.id] = user
        return user

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str],
                   scopes: str = "user_info kdrive mail user_email openid profile email") -> OAuthClient:
        canonical = canonical_scopes(scopes)
        if canonical is None:
            raise ValueError(f"unknown scope in {scopes!r}")
        client = OAuthClient(client_id, client_secret, list(redirect_uris), canonical)
        with self.lock:
            self.clients[client_id] = client
        return client

    def user_by_email(self, email: str) -> User | None:
        with self.lock:
            for user in self.users.values():
                if user.email.lower() == email.lower():
                    return user
        return None

    # -- grants and tokens -------------------------------------------------------------------
    def new_grant(self, user_id: int, scope_text: str, *, client_id: str | None = None,
                  offline: bool = False, kind: str = "oauth") -> Grant:
        scopes = canonical_scopes(scope_text)
        if scopes is None:
            raise ValueError(f"unknown scope in {scope_text!r}")
        grant = Grant(new_secret("g-"), user_id, client_id, scopes, scope_text, offline, kind)
        with self.lock:
            self.grants[grant.id] = grant
        return grant

    def issue_access(self, grant: Grant, ttl: float | None) -> AccessToken:
        token = AccessToken(new_secret("at-"), grant, None if ttl is None else time.time() + ttl)
        with self.lock:
            self.access_tokens[token.token] = token
            self.counters["token_issued"] += 1
        return token

    def issue_refresh(self, grant: Grant) -> RefreshToken:
        token = RefreshToken(new_secret("rt-"), grant)
        with self.lock:
            self.refresh_tokens[token.token] = token
        return token

    def personal_token(self, user_id: int, scope_text: str = "user_info drive workspace:mail",
                       token: str | None = None) -> str:
        """A non-expiring personal API token (PAT) for ``user_id``."""
        grant = self.new_grant(user_id, scope_text, kind="pat")
        access = AccessToken(token or new_secret("pat-"), grant, None)
        with self.lock:
            self.access_tokens[access.token] = access
        return access.token

    def lookup(self, token: str | None) -> AccessToken | None:
        """The access token if it exists, is unexpired and its grant alive."""
        if not token:
            return None
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None or not access.valid():
            return None
        return access

    def revoke_grant(self, grant: Grant) -> None:
        with self.lock:
            grant.alive = False
            for refresh in self.refresh_tokens.values():
                if refresh.grant is grant:
                    refresh.alive = False

    def expire_access_tokens(self, user_id: int | None = None) -> int:
        """Test helper: make every live, expiring access token (of one user) expire now.

        Tokens issued without a lifetime (personal tokens, non-offline grants) are left alone.
        """
        now = time.time()
        count = 0
        with self.lock:
            for access in self.access_tokens.values():
                if user_id is None or access.user_id == user_id:
                    if access.expires_at is not None and access.expires_at > now:
                        access.expires_at = now - 1
                        count += 1
        return count


@dataclass
class RequestRecord:
    at: float
    role: str
    method: str
    path: str
    query: str
    status: int
    authorization: bool
    duration_ms: float


@dataclass
class RequestLog:
    """Every request each host answered, newest last (bounded), with per-role counters."""

    capacity: int = 100_000
    records: deque[RequestRecord] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)
            while len(self.records) > self.capacity:
                self.records.popleft()

    def clear(self) -> None:
        with self.lock:
            self.records.clear()

    def find(self, role: str | None = None, method: str | None = None,
             path_contains: str | None = None) -> list[RequestRecord]:
        with self.lock:
            items = list(self.records)
        return [r for r in items
                if (role is None or r.role == role)
                and (method is None or r.method == method)
                and (path_contains is None or path_contains in r.path)]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            items = list(self.records)
        by_role = Counter(r.role for r in items)
        return {"total": len(items), "by_role": dict(by_role),
                "content_with_authorization": sum(1 for r in items
                                                  if r.role == "content" and r.authorization)}


class ResponseError(Exception):
    """Raised by a helper that wants a specific non-envelope response (e.g. a 302)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class EmulatorState:
    """Everything the host modules share. ``urls`` is filled in when the servers bind."""

    def __init__(self, knobs: Knobs, blob_dir: Path | None = None) -> None:
        self.identity = Identity()
        self.knobs = knobs
        self.log = RequestLog()
        self.urls: dict[str, str] = {}
        self._own_blob_dir = blob_dir is None
        self.blob_dir = Path(blob_dir or tempfile.mkdtemp(prefix="ikdav-emulator-"))
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        # Filled by the host modules' install() functions.
        self.kdrive: Any = None
        self.mail: Any = None

    def authenticate(self, request: Request, scope: str | None = None) -> AccessToken:
        """The request's access token, or the contract's refusal (§2, §5.8, D9, D34).

        ``scope`` is the canonical scope the route needs: ``user_info`` (401 without it),
        ``kdrive`` or ``mail`` (403 ``access_denied`` without it).
        """
        access = self.identity.lookup(request.bearer)
        if access is None:
            if request.role == "mail" and self.knobs.get("mail_auth_redirect"):
                login = self.urls.get("login", "")
                raise ResponseError(redirect(f"{login}/login?redirect=mail"))
            raise ApiError(401, "not_authorized", "Authentication required")
        if scope == "user_info" and not access.has_scope("user_info"):
            raise ApiError(401, "not_authorized", "The token does not grant user_info")
        if scope in ("kdrive", "mail") and not access.has_scope(scope):
            raise ApiError(403, "access_denied", f"The token does not grant the {scope} scope")
        return access
