"""Where an upload goes and whether it may: shared by direct uploads and upload sessions.

``plan_upload`` runs before any body is read (§4.6, D26): parameters, destination, conflict
mode, lock, running sessions and quota. ``commit_upload`` runs once the content is stored as a
blob: it creates the missing folders and the file (or the new version) under the store's lock,
re-checking what may have changed meanwhile. An upload that fails leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from ikdav.emulator.kdrive_model import Blob, Node, checked_name, split_path, validation_error
from ikdav.emulator.kdrive_store import KDriveStore, file_not_found
from ikdav.emulator.kdrive_tree import Drive, conflict
from ikdav.emulator.web import ApiError

CONFLICT_MODES = ("error", "rename", "version")


@dataclass
class UploadParams:
    """The caller's wishes, already converted to Python types."""

    total_size: int
    file_name: str | None = None
    directory_id: int | None = None
    directory_path: str | None = None
    file_id: int | None = None
    conflict: str | None = None
    last_modified_at: int | None = None
    created_at: int | None = None


@dataclass
class UploadPlan:
    file_name: str
    base_dir_id: int
    missing_dirs: list[str]
    conflict: str
    target_id: int | None  # the file whose content gets replaced, if known now
    by_file_id: bool
    total_size: int
    last_modified_at: int | None
    created_at: int | None


def still_uploading() -> ApiError:
    return ApiError(409, "still_uploading_error", "An upload to this file is in progress")


def plan_upload(store: KDriveStore, drive: Drive, params: UploadParams) -> UploadPlan:
    """Validate an upload before its body is read. The caller holds the store's lock."""
    if params.file_id is not None:
        return _plan_replace(store, drive, params)
    if params.file_name is None:
        raise validation_error("file_name (or file_id) is required")
    name = checked_name(params.file_name.replace("/", ":"))
    mode = params.conflict or "error"
    if mode not in CONFLICT_MODES:
        raise validation_error(f"conflict must be one of {', '.join(CONFLICT_MODES)}")
    if params.directory_id is None and params.directory_path is None:
        raise validation_error("directory_id or directory_path is required")
    base = store.dir_for(drive, params.directory_id) if params.directory_id is not None else drive.root
    segments = [checked_name(s) for s in split_path(params.directory_path or "")]
    folder, missing = _walk(store, drive, base, segments)
    store.ensure_container(drive, folder)
    target_id = None
    replaced = 0
    existing = None if missing else folder.children.get(name)
    if existing is not None and not existing.is_dir:
        if mode == "error":
            raise conflict("file_already_exists_error", name)
        if mode == "version":
            store.ensure_not_locked(drive, existing)
            if existing.uploads:
                raise still_uploading()
            target_id = existing.id
            replaced = existing.size
    store.ensure_quota(drive, params.total_size - replaced)
    return UploadPlan(name, folder.id, missing, mode, target_id, False, params.total_size,
                      params.last_modified_at, params.created_at)


def _plan_replace(store: KDriveStore, drive: Drive, params: UploadParams) -> UploadPlan:
    if any(v is not None for v in (params.file_name, params.directory_id, params.directory_path,
                                   params.conflict)):
        raise validation_error("file_id cannot be combined with file_name, directory_id, "
                               "directory_path or conflict")
    assert params.file_id is not None
    node = store.file_for(drive, params.file_id)
    if node.is_dir:
        raise validation_error("file_id must name a file")
    store.ensure_not_locked(drive, node)
    if node.uploads:
        raise still_uploading()
    store.ensure_quota(drive, params.total_size - node.size)
    assert node.parent_id is not None
    return UploadPlan(node.name, node.parent_id, [], "version", node.id, True, params.total_size,
                      params.last_modified_at, params.created_at)


def _walk(store: KDriveStore, drive: Drive, base: Node, segments: list[str]) -> tuple[Node, list[str]]:
    """The deepest existing folder along ``segments`` and the names still missing below it."""
    node = base
    for index, name in enumerate(segments):
        child = node.children.get(name)
        if child is not None and node.is_root and not store.visible(drive, child):
            child = None
        if child is None:
            return node, segments[index:]
        if not child.is_dir:
            raise conflict("conflict_error", name)
        node = child
    return node, []


def commit_upload(store: KDriveStore, drive: Drive, plan: UploadPlan, blob: Blob, user_id: int,
                  *, own_session: bool = False) -> Node:
    """Store ``blob`` where ``plan`` says. The caller holds the lock and discards ``blob`` if this
    raises (``blob.refs`` stays 0 then)."""
    if plan.by_file_id:
        assert plan.target_id is not None
        target = store.file_for(drive, plan.target_id)
        return _replace(store, drive, target, blob, plan, user_id, own_session)
    base = drive.live(plan.base_dir_id)
    if base is None or not store.visible(drive, base):
        raise file_not_found()
    folder, missing = _walk(store, drive, base, plan.missing_dirs)
    store.ensure_container(drive, folder)
    existing = None if missing else folder.children.get(plan.file_name)
    name = plan.file_name
    if existing is not None and not existing.is_dir:
        if plan.conflict == "error":
            raise conflict("file_already_exists_error", name)
        if plan.conflict == "version":
            own = own_session and existing.id == plan.target_id
            return _replace(store, drive, existing, blob, plan, user_id, own)
    store.ensure_quota(drive, blob.size)
    for folder_name in missing:
        folder = drive.add_dir(folder, folder_name, user_id)
    if existing is not None:
        name = drive.free_name(folder, name)
    return drive.add_file(folder, name, blob, user_id, last_modified_at=plan.last_modified_at,
                          created_at=plan.created_at)


def _replace(store: KDriveStore, drive: Drive, target: Node, blob: Blob, plan: UploadPlan,
             user_id: int, own_session: bool) -> Node:
    store.ensure_not_locked(drive, target)
    if target.uploads > (1 if own_session else 0):
        raise still_uploading()
    store.ensure_quota(drive, blob.size - target.size)
    old = drive.replace_content(target, blob, user_id, last_modified_at=plan.last_modified_at,
                                created_at=plan.created_at)
    store.release(old)
    return target
