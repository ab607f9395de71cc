"""kDrive's change routes on the API host (§4.8): mkdir, rename, move, copy, trash, undo, mtime.

Rename, move and delete answer with a cancellable reply (D17) whose ``cancel_id`` undoes them
through ``/2/drive/{drive_id}/cancel``. Root ``1`` and the special folders refuse changes with
403 (D18); a locked file with 423 (D27); a file being uploaded with 409.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_http import as_int, user_of
from ikdav.emulator.kdrive_model import Node, checked_name, validation_error
from ikdav.emulator.kdrive_store import KDriveStore, forbidden
from ikdav.emulator.kdrive_tree import Drive
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import ApiError, Request, Response, Router, ok


def install_write(routers: dict[str, Router], state: EmulatorState, store: KDriveStore) -> None:
    api = routers["api"]

    @api.route("POST", "/3/drive/{drive_id:int}/files/{parent_id:int}/directory")
    def make_directory(request: Request, drive_id: int, parent_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body = request.json()
        name = checked_name(body.get("name", request.arg("name")))
        with store.lock:
            parent = store.file_for(drive, parent_id)
            store.ensure_container(drive, parent)
            node = drive.add_dir(parent, name, user_id)
            data = store.file_json(drive, node, request.with_fields())
        return ok(data, kdrive=True)

    @api.route("POST", "/2/drive/{drive_id:int}/files/{file_id:int}/rename")
    def rename(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        name = checked_name(request.json().get("name"))
        with store.lock:
            node = store.file_for(drive, file_id)
            store.ensure_changeable(drive, node)
            old = drive.rename(node, name)
            data = store.cancellable(drive, user_id, lambda: _undo_rename(store, drive, node, old))
        return ok(data, kdrive=True)

    @api.route("POST", "/3/drive/{drive_id:int}/files/{file_id:int}/move/{destination_id:int}")
    def move(request: Request, drive_id: int, file_id: int, destination_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body = request.json()
        mode = body.get("conflict") or "error"
        if mode not in ("error", "rename"):
            raise validation_error("conflict must be error or rename")
        with store.lock:
            node = store.file_for(drive, file_id)
            destination = store.file_for(drive, destination_id)
            store.ensure_changeable(drive, node)
            store.ensure_container(drive, destination)
            name = checked_name(body["name"]) if body.get("name") is not None else node.name
            if mode == "rename" and not drive.is_within(destination, node) and \
                    destination.children.get(name) not in (None, node):
                name = drive.free_name(destination, name)
            origin = drive.parent_of(node)
            assert origin is not None
            old_name = node.name
            drive.move(node, destination, name)
            data = store.cancellable(drive, user_id,
                                     lambda: _undo_move(store, drive, node, origin, old_name))
        return ok(data, kdrive=True)

    @api.route("POST", "/3/drive/{drive_id:int}/files/{file_id:int}/copy/{destination_id:int}")
    def copy(request: Request, drive_id: int, file_id: int, destination_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body = request.json()
        with store.lock:
            node = store.file_for(drive, file_id)
            destination = store.file_for(drive, destination_id)
            if node.is_protected:
                raise forbidden("The root and the special folders cannot be copied")
            store.ensure_container(drive, destination)
            name = checked_name(body["name"]) if body.get("name") is not None else node.name
            if name in destination.children:
                raise ApiError(409, "conflict_error", f"An item named {name!r} already exists here")
            store.ensure_quota(drive, drive.tree_size(node))
            copied = drive.copy(node, destination, name, user_id)
            data = store.file_json(drive, copied, request.with_fields())
        return ok(data, kdrive=True)

    @api.route("DELETE", "/2/drive/{drive_id:int}/files/{file_id:int}")
    def delete(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            node = store.file_for(drive, file_id)
            store.ensure_changeable(drive, node)
            if node.is_dir and store.locked_within(drive, node):
                raise ApiError(423, "lock_error", "The folder holds a locked file")
            if node.is_dir and any(n.uploads for n in drive.subtree(node)):
                raise ApiError(409, "still_uploading_error", "The folder holds a file being uploaded")
            drive.trash(node)
            data = store.cancellable(drive, user_id, lambda: drive.restore(node))
        return ok(data, kdrive=True)

    @api.route("POST", "/2/drive/{drive_id:int}/cancel")
    def cancel(request: Request, drive_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        cancel_id = request.json(required=True).get("cancel_id")
        if not isinstance(cancel_id, str) or not cancel_id:
            raise validation_error("cancel_id is required")
        store.cancel(drive, user_id, cancel_id)
        return ok(True, kdrive=True)

    @api.route("POST", "/3/drive/{drive_id:int}/files/{file_id:int}/last-modified")
    def set_last_modified(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body: dict[str, Any] = request.json(required=True)
        if body.get("last_modified_at") is None:
            raise validation_error("last_modified_at is required")
        mtime = as_int(body.get("last_modified_at"), "last_modified_at", minimum=0)
        with store.lock:
            node = store.file_for(drive, file_id)
            store.ensure_changeable(drive, node)
            drive.set_mtime(node, mtime)
            data = store.file_json(drive, node, request.with_fields())
        return ok(data, kdrive=True)


def _live_again(store: KDriveStore, drive: Drive, node: Node) -> None:
    if drive.live(node.id) is None:
        raise ApiError(404, "object_not_found", "File not found", context={"model": "File"})
    store.ensure_changeable(drive, node)


def _undo_rename(store: KDriveStore, drive: Drive, node: Node, old_name: str) -> None:
    _live_again(store, drive, node)
    drive.rename(node, old_name)


def _undo_move(store: KDriveStore, drive: Drive, node: Node, origin: Node, old_name: str) -> None:
    _live_again(store, drive, node)
    if drive.live(origin.id) is None:
        raise ApiError(404, "object_not_found", "The original folder no longer exists",
                       context={"model": "File"})
    drive.move(node, origin, old_name)
