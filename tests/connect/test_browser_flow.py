"""The connect flow in headless Chromium: ikdav → the emulator's consent page → back to ikdav."""

from __future__ import annotations

import pytest

from ikdav.emulator.sample_data import JANE_ID, MARC_ID

from .support import ConnectServer
from .webdriver import Browser


def open_consent_page(browser: Browser, server: ConnectServer) -> None:
    browser.open(server.base + "/")
    browser.clear_cookies()
    browser.open(server.base + "/")
    browser.click("#connect")
    browser.wait_for_url(server.emulator.login_url + "/authorize")


@pytest.mark.parametrize(("user_id", "email"), [(JANE_ID, "jane@example.ch"), (MARC_ID, "marc@example.ch")])
def test_connecting_in_a_browser_shows_a_password_that_opens_the_share(
        browser: Browser, connect_server: ConnectServer, user_id: int, email: str) -> None:
    open_consent_page(browser, connect_server)
    browser.click(f'#user_id option[value="{user_id}"]')
    browser.click("#approve")
    browser.wait_for_url(connect_server.base + "/connected")

    assert browser.text("#dav-url") == connect_server.dav_url
    assert browser.text("#dav-user") == email
    password = browser.text("#dav-password")
    page = browser.source
    assert "BasicAuthLevel" in page and "buf_size 64" in page and "vendor = owncloud" in page
    assert "rclone obscure" in page and ".netrc" in page and "dav://" in page

    answer = connect_server.propfind(email, password)
    assert answer.status_code == 207

    # Shown once: coming back to the success page leads to the account page, without the password.
    browser.open(connect_server.base + "/connected")
    browser.wait_for_url(connect_server.base + "/account")
    assert password not in browser.source
    assert browser.text("#status") == "connected"


def test_deny_in_the_browser_ends_on_the_access_denied_page(browser: Browser,
                                                            connect_server: ConnectServer) -> None:
    open_consent_page(browser, connect_server)
    browser.click("#deny")
    browser.wait_for_url(connect_server.base + "/api/infomaniak/auth/connect/callback")
    assert "Access was refused" in browser.text("h1")
    assert connect_server.services.store.list() == []


def test_unticking_user_info_ends_on_the_user_info_page(browser: Browser,
                                                        connect_server: ConnectServer) -> None:
    open_consent_page(browser, connect_server)
    browser.click('input[name="scope"][value="user_info"]')
    browser.click("#approve")
    browser.wait_for_url(connect_server.base + "/api/infomaniak/auth/connect/callback")
    assert "user_info" in browser.text("h1")
    assert connect_server.services.store.list() == []
