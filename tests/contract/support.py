"""What every contract check stands on: the target, a GET-only HTTP client, envelope checks.

The suite may run against a person's real Infomaniak account, so nothing here can change data:
:class:`ReadOnlyHttp` refuses any method but GET and HEAD before a byte leaves the machine, and
:func:`refuse_writes` gives the client library's HTTP clients the same guard.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import httpx
import pytest

from ikdav.infomaniak import Endpoints

Role = Literal["login", "api", "mail"]
READ_METHODS = frozenset({"GET", "HEAD"})
# /token/check is a GET; it is named here because it is the one login-host call the suite makes.
TOKEN_CHECK = "/token/check"
MAX_RATE_LIMIT_WAIT = 120.0  # seconds one request may spend waiting out 429s before failing
DEFAULT_RATE_LIMIT_WAIT = 10.0
SERVER_ERROR_BACKOFF = (1.0, 3.0)  # waits before asking again after a 502/503/504


@dataclass(frozen=True)
class Target:
    """Where the checks go: base URLs of the three hosts, a bearer token, and whether it is real."""

    login_url: str
    api_url: str
    mail_url: str
    token: str = field(repr=False)
    live: bool = False

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(login_url=self.login_url, api_url=self.api_url, mail_url=self.mail_url)

    def base(self, role: Role) -> str:
        return {"login": self.login_url, "api": self.api_url, "mail": self.mail_url}[role]


def missing(target: Target, reason: str) -> NoReturn:
    """The data a check needs is not there: skip on a real account, fail against the emulator.

    The emulator's sample holds everything the suite needs, so there an absence is a bug; a real
    account may simply have no mailbox or no Common documents folder.
    """
    if target.live:
        pytest.skip(f"not checked on this account: {reason}")
    pytest.fail(f"the emulator's sample lacks what this check needs: {reason}")


def refuse_writes(request: httpx.Request) -> None:
    """An httpx request hook: only GET and HEAD may reach the target."""
    if request.method.upper() not in READ_METHODS:
        raise AssertionError(f"the contract suite is read-only; it refused to send {request.method} "
                             f"{request.url.path}")


class ReadOnlyHttp:
    """Raw HTTP to the target, GET and HEAD only, never following redirects.

    ``Authorization`` is added per request (never as a client default), so a call made with
    ``auth=False`` (the content host) provably carries none. A 429 is waited out as the server asks
    (up to :data:`MAX_RATE_LIMIT_WAIT`), and a 502/503/504 is asked again twice, because a real
    account's rate limit is low and neither reply says anything about the shape being checked.
    """

    def __init__(self, target: Target, *, sleep: Any = time.sleep) -> None:
        self.target = target
        self._sleep = sleep
        self._client = httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0), follow_redirects=False,
                                    headers={"User-Agent": "ikdav-contract-check",
                                             # bytes as stored: lengths compare with sizes
                                             "Accept-Encoding": "identity"},
                                    event_hooks={"request": [refuse_writes]})

    def close(self) -> None:
        self._client.close()

    def url(self, role: Role, path: str) -> str:
        """``base + path``, keeping any path prefix of the base (§0)."""
        return self.target.base(role).rstrip("/") + "/" + path.lstrip("/")

    def get(self, role: Role, path: str, *, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
            headers: Mapping[str, str] | None = None, auth: bool = True,
            bearer: str | None = None) -> httpx.Response:
        """GET ``path`` on a host; ``bearer`` replaces the target's token (to check refusals)."""
        return self.get_url(self.url(role, path), params=params, headers=headers, auth=auth, bearer=bearer)

    def get_url(self, url: str, *, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
                headers: Mapping[str, str] | None = None, auth: bool = False,
                bearer: str | None = None) -> httpx.Response:
        """GET an absolute URL and read the whole (small) reply."""
        with self.stream_url(url, params=params, headers=headers, auth=auth, bearer=bearer) as response:
            response.read()
            return response

    @contextmanager
    def stream_url(self, url: str, *, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
                   headers: Mapping[str, str] | None = None, auth: bool = False,
                   bearer: str | None = None, method: str = "GET") -> Iterator[httpx.Response]:
        """An open, unread reply to GET (or HEAD) ``url``: for bodies that may be large."""
        request_headers = dict(headers or {})
        if auth or bearer is not None:
            request_headers["Authorization"] = f"Bearer {bearer if bearer is not None else self.target.token}"
        waited = 0.0
        retries = iter(SERVER_ERROR_BACKOFF)
        while True:
            request = self._client.build_request(method, url, params=params, headers=request_headers)
            response = self._client.send(request, stream=True)
            wait = _wait_before_retry(response, waited, retries)
            if wait is None:
                break
            response.close()
            self._sleep(wait)
            waited += wait
        try:
            yield response
        finally:
            response.close()


def _wait_before_retry(response: httpx.Response, waited: float, retries: Iterator[float]) -> float | None:
    """Seconds to wait before asking again, or ``None`` to hand the reply to the check."""
    if response.status_code == 429:
        wait = _rate_limit_wait(response)
        if waited + wait > MAX_RATE_LIMIT_WAIT:
            response.close()
            pytest.fail(f"the target kept answering 429 for {waited:.0f} s ({response.request.url.path})")
        return wait
    if response.status_code in (502, 503, 504):
        return next(retries, None)  # a passing outage is no finding; a lasting one reaches the check
    return None


def _rate_limit_wait(response: httpx.Response) -> float:
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = response.headers.get(name, "")
        try:
            number = float(value)
        except ValueError:
            continue
        wait = number - time.time() if name == "X-RateLimit-Reset" else number
        return min(max(wait, 1.0), 60.0)
    return DEFAULT_RATE_LIMIT_WAIT


# -- envelopes (§3.1) --------------------------------------------------------------------------


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a reply; fails with the status and a bit of the body when it is not one."""
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"{response.request.url.path} answered {response.status_code} with no JSON: "
                    f"{response.text[:200]!r}")
    assert isinstance(body, dict), f"the reply of {response.request.url.path} is not a JSON object"
    return body


def success(response: httpx.Response, *, kdrive: bool = False) -> dict[str, Any]:
    """Assert a 200 success envelope (``result``, ``data``; ``response_at`` on kDrive routes)."""
    path = response.request.url.path
    assert response.status_code == 200, f"{path} answered {response.status_code}: {response.text[:300]}"
    body = body_of(response)
    assert body.get("result") == "success", f"{path}: result is {body.get('result')!r}"
    assert "data" in body, f"{path}: the envelope has no data"
    if kdrive:
        assert is_int(body.get("response_at")), f"{path}: response_at is {body.get('response_at')!r}"
    return body


def failure(response: httpx.Response, status: int, *codes: str) -> dict[str, Any]:
    """Assert an error envelope with this status and one of ``codes``; return ``error``."""
    path = response.request.url.path
    assert response.status_code == status, (
        f"{path} answered {response.status_code}, not {status}: {response.text[:300]}")
    body = body_of(response)
    assert body.get("result") == "error", f"{path}: result is {body.get('result')!r}"
    error = body.get("error")
    assert isinstance(error, dict), f"{path}: error is {error!r}, not an object"
    assert error.get("code") in codes, f"{path}: error code {error.get('code')!r}, not one of {codes}"
    assert isinstance(error.get("description", ""), str)
    return error


def is_int(value: Any) -> bool:
    """A JSON number that is an integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
