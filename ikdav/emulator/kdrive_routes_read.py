"""kDrive's read routes on the API host: drives (§4.1), files and listings (§4.4), hashes.

Lists of drives are v2 page lists; lists of files are cursor lists whose cursors live on the
server (``kdrive_cursors``). Trashed items are absent everywhere (D20).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ikdav.emulator.kdrive_cursors import LIST, Cursor
from ikdav.emulator.kdrive_http import as_int, key_of, limit_of, user_of
from ikdav.emulator.kdrive_model import Node, normalize_name, validation_error
from ikdav.emulator.kdrive_store import KDriveStore, file_not_found
from ikdav.emulator.kdrive_tree import Drive
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Request, Response, Router, ok

MAX_PER_PAGE = 1000
ORDER_FIELDS = ("added_at", "last_modified_at", "mime_type", "name", "revised_at", "size", "type",
                "updated_at")


def order_of(request: Request) -> list[tuple[str, bool]]:
    """``[(field, descending)]`` from ``order_by`` + ``order_for[field]`` / ``order`` (§4.4).

    Without ``order_by``: folders first, then by name.
    """
    fields: list[str] = []
    for value in request.args("order_by"):
        fields.extend(f.strip() for f in value.split(",") if f.strip())
    default = (request.arg("order") or "asc").lower()
    if default not in ("asc", "desc"):
        raise validation_error("order must be asc or desc")
    if not fields:
        return [("type", False), ("name", default == "desc")]
    order: list[tuple[str, bool]] = []
    for name in fields:
        if name not in ORDER_FIELDS:
            raise validation_error(f"order_by must be one of {', '.join(ORDER_FIELDS)}")
        direction = (request.arg(f"order_for[{name}]") or default).lower()
        if direction not in ("asc", "desc"):
            raise validation_error(f"order_for[{name}] must be asc or desc")
        order.append((name, direction == "desc"))
    return order


def _sort_value(node: Node, name: str) -> Any:
    if name == "name":
        return (node.name.casefold(), node.name)
    if name == "size":
        return node.size
    if name == "mime_type":
        return node.mime_type or ""
    if name == "type":
        return node.type
    return getattr(node, name) or 0


def sorted_children(children: list[Node], order: list[tuple[str, bool]]) -> list[Node]:
    """Stable multi-key sort: the last key first, ids as the final tie-breaker."""
    result = sorted(children, key=lambda n: n.id)
    for name, descending in reversed(order):
        result.sort(key=partial(_sort_value, name=name), reverse=descending)
    return result


def page_of(store: KDriveStore, drive: Drive, folder: Node, cursor: Cursor, limit: int
            ) -> list[Node]:
    """The next ``limit`` children of the snapshot that are still live in ``folder``; advances
    ``cursor.offset``. Children gone since the snapshot are skipped (the change feed says why)."""
    page: list[Node] = []
    while len(page) < limit and cursor.offset < len(cursor.ids):
        node = drive.live(cursor.ids[cursor.offset])
        cursor.offset += 1
        if node is not None and node.parent_id == folder.id and store.visible(drive, node):
            page.append(node)
    return page


def first_cursor(kind: str, drive: Drive, folder: Node, user_id: int, children: list[Node],
                 fields: frozenset[str]) -> Cursor:
    return Cursor(kind, drive.id, folder.id, user_id, [c.id for c in children], 0,
                  drive.changes.seq, fields, 0.0)


def install_read(routers: dict[str, Router], state: EmulatorState, store: KDriveStore) -> None:
    api = routers["api"]

    @api.route("GET", "/2/drive/users/current/drives")
    def list_drives(request: Request) -> Response:
        user_id = user_of(state, request)
        page = as_int(request.arg("page", "1"), "page", minimum=1)
        per_page = as_int(request.arg("per_page", "10"), "per_page", minimum=1)
        if per_page > MAX_PER_PAGE:
            raise validation_error(f"per_page must be <= {MAX_PER_PAGE}")
        roles = {r for value in request.args("roles[]") + request.args("roles") for r in value.split(",")}
        with_fields = request.with_fields()
        with store.lock:
            drives = [d for d in store.drives_of(user_id) if not roles or d.users[user_id] in roles]
            total = len(drives)
            chosen = drives[(page - 1) * per_page: page * per_page]
            items = []
            for drive in chosen:
                item: dict[str, Any] = {"id": user_id, "drive_id": drive.id, "drive_name": drive.name,
                                        "role": drive.users[user_id],
                                        "preference": {"color": drive.color}}
                if "drive" in with_fields or "drive.account" in with_fields:
                    item["drive"] = store.drive_json(drive, user_id)
                items.append(item)
        pages = max(1, -(-total // per_page))
        return ok(items, kdrive=True, total=total, pages=pages, page=page, items_per_page=per_page)

    @api.route("GET", "/2/drive/{drive_id:int}")
    def get_drive(request: Request, drive_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            data = store.drive_json(drive, user_id)
        only = {f.strip() for value in request.args("only") for f in value.split(",") if f.strip()}
        if only:
            data = {k: v for k, v in data.items() if k in only}
        return ok(data, kdrive=True)

    @api.route("GET", "/3/drive/{drive_id:int}/files/{file_id:int}")
    def get_file(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            node = store.file_for(drive, file_id)
            data = store.file_json(drive, node, request.with_fields())
        return ok(data, kdrive=True)

    @api.route("GET", "/3/drive/{drive_id:int}/files/{dir_id:int}/name")
    def child_by_name(request: Request, drive_id: int, dir_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        name = request.arg("name")
        if not name:
            raise validation_error("name is required")
        with store.lock:
            folder = store.dir_for(drive, dir_id)
            child = folder.children.get(normalize_name(name))
            if child is None or not store.visible(drive, child):
                raise file_not_found()
            data = store.file_json(drive, child, request.with_fields())
        return ok(data, kdrive=True)

    @api.route("GET", "/3/drive/{drive_id:int}/files/{dir_id:int}/files")
    def list_files(request: Request, drive_id: int, dir_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        limit = limit_of(request)
        token = request.arg("cursor")
        fields = frozenset(request.with_fields())
        with store.lock:
            folder = store.dir_for(drive, dir_id)
            if token:
                cursor = store.cursors.redeem(token, LIST, drive.id, folder.id, user_id, key_of(request))
            else:
                children = sorted_children(store.children_of(drive, folder), order_of(request))
                cursor = first_cursor(LIST, drive, folder, user_id, children, fields)
            page = page_of(store, drive, folder, cursor, limit)
            data = [store.file_json(drive, n, fields or cursor.fields) for n in page]
            has_more = not cursor.files_done
            next_token = store.cursors.issue(cursor, key_of(request)) if has_more else None
        return ok(data, kdrive=True, cursor=next_token, has_more=has_more)

    @api.route("GET", "/2/drive/{drive_id:int}/files/{file_id:int}/hash")
    def file_hash(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            node = store.file_for(drive, file_id)
            if node.blob is None:
                raise validation_error("Folders have no hash")
            digest = node.blob.hash
        return ok({"hash": digest}, kdrive=True)

