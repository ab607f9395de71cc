"""HTTP plumbing shared by every Infomaniak call: URLs, settings, envelopes, retries, auth.

One :class:`Transport` per account holds a pooled ``httpx.Client`` (keep-alive, timeouts, never
following redirects) and a token provider. It unwraps the ``result``/``data`` envelope (§3.1),
turns error replies into :mod:`.errors` classes (D1), and applies the retry rules of §3.4/§3.5:

- 429: wait ``Retry-After``, else ``X-RateLimit-Reset``, else 60 s (plus jitter), unless the wait
  would exceed ``max_retry_wait``, in which case :class:`~.errors.RateLimited` is raised at once;
- 5xx, 408, timeouts and connection errors: back off 0.5/1/2 s (plus jitter) and try again, but
  only for idempotent calls (GET, HEAD, upload-session status, chunk POSTs);
- 401, and any 3xx from the mail host (D34): ask the token provider for a fresh token once and
  retry once; still refused → :class:`~.errors.ReconnectRequired`.

Tokens never reach a log line: requests are logged as method, host role and path, with upload
session tokens masked and query values left out.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ikdav import __version__
from ikdav.infomaniak.errors import (
    InfomaniakError,
    RateLimited,
    ReconnectRequired,
    UnexpectedResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_from_reply,
)
from ikdav.infomaniak.models import as_int
from ikdav.infomaniak.ratelimit import TokenBucket
from ikdav.infomaniak.tokens import TokenProvider

log = logging.getLogger("ikdav.infomaniak")

MiB = 1 << 20
RECEIVE_BLOCK = 256 * 1024


def _receive_in_larger_blocks() -> None:
    """Let httpcore read responses 256 KiB at a time instead of 64 KiB.

    A large download otherwise spends about a quarter of its CPU in per-read overhead (h11 events,
    buffer joins). ``READ_NUM_BYTES`` is httpcore's own class constant for this; if a future
    version drops it, nothing changes but speed.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return
    if getattr(HTTP11Connection, "READ_NUM_BYTES", RECEIVE_BLOCK) < RECEIVE_BLOCK:
        HTTP11Connection.READ_NUM_BYTES = RECEIVE_BLOCK


