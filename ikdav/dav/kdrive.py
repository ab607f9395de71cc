"""The kDrive part of the share: ``/kDrive/<drive>/<top folder>/...`` as WebDAV resources.

Levels, one class each (WsgiDAV's virtual-tree style):

- :class:`KDriveRoot` ``/kDrive``: one folder per drive the account reaches (read-only);
- :class:`DriveFolder` ``/kDrive/<drive>``: the drive's top folders, found by ``visibility``
  (read-only);
- :class:`KDriveFolder` and :class:`KDriveFile`: real kDrive folders and files. Top folders are
  KDriveFolders that refuse to be renamed, moved or deleted.

Every change maps to one native API call (upload, mkdir, rename, move, copy, trash, set-mtime);
the account's cache is updated at once so the next PROPFIND shows the change.
"""

from __future__ import annotations

import dataclasses
import email.utils
import io
import mimetypes
from collections.abc import Callable
from typing import Any

from wsgidav import util
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, _DAVResource

from ikdav.dav.base import DeletesNatively, ScopedResource, VirtualCollection, join
from ikdav.dav.errors import Created, DavFailure, exists_already, read_only, upstream_errors
from ikdav.dav.names import InvalidName, is_finder_metadata, validate_segment
from ikdav.dav.sidecar_resource import SidecarFile
from ikdav.dav.streams import RemoteReader, UploadWriter
from ikdav.infomaniak import AlreadyExists, Drive, File, KDrive

# The drive's special folders, always shown under these names (DESIGN.md), found by visibility.
TOP_FOLDERS = (("Private", "private"), ("Common documents", "common"), ("Shared", "shared"))
MTIME_PROPERTIES = ("{DAV:}lastmodified",)  # ownCloud's spelling, sent by rclone (vendor=owncloud)


def drive_folder_names(drives: list[Drive]) -> dict[str, Drive]:
    """Folder name per drive: its name, or "<name> (<id>)" when two drives share a name."""
    counts: dict[str, int] = {}
    for drive in drives:
        counts[drive.name] = counts.get(drive.name, 0) + 1
    names: dict[str, Drive] = {}
    for drive in drives:
        name = drive.name if counts[drive.name] == 1 and drive.name else f"{drive.name} ({drive.id})"
        try:
            names[validate_segment(name.replace("/", "_"))] = drive
        except InvalidName:
            names[str(drive.id)] = drive
    return names


def parse_mtime(value: Any) -> int:
    """Unix seconds from an ``X-OC-Mtime``/ownCloud number or an HTTP date (getlastmodified)."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value or "").strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise DavFailure(400, f"{text!r} is not a modification time (use an HTTP date or Unix seconds).") \
            from exc
    return int(parsed.timestamp())


def request_size(environ: dict[str, Any]) -> int | None:
    """The announced body length, or ``None`` for chunked or length-less bodies."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    value = environ.get("CONTENT_LENGTH")
    if value in (None, ""):
        return None
    try:
        size = int(value)
    except ValueError as exc:
        raise DavFailure(400, "Content-Length is not a number.") from exc
    if size < 0:
        raise DavFailure(400, "Content-Length is negative.")
    return size


class KDriveRoot(VirtualCollection):
    """``/kDrive``: one folder per drive."""

    def drives(self) -> dict[str, Drive]:
        session = self.session
        with upstream_errors():
            drives = session.kdrive_cache.drives(session.client.kdrive.drives)
        return drive_folder_names(drives)

    def members(self) -> list[_DAVResource]:
        return [DriveFolder(join(self.path, name), self.environ, drive)
                for name, drive in self.drives().items()]

    def get_member(self, name: str) -> _DAVResource | None:
        drive = self.drives().get(name)
        return DriveFolder(join(self.path, name), self.environ, drive) if drive else None


class DriveFolder(VirtualCollection):
    """``/kDrive/<drive>``: Private, Common documents and Shared."""

    def __init__(self, path: str, environ: dict[str, Any], drive: Drive) -> None:
        super().__init__(path, environ)
        self.drive = drive

    def top_folders(self) -> dict[str, File]:
        session = self.session
        with upstream_errors():
            top = session.kdrive_cache.top_folders(
                self.drive.id, lambda: session.client.kdrive.top_folders(self.drive.id))
        found = {"private": top.private, "common": top.common, "shared": top.shared}
        return {name: found[key] for name, key in TOP_FOLDERS if found[key] is not None}  # type: ignore[misc]

    def members(self) -> list[_DAVResource]:
        return [KDriveFolder(join(self.path, name), self.environ, self.drive, item, top=True)
                for name, item in self.top_folders().items()]

    def get_member(self, name: str) -> _DAVResource | None:
        item = self.top_folders().get(name)
        return KDriveFolder(join(self.path, name), self.environ, self.drive, item, top=True) if item else None

    def get_used_bytes(self) -> int | None:
        return self.drive.used_size

    def get_available_bytes(self) -> int | None:
        return self.drive.free


