"""Login host (infomaniak-api.md §1). To be implemented."""

from __future__ import annotations

from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Router


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    """Register OAuth routes on ``routers["login"]``."""
