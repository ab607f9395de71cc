"""Credentials: password guessing is throttled, revocations bite at once, secrets reach no log, page
or file, and a stolen database opens nothing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from harness import PRIVATE, start_dav_oauth

from ikdav.accounts.crypto import load_cipher
from ikdav.accounts.store import AccountStore
from ikdav.dav.auth import LoginThrottle
from ikdav.emulator.app import Emulator
from ikdav.emulator.kdrive_sample import JANE_DRIVE
from ikdav.emulator.sample_data import DEMO_CLIENT_SECRET, JANE_ID
from ikdav.server import RunningServer
from ikdav.services import Services, build_services

from .support import (
    JANE,
    JANE_PRIVATE,
    LOCKINFO,
    MARC,
    SharedServer,
    basic,
    debug_log,
    request_from,
    start_shared,
    stored_bytes,
)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shared(fresh_emulator: Emulator, tmp_path: Path, clock: Clock) -> Iterator[SharedServer]:
    """Jane and Marc on one server whose login throttle runs on the test's clock."""
    def with_clock(services: Services) -> None:
        services.throttle = LoginThrottle(clock=clock)

    server = start_shared(fresh_emulator, tmp_path / "data", before_start=with_clock)
    yield server
    server.stop()


# -- throttling -----------------------------------------------------------------------------------------

def test_wrong_passwords_are_throttled_per_user_and_address_with_a_growing_wait(shared: SharedServer,
                                                                                 clock: Clock) -> None:
    url, right = shared.url, shared.jane.auth
    wrong = (JANE, "wrong-password-1234")
    for _ in range(5):
        assert request_from("127.0.0.1", url, auth=wrong).status == 401
    waits = []
    for step in (1.5, 2.5):
        throttled = request_from("127.0.0.1", url, auth=wrong)
        assert throttled.status == 429 and "try again in" in throttled.text
        waits.append(int(throttled.headers["retry-after"]))
        clock.now += step + waits[-1]  # wait it out, then fail once more
        assert request_from("127.0.0.1", url, auth=wrong).status == 401
    waits.append(int(request_from("127.0.0.1", url, auth=wrong).headers["retry-after"]))
    assert waits[0] < waits[1] < waits[2], waits

    # Blocked here, even with the right password and a forged forwarding header ...
    assert request_from("127.0.0.1", url, auth=right).status == 429
    assert request_from("127.0.0.1", url, auth=right, headers={"X-Forwarded-For": "127.0.0.2"}).status == 429
    # ... but never from another address, and never for another user here.
    assert request_from("127.0.0.2", url, auth=right).status == 207
    assert request_from("127.0.0.1", url, auth=shared.marc.auth).status == 207
    # The penalty ends by itself.
    clock.now += 3600
    assert request_from("127.0.0.1", url, auth=right).status == 207


def test_one_address_guessing_many_users_is_throttled_as_a_whole(shared: SharedServer) -> None:
    for number in range(20):
        assert request_from("127.0.0.3", shared.url, auth=(f"user{number}@example.ch", "guess")).status == 401
    assert request_from("127.0.0.3", shared.url, auth=shared.jane.auth).status == 429
    assert request_from("127.0.0.3", shared.url, auth=shared.marc.auth).status == 429
    assert request_from("127.0.0.4", shared.url, auth=shared.jane.auth).status == 207


def test_a_flood_of_made_up_users_does_not_wipe_a_running_penalty(clock: Clock) -> None:
    throttle = LoginThrottle(max_entries=50, clock=clock)
    for _ in range(10):
        throttle.failed(JANE, "192.0.2.1")
    assert throttle.retry_after(JANE, "192.0.2.1") > 30
    for number in range(500):
        clock.now += 0.001
        throttle.failed(f"user{number}@example.ch", f"198.51.100.{number % 250}")
    assert throttle.retry_after(JANE, "192.0.2.1") > 0
    assert len(throttle._entries) <= 51


def test_the_account_page_shares_the_throttle(shared: SharedServer) -> None:
    for _ in range(5):
        assert request_from("127.0.0.1", shared.url, auth=(JANE, "not-it")).status == 401
    visitor = requests.Session()
    page = visitor.get(shared.server.url + "/account", timeout=30)
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    login = visitor.post(shared.server.url + "/account/login", timeout=30, allow_redirects=False,
                         data={"csrf_token": token, "email": JANE, "password": shared.jane.password})
    assert login.status_code == 429 and "Retry-After" in login.headers
    assert shared.jane.password not in login.text