class KDriveItem(DeletesNatively, ScopedResource):
    """What kDrive folders and files share: identity, times, and the native changes."""

    drive: Drive
    file: File | None
    parent_id: int
    top: bool = False

    @property
    def kdrive(self) -> KDrive:
        return self.session.client.kdrive

    @property
    def cache(self) -> Any:
        return self.session.kdrive_cache

    def require_file(self) -> File:
        if self.file is None:
            raise DavFailure(404, "This file does not exist yet.")
        return self.file

    def check_writable(self, what: str = "This item") -> None:
        if self.drive.read_only:
            reason = "in maintenance" if self.drive.in_maintenance else "locked"
            raise DavFailure(403, f"The drive '{self.drive.name}' is {reason}: it is read-only for now.")
        if self.top:
            raise read_only(f"{what} '{self.name}'")

    # -- live properties ----------------------------------------------------------------------------
    def get_creation_date(self) -> float | None:
        item = self.file
        if item is None:
            return None
        return float(item.created_at or item.added_at or item.last_modified_at or 0) or None

    def get_last_modified(self) -> float | None:
        item = self.file
        return float(item.last_modified_at) if item and item.last_modified_at is not None else None

    def get_display_name(self) -> str:
        return self.name

    # -- times ------------------------------------------------------------------------------------------
    def set_last_modified(self, dest_path: str, time_stamp: Any, *, dry_run: bool) -> bool:
        item = self.require_file()
        mtime = parse_mtime(time_stamp)
        self.check_writable()
        if dry_run or item.last_modified_at == mtime:
            return True  # already right (e.g. set by the upload itself): no API call
        with upstream_errors():
            stored = self.kdrive.set_mtime(self.drive.id, item.id, mtime)
        self.file = dataclasses.replace(item, last_modified_at=stored)
        self.cache.upsert(self.drive.id, self.parent_id, self.file)
        return True

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        if name in MTIME_PROPERTIES and value is not None:
            return self.set_last_modified(self.path, value.text, dry_run=dry_run)
        if self.top and not name.startswith("{DAV:}"):
            raise read_only(f"The folder '{self.name}'")
        return super().set_property_value(name, value, dry_run=dry_run)

    # -- delete -------------------------------------------------------------------------------------------
    def handle_delete(self) -> bool:
        item = self.require_file()
        self.check_writable("The folder")
        self.check_no_foreign_locks()
        with upstream_errors():
            self.kdrive.trash(self.drive.id, item.id)
        self.cache.remove(self.drive.id, self.parent_id, self.name)
        self.forget_dead_state(recursive=True)
        return True

    # -- move and copy --------------------------------------------------------------------------------
    def _destination(self, dest_path: str) -> tuple[KDriveFolder, str, _DAVResource | None]:
        """The destination folder (same drive), leaf name, and whatever is there now."""
        provider = self.provider
        parent = provider.get_resource_inst(util.get_uri_parent(dest_path), self.environ)
        try:
            name = validate_segment(util.get_uri_name(dest_path))
        except InvalidName as exc:
            raise DavFailure(400, f"Invalid destination name: {exc}.") from exc
        if isinstance(parent, VirtualCollection):
            raise read_only(f"'{parent.name or '/'}'")
        if not isinstance(parent, KDriveFolder):
            raise DavFailure(403, "kDrive items can only be moved or copied into kDrive folders.")
        if parent.drive.id != self.drive.id:
            raise DavFailure(403, "Moving or copying between two kDrives is not supported; "
                                  "download and upload instead.")
        if is_finder_metadata(name):
            raise DavFailure(403, "Names starting with '._' and '.DS_Store' are kept for Finder metadata.")
        parent.check_writable_child()
        existing = provider.get_resource_inst(dest_path, self.environ)
        return parent, name, existing

    def _clear_destination(self, existing: _DAVResource | None) -> bool:
        """Trash what stands at the destination (Overwrite: T was checked by WsgiDAV)."""
        if existing is None:
            return False
        if isinstance(existing, KDriveItem) and existing.file is not None:
            if self.file is not None and existing.file.id == self.file.id:
                return True
            existing.handle_delete()
        elif isinstance(existing, SidecarFile):
            existing.delete()
        return True

    def handle_move(self, dest_path: str) -> bool | list[tuple[str, DavFailure]]:
        item = self.require_file()
        self.check_writable("The folder")
        parent, name, existing = self._destination(dest_path)
        existed = self._clear_destination(existing)
        with upstream_errors():
            if parent.require_file().id == self.parent_id:
                self.kdrive.rename(self.drive.id, item.id, name)
            else:
                self.kdrive.move(self.drive.id, item.id, parent.require_file().id, name)
        moved = dataclasses.replace(item, name=name, parent_id=parent.require_file().id)
        self.cache.remove(self.drive.id, self.parent_id, self.name)
        self.cache.upsert(self.drive.id, moved.parent_id or 0, moved)
        prop_manager = self.provider.prop_manager
        if prop_manager is not None:
            destination = KDriveFile(dest_path, self.environ, self.drive, moved, moved.parent_id or 0)
            prop_manager.move_properties(self.get_ref_url(), destination.get_ref_url(),
                                         with_children=True, environ=self.environ)
        self.remove_all_locks(recursive=True)
        return True if existed else [(self.get_href(), Created())]

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool | list[tuple[str, DavFailure]]:
        item = self.require_file()
        parent, name, existing = self._destination(dest_path)
        existed = self._clear_destination(existing)
        dest_dir = parent.require_file().id
        with upstream_errors():
            if item.is_dir and not depth_infinity:
                copied = self.kdrive.mkdir(self.drive.id, dest_dir, name)
            else:
                copied = self.kdrive.copy(self.drive.id, item.id, dest_dir, name)
        self.cache.upsert(self.drive.id, dest_dir, copied)
        prop_manager = self.provider.prop_manager
        if prop_manager is not None:
            destination = KDriveFile(dest_path, self.environ, self.drive, copied, dest_dir)
            prop_manager.copy_properties(self.get_ref_url(), destination.get_ref_url(), self.environ)
        return True if existed else [(self.get_href(), Created())]

    def support_recursive_move(self, dest_path: str) -> bool:
        return False


