"""One account's view of Infomaniak: the transport plus the kDrive, Mail and profile calls."""

from __future__ import annotations

from ikdav.infomaniak.errors import InfomaniakError
from ikdav.infomaniak.http import ClientSettings, Endpoints, Transport
from ikdav.infomaniak.kdrive import KDrive
from ikdav.infomaniak.mail import Mail
from ikdav.infomaniak.models import Profile
from ikdav.infomaniak.profile import get_profile
from ikdav.infomaniak.tokens import TokenProvider


class InfomaniakClient:
    """Everything one account can do, over one pooled connection set. Close it when done.

    ``client.kdrive`` and ``client.mail`` share the :class:`Transport` (and so its token provider,
    retries and rate limit).
    """

    def __init__(self, endpoints: Endpoints, tokens: TokenProvider,
                 settings: ClientSettings | None = None) -> None:
        self.transport = Transport(endpoints, tokens, settings)
        self.kdrive = KDrive(self.transport)
        self.mail = Mail(self.transport)

    def profile(self) -> Profile:
        return get_profile(self.transport)

    def close(self) -> None:
        """Cancel leftover upload sessions (best effort), then close the connections."""
        try:
            self.kdrive.cancel_orphans()
        except InfomaniakError:
            pass
        self.transport.close()

    def __enter__(self) -> InfomaniakClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
