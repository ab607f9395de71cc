"""kDrive as typed Python calls (§4): drives, listings, downloads, uploads, changes.

Every method maps to one native API call where the API has one. Names are sent and compared in
NFC (D19). Rename, move and trash return a :class:`~.models.Cancellable`, never a File (D17).
After a non-idempotent call fails with a server error, the state is read back before giving up
(§3.5): a mkdir whose reply was lost is still a success if the folder is there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar
from urllib.parse import urljoin

import httpx

from ikdav.infomaniak.download import DownloadStream, range_header
from ikdav.infomaniak.errors import (
    InfomaniakError,
    InvalidCursor,
    NoAccess,
    NotFound,
    UnexpectedResponse,
    UpstreamUnavailable,
    error_from_reply,
)
from ikdav.infomaniak.http import Transport
from ikdav.infomaniak.models import (
    Cancellable,
    Changes,
    Drive,
    File,
    FileAction,
    TopFolders,
    as_int,
    nfc,
)
from ikdav.infomaniak.upload import Uploader, UploadTarget, open_source

log = logging.getLogger("ikdav.infomaniak.kdrive")

ROOT_ID = 1
CONFLICT_MODES = ("error", "rename", "version")
FILE_WITH = "path,capabilities,hash"
LIST_WITH = "capabilities,hash"
MAX_CURSOR_RESTARTS = 2
T = TypeVar("T")


class KDrive:
    """kDrive operations for one account. Thread-safe; shares the account's :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.settings = transport.settings
        self._uploader = Uploader(transport)

    # -- drives ------------------------------------------------------------------------------
    def drives(self, *, per_page: int | None = None) -> list[Drive]:
        """Every drive the user reaches, with its quota; ``[]`` means no kDrive at all (§4.1).

        Follows the v2 page pagination until ``page == pages``.
        """
        per_page = _clamp(per_page or self.settings.list_limit, 1, 1000)
        drives: dict[int, Drive] = {}
        page = 1
        while True:
            envelope = self.transport.get("api", "/2/drive/users/current/drives", params=[
                ("roles[]", "admin"), ("roles[]", "user"), ("with", "drive,drive.account,total"),
                ("page", str(page)), ("per_page", str(per_page))])
            for item in _list(envelope.data):
                drive = Drive.from_listing(item)
                if drive.id:
                    drives.setdefault(drive.id, drive)
            pages = envelope.pages or 1
            current = envelope.page or page
            if current >= pages or not envelope.data:
                return list(drives.values())
            page = current + 1

    def drive(self, drive_id: int) -> Drive:
        """One drive with its quota; :class:`~.errors.NotFound` when it is unknown or unreachable."""
        return Drive.from_json(_dict(self.transport.get("api", f"/2/drive/{drive_id}").data))

    # -- reading -----------------------------------------------------------------------------
    def stat(self, drive_id: int, file_id: int) -> File:
        """One file or directory, with path, capabilities and hash; trashed ones are not found (D20)."""
        envelope = self.transport.get("api", f"/3/drive/{drive_id}/files/{file_id}",
                                      params={"with": FILE_WITH})
        found = File.from_json(_dict(envelope.data))
        if not found.is_present:
            raise NotFound(f"file {file_id} is in the trash", status=404, code="object_not_found")
        return found

    def list_dir(self, drive_id: int, dir_id: int, *, limit: int | None = None) -> Iterator[File]:
        """Every child of ``dir_id``, following all cursor pages (§3.3, §4.4).

        A stale cursor (D15) restarts the listing from scratch; children already yielded are not
        yielded twice. The order is the server's; rely on none.
        """
        limit = _clamp(limit or self.settings.list_limit, 5, 1000)
        path = f"/3/drive/{drive_id}/files/{dir_id}/files"
        seen: set[int] = set()
        restarts = 0
        cursor: str | None = None
        while True:
            params = {"limit": str(limit), "with": LIST_WITH}
            if cursor:
                params["cursor"] = cursor
            try:
                envelope = self.transport.get("api", path, params=params)
            except InvalidCursor:
                if restarts >= MAX_CURSOR_RESTARTS:
                    raise
                restarts += 1
                cursor = None
                continue
            for item in _list(envelope.data):
                child = File.from_json(item)
                if child.id not in seen and child.is_present:
                    seen.add(child.id)
                    yield child
            if not envelope.has_more or not envelope.cursor:
                return
            cursor = envelope.cursor

    def child_by_name(self, drive_id: int, dir_id: int, name: str) -> File | None:
        """The child called ``name`` (NFC, case-sensitive), or ``None`` (§4.4)."""
        try:
            envelope = self.transport.get("api", f"/3/drive/{drive_id}/files/{dir_id}/name",
                                          params={"name": nfc(name), "with": FILE_WITH})
        except NotFound:
            return None
        found = File.from_json(_dict(envelope.data))
        if not found.is_present or found.name != nfc(name):
            return None
        return found

    def top_folders(self, drive_id: int) -> TopFolders:
        """Private, Common documents and Shared, found in root ``1`` by ``visibility`` (§4.3, D18)."""
        by_visibility = {child.visibility: child for child in self.list_dir(drive_id, ROOT_ID)}
        private = by_visibility.get("is_private_space")
        if private is None:
            raise NotFound(f"drive {drive_id} has no Private folder", code="object_not_found")
        return TopFolders(private=private, common=by_visibility.get("is_team_space"),
                          shared=by_visibility.get("is_shared_space"))

    def file_hash(self, drive_id: int, file_id: int) -> str | None:
        """``xxh3:<16 hex>`` of the content, or ``None`` if the server gave another kind (D21)."""
        data = _dict(self.transport.get("api", f"/2/drive/{drive_id}/files/{file_id}/hash").data)
        value = str(data.get("hash") or "").lower()
        return value if value.startswith("xxh3:") and len(value) == 21 else None

    # -- download ----------------------------------------------------------------------------
    def download(self, drive_id: int, file_id: int, offset: int | None = None,
                 length: int | None = None) -> DownloadStream:
        """A closeable byte stream of ``[offset, offset + length)`` of a file (§4.5, D14).

        Follows one 302 to the content host without ``Authorization``; accepts a direct 200;
        skips to the offset when the content host ignores ``Range``; asks ``/download`` again once
        when the content URL answers 403, 404 or 410. Errors before the first byte raise here.
        """
        def opener(start: int, end: int | None) -> httpx.Response:
            return self._open_content(drive_id, file_id, start, end)

        return DownloadStream(opener, offset or 0, length)

    def _open_content(self, drive_id: int, file_id: int, start: int, end: int | None) -> httpx.Response:
        transport = self.transport
        api_url = transport.url("api", f"/2/drive/{drive_id}/files/{file_id}/download")
        headers = {"Accept-Encoding": "identity", **range_header(start, end)}
        for attempt in (1, 2):
            response = transport.send("GET", api_url, headers=headers, accept_redirect=True)
            if not 300 <= response.status_code < 400:
                return _content_or_raise(response)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise UnexpectedResponse("a download redirect without Location",
                                         status=response.status_code)
            content = transport.send("GET", urljoin(api_url, location), role="content", auth=False,
                                     headers=headers, client=transport.content_client)
            if content.status_code in (401, 403, 404, 410) and attempt == 1:
                content.close()  # an expired or lost pre-signed URL: ask for a new one
                log.info("content URL refused (%s); asking /download again", content.status_code)
                continue
            if 300 <= content.status_code < 400:
                content.close()
                raise UnexpectedResponse("the content host redirected again; only one redirect is followed",
                                         status=content.status_code)
            return _content_or_raise(content)
        raise AssertionError("unreachable")

    # -- upload ------------------------------------------------------------------------------
    def cancel_orphans(self) -> None:
        """Cancel upload sessions that an outage or a rate limit kept from being cancelled."""
        self._uploader.cancel_orphans()

    def upload(self, drive_id: int, dir_id: int, name: str, stream: IO[bytes] | bytes, size: int,
               mtime: int | None = None, conflict: str = "error") -> File:
        """Create ``name`` in ``dir_id`` from ``size`` bytes of ``stream``; returns the stored File.

        Direct upload up to ``direct_upload_max``, an upload session above it. ``conflict`` is
        ``error`` (409 :class:`~.errors.AlreadyExists`), ``rename`` or ``version``. Adopt the
        returned ``name``: the server may have changed it (D16).
        """
        if conflict not in CONFLICT_MODES:
            raise ValueError(f"conflict must be one of {CONFLICT_MODES}")
        leaf = nfc(name)
        target = UploadTarget(drive_id, directory_id=dir_id, file_name=leaf, conflict=conflict)
        return self._uploader.upload(target, open_source(stream, size), mtime=mtime,
                                     lookup=lambda: self.child_by_name(drive_id, dir_id, leaf))

    def replace(self, drive_id: int, file_id: int, stream: IO[bytes] | bytes, size: int,
                mtime: int | None = None) -> File:
        """Store new content for ``file_id`` as a new version, keeping the id."""
        target = UploadTarget(drive_id, file_id=file_id)
        return self._uploader.upload(target, open_source(stream, size), mtime=mtime,
                                     lookup=lambda: self.stat(drive_id, file_id))

    # -- changes -----------------------------------------------------------------------------
    def mkdir(self, drive_id: int, parent_id: int, name: str) -> File:
        """Create a directory; :class:`~.errors.AlreadyExists` if the name is taken."""
        leaf = nfc(name)
        return self._confirmed(
            lambda: File.from_json(_dict(self.transport.post(
                "api", f"/3/drive/{drive_id}/files/{parent_id}/directory",
                json={"name": leaf, "only_for_me": False}).data)),
            lambda: _dir_or_none(self.child_by_name(drive_id, parent_id, leaf)))

    def rename(self, drive_id: int, file_id: int, name: str) -> Cancellable:
        leaf = nfc(name)
        return self._confirmed(
            lambda: Cancellable.from_json(self.transport.post(
                "api", f"/2/drive/{drive_id}/files/{file_id}/rename", json={"name": leaf}).data),
            lambda: _done_if(self._stat_or_none(drive_id, file_id), lambda f: f.name == leaf))

    def move(self, drive_id: int, file_id: int, dest_dir_id: int, name: str | None = None) -> Cancellable:
        """Move into ``dest_dir_id`` (optionally renaming); :class:`~.errors.AlreadyExists` on a clash."""
        payload: dict[str, Any] = {"conflict": "error"}
        if name is not None:
            payload["name"] = nfc(name)
        return self._confirmed(
            lambda: Cancellable.from_json(self.transport.post(
                "api", f"/3/drive/{drive_id}/files/{file_id}/move/{dest_dir_id}", json=payload).data),
            lambda: _done_if(self._stat_or_none(drive_id, file_id),
                             lambda f: f.parent_id == dest_dir_id
                             and (name is None or f.name == nfc(name))))

    def copy(self, drive_id: int, file_id: int, dest_dir_id: int, name: str | None = None) -> File:
        """Copy (directories recursively) into ``dest_dir_id``; returns the new File."""
        payload: dict[str, Any] = {}
        if name is not None:
            payload["name"] = nfc(name)

        def check() -> File | None:
            leaf = nfc(name) if name is not None else self.stat(drive_id, file_id).name
            return self.child_by_name(drive_id, dest_dir_id, leaf)

        return self._confirmed(
            lambda: File.from_json(_dict(self.transport.post(
                "api", f"/3/drive/{drive_id}/files/{file_id}/copy/{dest_dir_id}", json=payload).data)),
            check)

    def trash(self, drive_id: int, file_id: int) -> Cancellable:
        """Move to the trash; afterwards the item is absent everywhere (D20)."""
        return self._confirmed(
            lambda: Cancellable.from_json(self.transport.delete(
                "api", f"/2/drive/{drive_id}/files/{file_id}").data),
            lambda: Cancellable(None, None) if self._stat_or_none(drive_id, file_id) is None else None)

    def set_mtime(self, drive_id: int, file_id: int, mtime: int) -> int:
        """Set ``last_modified_at`` without a new version; returns the value the server kept (D24)."""
        wanted = int(mtime)

        def call() -> int:
            data = _dict(self.transport.post("api", f"/3/drive/{drive_id}/files/{file_id}/last-modified",
                                             json={"last_modified_at": wanted}).data)
            return as_int(data.get("last_modified_at"), wanted) or wanted

        def check() -> int | None:
            found = self._stat_or_none(drive_id, file_id)
            return found.last_modified_at if found and found.last_modified_at == wanted else None

        return self._confirmed(call, check)

    def changes(self, drive_id: int, dir_id: int, cursor: str | None = None, *,
                limit: int | None = None) -> Changes:
        """The per-folder change feed (§4.9).

        Without ``cursor``: the whole listing (``full=True``) and a cursor for next time. With one:
        what changed since (apply it with :func:`~.models.apply_changes`). A cursor the server no
        longer knows (D15) turns into a fresh full listing, flagged ``full=True``.
        """
        limit = _clamp(limit or self.settings.list_limit, 5, 1000)
        base = f"/3/drive/{drive_id}/files/{dir_id}/listing"
        full = cursor is None
        if cursor is not None:
            try:
                envelope = self.transport.get("api", base + "/continue",
                                              params={"cursor": cursor, "limit": str(limit),
                                                      "with": "files.capabilities,files.hash"})
            except InvalidCursor:
                log.info("change-feed cursor of folder %s expired; listing again", dir_id)
                return self.changes(drive_id, dir_id, None, limit=limit)
        else:
            envelope = self.transport.get("api", base, params={
                "limit": str(limit), "with": "files.capabilities,files.hash"})
        files: list[File] = []
        actions: list[FileAction] = []
        actions_files: list[File] = []
        while True:
            data = _dict(envelope.data)
            files.extend(File.from_json(f) for f in _list(data.get("files")))
            actions.extend(FileAction.from_json(a) for a in _list(data.get("actions")))
            actions_files.extend(File.from_json(f) for f in _list(data.get("actions_files")))
            if not envelope.has_more or not envelope.cursor:
                break
            envelope = self.transport.get("api", base + "/continue", params={
                "cursor": envelope.cursor, "limit": str(limit), "with": "files.capabilities,files.hash"})
        return Changes(
            files=tuple(f for f in files if f.is_present),
            actions=tuple(actions),
            actions_files=tuple(actions_files),
            cursor=envelope.cursor or cursor,
            has_more=False,
            full=full,
            response_at=envelope.response_at,
        )

    # -- internals ---------------------------------------------------------------------------
    def _stat_or_none(self, drive_id: int, file_id: int) -> File | None:
        try:
            return self.stat(drive_id, file_id)
        except NoAccess:
            return None

    @staticmethod
    def _confirmed(call: Callable[[], T], check: Callable[[], T | None]) -> T:
        """Run a non-idempotent call; after a server error, read the state back before failing."""
        try:
            return call()
        except UpstreamUnavailable:
            try:
                outcome = check()
            except InfomaniakError:
                outcome = None
            if outcome is None:
                raise
            log.info("a change whose reply was lost turned out to be done")
            return outcome


def _content_or_raise(response: httpx.Response) -> httpx.Response:
    """Pass a content reply on, or raise the error it carries."""
    if response.status_code in (200, 206, 416):
        return response  # DownloadStream decides
    try:
        response.read()
        body: Any = response.json() if response.content else None
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        body = None
    finally:
        response.close()
    raise error_from_reply(response.status_code, body)


def _dir_or_none(found: File | None) -> File | None:
    return found if found is not None and found.is_dir else None


def _done_if(found: File | None, condition: Callable[[File], bool]) -> Cancellable | None:
    return Cancellable(None, None) if found is not None and condition(found) else None


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"expected an object in the reply, got {type(data).__name__}")
    return data


def _list(data: Any) -> list[dict[str, Any]]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise UnexpectedResponse(f"expected a list in the reply, got {type(data).__name__}")
    return [item for item in data if isinstance(item, dict)]


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


__all__ = ["ROOT_ID", "KDrive"]