def test_wrong_passwords_of_any_length_fail_alike(shared: SharedServer) -> None:
    right = shared.jane.password
    same_length = right[:-1] + ("a" if right[-1] != "a" else "b")
    assert len(same_length) == len(right)
    store = shared.services.store
    candidates = (same_length, right[:-1], right + "x", "", "x" * 1000, right.upper())
    for number, candidate in enumerate(candidates):
        assert store.verify_app_password(JANE, candidate) is None
        assert request_from(f"127.0.0.{10 + number}", shared.url, auth=(JANE, candidate)).status == 401
    match = store.verify_app_password(JANE, right)
    assert match is not None and match.account.id == shared.jane.account_id


# -- revocation and use ---------------------------------------------------------------------------------

def write_config(path: Path, shared: SharedServer) -> Path:
    emulator = shared.emulator
    path.write_text(yaml.safe_dump({
        "data_dir": str(shared.data_dir),
        "infomaniak": {"login_url": emulator.login_url, "api_url": emulator.api_url,
                       "mail_url": emulator.mail_url},
        "logging": {"level": "WARNING", "access_log": False}}))
    return path


def test_a_removal_by_another_process_ends_a_cached_login_at_once(shared: SharedServer,
                                                                   tmp_path: Path) -> None:
    assert shared.marc.propfind("", depth="0").status_code == 207  # Marc's login is cached now
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IKDAV_", "Service_"))}
    result = subprocess.run([sys.executable, "-m", "ikdav", "accounts", "remove", MARC,
                             "--config", str(write_config(tmp_path / "config.yaml", shared))],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert shared.marc.propfind("", depth="0").status_code == 401
    assert shared.jane.propfind("", depth="0").status_code == 207


def test_a_password_revoked_by_another_process_stops_working_at_once(shared: SharedServer) -> None:
    jane = shared.jane
    _, spare = shared.services.store.create_app_password(jane.account_id, "spare")
    assert jane.propfind("", depth="0").status_code == 207
    other_process = AccountStore(shared.services.store.path,
                                 load_cipher(shared.config.secret_key_path, env={}))
    try:
        first = other_process.app_passwords(jane.account_id)[0]
        assert other_process.revoke_app_password(jane.account_id, first.id)
    finally:
        other_process.close()
    assert jane.propfind("", depth="0").status_code == 401
    assert jane.propfind("", depth="0", auth=(JANE, spare)).status_code == 207


def test_a_login_records_when_the_account_was_last_used(shared: SharedServer) -> None:
    store = shared.services.store
    before = store.get(shared.jane.account_id)
    assert before is not None and before.last_used_at is None
    assert shared.jane.propfind("", depth="0").status_code == 207
    after = store.get(shared.jane.account_id)
    assert after is not None and after.last_used_at is not None


def test_an_account_that_must_reconnect_is_not_served_from_the_cache(shared: SharedServer) -> None:
    jane = shared.jane
    assert jane.propfind(JANE_PRIVATE).status_code == 207  # listed and cached
    assert jane.request("GET", JANE_PRIVATE + "/todo.txt").status_code == 200
    identity = shared.emulator.state.identity
    access = identity.lookup(shared.services.store.read_tokens(jane.account_id).access_token)
    assert access is not None
    identity.revoke_grant(access.grant)
    refused = jane.propfind("kDrive/My kDrive/Common documents")  # not cached: asks upstream
    assert refused.status_code == 403 and "reconnect" in refused.text.lower()
    cached = jane.propfind(JANE_PRIVATE)
    assert cached.status_code == 403, "a cached listing was served for an account that must reconnect"
    assert "reconnect" in cached.text.lower()
    assert shared.marc.propfind("kDrive").status_code == 207


# -- secrets in logs, pages and files -------------------------------------------------------------------

def test_a_day_of_use_logged_at_debug_leaks_no_secret(fresh_emulator: Emulator, tmp_path: Path) -> None:
    dav = start_dav_oauth(fresh_emulator, tmp_path / "data", **{"logging.access_log": True})
    replies: list[requests.Response] = []
    try:
        with debug_log(dav.server.config) as log, requests.Session() as http:
            def call(method: str, path: str, auth: tuple[str, str] = dav.auth, **kwargs: Any
                     ) -> requests.Response:
                response = http.request(method, dav.href(path), auth=auth, timeout=30, **kwargs)
                replies.append(response)
                return response

            call("PROPFIND", "", headers={"Depth": "1"})
            call("PROPFIND", PRIVATE, headers={"Depth": "1"})
            call("PUT", PRIVATE + "/s.txt", data=b"secret content")
            call("GET", PRIVATE + "/s.txt", headers={"Range": "bytes=0-3"})
            locked = call("LOCK", PRIVATE + "/s.txt", data=LOCKINFO)
            call("UNLOCK", PRIVATE + "/s.txt", headers={"Lock-Token": locked.headers["Lock-Token"]})
            call("COPY", PRIVATE + "/s.txt", headers={"Destination": dav.href(PRIVATE + "/t.txt")})
            call("DELETE", PRIVATE + "/t.txt")
            inbox = call("PROPFIND", "Mail/jane@example.ch/INBOX", headers={"Depth": "1"})
            first = next(h for h in inbox.text.split("<ns0:href>")[2:] if ".eml" in h).split("<", 1)[0]
            replies.append(http.get(dav.server.url + first, auth=dav.auth, timeout=30))
            call("PROPFIND", "", auth=(dav.user, "wrong-app-password"), headers={"Depth": "0"})
            fresh_emulator.state.identity.expire_access_tokens(JANE_ID)  # the next call refreshes
            assert call("PROPFIND", "kDrive/My kDrive/Common documents", headers={"Depth": "1"}
                        ).status_code == 207
            fresh_emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
            fresh_emulator.state.identity.expire_access_tokens(JANE_ID)
            assert call("PROPFIND", "kDrive/My kDrive/Shared", headers={"Depth": "1"}).status_code == 403
            for page in ("/", "/account", "/no-such-page"):
                replies.append(http.get(dav.server.url + page, timeout=30))
            logged = log.getvalue()
    finally:
        dav.stop()
    identity = fresh_emulator.state.identity
    with identity.lock:
        tokens = [*identity.access_tokens, *identity.refresh_tokens]
    secrets = {*tokens, dav.password, DEMO_CLIENT_SECRET, basic(*dav.auth).split()[1]}
    # The capture saw everything that happened, from every library.
    assert "refreshed the access token" in logged
    assert "HTTP Request:" in logged and " wsgidav." in logged and "ikdav.access" in logged
    assert len(tokens) >= 5  # the PATs, the first grant and the refreshed pair
    on_disk = stored_bytes(dav.data_dir)
    for secret in secrets:
        assert secret not in logged, "a secret reached the log"
        assert secret.encode() not in on_disk, "a secret is stored in clear"
        for reply in replies:
            assert secret not in reply.text and secret not in str(reply.headers), reply.url


def test_the_data_directory_and_key_are_private(shared: SharedServer) -> None:
    data = shared.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700  # also covers the lock and property stores
    assert stat.S_IMODE(shared.config.secret_key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "ikdav.sqlite3").stat().st_mode) == 0o600


