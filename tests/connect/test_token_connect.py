"""Connecting with a personal API token pasted into the home page's form."""

from __future__ import annotations

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT, MARC_PAT

from .conftest import StartServer
from .support import ConnectServer, password_on, visible_text

JANE = "jane@example.ch"


def paste(server: ConnectServer, token: str, email: str = "") -> tuple[int, str, str]:
    page = server.visitor().form_post("/", "/connect/token", {"token": token, "email": email})
    return page.status_code, page.url, page.text


def test_a_personal_token_connects_and_its_password_opens_the_share(connect_server: ConnectServer) -> None:
    status, url, page = paste(connect_server, JANE_PAT)
    assert status == 200 and url.endswith("/connected")
    assert "My kDrive" in page and "support@doe-consulting.ch" in page
    response = connect_server.propfind(JANE, password_on(page), "kDrive/", depth="1")
    assert response.status_code == 207 and "My kDrive" in response.text
    account = connect_server.services.store.by_email(JANE)
    assert account is not None and account.auth_kind == "token" and account.infomaniak_user_id == JANE_ID


def test_a_refused_token_says_so_and_stores_nothing(connect_server: ConnectServer) -> None:
    status, _, page = paste(connect_server, "pat-this-token-does-not-exist-anywhere")
    assert status == 400 and "does not accept this token" in visible_text(page)
    assert connect_server.services.store.list() == []


def test_a_token_without_user_info_needs_the_e_mail(emulator: Emulator,
                                                    connect_server: ConnectServer) -> None:
    token = emulator.state.identity.personal_token(JANE_ID, "drive workspace:mail")
    status, _, page = paste(connect_server, token)
    assert status == 400 and "e-mail address is missing" in visible_text(page)
    assert connect_server.services.store.list() == []

    status, url, page = paste(connect_server, token, JANE)
    assert status == 200 and url.endswith("/connected")
    account = connect_server.services.store.by_email(JANE)
    assert account is not None and account.scopes == "kdrive mail"


def test_a_token_of_someone_else_than_the_e_mail_is_refused(connect_server: ConnectServer) -> None:
    status, _, page = paste(connect_server, MARC_PAT, JANE)
    assert status == 400 and "marc@example.ch's, not jane@example.ch's" in visible_text(page)
    assert connect_server.services.store.list() == []


def test_allowed_users_applies_to_tokens_too(emulator: Emulator, start_server: StartServer) -> None:
    server = start_server(emulator, allowed_users=["marc@example.ch"])
    status, _, page = paste(server, JANE_PAT)
    assert status == 403 and "allowed_users" in visible_text(page)
    assert server.services.store.list() == []