class KDriveFolder(KDriveItem, DAVCollection):
    """A real kDrive folder (``top=True`` for Private, Common documents and Shared)."""

    def __init__(self, path: str, environ: dict[str, Any], drive: Drive, item: File, *,
                 top: bool = False) -> None:
        DAVCollection.__init__(self, path, environ)
        self.drive = drive
        self.file = item
        self.parent_id = item.parent_id or 0
        self.top = top

    # -- listing: one paged listing builds the whole folder --------------------------------------------
    def children(self) -> dict[str, File]:
        item = self.require_file()
        with upstream_errors():
            listing = self.cache.listing(self.drive.id, item.id,
                                         lambda: list(self.kdrive.list_dir(self.drive.id, item.id)))
        return listing.children

    def wrap(self, child: File) -> KDriveFolder | KDriveFile:
        path = join(self.path, child.name)
        if child.is_dir:
            return KDriveFolder(path, self.environ, self.drive, child)
        return KDriveFile(path, self.environ, self.drive, child, self.require_file().id)

    def get_member_list(self) -> list[_DAVResource]:
        return [self.wrap(child) for child in self.children().values()]

    def get_member_names(self) -> list[str]:
        return list(self.children())

    def get_member(self, name: str) -> _DAVResource | None:
        if is_finder_metadata(name):
            return SidecarFile.existing(join(self.path, name), self.environ)
        item = self.require_file()
        with upstream_errors():
            child = self.cache.child(self.drive.id, item.id, name,
                                     lambda: self.kdrive.child_by_name(self.drive.id, item.id, name))
        return self.wrap(child) if child is not None else None

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}

    def get_used_bytes(self) -> int | None:
        return self.drive.used_size

    def get_available_bytes(self) -> int | None:
        return self.drive.free

    def get_etag(self) -> str | None:
        return None

    # -- creating children ------------------------------------------------------------------------------
    def check_writable_child(self) -> None:
        """Creating inside this folder is allowed (even in a top folder) unless the drive is read-only."""
        if self.drive.read_only:
            KDriveItem.check_writable(self)

    def create_empty_resource(self, name: str) -> _DAVResource:
        name = self._child_name(name)
        path = join(self.path, name)
        if is_finder_metadata(name):
            return SidecarFile(path, self.environ)
        self.check_writable_child()
        pending = KDriveFile(path, self.environ, self.drive, None, self.require_file().id)
        if self.environ.get("REQUEST_METHOD") != "PUT":
            pending.write_empty()  # LOCK on an unmapped URL creates an empty file (RFC 4918 §9.10.4)
        return pending

    def create_collection(self, name: str) -> KDriveFolder:
        name = self._child_name(name)
        if is_finder_metadata(name):
            raise DavFailure(403, "Names starting with '._' and '.DS_Store' are kept for Finder metadata.")
        self.check_writable_child()
        item = self.require_file()
        with upstream_errors():
            try:
                created = self.kdrive.mkdir(self.drive.id, item.id, name)
            except AlreadyExists as exc:
                # Made meanwhile by someone else (two clients syncing at once).
                self.cache.forget_dir(self.drive.id, item.id)
                raise exists_already(name) from exc
        self.cache.upsert(self.drive.id, item.id, created)
        return KDriveFolder(join(self.path, created.name), self.environ, self.drive, created)

    @staticmethod
    def _child_name(name: str) -> str:
        try:
            return validate_segment(name)
        except InvalidName as exc:
            raise DavFailure(400, f"Invalid name: {exc}.") from exc


