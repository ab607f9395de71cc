"""Mail on the mail host (infomaniak-api.md §5). To be implemented."""

from __future__ import annotations

from typing import Any

from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Router


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    """Register mail routes on ``routers["mail"]``."""


def seed(state: EmulatorState, sample: Any) -> None:
    """Create the sample mailboxes, folders and messages."""
