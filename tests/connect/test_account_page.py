"""The account page: signing in, app passwords, reconnect, disconnect, remove, sign out."""

from __future__ import annotations

import requests

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT, MARC_ID

from .conftest import StartServer
from .support import ConnectServer, Visitor, csrf_of, password_on, visible_text

JANE = "jane@example.ch"


def connect_with_oauth(server: ConnectServer) -> tuple[Visitor, str]:
    """Jane connected through the OAuth flow; the visitor is signed in. Returns (visitor, password)."""
    server.emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    visitor = server.visitor()
    page = visitor.connect_oauth()
    assert page.url.endswith("/connected"), visible_text(page.text)
    return visitor, password_on(page.text)


def connect_with_token(server: ConnectServer, token: str = JANE_PAT) -> tuple[Visitor, str]:
    visitor = server.visitor()
    page = visitor.form_post("/", "/connect/token", {"token": token})
    assert page.url.endswith("/connected"), visible_text(page.text)
    return visitor, password_on(page.text)


def account_action(visitor: Visitor, action: str, data: dict[str, str] | None = None) -> requests.Response:
    return visitor.form_post("/account", action, data)


def test_signing_in_with_an_app_password_shows_status_and_what_is_connected(
        connect_server: ConnectServer) -> None:
    _, password = connect_with_token(connect_server)
    visitor = connect_server.visitor()
    assert 'name="password"' in visitor.get("/account").text

    page = visitor.sign_in(JANE, password)
    text = visible_text(page.text)
    assert page.status_code == 200 and page.url.endswith("/account")
    assert "connected" in text and "a personal API token" in text
    assert "My kDrive" in text and "support@doe-consulting.ch" in text
    assert page.headers["Cache-Control"] == "no-store"


def test_wrong_passwords_are_refused_then_throttled(connect_server: ConnectServer) -> None:
    _, password = connect_with_token(connect_server)
    visitor = connect_server.visitor()
    refused = visitor.sign_in(JANE, "wrong-password")
    assert refused.status_code == 401
    assert "Wrong e-mail or app password" in refused.text
    for _ in range(5):
        last = visitor.sign_in(JANE, "wrong-password")
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) >= 1
    # Throttled means not even checked: the right password waits too.
    assert visitor.sign_in(JANE, password).status_code == 429


def test_a_new_app_password_is_shown_once_and_can_be_revoked(connect_server: ConnectServer) -> None:
    visitor, first = connect_with_token(connect_server)
    created = account_action(visitor, "/account/passwords", {"label": "laptop"})
    second = password_on(created.text)
    assert second != first and "laptop" in created.text
    assert connect_server.propfind(JANE, second).status_code == 207
    assert second not in visitor.get("/account").text

    store = connect_server.services.store
    account = store.by_email(JANE)
    assert account is not None
    laptop = next(p for p in store.app_passwords(account.id) if p.label == "laptop")
    account_action(visitor, "/account/passwords/revoke", {"password_id": str(laptop.id)})
    assert connect_server.propfind(JANE, second).status_code == 401
    assert connect_server.propfind(JANE, first).status_code == 207


def test_a_revoked_refresh_token_shows_reconnect_needed_and_reconnecting_heals(
        fresh_emulator: Emulator, start_server: StartServer) -> None:
    server = start_server(fresh_emulator)
    visitor, password = connect_with_oauth(server)
    assert server.propfind(JANE, password, "kDrive/", depth="1").status_code == 207

    fresh_emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
    fresh_emulator.state.identity.expire_access_tokens(JANE_ID)
    page = visible_text(visitor.get("/account").text)
    assert "reconnect needed" in page and "revoked" in page

    for _ in range(3):
        answer = server.propfind(JANE, password, "Mail/", depth="1")
        assert answer.status_code in (401, 403)
        assert "reconnect" in answer.text.lower()
    assert fresh_emulator.state.identity.counters["refresh_failed"] == 1  # no retry loop

    reconnected = account_action(visitor, "/account/reconnect")
    assert any(hop.url.startswith(fresh_emulator.login_url + "/authorize") for hop in reconnected.history)
    back = visible_text(reconnected.text)
    assert reconnected.url.endswith("/account")
    assert "Reconnected" in back and "reconnect needed" not in back
    assert server.propfind(JANE, password, "Mail/", depth="1").status_code == 207


