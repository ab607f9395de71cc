"""Fixtures shared by every test: a real emulator on loopback, with knobs reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import DavServer, start_dav

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import JANE_ID


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator for the session (sample data kept small so start-up is quick)."""
    emu = Emulator(sample=SampleOptions(big_folder_files=120, mail_messages=80))
    emu.start()
    yield emu
    emu.close()


@pytest.fixture(autouse=True)
def _reset_knobs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Knobs never leak from one test into the next."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").knobs.reset()


@pytest.fixture
def fresh_emulator() -> Iterator[Emulator]:
    """An emulator of its own, for tests that change data or need a clean request log."""
    emu = Emulator(sample=SampleOptions(big_folder_files=30, mail_messages=40))
    emu.start()
    yield emu
    emu.close()


@pytest.fixture
def jane_token(emulator: Emulator) -> str:
    return emulator.issue_token(JANE_ID)


@pytest.fixture
def dav(fresh_emulator: Emulator, tmp_path: Path) -> Iterator[DavServer]:
    """ikdav serving Jane's account in front of a fresh emulator."""
    server = start_dav(fresh_emulator, tmp_path / "data")
    yield server
    server.stop()
