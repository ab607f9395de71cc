"""Each way the OAuth connection fails, reached for real against the emulator.

Every failure must be a page with a 4xx status (502 for an outage) that names the cause and the
fix, and must leave nothing behind: no stored account, no live grant at Infomaniak.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlencode

import requests

from ikdav.config import CALLBACK_PATH
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, MARC_ID
from ikdav.emulator.state import User

from .conftest import StartServer
from .support import START_PATH, ConnectServer, state_of, visible_text


def assert_failure_page(response: requests.Response, status: int, *phrases: str) -> str:
    text = visible_text(response.text)
    assert response.status_code == status, text
    assert "text/html" in response.headers["Content-Type"]
    assert "Traceback" not in response.text
    assert "What happened:" in text and "How to fix it:" in text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not on the page: {text}"
    return text


def assert_nothing_stored(server: ConnectServer) -> None:
    assert server.services.store.list() == []


def assert_grants_dead(server: ConnectServer) -> None:
    """Whatever the emulator granted to this server was revoked again."""
    identity = server.emulator.state.identity
    tokens = server.grant_tokens()
    assert tokens, "the emulator issued no token: the flow did not get that far"
    with identity.lock:
        alive = [a for a in identity.access_tokens.values()
                 if a.grant.client_id == server.client_id and a.valid()]
    assert alive == []


def test_deny_on_the_consent_page_names_access_denied(emulator: Emulator,
                                                      connect_server: ConnectServer) -> None:
    emulator.knobs.merge({"consent": "deny"})
    page = connect_server.visitor().connect_oauth()
    assert_failure_page(page, 403, "Deny was chosen", "access_denied", "choose Allow")
    assert_nothing_stored(connect_server)


def test_a_wrong_client_secret_names_invalid_client_and_the_settings(emulator: Emulator,
                                                                      start_server: StartServer) -> None:
    server = start_server(emulator, client_secret="not-the-registered-secret")
    emulator.knobs.merge({"consent": "approve"})
    page = server.visitor().connect_oauth()
    assert_failure_page(page, 400, "invalid_client", "infomaniak.client_secret", "Infomaniak Manager")
    assert "not-the-registered-secret" not in page.text
    assert_nothing_stored(server)


def test_user_info_left_out_names_the_scope_and_revokes_the_grant(emulator: Emulator,
                                                                  connect_server: ConnectServer) -> None:
    emulator.knobs.merge({"consent": "approve", "deny_scopes": ["user_info"]})
    page = connect_server.visitor().connect_oauth()
    assert_failure_page(page, 403, "user_info", "profile answered 401", "leave it ticked")
    assert_nothing_stored(connect_server)
    assert_grants_dead(connect_server)


def test_a_replayed_callback_is_refused(emulator: Emulator, connect_server: ConnectServer) -> None:
    emulator.knobs.merge({"consent": "approve"})
    visitor = connect_server.visitor()
    callback = visitor.consent(visitor.start_oauth())
    assert visitor.callback(callback).url.endswith("/connected")
    replay = visitor.callback(callback)
    assert_failure_page(replay, 400, "no longer valid", "already used", "Start again")
    assert len(connect_server.services.store.app_passwords(connect_server.services.store.list()[0].id)) == 1


def test_a_callback_without_state_is_refused(connect_server: ConnectServer) -> None:
    visitor = connect_server.visitor()
    visitor.get("/")
    page = visitor.get(CALLBACK_PATH + "?code=code-made-up")
    assert_failure_page(page, 400, "carries no state", "Start again")


def test_a_callback_opened_in_another_browser_is_refused(emulator: Emulator,
                                                         connect_server: ConnectServer) -> None:
    emulator.knobs.merge({"consent": "approve"})
    starter = connect_server.visitor()
    callback = starter.consent(starter.start_oauth())
    cookieless = requests.get(callback, timeout=30)
    assert_failure_page(cookieless, 400, "did not send ikdav's cookie", connect_server.base)
    # The refusal did not burn the state: the browser that started can still finish.
    assert starter.callback(callback).url.endswith("/connected")

    other = connect_server.visitor()
    callback = starter.consent(starter.start_oauth())
    other.get("/")
    assert_failure_page(other.callback(callback), 400, "another browser")
    assert len(connect_server.services.store.list()) == 1


def test_an_e_mail_outside_allowed_users_is_refused(emulator: Emulator, start_server: StartServer) -> None:
    server = start_server(emulator, allowed_users=["marc@example.ch"])
    emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    page = server.visitor().connect_oauth()
    assert_failure_page(page, 403, "jane@example.ch", "allowed_users")
    assert_nothing_stored(server)
    assert_grants_dead(server)

    emulator.knobs.merge({"consent_user": MARC_ID})
    assert server.visitor().connect_oauth().url.endswith("/connected")


def test_an_account_with_no_kdrive_and_no_mailbox_is_refused(fresh_emulator: Emulator,
                                                             start_server: StartServer) -> None:
    lonely = User(990001, "lonely@example.ch", "Lonely", "User")
    fresh_emulator.state.identity.add_user(lonely)
    fresh_emulator.knobs.merge({"consent": "approve", "consent_user": lonely.id, "kdrive_drives": []})
    server = start_server(fresh_emulator)
    page = server.visitor().connect_oauth()
    assert_failure_page(page, 403, "no kDrive and no mailbox", "lonely@example.ch", "kdrive", "mail")
    assert_nothing_stored(server)


def test_an_unregistered_redirect_uri_reported_back_is_explained(connect_server: ConnectServer) -> None:
    visitor = connect_server.visitor()
    state = state_of(visitor.start_oauth())
    page = visitor.get(CALLBACK_PATH + "?" + urlencode({"error": "invalid_redirect_uri", "state": state}))
    assert_failure_page(page, 400, "invalid_redirect_uri", connect_server.config.infomaniak.redirect_uri,
                        "infomaniak.redirect_uri")


def test_a_code_from_another_sign_in_names_invalid_grant(emulator: Emulator,
                                                         connect_server: ConnectServer) -> None:
    emulator.knobs.merge({"consent": "approve"})
    visitor = connect_server.visitor()
    first_callback = visitor.consent(visitor.start_oauth())
    second_state = state_of(visitor.start_oauth())
    code = first_callback.split("code=", 1)[1].split("&", 1)[0]
    page = visitor.get(CALLBACK_PATH + "?" + urlencode({"code": code, "state": second_state}))
    assert_failure_page(page, 400, "invalid_grant", "Connect again")
    assert_nothing_stored(connect_server)


def test_an_outage_of_the_login_host_is_a_502_page(emulator: Emulator, connect_server: ConnectServer) -> None:
    token_endpoint = {"host": "login", "path": "^/token$", "method": "POST"}
    emulator.knobs.merge({"consent": "approve",
                          "server_errors": {"status": 503, "count": 1, "match": token_endpoint}})
    page = connect_server.visitor().connect_oauth()
    assert_failure_page(page, 502, "not reachable", "Try again")
    assert_nothing_stored(connect_server)


def test_the_start_url_needs_a_post_with_the_browsers_csrf_token(connect_server: ConnectServer) -> None:
    visitor = connect_server.visitor()
    shown = visitor.get(START_PATH, allow_redirects=False)
    assert shown.status_code == 200 and "Location" not in shown.headers
    assert "Continue to Infomaniak" in shown.text

    forged = visitor.post(START_PATH, {"csrf_token": "forged"}, allow_redirects=False)
    assert_failure_page(forged, 403, "expired", "Nothing was changed")
    cross_site = requests.post(connect_server.base + START_PATH, data={}, allow_redirects=False, timeout=30)
    assert cross_site.status_code == 403
    database = connect_server.data_dir / "ikdav.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM oauth_states").fetchone()[0] == 0


def test_without_an_oauth_application_the_page_says_so(emulator: Emulator, start_server: StartServer) -> None:
    server = start_server(emulator, **{"infomaniak.client_id": "", "infomaniak.client_secret": ""})
    visitor = server.visitor()
    home = visitor.get("/")
    assert 'id="connect"' not in home.text
    assert "infomaniak.client_id" in visible_text(home.text)
    refused = visitor.form_post("/", START_PATH, allow_redirects=False)
    assert_failure_page(refused, 404, "No OAuth application", "personal API token")
