"""The per-folder change feed (§4.9): ``listing`` and ``listing/continue``.

``listing`` snapshots the folder's children and the drive's change-log position. ``continue``
hands out the rest of the snapshot, then the folder's actions since that position (newest
first) with the current File of every item they name that still exists (``actions_files``).
Every reply carries a fresh cursor; saved cursors stay usable for 24 h.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_cursors import LISTING, Cursor, invalid_cursor
from ikdav.emulator.kdrive_http import key_of, limit_of, user_of
from ikdav.emulator.kdrive_routes_read import first_cursor, order_of, page_of, sorted_children
from ikdav.emulator.kdrive_store import KDriveStore
from ikdav.emulator.kdrive_tree import Drive
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Request, Response, Router, ok


def feed_page(store: KDriveStore, drive: Drive, cursor: Cursor, limit: int,
              fields: frozenset[str]) -> tuple[dict[str, Any], bool]:
    """One reply's ``data`` and ``has_more``; advances ``cursor``. The caller holds the lock."""
    folder = store.dir_for(drive, cursor.dir_id)
    if not cursor.files_done:
        page = page_of(store, drive, folder, cursor, limit)
        files = [store.file_json(drive, n, fields) for n in page]
        return {"files": files, "actions": [], "actions_files": []}, not cursor.files_done
    if not drive.changes.covers(cursor.seq):
        raise invalid_cursor("The cursor is older than the kept change history")
    changes, next_seq, has_more = drive.changes.since(cursor.seq, folder.id, limit)
    cursor.seq = next_seq
    actions = [c.to_json() for c in reversed(changes)]
    seen: set[int] = set()
    actions_files: list[dict[str, Any]] = []
    for change in reversed(changes):
        if change.file_id in seen:
            continue
        seen.add(change.file_id)
        node = drive.live(change.file_id)
        if node is not None and store.visible(drive, node):
            actions_files.append(store.file_json(drive, node, fields))
    return {"files": [], "actions": actions, "actions_files": actions_files}, has_more


def install_feed(routers: dict[str, Router], state: EmulatorState, store: KDriveStore) -> None:
    api = routers["api"]

    @api.route("GET", "/3/drive/{drive_id:int}/files/{dir_id:int}/listing")
    def listing(request: Request, drive_id: int, dir_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        limit = limit_of(request)
        fields = frozenset(request.with_fields())
        with store.lock:
            folder = store.dir_for(drive, dir_id)
            children = sorted_children(store.children_of(drive, folder), order_of(request))
            cursor = first_cursor(LISTING, drive, folder, user_id, children, fields)
            data, has_more = feed_page(store, drive, cursor, limit, fields)
            token = store.cursors.issue(cursor, key_of(request))
        return ok(data, kdrive=True, cursor=token, has_more=has_more)

    @api.route("GET", "/3/drive/{drive_id:int}/files/{dir_id:int}/listing/continue")
    def listing_continue(request: Request, drive_id: int, dir_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        limit = limit_of(request)
        with store.lock:
            folder = store.dir_for(drive, dir_id)
            cursor = store.cursors.redeem(request.arg("cursor"), LISTING, drive.id, folder.id, user_id,
                                          key_of(request))
            fields = frozenset(request.with_fields()) or cursor.fields
            data, has_more = feed_page(store, drive, cursor, limit, fields)
            token = store.cursors.issue(cursor, key_of(request))
        return ok(data, kdrive=True, cursor=token, has_more=has_more)