_receive_in_larger_blocks()
Host = Literal["login", "api", "mail", "upload", "content"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` keeping any path prefix of ``base`` (never an absolute-path join, §0)."""
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the three Infomaniak hosts; each may carry a path prefix."""

    login_url: str = "https://login.infomaniak.com"
    api_url: str = "https://api.infomaniak.com"
    mail_url: str = "https://mail.infomaniak.com"

    def login(self, path: str) -> str:
        return join_url(self.login_url, path)

    def api(self, path: str) -> str:
        return join_url(self.api_url, path)

    def mail(self, path: str) -> str:
        return join_url(self.mail_url, path)


@dataclass(frozen=True)
class ClientSettings:
    """Tunables of the client; the defaults are what production should use."""

    timeout: float = 30.0  # seconds to wait for each read/write on a connection
    connect_timeout: float = 10.0
    max_retry_wait: float = 20.0  # longest a call may block on 429s before raising RateLimited
    rate_limit_per_minute: float = 0  # client-side pacing per account; 0 = off
    direct_upload_max: int = 20 * MiB  # larger uploads use an upload session
    chunk_size: int = 20 * MiB  # minimum chunk size of an upload session
    parallel_chunks: int = 4
    list_limit: int = 1000  # page size of listings (5..1000)
    user_agent: str = f"ikdav/{__version__}"
    retry_backoff: tuple[float, ...] = (0.5, 1.0, 2.0)  # waits before each retry of a transient failure
    default_rate_limit_wait: float = 60.0  # a 429 without Retry-After or X-RateLimit-Reset

    def __post_init__(self) -> None:
        problems = []
        if self.timeout <= 0 or self.connect_timeout <= 0:
            problems.append("timeouts must be positive")
        if not 5 <= self.list_limit <= 1000:
            problems.append(f"list_limit must be 5..1000 (the API's bounds), not {self.list_limit}")
        if self.parallel_chunks < 1:
            problems.append("parallel_chunks must be at least 1")
        if self.chunk_size < 1 or self.direct_upload_max < 0:
            problems.append("chunk_size must be positive and direct_upload_max not negative")
        if self.max_retry_wait < 0 or self.rate_limit_per_minute < 0:
            problems.append("max_retry_wait and rate_limit_per_minute must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=self.connect_timeout)


@dataclass(frozen=True)
class Envelope:
    """The unwrapped success envelope (§3.1): ``data`` plus the pagination fields that came with it."""

    data: Any
    cursor: str | None = None
    has_more: bool = False
    total: int | None = None
    pages: int | None = None
    page: int | None = None
    response_at: int | None = None
    result: str = "success"

    @classmethod
    def from_json(cls, body: Any) -> Envelope:
        if not isinstance(body, dict) or "result" not in body:
            return cls(data=body, result="plain")
        cursor = body.get("cursor")
        return cls(
            data=body.get("data"),
            cursor=str(cursor) if cursor not in (None, "") else None,
            has_more=bool(body.get("has_more")),
            total=as_int(body.get("total")),
            pages=as_int(body.get("pages")),
            page=as_int(body.get("page")),
            response_at=as_int(body.get("response_at")),
            result=str(body.get("result")),
        )


class Body:
    """A request body of known length that the transport can send again when a retry needs it.

    ``factory`` returns a fresh iterator over the bytes each time it is called. A body that is not
    ``replayable`` (a sequential stream) is sent once; failures after that are not retried.
    """

    def __init__(self, length: int, factory: Callable[[], Iterable[bytes]], *, replayable: bool = True):
        self.length = length
        self._factory = factory
        self.replayable = replayable
        self.opened = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> Body:
        return cls(len(data), lambda: iter((data,)))

    def can_send(self) -> bool:
        return self.replayable or self.opened == 0

    def open(self) -> Iterator[bytes]:
        self.opened += 1
        return self._checked(iter(self._factory()))

    def _checked(self, blocks: Iterator[bytes]) -> Iterator[bytes]:
        sent = 0
        for block in blocks:
            if not block:
                continue
            sent += len(block)
            if sent > self.length:
                raise ValueError(f"the body is longer than the announced {self.length} bytes")
            yield block
        if sent != self.length:
            raise ValueError(f"the body ended after {sent} of the announced {self.length} bytes")


_SESSION_TOKEN = re.compile(r"(/upload/session/)[^/?]+")


def _loggable(method: str, role: str, url: httpx.URL | str) -> str:
    """``METHOD role /path?keys``: no query values, upload-session tokens masked."""
    parsed = httpx.URL(str(url))
    path = _SESSION_TOKEN.sub(r"\1***", parsed.path)
    keys = sorted({k for k, _ in parsed.params.multi_items()})
    return f"{method} {role} {path}" + (f"?{'&'.join(keys)}" if keys else "")


def _jitter(wait: float) -> float:
    return random.uniform(0, min(1.0, 0.1 * wait + 0.05))


class Transport:
    """One account's connection to Infomaniak: pooled HTTP, tokens, envelopes, retries.

    MUST be shared by all threads working for one account (it is thread-safe) and closed with
    :meth:`close`. ``tokens`` is ``None`` only for unauthenticated use (e.g. the login host).
    """

    def __init__(
        self,
        endpoints: Endpoints,
        tokens: TokenProvider | None,
        settings: ClientSettings | None = None,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = endpoints
        self.tokens = tokens
        self.settings = settings or ClientSettings()
        self._sleep = sleep
        pool = max(20, self.settings.parallel_chunks * 2)
        self.client = http_client or httpx.Client(
            timeout=self.settings.httpx_timeout(),
            follow_redirects=False,
            headers={"User-Agent": self.settings.user_agent},
            limits=httpx.Limits(max_connections=pool * 2, max_keepalive_connections=pool),
        )
        # The content host gets its own client: it never sees the API host's headers or cookies.
        self.content_client = httpx.Client(
            timeout=self.settings.httpx_timeout(),
            follow_redirects=False,
            headers={"User-Agent": self.settings.user_agent},
        )
        self.bucket = (TokenBucket(self.settings.rate_limit_per_minute)
                       if self.settings.rate_limit_per_minute > 0 else None)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self.client.close()
        self.content_client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URLs ----------------------------------------------------------------------------------
    def url(self, host: Host, path: str) -> str:
        base = {"login": self.endpoints.login_url, "api": self.endpoints.api_url,
                "mail": self.endpoints.mail_url}.get(host)
        if base is None:
            raise ValueError(f"no base URL for host role {host!r}; pass an absolute URL")
        return join_url(base, path)

    # -- JSON calls ----------------------------------------------------------------------------
    def call(
        self,
        method: str,
        host: Host,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Envelope:
        """Call ``path`` on ``host`` and return the unwrapped envelope; errors raise."""
        return self.call_url(method, self.url(host, path), role=host, params=params, json=json,
                             body=body, headers=headers, idempotent=idempotent)

    def call_url(
        self,
        method: str,
        url: str,
        *,
        role: Host = "api",
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Envelope:
        """Like :meth:`call` for an absolute URL (the upload host's ``upload_url``)."""
        response = self.send(method, url, role=role, params=params, json=json, body=body,
                             headers=headers, idempotent=idempotent)
        try:
            response.read()
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"the reply of {_loggable(method, role, url)} broke off") from exc
        finally:
            response.close()
        return self.envelope(response)

    def get(self, host: Host, path: str, **kwargs: Any) -> Envelope:
        return self.call("GET", host, path, **kwargs)

    def post(self, host: Host, path: str, **kwargs: Any) -> Envelope:
        return self.call("POST", host, path, **kwargs)

    def delete(self, host: Host, path: str, **kwargs: Any) -> Envelope:
        return self.call("DELETE", host, path, **kwargs)

    @staticmethod
    def envelope(response: httpx.Response) -> Envelope:
        """Unwrap a read reply: a success envelope, or the matching error raised (D1)."""
        try:
            body = response.json() if response.content else None
        except (ValueError, UnicodeDecodeError):
            body = None
            if response.status_code < 300:
                raise UnexpectedResponse(
                    f"expected JSON, got {response.headers.get('Content-Type', 'no content type')}",
                    status=response.status_code) from None
        status = response.status_code
        if status >= 400 or (isinstance(body, dict) and body.get("result") == "error"):
            raise error_from_reply(status, body, retry_after=retry_after_seconds(response))
        if status >= 300:
            raise UnexpectedResponse(f"unexpected redirect to {response.headers.get('Location', '?')}",
                                     status=status)
        return Envelope.from_json(body)

    # -- raw sending with the retry rules ----------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        role: Host = "api",
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        auth: bool = True,
        accept_redirect: bool = False,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """Send with the retry rules and return the (streaming, unread) response.

        The caller MUST close the response. Statuses below 300 and 4xx replies other than 401/429
        come back as they are; ``accept_redirect`` lets a 3xx through (the kDrive download).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        use_auth = auth and self.tokens is not None
        http = client or self.client
        token: str | None = None
        refreshed = False
        transient_retries = 0
        waited = 0.0
        what = _loggable(method, role, url)
        while True:
            if body is not None and not body.can_send():
                raise UpstreamUnavailable(f"{what} cannot be repeated: its body was a one-time stream")
            if self.bucket is not None:
                self.bucket.acquire()
            if use_auth and token is None:
                assert self.tokens is not None
                token = self.tokens()
            request = _build_request(http, method, url, params=params, json=json, body=body,
                                     headers=headers, token=token if use_auth else None)
            started = time.monotonic()
            try:
                response = http.send(request, stream=True)
            except httpx.TimeoutException as exc:
                log.info("%s timed out after %.1fs", what, time.monotonic() - started)
                if idempotent and transient_retries < len(self.settings.retry_backoff):
                    self._backoff(transient_retries)
                    transient_retries += 1
                    continue
                raise UpstreamTimeout(f"{what} got no reply within {self.settings.timeout:g}s") from exc
            except httpx.TransportError as exc:
                log.info("%s failed: %s", what, type(exc).__name__)
                if idempotent and transient_retries < len(self.settings.retry_backoff):
                    self._backoff(transient_retries)
                    transient_retries += 1
                    continue
                raise UpstreamUnavailable(f"{what} failed: {exc.__class__.__name__}") from exc
            status = response.status_code
            log.debug("%s -> %s (%.0f ms)", what, status, (time.monotonic() - started) * 1000)

            auth_refused = status == 401 or (role == "mail" and 300 <= status < 400)
            if auth_refused and use_auth:
                detail = _read_error(response)
                if not refreshed:
                    refreshed = True
                    assert self.tokens is not None
                    token = self.tokens(token)  # raises ReconnectRequired if nothing can be done
                    continue
                raise ReconnectRequired(f"{what} was refused even with a fresh token", refreshed=True,
                                        status=status, code=detail.code)
            if status == 429:
                wait = rate_limit_wait(response, self.settings.default_rate_limit_wait)
                detail = _read_error(response)
                if waited + wait > self.settings.max_retry_wait or (body is not None and not body.replayable):
                    raise RateLimited(detail.description, retry_after=wait, status=429,
                                      code=detail.code or "too_many_request")
                log.info("%s rate limited; waiting %.1fs", what, wait)
                self._sleep(wait + _jitter(wait))
                waited += wait
                continue
            if status >= 500 or status == 408:
                detail = _read_error(response)
                if idempotent and transient_retries < len(self.settings.retry_backoff):
                    self._backoff(transient_retries)
                    transient_retries += 1
                    continue
                if status == 408:
                    raise UpstreamTimeout(f"{what} timed out at the server", status=408)
                raise detail
            if 300 <= status < 400 and not accept_redirect:
                response.close()
                raise UnexpectedResponse(f"{what} was redirected ({status}); redirects are never followed",
                                         status=status)
            return response

    def _backoff(self, attempt: int) -> None:
        wait = self.settings.retry_backoff[attempt]
        self._sleep(wait + _jitter(wait))

    # -- token checks --------------------------------------------------------------------------
    def current_token(self) -> str:
        """The token the next call would carry (for checks such as ``/token/check``)."""
        if self.tokens is None:
            raise ReconnectRequired("no token provider")
        return self.tokens()


def _build_request(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | list[tuple[str, Any]] | None,
    json: Any,
    body: Body | None,
    headers: Mapping[str, str] | None,
    token: str | None,
) -> httpx.Request:
    """One attempt's request: a streamed body with an explicit Content-Length, or JSON, or none."""
    request_headers = dict(headers or {})
    if token is not None:
        request_headers["Authorization"] = f"Bearer {token}"
    content: Iterator[bytes] | bytes | None = None
    if body is not None:
        # With Content-Length set, httpx streams the generator without chunked encoding (D22).
        request_headers["Content-Length"] = str(body.length)
        request_headers.setdefault("Content-Type", "application/octet-stream")
        content = body.open()
    elif json is not None:
        request_headers.setdefault("Content-Type", "application/json")
        content = jsonlib.dumps(json).encode()
    return http.build_request(method, url, params=params, content=content, headers=request_headers)


def _read_error(response: httpx.Response) -> InfomaniakError:
    """Read (small) error body, close the response, and return the error it describes."""
    try:
        response.read()
        body = response.json() if response.content else None
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        body = None
    finally:
        response.close()
    return error_from_reply(response.status_code, body, retry_after=retry_after_seconds(response))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (number or HTTP date), else ``X-RateLimit-Reset``; ``None`` if neither."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
                return max(0.0, parsed.timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return None


def rate_limit_wait(response: httpx.Response, default: float = 60.0) -> float:
    """How long a 429 asks us to wait (D13): Retry-After, else X-RateLimit-Reset, else ``default``."""
    wait = retry_after_seconds(response)
    return default if wait is None else wait
