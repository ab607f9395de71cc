"""Tokens on demand for stored accounts, against the emulator's login host (real HTTP, real SQLite)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ikdav.accounts.crypto import load_cipher
from ikdav.accounts.store import STATUS_RECONNECT, AccountStore
from ikdav.accounts.tokens import AccountTokenProvider
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, JANE_ID
from ikdav.infomaniak import Endpoints, OAuthClient, ReconnectRequired, TokenSet, UpstreamUnavailable


def oauth_client(emulator: Emulator) -> OAuthClient:
    endpoints = Endpoints(emulator.login_url, emulator.api_url, emulator.mail_url)
    return OAuthClient(endpoints, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS[0])


def connect(emulator: Emulator, oauth: OAuthClient) -> TokenSet:
    emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    state, verifier = oauth.new_state(), oauth.new_code_verifier()
    reply = httpx.get(oauth.authorization_url(state, verifier))
    params = parse_qs(urlparse(reply.headers["location"]).query)
    return oauth.exchange_code(oauth.code_from_callback(params, state), verifier)


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    return AccountStore(tmp_path / "ikdav.sqlite3", load_cipher(tmp_path / "secret.key", env={}))


def save(store: AccountStore, tokens: TokenSet) -> int:
    return store.save_account(
        email="jane@example.ch", infomaniak_user_id=JANE_ID, display_name="Jane", auth_kind="oauth",
        scopes=tokens.scope or "", access_token=tokens.access_token, refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at).id


def profile_status(emulator: Emulator, token: str) -> int:
    reply = httpx.get(emulator.api_url + "/2/profile", headers={"Authorization": f"Bearer {token}"})
    return reply.status_code


def test_a_fresh_token_is_handed_out_without_refreshing(fresh_emulator: Emulator,
                                                        store: AccountStore) -> None:
    oauth = oauth_client(fresh_emulator)
    tokens = connect(fresh_emulator, oauth)
    provider = AccountTokenProvider(store, save(store, tokens), oauth)
    assert provider() == tokens.access_token
    assert fresh_emulator.state.identity.counters["refresh"] == 0


def test_twenty_threads_at_expiry_cause_exactly_one_refresh(fresh_emulator: Emulator,
                                                            store: AccountStore) -> None:
    oauth = oauth_client(fresh_emulator)
    fresh_emulator.knobs.merge({"access_token_ttl": 2})
    tokens = connect(fresh_emulator, oauth)
    fresh_emulator.knobs.merge({"access_token_ttl": None})
    account_id = save(store, tokens)
    provider = AccountTokenProvider(store, account_id, oauth)
    time.sleep(1.1)  # within min(60 s, expires_in / 2) of expiry: a refresh is due
    barrier = threading.Barrier(20)
    results: list[str] = []

    def ask() -> None:
        barrier.wait()
        results.append(provider())

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fresh_emulator.state.identity.counters["refresh"] == 1
    assert len(set(results)) == 1 and results[0] != tokens.access_token
    assert profile_status(fresh_emulator, results[0]) == 200
    # The rotated refresh token was stored: the next refresh works.
    assert store.read_tokens(account_id).refresh_token != tokens.refresh_token


def test_a_401_with_the_current_token_forces_one_refresh(fresh_emulator: Emulator,
                                                         store: AccountStore) -> None:
    oauth = oauth_client(fresh_emulator)
    tokens = connect(fresh_emulator, oauth)
    provider = AccountTokenProvider(store, save(store, tokens), oauth)
    fresh_emulator.state.identity.expire_access_tokens(JANE_ID)
    new = provider(stale=tokens.access_token)
    again = provider(stale=tokens.access_token)  # a late thread reporting the same stale token
    assert new == again != tokens.access_token
    assert fresh_emulator.state.identity.counters["refresh"] == 1


def test_a_second_process_sharing_the_store_does_not_refresh_twice(fresh_emulator: Emulator,
                                                                   store: AccountStore,
                                                                   tmp_path: Path) -> None:
    oauth = oauth_client(fresh_emulator)
    fresh_emulator.knobs.merge({"access_token_ttl": 2})
    tokens = connect(fresh_emulator, oauth)
    fresh_emulator.knobs.merge({"access_token_ttl": None})
    account_id = save(store, tokens)
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from ikdav.accounts.crypto import load_cipher
        from ikdav.accounts.store import AccountStore
        from ikdav.accounts.tokens import AccountTokenProvider
        from ikdav.infomaniak import Endpoints, OAuthClient
        cipher = load_cipher(Path({str(tmp_path / 'secret.key')!r}), env={{}})
        store = AccountStore(Path({str(store.path)!r}), cipher)
        oauth = OAuthClient(Endpoints({fresh_emulator.login_url!r}, {fresh_emulator.api_url!r},
                                      {fresh_emulator.mail_url!r}),
                            {DEMO_CLIENT_ID!r}, {DEMO_CLIENT_SECRET!r}, {DEMO_REDIRECT_URIS[0]!r})
        provider = AccountTokenProvider(store, {account_id}, oauth)
        print("ready", flush=True)
        while not Path({str(go)!r}).exists():
            time.sleep(0.001)
        print(provider(), flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.1)
    provider = AccountTokenProvider(store, account_id, oauth)
    go.touch()
    mine = provider()
    theirs = child.stdout.readline().strip()
    assert child.wait(timeout=30) == 0
    assert mine == theirs != tokens.access_token
    assert fresh_emulator.state.identity.counters["refresh"] == 1


def test_invalid_grant_marks_the_account_and_stops(fresh_emulator: Emulator, store: AccountStore) -> None:
    oauth = oauth_client(fresh_emulator)
    tokens = connect(fresh_emulator, oauth)
    account_id = save(store, tokens)
    provider = AccountTokenProvider(store, account_id, oauth, reconnect_hint="open http://ikdav.test/")
    fresh_emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
    with pytest.raises(ReconnectRequired) as caught:
        provider(stale=tokens.access_token)
    assert "http://ikdav.test/" in caught.value.user_message
    assert store.get(account_id).status == STATUS_RECONNECT  # type: ignore[union-attr]
    failed_before = fresh_emulator.state.identity.counters["refresh_failed"]
    with pytest.raises(ReconnectRequired):
        provider()  # no retry loop: the login host is not asked again
    assert fresh_emulator.state.identity.counters["refresh_failed"] == failed_before


def test_network_errors_keep_the_tokens(fresh_emulator: Emulator, store: AccountStore) -> None:
    oauth = oauth_client(fresh_emulator)
    tokens = connect(fresh_emulator, oauth)
    account_id = save(store, tokens)
    provider = AccountTokenProvider(store, account_id, oauth)
    fresh_emulator.knobs.merge({"server_errors": {"status": 503, "match": "login"}})
    with pytest.raises(UpstreamUnavailable):
        provider(stale=tokens.access_token)
    stored = store.read_tokens(account_id)
    assert stored.refresh_token == tokens.refresh_token
    assert stored.status != STATUS_RECONNECT
    fresh_emulator.knobs.reset()
    assert provider(stale=tokens.access_token) != tokens.access_token