def test_a_stolen_database_without_the_key_opens_nothing(shared: SharedServer, tmp_path: Path) -> None:
    assert shared.jane.propfind(JANE_PRIVATE).status_code == 207
    shared.services.store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    thief_dir = tmp_path / "thief"
    thief_dir.mkdir()
    for path in shared.data_dir.glob("ikdav.sqlite3*"):
        shutil.copy(path, thief_dir / path.name)
    config = shared.config.with_overrides({"data_dir": str(thief_dir), "server.port": 0})
    thief = RunningServer(config, build_services(config, env={}))  # makes itself a new key
    try:
        token = shared.services.store.read_tokens(shared.jane.account_id).access_token
        assert token is not None
        for path in ("kDrive/", JANE_PRIVATE, "Mail/"):
            answer = requests.request("PROPFIND", thief.dav_url + path, auth=shared.jane.auth,
                                      headers={"Depth": "1"}, timeout=30)
            assert answer.status_code == 503, answer.text
            assert "secret key" in answer.text and "Traceback" not in answer.text
            assert token not in answer.text and "Famille Doe" not in answer.text
        assert token.encode() not in stored_bytes(thief_dir)
        assert shared.emulator.state.kdrive.find(JANE_DRIVE, "/Private/todo.txt") is not None
    finally:
        thief.stop()
