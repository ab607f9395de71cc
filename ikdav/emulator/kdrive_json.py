"""The JSON shapes of kDrive objects: File (§4.2) and Drive (§4.1).

Every File carries the always-present fields; ``path``, ``hash``, ``capabilities`` and
``version`` come only when asked for with ``with=``. Times are int Unix seconds.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_mime import extension_type_for
from ikdav.emulator.kdrive_model import Node
from ikdav.emulator.kdrive_tree import Drive

OPTIONAL_FILE_FIELDS = frozenset({"path", "hash", "capabilities", "version"})


def status_of(node: Node, lock: dict[str, Any] | None) -> str | None:
    if node.trash is not None:
        return node.trash
    if lock is not None:
        return "locked"
    if node.uploads:
        return "uploading"
    return None


def capabilities_of(node: Node, locked: bool) -> dict[str, bool]:
    if node.is_root:
        return {"can_read": True, "can_write": False, "can_delete": False, "can_rename": False,
                "can_move": False, "can_create_file": False, "can_create_directory": False,
                "can_upload": False}
    changeable = not node.is_protected and not locked
    inside = node.is_dir
    return {"can_read": True, "can_write": not locked, "can_delete": changeable,
            "can_rename": changeable, "can_move": changeable, "can_create_file": inside,
            "can_create_directory": inside, "can_upload": inside}


def file_json(drive: Drive, node: Node, fields: set[str] | frozenset[str],
              lock: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": node.id,
        "parent_id": node.parent_id,
        "drive_id": drive.id,
        "name": node.name,
        "type": node.type,
        "status": status_of(node, lock),
        "visibility": drive.visibility_of(node),
        "created_at": node.created_at,
        "added_at": node.added_at,
        "last_modified_at": node.last_modified_at,
        "revised_at": node.revised_at,
        "updated_at": node.updated_at,
        "created_by": node.created_by,
        "last_modified_by": node.last_modified_by,
        "depth": drive.depth_of(node),
    }
    if not node.is_dir:
        mime = node.mime_type or "application/octet-stream"
        data["size"] = node.size
        data["mime_type"] = mime
        data["extension_type"] = extension_type_for(node.name, mime)
    if lock is not None:
        data["lock"] = lock
    if "path" in fields:
        data["path"] = drive.path_of(node)
    if "hash" in fields:
        data["hash"] = node.blob.hash if node.blob is not None else None
    if "capabilities" in fields:
        data["capabilities"] = capabilities_of(node, lock is not None)
    if "version" in fields and not node.is_dir:
        data["version"] = {"is_multiple": node.version > 1, "number": node.version,
                           "total_size": node.size, "keep_forever": False}
    return data


def drive_json(drive: Drive, user_id: int, size: int, used_size: int) -> dict[str, Any]:
    return {
        "id": drive.id,
        "name": drive.name,
        "account_id": drive.account_id,
        "size": size,
        "used_size": used_size,
        "in_maintenance": False,
        "maintenance_reason": "",
        "is_locked": False,
        "role": drive.users.get(user_id, "user"),
        "account": {"id": drive.account_id, "name": drive.account_name},
        "pack": dict(drive.pack),
        "preferences": {"color": drive.color},
        "created_at": drive.created_at,
        "updated_at": drive.updated_at,
    }
