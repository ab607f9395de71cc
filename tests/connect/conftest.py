"""Fixtures of the connect-app tests: servers with OAuth configured, Chromium, captured logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ikdav.emulator.app import Emulator
from ikdav.logs import ACCESS_LOGGER, setup_logging

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


@contextmanager
def restored_logging() -> Iterator[None]:
    """Undo what ``setup_logging`` changes (handlers, levels), so no test leaks its log setup."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    access_disabled = logging.getLogger(ACCESS_LOGGER).disabled
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        for name, chatty_level in chatty.items():
            logging.getLogger(name).setLevel(chatty_level)
        logging.getLogger(ACCESS_LOGGER).disabled = access_disabled


@pytest.fixture
def debug_log(connect_server: ConnectServer) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG while the test runs, through ikdav's own log setup."""
    stream = io.StringIO()
    with restored_logging():
        setup_logging(connect_server.config.with_overrides({"logging.level": "DEBUG"}), stream=stream)
        yield stream
