"""The top of the share: ``/`` holds ``kDrive/`` and ``Mail/``."""

from __future__ import annotations

from wsgidav.dav_provider import _DAVResource

from ikdav.dav.base import VirtualCollection, join
from ikdav.dav.kdrive import KDriveRoot
from ikdav.dav.mail import MailRoot


class RootCollection(VirtualCollection):
    """``/``: the account's own root; nothing of any other account is reachable from here."""

    def members(self) -> list[_DAVResource]:
        return [KDriveRoot(join(self.path, "kDrive"), self.environ),
                MailRoot(join(self.path, "Mail"), self.environ)]

    def get_display_name(self) -> str:
        return "ikdav"
