"""Shared by the mail host conformance tests: Jane's mailbox over HTTP, its fixtures, error checks.

Holds no tests itself; the ``test_mail_*`` modules import from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID

JANE_MAILBOX = "jane@example.ch"


class JaneMailbox:
    """Jane's primary mailbox on the mail host, with the store behind it for checking results.

    Each test module subclasses it with the routes it exercises.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.store = emulator.state.mail
        self.box = self.store.mailbox(JANE_MAILBOX)
        self.uuid = self.box.uuid
        self.base = f"/api/mail/{self.uuid}"
        self.http = httpx.Client(base_url=emulator.mail_url, timeout=30,
                                 headers={"Authorization": f"Bearer {emulator.issue_token(JANE_ID)}"})

    def action(self, action: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"{self.base}/message/{action}", json=body)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


Client = TypeVar("Client", bound=JaneMailbox)


def mailbox_fixtures(kind: type[Client], name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The fixtures ``name`` (``kind`` on the shared emulator, for tests that only read) and
    ``fresh_<name>`` (on an emulator of the test's own, for tests that change mail)."""

    def opened(emulator: Emulator) -> Iterator[Client]:
        with kind(emulator) as client:
            yield client

    @pytest.fixture(name=name)
    def on_shared(emulator: Emulator) -> Iterator[Client]:
        yield from opened(emulator)

    @pytest.fixture(name=f"fresh_{name}")
    def on_fresh(fresh_emulator: Emulator) -> Iterator[Client]:
        yield from opened(fresh_emulator)

    return on_shared, on_fresh


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The mail host's error envelope, checked for HTTP status and ``error.code``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] == "error"
    assert body["error"]["code"] == code
