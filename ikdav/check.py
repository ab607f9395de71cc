"""``ikdav check``: can this configuration reach the Infomaniak hosts, and is OAuth wired right?

Each host gets one plain GET of its base URL. Any HTTP answer proves the name resolves, the port
is open and TLS works; only connection errors, TLS errors and timeouts count as failures.
"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from ikdav.config import Config

__all__ = ["CheckLine", "check_host", "configuration_warnings", "run_checks"]

Status = Literal["ok", "FAIL", "warn"]


@dataclass(frozen=True)
class CheckLine:
    """One line of the report: ``ok    login  https://login.infomaniak.com (HTTP 200, 84 ms)``."""

    status: Status
    name: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status:<6}{self.name + '  ':<7}{self.subject} ({self.detail})"


def hosts(config: Config) -> dict[str, str]:
    """The hosts ikdav calls, by role, as configured."""
    settings = config.infomaniak
    return {"login": settings.login_url, "api": settings.api_url, "mail": settings.mail_url}


def check_host(name: str, url: str, *, timeout: float, connect_timeout: float) -> CheckLine:
    """GET ``url`` once, without following redirects, and describe the outcome."""
    shown = _without_credentials(url)
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout),
                          follow_redirects=False) as client:
            response = client.get(url)
    except httpx.TimeoutException as exc:
        limit = connect_timeout if isinstance(exc, httpx.ConnectTimeout) else timeout
        return CheckLine("FAIL", name, shown, f"no answer within {limit:g} s")
    except httpx.HTTPError as exc:
        return CheckLine("FAIL", name, shown, describe_failure(exc))
    elapsed_ms = (time.monotonic() - started) * 1000
    return CheckLine("ok", name, shown, f"HTTP {response.status_code}, {elapsed_ms:.0f} ms")


def describe_failure(exc: BaseException) -> str:
    """A short, one-line reason for a failed connection: refused, unknown host, TLS..."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return "host name not found"
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {error.verify_message}"
        if isinstance(error, ssl.SSLError):
            return f"TLS error: {error.reason or error}"
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS error: {text}"
    return text or exc.__class__.__name__


def configuration_warnings(config: Config) -> list[CheckLine]:
    """What will not break start-up but will break connecting an account."""
    if not config.oauth_enabled:
        return [CheckLine("warn", "oauth", "not configured",
                          "infomaniak.client_id is empty: accounts can only connect with a personal "
                          "API token; set infomaniak.client_id and client_secret to offer OAuth")]
    redirect = urlsplit(config.infomaniak.redirect_uri)
    public = urlsplit(config.public_url)
    if _host_port(redirect) != _host_port(public):
        return [CheckLine("warn", "oauth", config.infomaniak.redirect_uri,
                          f"the redirect URI's host and port differ from the public URL "
                          f"{config.public_url}: the browser comes back to another server; make "
                          "infomaniak.redirect_uri and server.public_url name the same host and port")]
    return []


def run_checks(config: Config) -> list[CheckLine]:
    """Every host line (checked in parallel, reported in a fixed order), then the warnings."""
    targets = hosts(config)
    settings = config.infomaniak
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [pool.submit(check_host, name, url, timeout=settings.timeout,
                               connect_timeout=settings.connect_timeout)
                   for name, url in targets.items()]
        lines = [future.result() for future in futures]
    return lines + configuration_warnings(config)


def _host_port(parts: SplitResult) -> tuple[str, int | None]:
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "").lower(), parts.port or default


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
