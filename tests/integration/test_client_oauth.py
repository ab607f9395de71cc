"""OAuth, token providers and the profile against the emulator's login and API hosts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URIS,
    JANE_ID,
    JANE_PAT,
)
from ikdav.infomaniak import (
    ClientSettings,
    Endpoints,
    InvalidGrant,
    MemoryTokenProvider,
    OAuthClient,
    OAuthError,
    ReconnectRequired,
    ScopeMissing,
    StaticTokenProvider,
    TokenSet,
    Transport,
    UpstreamUnavailable,
    get_profile,
)

from .client_support import endpoints, expire

REDIRECT_URI = DEMO_REDIRECT_URIS[0]


@pytest.fixture
def oauth(emulator: Emulator) -> Iterator[OAuthClient]:
    with OAuthClient(endpoints(emulator), DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI) as client:
        yield client


def authorize(client: OAuthClient) -> tuple[dict[str, list[str]], str, str]:
    """Run /authorize like a browser whose user answers by knob; return the callback query."""
    state, verifier = client.new_state(), client.new_code_verifier()
    response = httpx.get(client.authorization_url(state, verifier))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(client.redirect_uri + "?")
    return parse_qs(urlparse(location).query), state, verifier


def connect(emu: Emulator, client: OAuthClient) -> TokenSet:
    emu.knobs.merge({"consent": "approve"})
    query, state, verifier = authorize(client)
    return client.exchange_code(client.code_from_callback(query, state), verifier)


# -- the code flow -------------------------------------------------------------------------------

def test_authorization_url_asks_for_pkce_offline_and_the_scopes(oauth: OAuthClient) -> None:
    state, verifier = oauth.new_state(), oauth.new_code_verifier()
    assert len(state) >= 22 and 43 <= len(verifier) <= 128
    assert oauth.new_state() != state
    query = parse_qs(urlparse(oauth.authorization_url(state, verifier)).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["user_info kdrive mail"]
    assert query["state"] == [state]
    assert verifier not in query["code_challenge"][0]


def test_code_flow_gives_an_offline_token_that_works(emulator: Emulator, oauth: OAuthClient) -> None:
    token_set = connect(emulator, oauth)
    assert token_set.refresh_token and token_set.expires_in == 7200
    assert token_set.user_id == JANE_ID  # a numeric string on the wire (D8)
    assert token_set.scopes == {"user_info", "kdrive", "mail"}
    assert "access_token" not in repr(token_set) and token_set.access_token not in repr(token_set)
    assert oauth.check(token_set.access_token)
    with Transport(endpoints(emulator), MemoryTokenProvider(oauth, token_set)) as transport:
        assert get_profile(transport).email == "jane@example.ch"


def test_user_id_as_int_is_read_the_same(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"user_id_as": "int"})
    assert connect(emulator, oauth).user_id == JANE_ID


def test_a_callback_with_another_state_is_refused(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"consent": "approve"})
    query, _state, _verifier = authorize(oauth)
    with pytest.raises(OAuthError) as caught:
        oauth.code_from_callback(query, expected_state=oauth.new_state())
    assert caught.value.error == "invalid_request"


def test_refusal_on_the_consent_page_is_access_denied(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"consent": "deny"})
    query, state, _verifier = authorize(oauth)
    with pytest.raises(OAuthError) as caught:
        oauth.code_from_callback(query, state)
    assert caught.value.error == "access_denied"
    assert "Allow" in caught.value.user_message


def test_an_unknown_scope_is_invalid_scope(emulator: Emulator) -> None:
    emulator.knobs.merge({"consent": "approve"})
    with OAuthClient(endpoints(emulator), DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI,
                     scopes="user_info files_everywhere") as client:
        query, state, _verifier = authorize(client)
        with pytest.raises(OAuthError) as caught:
            client.code_from_callback(query, state)
    assert caught.value.error == "invalid_scope"
    assert "scopes" in caught.value.user_message


def test_a_wrong_client_secret_is_invalid_client(emulator: Emulator) -> None:
    emulator.knobs.merge({"consent": "approve"})
    with OAuthClient(endpoints(emulator), DEMO_CLIENT_ID, "not-the-secret", REDIRECT_URI) as client:
        query, state, verifier = authorize(client)
        with pytest.raises(OAuthError) as caught:
            client.exchange_code(client.code_from_callback(query, state), verifier)
    assert caught.value.error == "invalid_client" and caught.value.status == 401
    assert "client id or secret is wrong" in caught.value.user_message


def test_an_unregistered_redirect_uri_is_named_in_the_message(emulator: Emulator) -> None:
    wrong = "http://localhost:9999/api/infomaniak/auth/connect/callback"
    with OAuthClient(endpoints(emulator), DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, wrong) as client:
        with pytest.raises(OAuthError) as caught:
            client.verify_registration()
    assert caught.value.error == "invalid_redirect_uri"
    assert "must be exactly" in caught.value.user_message and wrong in caught.value.user_message


def test_an_unknown_client_id_is_reported_by_verify_registration(emulator: Emulator) -> None:
    with OAuthClient(endpoints(emulator), "nobody", DEMO_CLIENT_SECRET, REDIRECT_URI) as client:
        with pytest.raises(OAuthError) as caught:
            client.verify_registration()
    assert caught.value.error == "invalid_client"


def test_a_registered_client_passes_verify_registration(oauth: OAuthClient) -> None:
    oauth.verify_registration()


def test_a_used_code_is_invalid_grant(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"consent": "approve"})
    query, state, verifier = authorize(oauth)
    code = oauth.code_from_callback(query, state)
    oauth.exchange_code(code, verifier)
    with pytest.raises(InvalidGrant) as caught:
        oauth.exchange_code(code, verifier)
    assert "connect the account again" in caught.value.user_message


def test_refresh_rotates_and_the_old_refresh_token_dies(emulator: Emulator, oauth: OAuthClient) -> None:
    first = connect(emulator, oauth)
    second = oauth.refresh(first.refresh_token or "")
    assert second.refresh_token and second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    with pytest.raises(InvalidGrant) as caught:
        oauth.refresh(first.refresh_token or "")
    assert caught.value.reason == "refresh_token_revoked"


def test_revoke_ends_the_grant_and_a_second_revoke_is_fine(emulator: Emulator, oauth: OAuthClient) -> None:
    token_set = connect(emulator, oauth)
    oauth.revoke(token_set.access_token)
    assert not oauth.check(token_set.access_token)
    oauth.revoke(token_set.access_token)  # 401 counts as done (D10)
    with pytest.raises(InvalidGrant):
        oauth.refresh(token_set.refresh_token or "")


def test_an_unreachable_login_host_is_transient() -> None:
    dead = Endpoints("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9")
    with OAuthClient(dead, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI) as client:
        with pytest.raises(UpstreamUnavailable):
            client.refresh("anything")


# -- MemoryTokenProvider -------------------------------------------------------------------------

def test_sixteen_threads_hitting_an_expired_token_cause_one_refresh(emulator: Emulator,
                                                                    oauth: OAuthClient) -> None:
    provider = MemoryTokenProvider(oauth, connect(emulator, oauth))
    identity = emulator.state.identity
    refreshes_before = identity.counters["refresh"]
    expire(emulator, provider.token_set)
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    with Transport(endpoints(emulator), provider) as transport:
        def work() -> None:
            try:
                barrier.wait()
                assert get_profile(transport).id == JANE_ID
            except BaseException as exc:  # collected for the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert identity.counters["refresh"] - refreshes_before == 1
    assert provider.refresh_count == 1


def test_refresh_happens_ahead_of_expiry_without_a_401(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"access_token_ttl": 30})
    token_set = connect(emulator, oauth)
    assert token_set.expires_in == 30
    # 20 s later the token is within min(60, 30/2) = 15 s of expiry: refresh first.
    provider = MemoryTokenProvider(oauth, token_set, clock=lambda: time.time() + 20)
    started = time.time()
    with Transport(endpoints(emulator), provider) as transport:
        get_profile(transport)
    assert provider.refresh_count == 1
    assert [r.status for r in emulator.log.find(role="api") if r.at >= started] == [200]


def test_on_refresh_runs_before_the_new_token_is_used(emulator: Emulator, oauth: OAuthClient) -> None:
    original = connect(emulator, oauth)
    seen: list[tuple[TokenSet, int]] = []

    def persist(token_set: TokenSet) -> None:
        seen.append((token_set, len(emulator.log.find(role="api", path_contains="/profile"))))

    provider = MemoryTokenProvider(oauth, original, on_refresh=persist)
    expire(emulator, provider.token_set)
    with Transport(endpoints(emulator), provider) as transport:
        get_profile(transport)
    assert len(seen) == 1
    fresh, profile_calls_at_persist = seen[0]
    assert fresh.refresh_token not in (None, original.refresh_token)
    assert provider.token_set == fresh
    # Only the refused call had reached the API when the new pair was handed over for storage.
    calls = emulator.log.find(role="api", path_contains="/profile")
    assert calls[profile_calls_at_persist - 1].status == 401
    assert [r.status for r in calls[profile_calls_at_persist:]] == [200]


def test_a_reply_without_refresh_token_keeps_the_old_one(emulator: Emulator) -> None:
    class NoRotation(OAuthClient):
        def refresh(self, refresh_token: str) -> TokenSet:
            return replace(super().refresh(refresh_token), refresh_token=None)

    with NoRotation(endpoints(emulator), DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI) as client:
        original = connect(emulator, client)
        provider = MemoryTokenProvider(client, original)
        assert provider(original.access_token) != original.access_token
    assert provider.token_set.refresh_token == original.refresh_token


def test_a_revoked_refresh_token_means_reconnect_and_stays_so(emulator: Emulator,
                                                              oauth: OAuthClient) -> None:
    provider = MemoryTokenProvider(oauth, connect(emulator, oauth))
    emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
    expire(emulator, provider.token_set)
    failed_before = emulator.state.identity.counters["refresh_failed"]
    with Transport(endpoints(emulator), provider) as transport:
        with pytest.raises(ReconnectRequired):
            get_profile(transport)
        with pytest.raises(ReconnectRequired):
            get_profile(transport)
    assert emulator.state.identity.counters["refresh_failed"] - failed_before == 1


def test_a_network_error_during_refresh_keeps_the_tokens(emulator: Emulator, oauth: OAuthClient) -> None:
    token_set = connect(emulator, oauth)
    dead = Endpoints("http://127.0.0.1:9", emulator.api_url, emulator.mail_url)
    with OAuthClient(dead, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI) as unreachable:
        due_soon = MemoryTokenProvider(unreachable, token_set, clock=lambda: time.time() + 7150)
        assert due_soon() == token_set.access_token  # due, but still valid: used while it lasts
        with pytest.raises(UpstreamUnavailable):
            due_soon(token_set.access_token)  # refused: must refresh, cannot
        assert due_soon.token_set == token_set
        assert due_soon() == token_set.access_token


# -- profile and static tokens -------------------------------------------------------------------

def test_a_personal_token_reads_the_profile(emulator: Emulator) -> None:
    with Transport(endpoints(emulator), StaticTokenProvider(JANE_PAT)) as transport:
        assert get_profile(transport).display_name == "Jane Doe"


def test_profile_falls_back_to_v1_on_404(emulator: Emulator, jane_token: str) -> None:
    emulator.knobs.merge({"server_errors": {"status": 404, "html": True, "count": 1,
                                            "match": "api ^/2/profile$"}})
    with Transport(endpoints(emulator), StaticTokenProvider(jane_token)) as transport:
        profile = get_profile(transport)
    assert (profile.first_name, profile.last_name) == ("Jane", "Doe")
    assert emulator.log.find(role="api", path_contains="/1/profile")


def test_an_oauth_token_without_user_info_is_scope_missing(emulator: Emulator, oauth: OAuthClient) -> None:
    emulator.knobs.merge({"deny_scopes": ["user_info"]})
    token_set = connect(emulator, oauth)
    assert "user_info" not in token_set.scopes
    provider = MemoryTokenProvider(oauth, token_set)
    with Transport(endpoints(emulator), provider) as transport:
        with pytest.raises(ScopeMissing) as caught:
            get_profile(transport)
    assert caught.value.scope == "user_info"
    assert "user_info" in caught.value.user_message
    assert oauth.check(provider())  # still connected: not a logout


def test_a_personal_token_without_user_info_is_scope_missing(emulator: Emulator) -> None:
    token = emulator.issue_token(JANE_ID, scopes="kdrive mail")
    with Transport(endpoints(emulator), StaticTokenProvider(token),
                   ClientSettings(retry_backoff=())) as transport:
        with pytest.raises(ScopeMissing):
            get_profile(transport)
