"""The client's HTTP rules against the emulator: retries, rate limits, timeouts, auth, URL prefixes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, JANE_ID
from ikdav.infomaniak import (
    ClientSettings,
    Endpoints,
    Forbidden,
    KDrive,
    Mail,
    MemoryTokenProvider,
    NotFound,
    OAuthClient,
    RateLimited,
    ReconnectRequired,
    StaticTokenProvider,
    Transport,
    UpstreamTimeout,
    UpstreamUnavailable,
    get_profile,
)
from ikdav.infomaniak.models import TokenSet

from .client_support import Transports, endpoints, expire

FAST_RETRIES = (0.05, 0.1, 0.2)


@pytest.fixture
def make_transport(emulator: Emulator, jane_token: str) -> Iterator:
    with Transports(retry_backoff=FAST_RETRIES) as transports:

        def make(token: str | None = None, **settings: object) -> Transport:
            return transports.open(emulator, token or jane_token, **settings)

        yield make


def profile_requests(emu: Emulator, since: float) -> list:
    return [r for r in emu.log.find(role="api", path_contains="/profile") if r.at >= since]


# -- 429 -----------------------------------------------------------------------------------------

def test_429_waits_retry_after_then_succeeds(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"force_429": {"retry_after": 1, "count": 1, "match": "api ^/2/profile$"}})
    transport = make_transport()
    started = time.time()
    profile = get_profile(transport)
    elapsed = time.time() - started
    assert profile.id == JANE_ID
    assert 0.95 <= elapsed < 2.5, elapsed
    assert [r.status for r in profile_requests(emulator, started)] == [429, 200]


def test_429_without_retry_after_waits_for_the_reset_header(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"force_429": {"retry_after": None, "reset_header": True, "count": 1,
                                        "match": "api ^/2/profile$"}})
    started = time.time()
    assert get_profile(make_transport()).id == JANE_ID
    assert [r.status for r in profile_requests(emulator, started)] == [429, 200]
    assert time.time() - started < 3.5


def test_429_longer_than_max_retry_wait_raises_at_once(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"force_429": {"retry_after": 30, "match": "api ^/2/profile$"}})
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        get_profile(make_transport(max_retry_wait=5))
    assert time.monotonic() - started < 1.0
    assert 29 <= caught.value.retry_after <= 30
    assert caught.value.status == 429 and caught.value.code == "too_many_request"


def test_client_side_rate_limit_paces_requests(emulator: Emulator, make_transport) -> None:
    transport = make_transport(rate_limit_per_minute=60)  # 1 per second after a burst of 10
    started = time.monotonic()
    for _ in range(11):
        get_profile(transport)
    assert time.monotonic() - started >= 0.9


# -- 5xx, timeouts -------------------------------------------------------------------------------

def test_a_5xx_burst_is_survived_on_get(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"server_errors": {"status": 503, "count": 2, "match": "api ^/2/profile$"}})
    started = time.time()
    assert get_profile(make_transport()).email == "jane@example.ch"
    assert [r.status for r in profile_requests(emulator, started)] == [503, 503, 200]


def test_a_lasting_5xx_with_an_html_body_gives_upstream_unavailable(emulator: Emulator,
                                                                     make_transport) -> None:
    emulator.knobs.merge({"server_errors": {"status": 502, "html": True, "match": "api ^/2/profile$"}})
    started = time.time()
    with pytest.raises(UpstreamUnavailable) as caught:
        get_profile(make_transport())
    assert caught.value.status == 502
    assert len(profile_requests(emulator, started)) == 4  # the first try and three retries


def test_a_post_is_not_retried_on_5xx(emulator: Emulator, make_transport) -> None:
    mail = Mail(make_transport())
    mailbox = mail.mailboxes()[0]
    emulator.knobs.merge({"server_errors": {"status": 500, "count": 1,
                                            "match": {"host": "mail", "method": "POST"}}})
    started = time.time()
    with pytest.raises(UpstreamUnavailable):
        mail.create_folder(mailbox.uuid, "Never created")
    posts = [r for r in emulator.log.find(role="mail", method="POST") if r.at >= started]
    assert [r.status for r in posts] == [500]
    assert all(f.name != "Never created" for f in mail.folders(mailbox.uuid))


def test_a_slow_reply_surfaces_as_upstream_timeout(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"latency_ms": {"value": 1500, "match": "api ^/2/profile$"}})
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        get_profile(make_transport(timeout=0.3, retry_backoff=()))
    assert time.monotonic() - started < 1.2


def test_one_slow_reply_is_retried_on_get(emulator: Emulator, make_transport) -> None:
    emulator.knobs.merge({"latency_ms": {"value": 1500, "count": 1, "match": "api ^/2/profile$"}})
    started = time.monotonic()
    assert get_profile(make_transport(timeout=0.3)).id == JANE_ID
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_upstream_unavailable() -> None:
    dead = Endpoints("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9")
    with Transport(dead, StaticTokenProvider("x"), ClientSettings(retry_backoff=(0.01,))) as transport:
        with pytest.raises(UpstreamUnavailable) as caught:
            get_profile(transport)
    assert caught.value.status is None


# -- errors by code ------------------------------------------------------------------------------

def test_errors_carry_status_code_and_description(make_transport) -> None:
    mail = Mail(make_transport())
    mailbox = mail.mailboxes()[0]
    with pytest.raises(NotFound) as caught:
        mail.rename_folder(mailbox.uuid, "eJwLzs8rSc0r0VEIzs8rSc0rAQBHGQcZ", "x")
    assert caught.value.status == 404 and caught.value.code == "folder__not_exists"
    with pytest.raises(Forbidden) as refused:
        mail.rename_folder(mailbox.uuid, next(f.id for f in mail.folders(mailbox.uuid) if f.role == "INBOX"),
                           "Renamed inbox")
    assert refused.value.code == "folder__protected_folder"


def test_a_scope_missing_on_mail_is_forbidden_not_a_logout(emulator: Emulator, make_transport) -> None:
    token = emulator.issue_token(JANE_ID, scopes="user_info kdrive")
    with pytest.raises(Forbidden) as caught:
        Mail(make_transport(token)).mailboxes()
    assert caught.value.code == "access_denied"


# -- 401 and refresh -----------------------------------------------------------------------------

def test_a_dead_personal_token_means_reconnect(emulator: Emulator, make_transport) -> None:
    with pytest.raises(ReconnectRequired) as caught:
        Mail(make_transport("pat-that-does-not-exist")).mailboxes()
    assert "personal" in caught.value.user_message


def test_a_mail_redirect_to_login_is_a_refused_login_never_followed(emulator: Emulator,
                                                                     make_transport) -> None:
    emulator.knobs.merge({"mail_auth_redirect": True})
    started = time.time()
    with pytest.raises(ReconnectRequired):
        Mail(make_transport("pat-that-does-not-exist")).mailboxes()
    records = [r for r in emulator.log.records if r.at >= started]
    assert [(r.role, r.status) for r in records] == [("mail", 302)]


def test_a_mail_redirect_triggers_one_refresh_then_succeeds(emulator: Emulator) -> None:
    emulator.knobs.merge({"mail_auth_redirect": True})
    with oauth_session(emulator) as (oauth, token_set):
        provider = MemoryTokenProvider(oauth, token_set)
        expire(emulator, provider.token_set)
        with Transport(endpoints(emulator), provider) as transport:
            assert Mail(transport).mailboxes()
        assert provider.refresh_count == 1


@contextlib.contextmanager
def oauth_session(emu: Emulator) -> Iterator[tuple[OAuthClient, TokenSet]]:
    """An OAuth client and a fresh offline token set for Jane, from the real code flow."""
    emu.knobs.merge({"consent": "approve"})
    with OAuthClient(endpoints(emu), DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS[0]) as oauth:
        state, verifier = oauth.new_state(), oauth.new_code_verifier()
        location = httpx.get(oauth.authorization_url(state, verifier)).headers["Location"]
        code = oauth.code_from_callback(parse_qs(urlparse(location).query), state)
        yield oauth, oauth.exchange_code(code, verifier)


# -- base URLs with a path prefix ----------------------------------------------------------------

def test_base_urls_with_a_path_prefix_work() -> None:
    with Emulator(single_port=True, sample=SampleOptions(big_folder_files=5, mail_messages=5)) as emu:
        assert emu.api_url.endswith("/_api") and emu.upload_url.endswith("/_upload")
        settings = ClientSettings(direct_upload_max=1 << 20, chunk_size=1 << 20)
        with oauth_session(emu) as (oauth, token_set):
            assert oauth.check(token_set.access_token)
            with Transport(endpoints(emu), MemoryTokenProvider(oauth, token_set), settings) as transport:
                assert get_profile(transport).id == JANE_ID

                kdrive = KDrive(transport)
                private = kdrive.top_folders(140946).private
                data = bytes(range(256)) * 9000  # a little over 2 MiB: an upload session
                made = kdrive.upload(140946, private.id, "prefixed.bin", data, len(data))
                with kdrive.download(140946, made.id, offset=1000, length=5000) as stream:
                    assert stream.read_all() == data[1000:6000]
                assert {r.role for r in emu.log.records} >= {"login", "api", "upload", "content"}

                mail = Mail(transport)
                mailbox = mail.mailboxes()[0]
                inbox = next(f for f in mail.folders(mailbox.uuid) if f.role == "INBOX")
                uids = mail.message_uids(mailbox.uuid, inbox.id).uids
                message = mail.messages(mailbox.uuid, inbox.id, uids[:1])[0]
                with mail.download_eml(mailbox.uuid, inbox.id, message.short_uid) as stream:
                    assert len(stream.read_all()) == message.size
            oauth.revoke(token_set.access_token)
            assert not oauth.check(token_set.access_token)
