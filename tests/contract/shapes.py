"""Shape checks for the contract's objects: fields present and typed, never sample values.

Each ``assert_*`` names the object and the field that is wrong, so a failure against the real
service reads as "the contract no longer holds here" rather than as a stack of dict lookups.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from .support import is_int

VISIBILITIES = frozenset({"", "is_root", "is_private_space", "is_in_private_space", "is_team_space",
                          "is_team_space_folder", "is_in_team_space_folder", "is_shared_space",
                          "is_in_shared_space"})
TOP_VISIBILITIES = {"Private": "is_private_space", "Common documents": "is_team_space",
                    "Shared": "is_shared_space"}
CHILD_VISIBILITY = {"is_private_space": "is_in_private_space", "is_team_space": "is_team_space_folder",
                    "is_shared_space": "is_in_shared_space"}
XXH3 = re.compile(r"^xxh3:[0-9a-f]{16}$")
MAIL_FOLDER_ID = re.compile(r"^[A-Za-z0-9_-]+$")
SHORT_UID = re.compile(r"^[0-9]+$")
FILE_TIMES = ("added_at", "last_modified_at", "revised_at", "updated_at")
ROOT_ID = 1
CAPABILITIES = ("can_read", "can_write", "can_delete", "can_rename", "can_move")


def _check(ok: bool, what: str, data: Mapping[str, Any], key: str, expected: str) -> None:
    assert ok, f"{what}.{key} should be {expected}, got {data.get(key, '<absent>')!r}"


def has_int(what: str, data: Mapping[str, Any], *keys: str, nullable: bool = False) -> None:
    for key in keys:
        value = data.get(key)
        _check(is_int(value) or (nullable and key in data and value is None), what, data, key,
               "an int" + (" or null" if nullable else ""))


def has_str(what: str, data: Mapping[str, Any], *keys: str, nullable: bool = False) -> None:
    for key in keys:
        value = data.get(key)
        _check(isinstance(value, str) or (nullable and key in data and value is None), what, data, key,
               "a string" + (" or null" if nullable else ""))


def has_bool(what: str, data: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        _check(isinstance(data.get(key), bool), what, data, key, "a bool")


def has_list(what: str, data: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        _check(isinstance(data.get(key), list), what, data, key, "a list")


def is_content_hash(value: Any) -> bool:
    """``xxh3:<16 lowercase hex>`` (D21); the contract allows nothing else but absence."""
    return isinstance(value, str) and XXH3.match(value) is not None


# -- profile (§2) ------------------------------------------------------------------------------


def assert_profile(data: Any, *, version: int) -> None:
    assert isinstance(data, dict), f"profile v{version} data is {type(data).__name__}, not an object"
    what = f"profile v{version}"
    has_int(what, data, "id")
    has_str(what, data, "email", "display_name")
    names = ("first_name", "last_name") if version == 2 else ("firstname", "lastname")
    has_str(what, data, *names, nullable=True)


# -- kDrive (§4) -------------------------------------------------------------------------------


def assert_drive(data: Any) -> None:
    """A Drive object (§4.1): what the client reads, typed."""
    assert isinstance(data, dict), f"drive is {type(data).__name__}, not an object"
    has_int("drive", data, "id", "account_id", "size", "used_size")
    has_str("drive", data, "name", "role")
    has_bool("drive", data, "in_maintenance", "is_locked")


def assert_drive_entry(item: Any) -> None:
    """One entry of the drive list with ``with=drive``: the user's link to a drive, plus the drive."""
    assert isinstance(item, dict), f"drive list entry is {type(item).__name__}, not an object"
    has_int("drive list entry", item, "id", "drive_id")
    has_str("drive list entry", item, "drive_name")
    assert_drive(item.get("drive"))
    assert item["drive"]["id"] == item["drive_id"], "the nested drive is not the entry's drive_id"


def assert_file(data: Any, *, parent_id: int | None = None, drive_id: int | None = None,
                requested: tuple[str, ...] = ()) -> None:
    """A File object (§4.2); ``requested`` names the ``with=`` fields that must be there too."""
    assert isinstance(data, dict), f"file is {type(data).__name__}, not an object"
    what = f"file {data.get('id')!r}"
    has_int(what, data, "id", "drive_id", *FILE_TIMES)
    has_int(what, data, "parent_id", nullable=data.get("id") == ROOT_ID)  # root 1 has no parent
    has_int(what, data, "created_at", nullable=True)
    has_str(what, data, "name")
    has_str(what, data, "status", nullable=True)
    _check(data.get("type") in ("dir", "file"), what, data, "type", '"dir" or "file"')
    _check(data.get("visibility") in VISIBILITIES, what, data, "visibility", "a known visibility")
    if data["type"] == "file":
        has_int(what, data, "size")
        has_str(what, data, "mime_type")
    if parent_id is not None:
        _check(data["parent_id"] == parent_id, what, data, "parent_id", str(parent_id))
    if drive_id is not None:
        _check(data["drive_id"] == drive_id, what, data, "drive_id", str(drive_id))
    if "path" in requested:
        has_str(what, data, "path")
        _check(data["path"].startswith("/") and data["path"].endswith(data["name"].replace("/", ":")),
               what, data, "path", "an absolute path ending in the name")
    if "hash" in requested:
        _check("hash" in data and (data["hash"] is None or is_content_hash(data["hash"])), what, data,
               "hash", "xxh3:<16 hex> or null")
    if "capabilities" in requested:
        capabilities = data.get("capabilities")
        _check(isinstance(capabilities, dict), what, data, "capabilities", "an object")
        has_bool(f"{what}.capabilities", capabilities, *CAPABILITIES)


