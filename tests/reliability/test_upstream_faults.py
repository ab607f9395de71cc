"""The share when Infomaniak misbehaves: rate limits, 5xx bursts, slow replies, outages, dead tokens.

For every fault: the client gets a clear status (never a 500 with a traceback), nothing partial is
left in kDrive, no upload session stays open, and the share works again once the upstream does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from harness import MY_KDRIVE, PRIVATE, DavServer, start_dav, start_dav_oauth

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import JANE_ID

FAST_FAILURE = {"infomaniak.max_retry_wait": 2, "infomaniak.timeout": 2, "infomaniak.connect_timeout": 1,
                "upload.direct_max_bytes": 1 << 20, "upload.chunk_size": 1 << 20}


@pytest.fixture
def faulty(fresh_emulator: Emulator, tmp_path: Path) -> Iterator[DavServer]:
    server = start_dav(fresh_emulator, tmp_path / "data", **FAST_FAILURE)
    yield server
    server.stop()


def assert_plain_error(response: requests.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Traceback" not in response.text and "File \"" not in response.text
    assert response.text.strip()


def propfind(dav: DavServer, path: str) -> requests.Response:
    return requests.request("PROPFIND", dav.href(path), auth=dav.auth, headers={"Depth": "1"}, timeout=30)


def nothing_left(dav: DavServer, name: str) -> None:
    assert dav.emulator.state.kdrive.find(MY_KDRIVE, f"/Private/{name}") is None
    assert dav.emulator.state.kdrive.upload_sessions() == []


# -- rate limits --------------------------------------------------------------------------------------

def test_a_short_429_storm_is_waited_out(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"force_429": {"retry_after": 1, "count": 2, "match": "api"}})
    started = time.monotonic()
    assert propfind(faulty, PRIVATE).status_code == 207
    assert time.monotonic() - started >= 1.5  # it really waited the Retry-After twice


def test_a_long_429_becomes_503_with_retry_after(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"force_429": {"retry_after": 120, "match": "api"}})
    started = time.monotonic()
    response = propfind(faulty, PRIVATE)
    assert time.monotonic() - started < 10
    assert_plain_error(response, 503)
    assert int(response.headers["Retry-After"]) >= 100
    faulty.emulator.knobs.reset()
    assert propfind(faulty, PRIVATE).status_code == 207


def test_a_real_rate_limit_answers_503_with_retry_after_and_recovers(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"rate_limit_per_minute": 3})
    # A cold path needs four upstream calls (drives, top folders, name lookup, listing).
    response = propfind(faulty, f"{PRIVATE}/Documents")
    assert_plain_error(response, 503)
    assert int(response.headers["Retry-After"]) > FAST_FAILURE["infomaniak.max_retry_wait"]
    faulty.emulator.knobs.reset()
    assert propfind(faulty, f"{PRIVATE}/Documents").status_code == 207


# -- 5xx bursts -------------------------------------------------------------------------------------------

def test_a_5xx_burst_on_listings_is_retried(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"server_errors": {"status": 502, "count": 2, "match": "api /files"}})
    assert propfind(faulty, PRIVATE).status_code == 207


def test_a_long_5xx_outage_is_a_plain_502_and_recovers(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"server_errors": {"status": 500, "html": True, "match": "api"}})
    assert_plain_error(propfind(faulty, f"{PRIVATE}/Music"), 502)
    faulty.emulator.knobs.reset()
    assert propfind(faulty, f"{PRIVATE}/Music").status_code == 207


def test_a_5xx_burst_on_downloads_is_retried(faulty: DavServer) -> None:
    data = os.urandom(300_000)
    faulty.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/dl.bin", data)
    faulty.emulator.knobs.merge({"server_errors": {"status": 503, "count": 2, "match": "content"}})
    assert requests.get(faulty.href(f"{PRIVATE}/dl.bin"), auth=faulty.auth).content == data


@pytest.mark.parametrize(("size", "match"), [(100_000, "api /upload$"), (3_500_000, "upload")])
def test_a_failing_upload_leaves_nothing(faulty: DavServer, size: int, match: str) -> None:
    faulty.emulator.knobs.merge({"server_errors": {"status": 500, "match": match}})
    response = requests.put(faulty.href(f"{PRIVATE}/up-{size}.bin"), data=os.urandom(size), auth=faulty.auth)
    assert_plain_error(response, 502, 503)
    faulty.emulator.knobs.reset()
    nothing_left(faulty, f"up-{size}.bin")
    again = requests.put(faulty.href(f"{PRIVATE}/up-{size}.bin"), data=b"fine", auth=faulty.auth)
    assert again.status_code == 201


def test_a_failing_replace_keeps_the_old_content(faulty: DavServer) -> None:
    faulty.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/keep.txt", b"original")
    faulty.emulator.knobs.merge({"server_errors": {"status": 500, "match": "upload"}})
    response = requests.put(faulty.href(f"{PRIVATE}/keep.txt"), data=os.urandom(2_500_000), auth=faulty.auth)
    assert_plain_error(response, 502, 503)
    faulty.emulator.knobs.reset()
    assert faulty.emulator.state.kdrive.read_bytes(MY_KDRIVE, "/Private/keep.txt") == b"original"
    assert faulty.emulator.state.kdrive.upload_sessions() == []


# -- slow replies -------------------------------------------------------------------------------------------

def test_a_slow_upstream_is_a_timeout_not_a_hang(faulty: DavServer) -> None:
    faulty.emulator.knobs.merge({"latency_ms": {"value": 5000, "match": "api /files"}})
    started = time.monotonic()
    response = propfind(faulty, f"{PRIVATE}/Photos")
    assert time.monotonic() - started < 20
    assert_plain_error(response, 504, 502)
    faulty.emulator.knobs.reset()
    assert propfind(faulty, f"{PRIVATE}/Photos").status_code == 207


# -- the emulator goes away and comes back -------------------------------------------------------------

def test_an_outage_mid_download_breaks_the_transfer_and_the_share_recovers(tmp_path: Path) -> None:
    emulator = Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=5)).start()
    dav = start_dav(emulator, tmp_path / "data", **FAST_FAILURE)
    try:
        data = os.urandom(4 * 1024 * 1024)
        emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/slow.bin", data)
        emulator.knobs.merge({"content_bytes_per_s": 1_000_000})
        received = bytearray()
        with requests.get(dav.href(f"{PRIVATE}/slow.bin"), auth=dav.auth, stream=True, timeout=30) as reply:
            assert reply.status_code == 200
            with pytest.raises(requests.exceptions.RequestException):
                for block in reply.iter_content(65536):
                    received += block
                    if len(received) > 500_000 and emulator._servers:
                        emulator.stop()
        assert 0 < len(received) < len(data)  # the client can tell: the body is short
        outage = propfind(dav, PRIVATE)
        assert_plain_error(outage, 502, 504)
        emulator.knobs.reset()
        emulator.start()
        assert requests.get(dav.href(f"{PRIVATE}/slow.bin"), auth=dav.auth).content == data
    finally:
        dav.stop()
        emulator.close()


def test_an_outage_mid_upload_leaves_no_file_and_no_session(tmp_path: Path) -> None:
    emulator = Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=5)).start()
    dav = start_dav(emulator, tmp_path / "data", **FAST_FAILURE)
    try:
        # 16 chunks of 1 MiB, 4 at a time, each answered after 0.5 s: the upload needs > 2 s.
        emulator.knobs.merge({"latency_ms": {"value": 500, "match": "upload"}})
        stopper = threading.Timer(0.8, emulator.stop)
        stopper.start()
        response = requests.put(dav.href(f"{PRIVATE}/cut.bin"), data=os.urandom(16 * 1024 * 1024),
                                auth=dav.auth, timeout=60)
        stopper.join()
        assert_plain_error(response, 502, 503, 504)
        emulator.knobs.reset()
        emulator.start()
        # The next request cleans up what the outage left behind.
        assert requests.put(dav.href(f"{PRIVATE}/after.txt"), data=b"ok", auth=dav.auth).status_code == 201
        nothing_left(dav, "cut.bin")
    finally:
        dav.stop()
        emulator.close()


# -- tokens ------------------------------------------------------------------------------------------------

def test_an_access_token_expiring_mid_session_is_refreshed(fresh_emulator: Emulator,
                                                            tmp_path: Path) -> None:
    fresh_emulator.knobs.merge({"access_token_ttl": 2})
    dav = start_dav_oauth(fresh_emulator, tmp_path / "data")
    try:
        for _ in range(4):
            assert propfind(dav, f"{PRIVATE}/Documents").status_code == 207
            assert requests.get(dav.href(f"{PRIVATE}/todo.txt"), auth=dav.auth).status_code == 200
            time.sleep(1)
        assert fresh_emulator.state.identity.counters["refresh"] >= 1
    finally:
        dav.stop()


def test_a_revoked_refresh_token_gives_a_reconnect_message_without_a_loop(fresh_emulator: Emulator,
                                                                         tmp_path: Path) -> None:
    dav = start_dav_oauth(fresh_emulator, tmp_path / "data")
    try:
        assert propfind(dav, PRIVATE).status_code == 207
        fresh_emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
        fresh_emulator.state.identity.expire_access_tokens(JANE_ID)
        response = propfind(dav, f"{PRIVATE}/Music")
        assert_plain_error(response, 403)
        assert "reconnect" in response.text.lower() and "http" in response.text
        attempts = len(fresh_emulator.log.find(role="login", path_contains="/token"))
        for _ in range(3):
            assert propfind(dav, f"{PRIVATE}/Photos").status_code == 403
        assert len(fresh_emulator.log.find(role="login", path_contains="/token")) == attempts
    finally:
        dav.stop()


def test_the_mail_host_answering_302_is_a_refused_login(fresh_emulator: Emulator, tmp_path: Path) -> None:
    dav = start_dav_oauth(fresh_emulator, tmp_path / "data")
    try:
        fresh_emulator.knobs.merge({"mail_auth_redirect": True, "revoke_refresh": {"user": JANE_ID}})
        fresh_emulator.state.identity.expire_access_tokens(JANE_ID)
        response = propfind(dav, "Mail")
        assert_plain_error(response, 403)
        assert "reconnect" in response.text.lower()
    finally:
        dav.stop()


def test_a_port_with_nothing_behind_it_is_a_plain_error(fresh_emulator: Emulator, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    dav = start_dav(fresh_emulator, tmp_path / "data", **{**FAST_FAILURE, "infomaniak.api_url": dead})
    try:
        assert_plain_error(propfind(dav, "kDrive"), 502, 504)
    finally:
        dav.stop()