def test_reconnecting_as_someone_else_is_refused(emulator: Emulator, connect_server: ConnectServer) -> None:
    visitor, password = connect_with_oauth(connect_server)
    emulator.knobs.merge({"consent_user": MARC_ID})
    refused = account_action(visitor, "/account/reconnect")
    assert refused.status_code == 403
    assert "Signed in as another Infomaniak user" in visible_text(refused.text)
    assert connect_server.services.store.by_email("marc@example.ch") is None
    assert connect_server.propfind(JANE, password, "kDrive/", depth="1").status_code == 207


def test_disconnect_revokes_at_infomaniak_and_deletes_the_tokens(emulator: Emulator,
                                                                  connect_server: ConnectServer) -> None:
    visitor, password = connect_with_oauth(connect_server)
    granted = connect_server.grant_tokens()
    page = visible_text(account_action(visitor, "/account/disconnect").text)
    assert "Infomaniak revoked the authorisation" in page
    assert "reconnect needed: it was disconnected" in page
    assert all(emulator.state.identity.lookup(token) is None for token in granted)
    store = connect_server.services.store
    account = store.by_email(JANE)
    assert account is not None
    assert store.read_tokens(account.id).access_token is None
    answer = connect_server.propfind(JANE, password, "kDrive/", depth="1")
    assert answer.status_code in (401, 403) and "reconnect" in answer.text.lower()


def test_disconnect_deletes_local_tokens_even_when_revoking_fails(emulator: Emulator,
                                                                  connect_server: ConnectServer) -> None:
    visitor, _ = connect_with_oauth(connect_server)
    emulator.knobs.merge({"server_errors": {"status": 503, "match": {"host": "login", "method": "DELETE"}}})
    page = visible_text(account_action(visitor, "/account/disconnect").text)
    assert "could not revoke" in page and "deleted anyway" in page
    account = connect_server.services.store.by_email(JANE)
    assert account is not None and not account.connected
    assert connect_server.services.store.read_tokens(account.id).access_token is None


def test_remove_deletes_the_account_and_its_passwords(emulator: Emulator,
                                                      connect_server: ConnectServer) -> None:
    visitor, password = connect_with_oauth(connect_server)
    granted = connect_server.grant_tokens()
    page = account_action(visitor, "/account/remove")
    assert page.status_code == 200 and "Account removed" in page.text
    assert connect_server.services.store.list() == []
    assert all(emulator.state.identity.lookup(token) is None for token in granted)
    assert connect_server.propfind(JANE, password).status_code == 401
    assert 'name="password"' in visitor.get("/account").text  # signed out


def test_sign_out_ends_the_session(connect_server: ConnectServer) -> None:
    visitor, _ = connect_with_token(connect_server)
    stale_form = visitor.get("/account").text
    out = account_action(visitor, "/account/logout")
    assert out.url.rstrip("/") == connect_server.base
    assert 'name="password"' in visitor.get("/account").text
    replay = visitor.post("/account/passwords", {"csrf_token": csrf_of(stale_form), "label": "x"})
    assert replay.status_code == 401
    account = connect_server.services.store.by_email(JANE)
    assert account is not None and len(connect_server.services.store.app_passwords(account.id)) == 1


def test_a_token_account_takes_a_new_personal_token(emulator: Emulator,
                                                    connect_server: ConnectServer) -> None:
    visitor, password = connect_with_token(connect_server)
    fresh_token = emulator.state.identity.personal_token(JANE_ID, "user_info drive workspace:mail")
    page = account_action(visitor, "/account/token", {"token": fresh_token})
    assert "new personal token is saved" in visible_text(page.text)
    store = connect_server.services.store
    account = store.by_email(JANE)
    assert account is not None and store.read_tokens(account.id).access_token == fresh_token
    assert connect_server.propfind(JANE, password, "kDrive/", depth="1").status_code == 207
