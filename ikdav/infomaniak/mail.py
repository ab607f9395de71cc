"""Infomaniak Mail as typed Python calls (§5): mailboxes, folders, message lists, raw messages.

Folder ids are opaque (D29) and percent-encoded in paths; they change when a folder is renamed,
so callers reload the folder list after folder changes. Folder-scoped routes take short uids,
action routes take long ones (``"<short>@<folder_id>"``, :func:`long_uid`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from ikdav.infomaniak.download import DownloadStream, range_header
from ikdav.infomaniak.errors import (
    ApiError,
    InfomaniakError,
    InvalidCursor,
    NotFound,
    NoTrashFolder,
    UnexpectedResponse,
    UpstreamUnavailable,
)
from ikdav.infomaniak.http import Transport
from ikdav.infomaniak.models import Activities, Mailbox, MailFolder, Message, UidList, nfc, short_uid

log = logging.getLogger("ikdav.infomaniak.mail")

MAX_UIDS_PER_FETCH = 200  # §5.4: more gives 422
MAX_UIDS_PER_ACTION = 1000  # §5.7
MAX_UID_LIST = 10_000
HIDDEN_PREFIX = ".ik"


def long_uid(short: str | int, folder_id: str) -> str:
    """The long uid that action routes take."""
    return f"{short_uid(short)}@{folder_id}"


def batched(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def flatten_folders(tree: Iterable[Any], parent_path: str | None = None) -> Iterator[MailFolder]:
    """The folder tree as a flat list, parents before children, ``.ik`` virtual paths left out."""
    for node in tree:
        if not isinstance(node, dict):
            continue
        folder = MailFolder.from_json(node, parent_path)
        if folder.path.startswith(HIDDEN_PREFIX):
            continue
        yield folder
        children = node.get("children")
        if isinstance(children, list):
            yield from flatten_folders(children, folder.path)


class Mail:
    """Mail operations for one account. Thread-safe; shares the account's :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    # -- mailboxes and folders ---------------------------------------------------------------
    def ping(self) -> bool:
        """A cheap check that the token works on the mail host."""
        self.transport.get("mail", "/api/ping-with-auth")
        return True

    def mailboxes(self) -> list[Mailbox]:
        """The mailboxes the user attached; :class:`~.errors.Forbidden` without the mail scope."""
        data = self.transport.get("mail", "/api/mailbox", params={"with": "aliases,unseen"}).data
        return [Mailbox.from_json(item) for item in _list(data)]

    def folders(self, mailbox_uuid: str) -> list[MailFolder]:
        """Every folder as a flat list with paths, roles and ids; ``.ik*`` paths hidden (§5.3)."""
        data = self.transport.get("mail", f"{_mailbox(mailbox_uuid)}/folder").data
        return list(flatten_folders(_list(data)))

    def create_folder(self, mailbox_uuid: str, name: str, parent_path: str | None = None) -> MailFolder:
        """Create ``name`` under ``parent_path`` (``None``: top level); 409 if it exists (D35)."""
        leaf = nfc(name)
        try:
            data = self.transport.post("mail", f"{_mailbox(mailbox_uuid)}/folder",
                                       json={"name": leaf, "path": parent_path}).data
        except UpstreamUnavailable:
            found = self._folder_by_path(mailbox_uuid, _child_path(parent_path, leaf))
            if found is None:
                raise
            return found
        return MailFolder.from_json(_dict(data))

    def rename_folder(self, mailbox_uuid: str, folder_id: str, name: str) -> MailFolder:
        """Rename a folder; the reply carries its NEW id (D29). Role folders refuse (403)."""
        data = self.transport.post("mail", f"{_folder(mailbox_uuid, folder_id)}/rename",
                                   json={"name": nfc(name)}).data
        return MailFolder.from_json(_dict(data))

    def delete_folder(self, mailbox_uuid: str, folder_id: str) -> None:
        """Delete a folder WITH its subfolders and messages (D35): callers check it is empty first."""
        try:
            self.transport.delete("mail", _folder(mailbox_uuid, folder_id))
        except UpstreamUnavailable:
            if any(f.id == folder_id for f in self._folders_or_empty(mailbox_uuid)):
                raise

    # -- listing -----------------------------------------------------------------------------
    def message_uids(self, mailbox_uuid: str, folder_id: str, *, limit: int = MAX_UID_LIST,
                     direction: str = "desc") -> UidList:
        """Short uids of a folder (newest first by default) and a signature for :meth:`activities`."""
        path = f"{_folder(mailbox_uuid, folder_id)}/mobile/date-ordered-messages-uids"
        data = self.transport.get("mail", path,
                                  params={"messages": str(min(limit, MAX_UID_LIST)),
                                          "direction": direction}).data
        result = UidList.from_json(data)
        if len(result.uids) >= MAX_UID_LIST:
            log.warning("a mail folder holds more than %d messages; only the newest are listed", MAX_UID_LIST)
        return result

    def messages(self, mailbox_uuid: str, folder_id: str, uids: Iterable[str | int]) -> list[Message]:
        """The messages of ``uids`` (short or long), fetched 200 at a time; unknown uids are skipped."""
        wanted = list(dict.fromkeys(short_uid(u) for u in uids))
        path = f"{_folder(mailbox_uuid, folder_id)}/mobile/messages"
        found: list[Message] = []
        for batch in batched(wanted, MAX_UIDS_PER_FETCH):
            data = _dict(self.transport.get("mail", path, params={"uids": ",".join(batch)}).data)
            found.extend(Message.from_json(m, folder_id) for m in _list(data.get("messages")))
        return found

    def activities(self, mailbox_uuid: str, folder_id: str, signature: str) -> Activities:
        """What changed since ``signature``.

        A signature the server refuses (any 4xx but 401/403/429, D32) raises
        :class:`~.errors.InvalidCursor`: drop it and rebuild from :meth:`message_uids`.
        """
        try:
            data = self.transport.get("mail", f"{_folder(mailbox_uuid, folder_id)}/mobile/activities",
                                      params={"signature": signature}).data
        except ApiError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
                raise InvalidCursor(f"the mail signature was refused ({exc.code or exc.status})",
                                    status=exc.status, code=exc.code) from exc
            raise
        return Activities.from_json(data)

    # -- raw messages ------------------------------------------------------------------------
    def download_eml(self, mailbox_uuid: str, folder_id: str, uid: str | int, offset: int | None = None,
                     length: int | None = None) -> DownloadStream:
        """The raw RFC 822 bytes of a message; ranges are served by skipping (D30)."""
        url = self.transport.url(
            "mail", f"{_folder(mailbox_uuid, folder_id)}/message/{quote(short_uid(uid), safe='')}/download")

        def opener(start: int, end: int | None) -> httpx.Response:
            response = self.transport.send("GET", url, role="mail", headers={
                "Accept": "message/rfc822", "Accept-Encoding": "identity", **range_header(start, end)})
            if response.status_code in (200, 206, 416):
                return response
            try:
                response.read()
            finally:
                response.close()
            self.transport.envelope(response)  # raises the error the reply carries
            raise UnexpectedResponse(f"unexpected status {response.status_code}", status=response.status_code)

        return DownloadStream(opener, offset or 0, length)

    # -- actions -----------------------------------------------------------------------------
    def set_seen(self, mailbox_uuid: str, long_uids: Iterable[str], seen: bool = True) -> None:
        """Mark messages read or unread."""
        self._action(mailbox_uuid, "seen" if seen else "unseen", long_uids)

    def move(self, mailbox_uuid: str, long_uids: Iterable[str], to_folder_id: str) -> None:
        """Move messages (from any folders of the mailbox) into ``to_folder_id``; they get new uids."""
        self._action(mailbox_uuid, "move", long_uids, extra={"to": to_folder_id})

    def delete_permanently(self, mailbox_uuid: str, long_uids: Iterable[str]) -> None:
        """Erase messages; only allowed in Trash, Spam and Drafts folders (D33)."""
        self._action(mailbox_uuid, "delete", long_uids)

    def delete(self, mailbox_uuid: str, folder: MailFolder, long_uids: Iterable[str], *,
               folders: Sequence[MailFolder] | None = None) -> None:
        """Delete as a mail client would: erase inside Trash/Spam/Drafts, else move to Trash.

        ``folders`` (the mailbox's folder list) saves a request when the caller has it. Raises
        :class:`~.errors.NoTrashFolder` when a move to Trash is needed and no folder has that role.
        """
        uids = list(long_uids)
        if folder.allows_permanent_delete:
            self.delete_permanently(mailbox_uuid, uids)
            return
        candidates = folders if folders is not None else self.folders(mailbox_uuid)
        trash = next((f for f in candidates if f.role == "TRASH"), None)
        if trash is None:
            raise NoTrashFolder(status=403, code="no_trash_folder")
        self.move(mailbox_uuid, uids, trash.id)

    def _action(self, mailbox_uuid: str, action: str, long_uids: Iterable[str], *,
                extra: dict[str, Any] | None = None) -> None:
        uids = list(dict.fromkeys(str(u) for u in long_uids))
        for batch in batched(uids, MAX_UIDS_PER_ACTION):
            self.transport.post("mail", f"{_mailbox(mailbox_uuid)}/message/{action}",
                                json={"uids": batch, **(extra or {})})

    # -- internals ---------------------------------------------------------------------------
    def _folders_or_empty(self, mailbox_uuid: str) -> list[MailFolder]:
        try:
            return self.folders(mailbox_uuid)
        except InfomaniakError:
            return []

    def _folder_by_path(self, mailbox_uuid: str, path: str) -> MailFolder | None:
        return next((f for f in self._folders_or_empty(mailbox_uuid) if f.path == path), None)


def find_folder(folders: Iterable[MailFolder], *, path: str | None = None, role: str | None = None,
                folder_id: str | None = None) -> MailFolder:
    """The folder with this path, role or id; :class:`~.errors.NotFound` if none has it."""
    for folder in folders:
        if ((path is None or folder.path == nfc(path)) and (role is None or folder.role == role.upper())
                and (folder_id is None or folder.id == folder_id)):
            return folder
    raise NotFound(f"no mail folder with {path or role or folder_id}", code="folder__not_exists")


def _child_path(parent_path: str | None, name: str, separator: str = "/") -> str:
    return f"{parent_path}{separator}{name}" if parent_path else name


def _mailbox(mailbox_uuid: str) -> str:
    return f"/api/mail/{quote(mailbox_uuid, safe='')}"


def _folder(mailbox_uuid: str, folder_id: str) -> str:
    return f"{_mailbox(mailbox_uuid)}/folder/{quote(folder_id, safe='')}"


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"expected an object in the reply, got {type(data).__name__}")
    return data


def _list(data: Any) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise UnexpectedResponse(f"expected a list in the reply, got {type(data).__name__}")
    return data