def assert_feed_page(data: Any, *, dir_id: int, drive_id: int) -> None:
    """``data`` of the per-folder change feed (§4.9): files, actions and actions_files."""
    assert isinstance(data, dict), f"listing data is {type(data).__name__}, not an object"
    has_list("listing", data, "files", "actions", "actions_files")
    for item in data["files"]:
        assert_file(item, parent_id=dir_id, drive_id=drive_id)
    for action in data["actions"]:
        has_str("action", action, "action")
        has_int("action", action, "file_id")
    for item in data["actions_files"]:
        assert_file(item, drive_id=drive_id)


# -- mail (§5) ---------------------------------------------------------------------------------


def assert_mailbox(data: Any) -> None:
    assert isinstance(data, dict), f"mailbox is {type(data).__name__}, not an object"
    has_str("mailbox", data, "uuid", "email", "mailbox")
    has_int("mailbox", data, "mailbox_id")
    has_bool("mailbox", data, "is_primary", "is_locked")
    has_int("mailbox", data, "unseen_messages", nullable=True)
    has_list("mailbox", data, "aliases")


def walk_folders(tree: list[Any], parent: Mapping[str, Any] | None = None
                 ) -> Iterator[tuple[dict[str, Any], Mapping[str, Any] | None]]:
    """Every folder of a tree with its parent (``None`` at the top), depth first."""
    for folder in tree:
        yield folder, parent
        if isinstance(folder, dict) and isinstance(folder.get("children"), list):
            yield from walk_folders(folder["children"], folder)


def assert_folder(folder: Any, parent: Mapping[str, Any] | None) -> None:
    """A Folder of the tree (§5.3): opaque id in ``[A-Za-z0-9_-]``, path built from its parent's."""
    assert isinstance(folder, dict), f"folder is {type(folder).__name__}, not an object"
    what = f"folder {folder.get('path')!r}"
    has_str(what, folder, "id", "path", "name", "separator")
    has_str(what, folder, "role", nullable=True)
    has_int(what, folder, "unread_count")
    has_bool(what, folder, "is_favorite")
    has_list(what, folder, "children")
    _check(MAIL_FOLDER_ID.match(folder["id"]) is not None, what, folder, "id", "made of [A-Za-z0-9_-]")
    if folder["role"] is not None:
        _check(folder["role"] == folder["role"].upper(), what, folder, "role", "upper case")
    expected = folder["name"] if parent is None else f"{parent['path']}{folder['separator']}{folder['name']}"
    _check(folder["path"] == expected, what, folder, "path", repr(expected))


def assert_uid_list(data: Any) -> list[str]:
    """``date-ordered-messages-uids``: short uids as strings of digits, and a signature (D31)."""
    assert isinstance(data, dict), f"uid list is {type(data).__name__}, not an object"
    has_list("uid list", data, "messages_uids")
    has_str("uid list", data, "signature")
    uids = data["messages_uids"]
    wrong = [uid for uid in uids if not (isinstance(uid, str) and SHORT_UID.match(uid))]
    assert not wrong, f"uid list: uids must be strings of digits, got {wrong[:5]!r}"
    assert len(set(uids)) == len(uids), "uid list: a uid appears twice"
    return list(uids)


def assert_activities(data: Any) -> None:
    assert isinstance(data, dict), f"activities is {type(data).__name__}, not an object"
    has_list("activities", data, "added", "deleted", "updated")
    has_str("activities", data, "signature")
    for key in ("added", "deleted"):
        assert all(isinstance(uid, str) for uid in data[key]), f"activities.{key} must hold strings"
    for update in data["updated"]:
        has_str("activities.updated[]", update, "uid")
        has_bool("activities.updated[]", update, "seen", "flagged")


def parse_date(value: Any) -> datetime:
    """An RFC 3339 date with an offset (D37)."""
    assert isinstance(value, str), f"a message date is {value!r}, not a string"
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"the message date {value!r} has no offset"
    return parsed


def assert_message(data: Any, *, folder_id: str) -> None:
    """A Message in its sync form (§5.5)."""
    assert isinstance(data, dict), f"message is {type(data).__name__}, not an object"
    what = f"message {data.get('uid')!r}"
    has_str(what, data, "uid")
    short, _, folder = data["uid"].partition("@")
    _check(SHORT_UID.match(short) is not None and folder == folder_id, what, data, "uid",
           f'"<short uid>@{folder_id}"')
    has_str(what, data, "subject", "msg_id", nullable=True)
    has_int(what, data, "size")
    assert data["size"] >= 0, f"{what}.size is negative"
    parse_date(data.get("internal_date"))
    if data.get("date") is not None:
        parse_date(data["date"])
    has_list(what, data, "from", "to")
    for address in data["from"] + data["to"]:
        has_str(f"{what} address", address, "email")
    has_bool(what, data, "seen", "flagged", "answered", "forwarded", "is_draft", "has_attachments")
    if "folder_id" in data:
        _check(data["folder_id"] == folder_id, what, data, "folder_id", repr(folder_id))
