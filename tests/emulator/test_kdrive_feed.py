"""kDrive per-folder change feed (§4.9, D25): listing, continue, actions, actions_files, expiry."""

from __future__ import annotations

from typing import Any

from ikdav.emulator.app import Emulator

from .test_kdrive_support import JANE_DRIVE, KDrive, failure, success

D = f"/3/drive/{JANE_DRIVE}"
D2 = f"/2/drive/{JANE_DRIVE}"


def listing(client: KDrive, dir_id: int, **params: Any) -> dict[str, Any]:
    return success(client.get(f"{D}/files/{dir_id}/listing", params={"limit": 1000, **params}))


def more(client: KDrive, dir_id: int, cursor: str, **params: Any) -> dict[str, Any]:
    return success(client.get(f"{D}/files/{dir_id}/listing/continue",
                              params={"cursor": cursor, "limit": 1000, **params}))


def apply(folder: dict[int, dict[str, Any]], dir_id: int, body: dict[str, Any]) -> None:
    """The client rule of D25: upsert what ``actions_files`` shows in this folder, drop the rest."""
    current = {f["id"]: f for f in body["data"]["actions_files"]}
    for action in body["data"]["actions"]:
        file = current.get(action["file_id"])
        if file is not None and file["parent_id"] == dir_id and file["status"] not in ("trashed",
                                                                                       "trash_inherited"):
            folder[file["id"]] = file
        else:
            folder.pop(action["file_id"], None)


def test_listing_starts_with_files_and_a_cursor(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    body = listing(jane, private, **{"with": "files.capabilities,files.hash"})
    data = body["data"]
    assert data["actions"] == [] and data["actions_files"] == []
    names = [f["name"] for f in data["files"]]
    assert "Documents" in names and "todo.txt" in names
    assert all("capabilities" in f for f in data["files"])
    assert isinstance(body["cursor"], str) and body["has_more"] is False


def test_listing_pages_through_files_with_continue(jane: KDrive) -> None:
    big = jane.id_of("/Private/Big folder")
    body = listing(jane, big, limit=10)
    seen = [f["id"] for f in body["data"]["files"]]
    while body["has_more"]:
        body = more(jane, big, body["cursor"], limit=10)
        seen.extend(f["id"] for f in body["data"]["files"])
    assert len(seen) == len(set(seen)) == 30
    quiet = more(jane, big, body["cursor"])
    assert quiet["data"] == {"files": [], "actions": [], "actions_files": []}
    assert quiet["has_more"] is False


def test_limit_is_checked_on_listing_and_continue(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    failure(jane.get(f"{D}/files/{private}/listing", params={"limit": 4}), 422, "validation_failed")
    cursor = listing(jane, private)["cursor"]
    failure(jane.get(f"{D}/files/{private}/listing/continue", params={"cursor": cursor, "limit": 1001}),
            422, "validation_failed")


def test_changes_after_the_cursor_arrive_as_actions(jane: KDrive, emu: Emulator) -> None:
    private = jane.id_of("/Private")
    documents = jane.id_of("/Private/Documents")
    start = listing(jane, private)
    folder = {f["id"]: f for f in start["data"]["files"]}

    created = success(jane.upload(b"new", file_name="new.txt", directory_id=private))["data"]
    todo = jane.id_of("/Private/todo.txt")
    success(jane.post(f"{D2}/files/{todo}/rename", json={"name": "renamed.txt"}))
    budget = jane.id_of("/Private/budget.xlsx")
    success(jane.post(f"{D}/files/{budget}/move/{documents}"))
    music = jane.id_of("/Private/Music")
    success(jane.delete(f"{D2}/files/{music}"))
    moved_in = jane.id_of("/Private/Documents/notes.txt")
    success(jane.post(f"{D}/files/{moved_in}/move/{private}"))

    body = more(jane, private, start["cursor"])
    actions = body["data"]["actions"]
    assert [a["action"] for a in actions] == ["file_move", "file_trash", "file_move_out", "file_rename",
                                             "file_create"]  # newest first
    assert [a["file_id"] for a in actions] == [moved_in, music, budget, todo, created["id"]]
    assert all(a["parent_id"] == private for a in actions)
    by_id = {f["id"]: f for f in body["data"]["actions_files"]}
    assert set(by_id) == {moved_in, budget, todo, created["id"]}  # the trashed folder is gone
    assert by_id[budget]["parent_id"] == documents

    apply(folder, private, body)
    names = sorted(f["name"] for f in folder.values())
    assert names == sorted(emu.state.kdrive.list_names(JANE_DRIVE, "/Private"))
    again = more(jane, private, body["cursor"])
    assert again["data"]["actions"] == []


def test_actions_page_by_limit(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    cursor = listing(jane, private)["cursor"]
    for number in range(7):
        success(jane.upload(b"n", file_name=f"n{number}.txt", directory_id=private))
    first = more(jane, private, cursor, limit=5)
    assert len(first["data"]["actions"]) == 5 and first["has_more"] is True
    second = more(jane, private, first["cursor"], limit=5)
    assert len(second["data"]["actions"]) == 2 and second["has_more"] is False
    names = {f["name"] for f in first["data"]["actions_files"] + second["data"]["actions_files"]}
    assert names == {f"n{n}.txt" for n in range(7)}


def test_content_update_and_mtime_show_as_file_update(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    cursor = listing(jane, private)["cursor"]
    todo = jane.id_of("/Private/todo.txt")
    success(jane.upload(b"v2", file_id=todo))
    success(jane.post(f"{D}/files/{todo}/last-modified", json={"last_modified_at": 1_000_000_000}))
    body = more(jane, private, cursor)
    assert [a["action"] for a in body["data"]["actions"]] == ["file_update", "file_update"]
    assert body["data"]["actions_files"][0]["last_modified_at"] == 1_000_000_000


def test_changes_elsewhere_stay_out_of_this_feed(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    cursor = listing(jane, private)["cursor"]
    success(jane.upload(b"x", file_name="deep.txt", directory_id=jane.id_of("/Private/Documents")))
    assert more(jane, private, cursor)["data"]["actions"] == []


def test_invalid_and_expired_cursors(jane: KDrive, emu: Emulator) -> None:
    private = jane.id_of("/Private")
    failure(jane.get(f"{D}/files/{private}/listing/continue", params={"cursor": "bogus"}), 400,
            "invalid_cursor_error")
    cursor = listing(jane, private)["cursor"]
    emu.state.kdrive.time_travel(24 * 3600 + 10)
    failure(jane.get(f"{D}/files/{private}/listing/continue", params={"cursor": cursor}), 400,
            "invalid_cursor_error")


def test_expire_cursors_knob_makes_saved_feed_cursors_fail(jane: KDrive, emu: Emulator) -> None:
    private = jane.id_of("/Private")
    saved = listing(jane, private)["cursor"]
    emu.knobs.merge({"expire_cursors": True})
    failure(jane.get(f"{D}/files/{private}/listing/continue", params={"cursor": saved}), 400,
            "invalid_cursor_error")
    fresh = listing(jane, private)["cursor"]
    assert more(jane, private, fresh)["data"]["actions"] == []


def test_feed_of_a_trashed_folder_is_gone(jane: KDrive) -> None:
    music = jane.id_of("/Private/Music")
    cursor = listing(jane, music)["cursor"]
    success(jane.delete(f"{D2}/files/{music}"))
    failure(jane.get(f"{D}/files/{music}/listing/continue", params={"cursor": cursor}), 404,
            "object_not_found")
