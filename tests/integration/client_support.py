"""Shared by the client tests: an emulator's endpoints, transports closed after the test, expiry.

Holds no tests itself; the ``test_client_*`` modules import from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID
from ikdav.infomaniak import (
    ClientSettings,
    Endpoints,
    KDrive,
    StaticTokenProvider,
    TokenSet,
    Transport,
)

KDriveFactory = Callable[..., KDrive]


def endpoints(emu: Emulator) -> Endpoints:
    return Endpoints(emu.login_url, emu.api_url, emu.mail_url)


def expire(emu: Emulator, token_set: TokenSet) -> None:
    """Make this one access token expire now at the emulator (other tokens of the user live on)."""
    emu.state.identity.access_tokens[token_set.access_token].expires_at = time.time() - 1


class Transports:
    """The transports a test opens to emulators, every one closed when the ``with`` block ends.

    ``retry_backoff`` is the default pause list, kept short so that retry tests stay fast.
    """

    def __init__(self, retry_backoff: tuple[float, ...]) -> None:
        self.retry_backoff = retry_backoff
        self.opened: list[Transport] = []

    def open(self, emu: Emulator, token: str, **settings: object) -> Transport:
        options = {"retry_backoff": self.retry_backoff, **settings}
        transport = Transport(endpoints(emu), StaticTokenProvider(token),
                              ClientSettings(**options))  # type: ignore[arg-type]
        self.opened.append(transport)
        return transport

    def jane_kdrive(self, emu: Emulator, **settings: object) -> KDrive:
        """Jane's kDrive client on ``emu``; ``settings`` override the client settings."""
        return KDrive(self.open(emu, emu.issue_token(JANE_ID), **settings))

    def close(self) -> None:
        for transport in self.opened:
            transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
