"""The connect app against forged and replayed OAuth callbacks, missing fields, foreign redirect
targets, forms without their CSRF token and reflected markup.

tests/connect already covers a replayed callback, a missing state, a callback from another
browser, a code of another sign-in, and CSRF on the account page's main forms; this adds what
an attacker would try next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from connect.support import START_PATH, ConnectServer, Visitor, csrf_of, password_on, start_connect, state_of

from ikdav.config import CALLBACK_PATH
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, MARC_PAT

JANE = "jane@example.ch"
MARC = "marc@example.ch"


@pytest.fixture
def server(emulator: Emulator, tmp_path: Path) -> Iterator[ConnectServer]:
    started = start_connect(emulator, tmp_path / "data")
    yield started
    started.stop()


def connect_jane(server: ConnectServer) -> tuple[Visitor, str, str]:
    """Jane connects in her browser; returns the browser, her app password and the used callback URL."""
    server.emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    visitor = server.visitor()
    callback = visitor.consent(visitor.start_oauth())
    page = visitor.callback(callback)
    assert page.url.endswith("/connected"), page.text
    return visitor, password_on(page.text), callback


def token_calls(server: ConnectServer) -> int:
    return len(server.emulator.log.find(role="login", method="POST", path_contains="/token"))


def assert_refused(response: requests.Response, status: int, *phrases: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert "Traceback" not in response.text
    for phrase in phrases:
        assert phrase in response.text, phrase


def stored_state(server: ConnectServer) -> tuple[int, int]:
    store = server.services.store
    accounts = store.list()
    return len(accounts), sum(len(store.app_passwords(a.id)) for a in accounts)


# -- forged and replayed callbacks ----------------------------------------------------------------------

def test_a_forged_or_altered_state_is_refused_before_any_token_exchange(server: ConnectServer) -> None:
    server.emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    visitor = server.visitor()
    callback = visitor.consent(visitor.start_oauth())
    state = state_of(callback)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    calls = token_calls(server)
    altered = state[:-1] + ("A" if state[-1] != "A" else "B")
    for forged in ("made-up-state", altered, state + "x", "", " " + state):
        page = visitor.get(CALLBACK_PATH + "?" + urlencode({"state": forged, "code": code}))
        assert page.status_code == 400, forged
        assert "Traceback" not in page.text
    assert token_calls(server) == calls
    assert stored_state(server) == (0, 0)
    # The real state was not burnt by the forgeries: the browser that started can still finish.
    assert visitor.callback(callback).url.endswith("/connected")


def test_a_stolen_code_used_from_another_browser_gives_nothing(server: ConnectServer) -> None:
    _, password, callback = connect_jane(server)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    attacker = server.visitor()
    own_state = state_of(attacker.start_oauth())
    page = attacker.get(CALLBACK_PATH + "?" + urlencode({"state": own_state, "code": code}))
    assert_refused(page, 400, "invalid_grant")
    assert "ikdav_session" not in attacker.http.cookies
    assert "Sign in" in attacker.get("/account").text  # not signed in as anyone
    assert stored_state(server) == (1, 1)
    assert password not in page.text
    # Infomaniak revokes what a replayed code produced (RFC 6749 §10.5): the share says so plainly.
    answer = server.propfind(JANE, password, "kDrive/", depth="1")
    assert answer.status_code == 403 and "reconnect" in answer.text.lower(), answer.text


def test_a_callback_with_a_state_but_no_code_is_refused(server: ConnectServer) -> None:
    visitor = server.visitor()
    state = state_of(visitor.start_oauth())
    calls = token_calls(server)
    assert_refused(visitor.get(CALLBACK_PATH + "?" + urlencode({"state": state})), 400,
                   "neither an authorization code nor an error", "Start again")
    assert_refused(visitor.get(CALLBACK_PATH + "?error=access_denied"), 400)
    assert token_calls(server) == calls and stored_state(server) == (0, 0)


def test_reflected_markup_is_escaped_on_every_failure_page(server: ConnectServer) -> None:
    visitor = server.visitor()
    state = state_of(visitor.start_oauth())
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    pages = [
        visitor.get(CALLBACK_PATH + "?" + urlencode({"state": state, "error": evil,
                                                     "error_description": evil})),
        visitor.get("/" + evil.replace(" ", "%20")),
        visitor.get(CALLBACK_PATH + "?" + urlencode({"state": evil, "code": evil})),
    ]
    for page in pages:
        assert 400 <= page.status_code < 500
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


# -- missing and wrong fields ---------------------------------------------------------------------------

def test_forms_with_missing_or_bad_fields_change_nothing(server: ConnectServer) -> None:
    visitor, password, _ = connect_jane(server)
    store = server.services.store
    account = store.by_email(JANE)
    assert account is not None
    page = visitor.get("/account")
    token = csrf_of(page.text)
    for data in ({}, {"password_id": ""}, {"password_id": "not-a-number"}, {"password_id": "1 OR 1=1"}):
        refused = visitor.post("/account/passwords/revoke", {"csrf_token": token, **data},
                               allow_redirects=False)
        assert_refused(refused, 400, "No app password chosen")
    assert visitor.post("/account/token", {"csrf_token": token}, allow_redirects=False).status_code == 400
    stranger = server.visitor()
    anonymous = csrf_of(stranger.get("/").text)
    assert_refused(stranger.post("/connect/token", {"csrf_token": anonymous}), 400, "does not accept")
    login = stranger.post("/account/login", {"csrf_token": csrf_of(stranger.get("/account").text)})
    assert login.status_code == 401 and "ikdav_session" not in stranger.http.cookies
    big = stranger.post("/account/login", {"csrf_token": anonymous, "email": "x" * 70_000})
    assert big.status_code == 413
    as_json = stranger.http.post(server.base + "/connect/token", json={"csrf_token": anonymous, "token": "t"},
                                 timeout=30)
    assert as_json.status_code == 403
    assert len(store.app_passwords(account.id)) == 1
    assert server.propfind(JANE, password).status_code == 207


def test_one_account_cannot_revoke_anothers_app_password(server: ConnectServer) -> None:
    jane_browser, _, _ = connect_jane(server)
    marc_browser = server.visitor()
    connected = marc_browser.form_post("/", "/connect/token", {"token": MARC_PAT})
    assert connected.url.endswith("/connected")
    marc_password = password_on(connected.text)
    store = server.services.store
    marc = store.by_email(MARC)
    assert marc is not None
    marcs_id = store.app_passwords(marc.id)[0].id
    page = jane_browser.form_post("/account", "/account/passwords/revoke", {"password_id": str(marcs_id)})
    assert page.status_code == 200 and "already revoked" in page.text
    assert [p.id for p in store.app_passwords(marc.id)] == [marcs_id]
    assert server.propfind(MARC, marc_password).status_code == 207
    assert MARC not in page.text and marc_password not in page.text


# -- CSRF -----------------------------------------------------------------------------------------------

def test_every_changing_form_needs_its_own_csrf_token(server: ConnectServer) -> None:
    jane_browser, password, _ = connect_jane(server)
    marc_browser = server.visitor()
    marc_browser.form_post("/", "/connect/token", {"token": MARC_PAT})
    marcs_session_token = csrf_of(marc_browser.get("/account").text)
    janes_anonymous_token = csrf_of(server.visitor().get("/").text)  # another browser's
    account = server.services.store.by_email(JANE)
    assert account is not None
    password_id = str(server.services.store.app_passwords(account.id)[0].id)
    forms = {"/account/passwords/revoke": {"password_id": password_id}, "/account/token": {"token": MARC_PAT},
             "/account/passwords": {"label": "forged"}, "/account/remove": {}}
    for action, data in forms.items():
        for token in (None, "", marcs_session_token, janes_anonymous_token):
            fields = dict(data) if token is None else {"csrf_token": token, **data}
            refused = jane_browser.post(action, fields, allow_redirects=False)
            assert_refused(refused, 403, "Nothing was changed")
    stranger = server.visitor()
    stranger.get("/")
    for token in (None, janes_anonymous_token):
        fields = {"token": MARC_PAT} if token is None else {"csrf_token": token, "token": MARC_PAT}
        assert_refused(stranger.post("/connect/token", fields, allow_redirects=False), 403)
    assert len(server.services.store.app_passwords(account.id)) == 1
    assert len(server.services.store.list()) == 2
    assert server.propfind(JANE, password).status_code == 207


# -- redirects ------------------------------------------------------------------------------------------

def test_no_parameter_sends_the_browser_outside_the_app(server: ConnectServer) -> None:
    visitor, password, _ = connect_jane(server)
    evil = {"next": "https://evil.example/", "return_to": "//evil.example/x", "redirect": "https://evil.example",
            "redirect_uri": "https://evil.example/callback", "url": "javascript:alert(1)"}
    query = "?" + urlencode(evil)
    token = csrf_of(visitor.get("/account").text)
    responses = [
        visitor.get("/account/login" + query, allow_redirects=False),
        visitor.get("/connected" + query, allow_redirects=False),
        visitor.post("/account/passwords" + query, {"csrf_token": token, "label": "x", **evil},
                     allow_redirects=False),
        visitor.post("/account/logout" + query, {"csrf_token": token, **evil}, allow_redirects=False),
    ]
    stranger = server.visitor()
    anonymous = csrf_of(stranger.get("/").text)
    responses.append(stranger.post("/account/login" + query, {"csrf_token": anonymous, "email": JANE,
                                                              "password": password, **evil},
                                   allow_redirects=False))
    started = stranger.post(START_PATH + query, {"csrf_token": anonymous, **evil}, allow_redirects=False)
    for response in responses:
        location = response.headers.get("Location", "")
        assert response.status_code in (200, 303), response.status_code
        assert location == "" or (location.startswith("/") and not location.startswith("//")), location
        assert "evil.example" not in response.text
    authorize = started.headers["Location"]
    assert authorize.startswith(server.emulator.login_url + "/authorize?")
    assert parse_qs(urlsplit(authorize).query)["redirect_uri"] == [server.config.infomaniak.redirect_uri]
    assert not re.search(r"evil\.example", authorize)
