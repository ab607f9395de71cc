"""kDrive on the API, content and upload hosts (infomaniak-api.md §4). To be implemented."""

from __future__ import annotations

from typing import Any

from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Router


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    """Register kDrive routes on ``routers["api"]``, ``["content"]`` and ``["upload"]``."""


def seed(state: EmulatorState, sample: Any) -> None:
    """Create the sample drives, folders and files."""
