"""A real ikdav server in front of a real emulator, for tests that speak WebDAV."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ikdav.config import Config, load_config
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID
from ikdav.logs import ACCESS_LOGGER, setup_logging
from ikdav.server import RunningServer
from ikdav.services import Services, build_services

MY_KDRIVE = 140946
PRIVATE = "kDrive/My kDrive/Private"


@dataclass
class DavServer:
    emulator: Emulator
    server: RunningServer
    services: Services
    account_id: int
    user: str
    password: str
    data_dir: Path

    @property
    def url(self) -> str:
        """The share's root URL, ending with a slash."""
        return self.server.dav_url

    @property
    def auth(self) -> tuple[str, str]:
        return self.user, self.password

    def href(self, path: str) -> str:
        """Absolute URL of a share path such as ``kDrive/My kDrive/Private/a.txt``."""
        return self.url + quote(path.lstrip("/"))

    def stop(self) -> None:
        self.server.stop()


def ikdav_config(emulator: Emulator, data_dir: Path, **overrides: Any) -> Config:
    values = {"infomaniak.login_url": emulator.login_url, "infomaniak.api_url": emulator.api_url,
              "infomaniak.mail_url": emulator.mail_url, "server.host": "127.0.0.1", "server.port": 0,
              "data_dir": str(data_dir), "logging.access_log": False}
    values.update(overrides)
    return load_config(None, env={}).with_overrides(values)


def start_dav(emulator: Emulator, data_dir: Path, *, user_id: int = JANE_ID, email: str = "jane@example.ch",
              token: str | None = None, services: Services | None = None, **overrides: Any) -> DavServer:
    """Connect ``user_id`` with a non-expiring token, make an app password, start the server."""
    config = ikdav_config(emulator, data_dir, **overrides)
    services = services or build_services(config, env={})
    account = services.store.save_account(
        email=email, infomaniak_user_id=user_id, display_name=email.split("@")[0], auth_kind="token",
        scopes="user_info kdrive mail", access_token=token or emulator.issue_token(user_id),
        refresh_token=None, expires_at=None)
    _, password = services.store.create_app_password(account.id, "tests")
    server = RunningServer(config, services)
    return DavServer(emulator, server, services, account.id, email, password, data_dir)


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


def client_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(home)
    return env


def rclone(dav: DavServer, *args: str, vendor: str = "other") -> str:
    obscured = subprocess.run(["rclone", "obscure", dav.password], capture_output=True, text=True,
                              check=True).stdout.strip()
    env = dict(os.environ, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_DAV_TYPE="webdav",
               RCLONE_CONFIG_DAV_URL=dav.url, RCLONE_CONFIG_DAV_VENDOR=vendor,
               RCLONE_CONFIG_DAV_USER=dav.user, RCLONE_CONFIG_DAV_PASS=obscured)
    result = subprocess.run(["rclone", "--low-level-retries", "1", "--retries", "1", *args],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"rclone {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def start_dav_oauth(emulator: Emulator, data_dir: Path, **overrides: Any) -> DavServer:
    """Like :func:`start_dav`, but Jane connects through the OAuth code flow (refreshable tokens)."""
    from urllib.parse import parse_qs, urlparse

    import httpx

    from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS

    overrides = {"infomaniak.client_id": DEMO_CLIENT_ID, "infomaniak.client_secret": DEMO_CLIENT_SECRET,
                 "infomaniak.redirect_uri": DEMO_REDIRECT_URIS[0], **overrides}
    config = ikdav_config(emulator, data_dir, **overrides)
    services = build_services(config, env={})
    assert services.oauth is not None
    knobs = emulator.knobs.snapshot()
    emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    state, verifier = services.oauth.new_state(), services.oauth.new_code_verifier()
    reply = httpx.get(services.oauth.authorization_url(state, verifier))
    code = services.oauth.code_from_callback(parse_qs(urlparse(reply.headers["location"]).query), state)
    tokens = services.oauth.exchange_code(code, verifier)
    emulator.knobs.merge({"consent": knobs.get("consent", {}).get("value"),
                          "consent_user": knobs.get("consent_user", {}).get("value")})
    account = services.store.save_account(
        email="jane@example.ch", infomaniak_user_id=JANE_ID, display_name="Jane", auth_kind="oauth",
        scopes=tokens.scope or "", access_token=tokens.access_token, refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at)
    _, password = services.store.create_app_password(account.id, "tests")
    return DavServer(emulator, RunningServer(config, services), services, account.id, "jane@example.ch",
                     password, data_dir)


@contextmanager
def restored_logging() -> Iterator[None]:
    """Undo what ``setup_logging`` changes (handlers, levels, propagation), so no test leaks it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "wsgidav", "ikdav")}
    wsgidav_propagates = logging.getLogger("wsgidav").propagate
    access_disabled = logging.getLogger(ACCESS_LOGGER).disabled
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        logging.getLogger("wsgidav").propagate = wsgidav_propagates
        logging.getLogger(ACCESS_LOGGER).disabled = access_disabled


@contextmanager
def captured_debug_log(config: Config, *, access_log: bool = False) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG through ikdav's own log setup, restored afterwards."""
    stream = io.StringIO()
    with restored_logging():
        setup_logging(config.with_overrides({"logging.level": "DEBUG", "logging.access_log": access_log}),
                      stream=stream)
        yield stream
