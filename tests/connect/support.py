"""A real ikdav with OAuth configured against the emulator, and a requests-based visitor."""

from __future__ import annotations

import html
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from harness import ikdav_config

from ikdav.config import CALLBACK_PATH, Config
from ikdav.emulator.app import Emulator
from ikdav.server import RunningServer
from ikdav.services import Services, build_services

CLIENT_SECRET = "connect-tests-client-secret"
START_PATH = "/api/infomaniak/auth/connect"
PROPFIND_ROOT = {"Depth": "0"}


def free_port() -> int:
    """A port that was free a moment ago (bound to port 0, read, closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ConnectServer:
    emulator: Emulator
    config: Config
    services: Services
    server: RunningServer
    client_id: str
    data_dir: Path

    @property
    def base(self) -> str:
        return self.config.public_url

    @property
    def dav_url(self) -> str:
        return self.base + "/dav/"

    def stop(self) -> None:
        self.server.stop()

    def visitor(self) -> Visitor:
        return Visitor(self.base)

    def propfind(self, user: str, password: str, path: str = "", depth: str = "0") -> requests.Response:
        return requests.request("PROPFIND", self.dav_url + path, auth=(user, password),
                                headers={"Depth": depth}, timeout=30)

    def grant_tokens(self) -> list[str]:
        """Every access and refresh token the emulator issued to this server's OAuth client."""
        identity = self.emulator.state.identity
        with identity.lock:
            access = [t for t, a in identity.access_tokens.items() if a.grant.client_id == self.client_id]
            refresh = [t for t, r in identity.refresh_tokens.items() if r.grant.client_id == self.client_id]
        return access + refresh


def start_connect(emulator: Emulator, data_dir: Path, *, client_secret: str = CLIENT_SECRET,
                  services: Services | None = None, port: int | None = None,
                  **overrides: Any) -> ConnectServer:
    """ikdav on a port chosen first, so the redirect URI registered at the emulator can name it."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    redirect_uri = base + CALLBACK_PATH
    client_id = f"ikdav-tests-{port}"
    emulator.register_client(client_id, CLIENT_SECRET, [redirect_uri])
    values: dict[str, Any] = {
        "server.port": port, "server.public_url": base, "infomaniak.client_id": client_id,
        "infomaniak.client_secret": client_secret, "infomaniak.redirect_uri": redirect_uri}
    values.update(overrides)
    config = ikdav_config(emulator, data_dir, **values)
    services = services or build_services(config, env={})
    server = RunningServer(config, services)
    return ConnectServer(emulator, config, services, server, client_id, data_dir)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def password_on(page: str) -> str:
    found = re.search(r'id="dav-password">([^<]+)<', page) or re.search(r'id="new-password">([^<]+)<', page)
    assert found, "the page shows no password"
    return html.unescape(found.group(1))


def visible_text(page: str) -> str:
    """The page's words without tags, whitespace collapsed (what a person reads)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


class Visitor:
    """A browser stand-in: a cookie-keeping session that uses the pages' own forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, data=data, timeout=30, **kwargs)

    def form_post(self, page_path: str, action: str, data: dict[str, str] | None = None,
                  **kwargs: Any) -> requests.Response:
        """Load ``page_path``, then post ``data`` to ``action`` with that page's CSRF token."""
        token = csrf_of(self.get(page_path).text)
        return self.post(action, {"csrf_token": token, **(data or {})}, **kwargs)

    def start_oauth(self) -> str:
        """Press "Connect Infomaniak"; returns the authorize URL ikdav redirects to."""
        response = self.form_post("/", START_PATH, allow_redirects=False)
        assert response.status_code == 303, response.text
        return response.headers["Location"]

    def consent(self, authorize_url: str) -> str:
        """The emulator's consent (answered by the ``consent`` knob); returns the callback URL."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def callback(self, callback_url: str) -> requests.Response:
        return self.http.get(callback_url, timeout=30)

    def connect_oauth(self) -> requests.Response:
        """The whole flow with the consent knob set; the final page (success or failure)."""
        return self.callback(self.consent(self.start_oauth()))

    def sign_in(self, email: str, password: str) -> requests.Response:
        return self.form_post("/account", "/account/login", {"email": email, "password": password})


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]
