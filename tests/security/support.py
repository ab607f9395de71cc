"""Two people on one ikdav, raw HTTP on loopback, and log capture for the security tests."""

from __future__ import annotations

import base64
import http.client
import io
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from harness import captured_debug_log, ikdav_config

from ikdav.config import Config
from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.kdrive_sample import JANE_DRIVE
from ikdav.emulator.sample_data import JANE_ID, MARC_ID
from ikdav.server import RunningServer
from ikdav.services import Services, build_services

JANE = "jane@example.ch"
MARC = "marc@example.ch"
JANE_PRIVATE = "kDrive/My kDrive/Private"
MARC_PRIVATE = "kDrive/Marc's kDrive/Private"
LOCKINFO = (b'<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            b'</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>tests</D:owner></D:lockinfo>')
SHARED_LOCKINFO = LOCKINFO.replace(b"exclusive", b"shared")


@dataclass
class DavUser:
    """One person's view of the share: credentials and a keep-alive HTTP session."""

    email: str
    password: str
    account_id: int
    url: str
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def auth(self) -> tuple[str, str]:
        return self.email, self.password

    def href(self, path: str) -> str:
        return self.url + quote(path.lstrip("/"))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.href(path), **kwargs)

    def propfind(self, path: str, depth: str = "1", **kwargs: Any) -> requests.Response:
        headers = {"Depth": depth, **kwargs.pop("headers", {})}
        return self.request("PROPFIND", path, headers=headers, **kwargs)

    def lock(self, path: str, body: bytes = LOCKINFO, **headers: str) -> requests.Response:
        return self.request("LOCK", path, data=body, headers=headers)


@dataclass
class SharedServer:
    """One ikdav, one Services, two connected accounts: Jane and Marc."""

    emulator: Emulator
    config: Config
    services: Services
    server: RunningServer
    jane: DavUser
    marc: DavUser
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.dav_url

    def stop(self) -> None:
        for user in (self.jane, self.marc):
            user.http.close()
        self.server.stop()


def connect(services: Services, emulator: Emulator, user_id: int, email: str) -> DavUser:
    """Store a connected account with a non-expiring token and give it an app password."""
    account = services.store.save_account(
        email=email, infomaniak_user_id=user_id, display_name=email.split("@")[0], auth_kind="token",
        scopes="user_info kdrive mail", access_token=emulator.issue_token(user_id), refresh_token=None,
        expires_at=None)
    _, password = services.store.create_app_password(account.id, "tests")
    return DavUser(email, password, account.id, "")


def start_shared(emulator: Emulator, data_dir: Path, *,
                 before_start: Callable[[Services], None] | None = None, **overrides: Any) -> SharedServer:
    """Jane and Marc saved in one store, served by one running server.

    ``before_start(services)`` may swap a collaborator (a login throttle with its own clock)
    before the server builds its apps.
    """
    config = ikdav_config(emulator, data_dir, **overrides)
    services = build_services(config, env={})
    jane = connect(services, emulator, JANE_ID, JANE)
    marc = connect(services, emulator, MARC_ID, MARC)
    if before_start is not None:
        before_start(services)
    server = RunningServer(config, services)
    jane.url = marc.url = server.dav_url
    return SharedServer(emulator, config, services, server, jane, marc, data_dir)


@contextmanager
def shared_on_own_emulator(data_dir: Path, files: dict[str, bytes]) -> Iterator[SharedServer]:
    """Jane and Marc on one server, in front of an emulator of its own holding ``files`` in Jane's
    drive (paths like ``/Private/x.txt``); for module-scoped fixtures."""
    emulator = Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=5)).start()
    for path, data in files.items():
        emulator.state.kdrive.put_file(JANE_DRIVE, path, data)
    server = start_shared(emulator, data_dir)
    try:
        yield server
    finally:
        server.stop()
        emulator.close()


# -- raw HTTP ------------------------------------------------------------------------------------------

@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw_request(url: str, head: bytes, body: bytes = b"", *, timeout: float = 10) -> RawReply:
    """Send bytes exactly as given (``head`` without the final blank line) and read one reply.

    For what ``requests`` would refuse to send or would normalise: dot segments, invalid UTF-8,
    huge headers.
    """
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    head_part, _, payload = received.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1."), f"no HTTP reply: {received[:200]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawReply(int(lines[0].split()[1]), headers, payload)


def request_from(address: str, url: str, method: str = "PROPFIND", *, auth: tuple[str, str],
                 headers: dict[str, str] | None = None, body: bytes = b"") -> RawReply:
    """One request whose TCP connection starts from ``address`` (any of 127/8 on loopback)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30,
                                            source_address=(address, 0))
    try:
        connection.request(method, parts.path or "/", body=body,
                           headers={"Authorization": basic(*auth), "Depth": "0", **(headers or {})})
        response = connection.getresponse()
        return RawReply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# -- logs ----------------------------------------------------------------------------------------------

@contextmanager
def debug_log(config: Config) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG (ikdav, WsgiDAV, httpx, httpcore) through ikdav's own log setup
    (:func:`ikdav.logs.setup_logging`), with the access log on; restored afterwards.
    """
    with captured_debug_log(config, access_log=True) as stream:
        yield stream


def stored_bytes(data_dir: Path) -> bytes:
    """Every byte ikdav keeps on disk: database, WAL, key file, lock and property stores."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())
