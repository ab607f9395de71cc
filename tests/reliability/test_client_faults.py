"""Clients that misbehave: hanging up mid-PUT or mid-GET, or sending less than they announced."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import MY_KDRIVE, PRIVATE, DavServer, start_dav

from ikdav.emulator.app import Emulator

SMALL_SESSIONS = {"upload.direct_max_bytes": 1 << 20, "upload.chunk_size": 1 << 20}


@pytest.fixture
def dav_small(fresh_emulator: Emulator, tmp_path: Path) -> Iterator[DavServer]:
    """Uploads above 1 MiB use a session, in 1 MiB chunks."""
    server = start_dav(fresh_emulator, tmp_path / "data", **SMALL_SESSIONS)
    yield server
    server.stop()


def raw_request(dav: DavServer, method: str, path: str, headers: dict[str, str]) -> socket.socket:
    """Open a connection and send a request head by hand; the caller decides what follows."""
    url = urlsplit(dav.href(path))
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    token = base64.b64encode(f"{dav.user}:{dav.password}".encode()).decode()
    head = [f"{method} {url.path} HTTP/1.1", f"Host: {url.netloc}", f"Authorization: Basic {token}",
            *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    sock.sendall("\r\n".join(head).encode())
    return sock


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def no_file_no_session(dav: DavServer, name: str) -> Callable[[], bool]:
    kdrive = dav.emulator.state.kdrive
    return lambda: kdrive.find(MY_KDRIVE, f"/Private/{name}") is None and kdrive.upload_sessions() == []


@pytest.mark.parametrize(("announced", "sent"), [(600_000, 100_000), (8 << 20, 3 << 20)])
def test_a_client_hanging_up_mid_put_creates_nothing(dav_small: DavServer, announced: int, sent: int) -> None:
    sock = raw_request(dav_small, "PUT", f"{PRIVATE}/hangup.bin", {"Content-Length": str(announced)})
    sock.sendall(os.urandom(sent))
    time.sleep(0.3)
    sock.close()
    time.sleep(0.5)
    assert eventually(no_file_no_session(dav_small, "hangup.bin"))
    assert dav_small.emulator.state.kdrive.upload_sessions() == []


def test_a_client_hanging_up_mid_replace_keeps_the_old_content(dav_small: DavServer) -> None:
    kdrive = dav_small.emulator.state.kdrive
    kdrive.put_file(MY_KDRIVE, "/Private/precious.txt", b"the original content")
    sock = raw_request(dav_small, "PUT", f"{PRIVATE}/precious.txt", {"Content-Length": str(6 << 20)})
    sock.sendall(os.urandom(2 << 20))
    time.sleep(0.3)
    sock.close()
    assert eventually(lambda: kdrive.upload_sessions() == [])
    assert kdrive.read_bytes(MY_KDRIVE, "/Private/precious.txt") == b"the original content"


def test_a_body_shorter_than_its_content_length_is_refused(dav_small: DavServer) -> None:
    sock = raw_request(dav_small, "PUT", f"{PRIVATE}/short.txt", {"Content-Length": "1000"})
    sock.sendall(b"x" * 500)
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"400", reply
    assert b"500 of the announced 1000 bytes" in rest
    assert b"Traceback" not in rest
    assert eventually(no_file_no_session(dav_small, "short.txt"))


def test_a_client_hanging_up_mid_get_closes_the_upstream_download(dav_small: DavServer) -> None:
    emulator = dav_small.emulator
    emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/long.bin", os.urandom(8 << 20))
    emulator.knobs.merge({"content_bytes_per_s": 2_000_000})  # 4 s to send it all
    sock = raw_request(dav_small, "GET", f"{PRIVATE}/long.bin", {})
    received = 0
    while received < 300_000:
        received += len(sock.recv(65536))
    blobs = emulator.state.kdrive.blobs
    assert blobs.open_streams == 1
    sock.close()
    started = time.monotonic()
    assert eventually(lambda: blobs.open_streams == 0, timeout=3)
    assert time.monotonic() - started < 2  # well before the 4 s the whole file would take
