"""What every mail route checks first: the token, then that the mailbox is the caller's.

A mailbox uuid that is unknown and one that belongs to somebody else get the same answer,
403 ``access_denied``, so a token can never learn which other mailboxes exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikdav.emulator.mail_model import Mailbox, MailFolder
from ikdav.emulator.mail_store import MailStore
from ikdav.emulator.state import AccessToken, EmulatorState
from ikdav.emulator.web import ApiError, Request


@dataclass
class MailHost:
    """The pieces a mail route needs: shared state (tokens, knobs) and the mail store."""

    state: EmulatorState
    store: MailStore

    def caller(self, request: Request) -> AccessToken:
        """The request's token with the mail scope (401, 403 or the D34 302 otherwise)."""
        return self.state.authenticate(request, "mail")

    def mailbox(self, request: Request, mailbox_uuid: str) -> Mailbox:
        """The caller's mailbox ``mailbox_uuid``; 403 if it is not theirs, 423 if it is locked."""
        access = self.caller(request)
        with self.store.lock:
            mailbox = self.store.mailboxes.get(str(mailbox_uuid))
            if mailbox is None or access.user_id not in mailbox.owners:
                raise ApiError(403, "access_denied", "You have no access to this mailbox",
                               context={"model": "Mailbox"})
            if mailbox.is_locked:
                raise ApiError(423, "mailbox_locked", "The mailbox is locked")
            return mailbox

    def folder(self, mailbox: Mailbox, folder_id: str) -> MailFolder:
        return self.store.folder_by_id(mailbox, str(folder_id))
