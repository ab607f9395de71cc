"""Fixtures of the connect-app tests: servers with OAuth configured, Chromium, captured logs."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import captured_debug_log

from ikdav.emulator.app import Emulator

from .support import ConnectServer, start_connect
from .webdriver import Browser, missing_browser

StartServer = Callable[..., ConnectServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(emulator, **config_overrides)``; every server started is stopped afterwards."""
    started: list[ConnectServer] = []

    def start(emulator: Emulator, data_dir: Path | None = None, **overrides: Any) -> ConnectServer:
        server = start_connect(emulator, data_dir or tmp_path / "data", **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def connect_server(emulator: Emulator, start_server: StartServer) -> ConnectServer:
    """ikdav with the emulator's OAuth client configured and registered."""
    return start_server(emulator)


@pytest.fixture
def browser(start_server: StartServer) -> Iterator[Browser]:
    """A fresh Chromium per test, closed before the servers stop (its idle connections would
    otherwise hold the server's shutdown for its full grace period)."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    chromium = Browser()
    yield chromium
    chromium.close()


@pytest.fixture
def debug_log(connect_server: ConnectServer) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG while the test runs, through ikdav's own log setup."""
    with captured_debug_log(connect_server.config) as stream:
        yield stream