class KDriveFile(KDriveItem, DAVNonCollection):
    """A kDrive file; ``item`` is ``None`` while a PUT is creating it."""

    def __init__(self, path: str, environ: dict[str, Any], drive: Drive, item: File | None,
                 parent_id: int) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self.drive = drive
        self.file = item
        self.parent_id = parent_id
        self._writer: UploadWriter | None = None

    # -- properties ---------------------------------------------------------------------------------------
    def get_content_length(self) -> int | None:
        return self.file.size or 0 if self.file else 0

    def get_content_type(self) -> str:
        if self.file and self.file.mime_type:
            return self.file.mime_type
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    def get_etag(self) -> str | None:
        item = self.file
        if item is None:
            return None
        tag = f"{item.id}-{item.last_modified_at or 0}-{item.size or 0}"
        if item.content_hash:
            tag += "-" + item.content_hash[5:]
        return tag

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_property_value(self, name: str) -> Any:
        if name == "{DAV:}getetag" and self.get_etag() is not None:
            return f'"{self.get_etag()}"'  # an entity-tag is quoted (RFC 4918 §15.6), as in the header
        return super().get_property_value(name)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "File"}

    # -- reading -------------------------------------------------------------------------------------------
    def get_content(self) -> Any:
        item = self.require_file()
        if not item.size:
            return io.BytesIO(b"")  # nothing to fetch

        def open_at(offset: int) -> Any:
            return self.kdrive.download(self.drive.id, item.id, offset=offset or None)

        return RemoteReader(open_at)

    # -- writing -------------------------------------------------------------------------------------------
    def _uploader(self, mtime: int | None) -> Callable[[Any, int], File]:
        drive_id = self.drive.id

        def upload(stream: Any, size: int) -> File:
            if self.file is not None:
                return self.kdrive.replace(drive_id, self.file.id, stream, size, mtime=mtime)
            return self.kdrive.upload(drive_id, self.parent_id, self.name, stream, size, mtime=mtime,
                                      conflict="version")

        return upload

    def begin_write(self, *, content_type: str | None = None) -> UploadWriter:
        self.check_writable()
        header = self.environ.get("HTTP_X_OC_MTIME")
        mtime = parse_mtime(header) if header else None
        services = self.environ["ikdav.services"]
        self._writer = UploadWriter(self._uploader(mtime), request_size(self.environ),
                                    services.config.upload.spool_dir)
        return self._writer

    def end_write(self, *, with_errors: bool) -> None:
        writer, self._writer = self._writer, None
        if with_errors or writer is None or writer.result is None:
            return
        self.file = writer.result
        self.cache.upsert(self.drive.id, self.parent_id, self.file)

    def write_empty(self) -> None:
        """Create the file with no content (lock-null resources)."""
        with upstream_errors():
            self.file = self._uploader(None)(b"", 0)
        self.cache.upsert(self.drive.id, self.parent_id, self.file)
