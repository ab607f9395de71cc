"""Fixtures of the kDrive conformance tests that change data: an emulator of the test's own and
Jane's client on it. Tests that only read define ``jane`` on the shared emulator instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ikdav.emulator.app import Emulator

from .test_kdrive_support import KDrive, kdrive


@pytest.fixture
def emu(fresh_emulator: Emulator) -> Emulator:
    """A fresh emulator, so that what one test uploads, moves or trashes no other test sees."""
    return fresh_emulator


@pytest.fixture
def jane(emu: Emulator) -> Iterator[KDrive]:
    """Jane's kDrive client on ``emu``, closed after the test."""
    client = kdrive(emu)
    yield client
    client.close()
