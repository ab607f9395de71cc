"""The Mail part of the share: ``/Mail/<mailbox address>/...``."""

from __future__ import annotations

from wsgidav.dav_provider import _DAVResource

from ikdav.dav.base import VirtualCollection, join
from ikdav.dav.errors import upstream_errors


class MailRoot(VirtualCollection):
    """``/Mail``: one folder per mailbox."""

    def members(self) -> list[_DAVResource]:
        with upstream_errors():
            mailboxes = self.session.client.mail.mailboxes()
        return [MailboxFolder(join(self.path, box.email), self.environ) for box in mailboxes]


class MailboxFolder(VirtualCollection):
    """``/Mail/<address>``."""

    def members(self) -> list[_DAVResource]:
        return []
