"""What must never leak or be forged: tokens, cookies, forms, frames; and what survives a restart."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import requests

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT
from ikdav.server import RunningServer
from ikdav.services import build_services

from .conftest import StartServer
from .support import START_PATH, ConnectServer, Visitor, csrf_of, password_on

JANE = "jane@example.ch"


def connect_jane(server: ConnectServer) -> tuple[Visitor, str, list[requests.Response]]:
    server.emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    visitor = server.visitor()
    pages = [visitor.get("/")]
    connected = visitor.connect_oauth()
    assert connected.url.endswith("/connected")
    pages += [*connected.history, connected, visitor.get("/account"), visitor.get("/connected")]
    return visitor, password_on(connected.text), pages


def stored_bytes(data_dir: Path) -> bytes:
    """Every byte ikdav keeps on disk (database, its WAL and shared memory, key file)."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())


def test_tokens_appear_in_no_database_file_log_line_or_page(connect_server: ConnectServer,
                                                            debug_log: io.StringIO) -> None:
    visitor, _, pages = connect_jane(connect_server)
    pages.append(visitor.form_post("/account", "/account/passwords", {"label": "second"}))
    tokens = connect_server.grant_tokens()
    assert len(tokens) == 2  # one access and one refresh token
    on_disk = stored_bytes(connect_server.data_dir)
    logged = debug_log.getvalue()
    assert "connected account jane@example.ch" in logged  # the capture works
    for token in tokens:
        assert token.encode() not in on_disk
        assert token not in logged
        for page in pages:
            assert token not in page.text
            assert token not in page.headers.get("Location", "")


def test_a_personal_token_is_stored_encrypted_too(connect_server: ConnectServer,
                                                  debug_log: io.StringIO) -> None:
    visitor = connect_server.visitor()
    page = visitor.form_post("/", "/connect/token", {"token": JANE_PAT})
    assert page.url.endswith("/connected")
    assert JANE_PAT not in page.text
    assert JANE_PAT.encode() not in stored_bytes(connect_server.data_dir)
    assert JANE_PAT not in debug_log.getvalue()


def test_the_key_file_and_the_database_are_private(connect_server: ConnectServer) -> None:
    connect_jane(connect_server)
    assert stat.S_IMODE((connect_server.data_dir / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((connect_server.data_dir / "ikdav.sqlite3").stat().st_mode) == 0o600


def test_forms_without_the_right_csrf_token_are_refused_and_change_nothing(
        connect_server: ConnectServer) -> None:
    visitor, password, _ = connect_jane(connect_server)
    store = connect_server.services.store
    account = store.by_email(JANE)
    assert account is not None
    anonymous_token = csrf_of(visitor.get("/").text)
    for data in ({"label": "forged"}, {"label": "forged", "csrf_token": "0" * 43},
                 {"label": "forged", "csrf_token": anonymous_token}):
        refused = visitor.post("/account/passwords", data)
        assert refused.status_code == 403, data
        assert "Nothing was changed" in refused.text
    for action in ("/account/disconnect", "/account/remove", "/account/reconnect", "/account/logout"):
        assert visitor.post(action, {"csrf_token": "forged"}, allow_redirects=False).status_code == 403
    assert len(store.app_passwords(account.id)) == 1
    refreshed = store.get(account.id)
    assert refreshed is not None and refreshed.connected
    assert connect_server.propfind(JANE, password).status_code == 207

    stranger = connect_server.visitor()
    login = stranger.post("/account/login", {"email": JANE, "password": password}, allow_redirects=False)
    assert login.status_code == 403
    assert "ikdav_session" not in login.headers.get("Set-Cookie", "")


def test_cookies_are_http_only_and_same_site_lax(connect_server: ConnectServer) -> None:
    _, _, pages = connect_jane(connect_server)
    cookies = [value for page in pages for name, value in page.raw.headers.items() if name == "Set-Cookie"]
    names = {cookie.split("=", 1)[0] for cookie in cookies}
    assert {"ikdav_browser", "ikdav_session"} <= names
    for cookie in cookies:
        attributes = [part.strip() for part in cookie.split(";")]
        assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
        assert "Secure" not in attributes  # plain http here: a Secure cookie would never come back


def test_behind_https_cookies_are_secure_and_host_bound(emulator: Emulator,
                                                        start_server: StartServer) -> None:
    server = start_server(emulator, **{"server.public_url": "https://dav.example.com"})
    response = requests.get(server.server.url + "/", timeout=30)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-ikdav_browser=")
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_carry_the_security_headers(connect_server: ConnectServer) -> None:
    visitor, _, _ = connect_jane(connect_server)
    for path in ("/", "/account", START_PATH, "/no-such-page"):
        response = visitor.get(path)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    missing = visitor.get("/no-such-page")
    assert missing.status_code == 404 and "Traceback" not in missing.text
    stylesheet = visitor.get("/static/style.css")
    assert stylesheet.status_code == 200 and stylesheet.headers["Content-Type"].startswith("text/css")
    assert visitor.get("/static/../app.py").status_code == 404


def test_redirects_stay_inside_the_app(connect_server: ConnectServer) -> None:
    _, password, pages = connect_jane(connect_server)
    login_host = connect_server.emulator.login_url
    ours = [page for page in pages if page.url.startswith(connect_server.base)]
    locations = [page.headers["Location"] for page in ours if "Location" in page.headers]
    assert locations, "the flow had no redirect from ikdav"
    for location in locations:
        inside = location.startswith("/") and not location.startswith("//")
        assert inside or location.startswith(login_host + "/authorize?"), location
    visitor = connect_server.visitor()
    token = csrf_of(visitor.get("/account").text)
    signed_in = visitor.post("/account/login?next=https://evil.example/",
                             {"csrf_token": token, "email": JANE, "password": password,
                              "next": "https://evil.example/"}, allow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/account"


def test_a_restart_keeps_accounts_and_app_passwords(connect_server: ConnectServer) -> None:
    _, password, _ = connect_jane(connect_server)
    connect_server.stop()
    config = connect_server.config.with_overrides({"server.port": 0})
    again = RunningServer(config, build_services(config, env={}))
    try:
        answer = requests.request("PROPFIND", again.dav_url + "kDrive/", auth=(JANE, password),
                                  headers={"Depth": "1"}, timeout=30)
        assert answer.status_code == 207 and "My kDrive" in answer.text
        visitor = Visitor(again.url)
        page = visitor.sign_in(JANE, password)
        assert page.url.endswith("/account") and "My kDrive" in page.text
    finally:
        again.stop()
