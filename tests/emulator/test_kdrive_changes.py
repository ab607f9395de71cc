"""kDrive changes (§4.8, D16–D20, D24, D26–D28): mkdir, rename, move, copy, trash, undo, mtime, locks."""

from __future__ import annotations

from typing import Any

import pytest

from ikdav.emulator.app import Emulator

from .test_kdrive_support import JANE_DRIVE, KDrive, failure, success

D = f"/3/drive/{JANE_DRIVE}"
D2 = f"/2/drive/{JANE_DRIVE}"


def get_file(client: KDrive, file_id: int, **params: Any) -> dict[str, Any]:
    return success(client.get(f"{D}/files/{file_id}", params=params))["data"]


def assert_cancellable(data: dict[str, Any]) -> None:
    assert isinstance(data["cancel_id"], str) and data["cancel_id"]
    assert isinstance(data["valid_until"], int)
    assert data["cancel_valid_until"] == data["valid_until"]


# -- mkdir ---------------------------------------------------------------------------------------------
def test_mkdir_with_json_or_query_name(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    made = success(jane.post(f"{D}/files/{private}/directory", json={"name": "New", "only_for_me": False},
                             params={"with": "path"}))["data"]
    assert (made["type"], made["name"], made["parent_id"], made["path"]) == ("dir", "New", private,
                                                                           "/Private/New")
    assert made["visibility"] == "is_in_private_space"
    by_query = success(jane.post(f"{D}/files/{private}/directory", params={"name": "Other"}))["data"]
    assert by_query["name"] == "Other"


def test_mkdir_on_an_existing_name_is_a_conflict(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    failure(jane.post(f"{D}/files/{private}/directory", json={"name": "Documents"}), 409,
            "destination_already_exists")
    failure(jane.post(f"{D}/files/{private}/directory", json={"name": "todo.txt"}), 409,
            "destination_already_exists")


def test_names_are_case_sensitive(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    assert success(jane.post(f"{D}/files/{private}/directory", json={"name": "documents"}))


@pytest.mark.parametrize("name", ["a/b", "", "x" * 256])
def test_mkdir_refuses_bad_names(jane: KDrive, name: str) -> None:
    failure(jane.post(f"{D}/files/{jane.id_of('/Private')}/directory", json={"name": name}), 422,
            "validation_failed")


def test_mkdir_in_root_is_forbidden(jane: KDrive) -> None:
    failure(jane.post(f"{D}/files/1/directory", json={"name": "Top"}), 403, "forbidden_error")


def test_mkdir_in_common_documents(jane: KDrive) -> None:
    made = success(jane.post(f"{D}/files/{jane.id_of('/Common documents')}/directory",
                             json={"name": "Team"}))["data"]
    assert made["visibility"] == "is_team_space_folder"


# -- rename --------------------------------------------------------------------------------------------
def test_rename_answers_cancellable_and_renames(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    data = success(jane.post(f"{D2}/files/{todo}/rename", json={"name": "done.txt"}))["data"]
    assert_cancellable(data)
    assert get_file(jane, todo)["name"] == "done.txt"
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/todo.txt") is None


def test_rename_onto_an_existing_name_is_a_conflict(jane: KDrive) -> None:
    failure(jane.post(f"{D2}/files/{jane.id_of('/Private/todo.txt')}/rename", json={"name": "budget.xlsx"}),
            409, "conflict_error")


def test_rename_refuses_slash_and_special_folders(jane: KDrive) -> None:
    failure(jane.post(f"{D2}/files/{jane.id_of('/Private/todo.txt')}/rename", json={"name": "a/b"}), 422,
            "validation_failed")
    failure(jane.post(f"{D2}/files/{jane.id_of('/Private')}/rename", json={"name": "Mine"}), 403,
            "forbidden_error")
    failure(jane.post(f"{D2}/files/1/rename", json={"name": "Root"}), 403, "forbidden_error")


def test_rename_keeps_version_and_content(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    before = get_file(jane, todo, **{"with": "version,hash"})
    success(jane.post(f"{D2}/files/{todo}/rename", json={"name": "t.txt"}))
    after = get_file(jane, todo, **{"with": "version,hash"})
    assert (after["version"], after["hash"]) == (before["version"], before["hash"])


def test_cancel_undoes_a_rename(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    reply = success(jane.post(f"{D2}/files/{todo}/rename", json={"name": "t.txt"}))["data"]
    assert success(jane.post(f"{D2}/cancel", json={"cancel_id": reply["cancel_id"]}))["data"] is True
    assert get_file(jane, todo)["name"] == "todo.txt"
    failure(jane.post(f"{D2}/cancel", json={"cancel_id": reply["cancel_id"]}), 422, "validation_failed")


# -- move ----------------------------------------------------------------------------------------------
def test_move_into_another_folder(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    documents = jane.id_of("/Private/Documents")
    assert_cancellable(success(jane.post(f"{D}/files/{todo}/move/{documents}"))["data"])
    moved = get_file(jane, todo, **{"with": "path"})
    assert (moved["parent_id"], moved["path"]) == (documents, "/Private/Documents/todo.txt")


def test_move_with_new_name_and_conflict_modes(jane: KDrive) -> None:
    documents = jane.id_of("/Private/Documents")
    todo = jane.id_of("/Private/todo.txt")
    url = f"{D}/files/{todo}/move/{documents}"
    failure(jane.post(url, json={"name": "notes.txt"}), 409, "conflict_error")
    success(jane.post(url, json={"name": "notes.txt", "conflict": "rename"}))
    assert get_file(jane, todo)["name"] == "notes (1).txt"


def test_move_into_its_own_subtree_is_refused(jane: KDrive) -> None:
    documents = jane.id_of("/Private/Documents")
    failure(jane.post(f"{D}/files/{documents}/move/{jane.id_of('/Private/Documents/Taxes/2025')}"), 422,
            "validation_failed")
    failure(jane.post(f"{D}/files/{documents}/move/{documents}"), 422, "validation_failed")


def test_move_into_root_or_of_special_folders_is_forbidden(jane: KDrive) -> None:
    failure(jane.post(f"{D}/files/{jane.id_of('/Private/todo.txt')}/move/1"), 403, "forbidden_error")
    failure(jane.post(f"{D}/files/{jane.id_of('/Shared')}/move/{jane.id_of('/Private')}"), 403,
            "forbidden_error")


def test_cancel_undoes_a_move(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    reply = success(jane.post(f"{D}/files/{todo}/move/{jane.id_of('/Private/Music')}"))["data"]
    success(jane.post(f"{D2}/cancel", json={"cancel_id": reply["cancel_id"]}))
    assert get_file(jane, todo)["parent_id"] == jane.id_of("/Private")


# -- copy ----------------------------------------------------------------------------------------------
def test_copy_a_file_makes_a_new_file(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    music = jane.id_of("/Private/Music")
    copied = success(jane.post(f"{D}/files/{todo}/copy/{music}", params={"with": "hash"}))["data"]
    original = get_file(jane, todo, **{"with": "hash"})
    assert copied["id"] != todo
    assert (copied["name"], copied["parent_id"], copied["hash"]) == ("todo.txt", music, original["hash"])
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/Music/todo.txt") == \
        emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/todo.txt")


def test_copy_a_folder_recursively_with_a_new_name(jane: KDrive, emu: Emulator) -> None:
    taxes = jane.id_of("/Private/Documents/Taxes")
    copied = success(jane.post(f"{D}/files/{taxes}/copy/{jane.id_of('/Private')}",
                               json={"name": "Taxes copy"}))["data"]
    assert copied["type"] == "dir"
    store = emu.state.kdrive
    assert store.count(JANE_DRIVE, "/Private/Taxes copy", recursive=True) == \
        store.count(JANE_DRIVE, "/Private/Documents/Taxes", recursive=True) == 5


def test_copy_conflict_and_quota(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    failure(jane.post(f"{D}/files/{todo}/copy/{jane.id_of('/Private')}"), 409, "conflict_error")
    used = emu.state.kdrive.drives[JANE_DRIVE].used
    emu.knobs.merge({"quota": {"size": used + 100}})
    failure(jane.post(f"{D}/files/{jane.id_of('/Private/Music/song.mp3')}/copy/{jane.id_of('/Private')}",
                      json={"name": "song copy.mp3"}), 400, "quota_exceeded_error")


# -- delete (trash) ------------------------------------------------------------------------------------
def test_delete_moves_to_trash_and_hides_everywhere(jane: KDrive, emu: Emulator) -> None:
    taxes = jane.id_of("/Private/Documents/Taxes")
    documents = jane.id_of("/Private/Documents")
    inner = jane.id_of("/Private/Documents/Taxes/2025/receipts.zip")
    assert_cancellable(success(jane.delete(f"{D2}/files/{taxes}"))["data"])
    failure(jane.get(f"{D}/files/{taxes}"), 404, "object_not_found")
    failure(jane.get(f"{D}/files/{inner}"), 404, "object_not_found")
    failure(jane.get(f"{D}/files/{documents}/name", params={"name": "Taxes"}), 404, "object_not_found")
    assert "Taxes" not in [c["name"] for c in jane.list_all(documents)]
    node = emu.state.kdrive.drives[JANE_DRIVE].nodes[inner]
    assert node.trash == "trash_inherited"
    assert emu.state.kdrive.drives[JANE_DRIVE].nodes[taxes].trash == "trashed"


def test_delete_frees_the_name_and_cancel_restores(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    reply = success(jane.delete(f"{D2}/files/{todo}"))["data"]
    success(jane.upload(b"fresh", file_name="todo.txt", directory_id=jane.id_of("/Private")))
    failure(jane.post(f"{D2}/cancel", json={"cancel_id": reply["cancel_id"]}), 409, "conflict_error")


def test_cancel_restores_a_trashed_folder(jane: KDrive) -> None:
    music = jane.id_of("/Private/Music")
    reply = success(jane.delete(f"{D2}/files/{music}"))["data"]
    success(jane.post(f"{D2}/cancel", json={"cancel_id": reply["cancel_id"]}))
    assert get_file(jane, music)["status"] is None
    assert [c["name"] for c in jane.list_all(music)] == ["song.mp3"]


def test_delete_of_root_or_special_folder_is_forbidden(jane: KDrive) -> None:
    failure(jane.delete(f"{D2}/files/1"), 403, "forbidden_error")
    failure(jane.delete(f"{D2}/files/{jane.id_of('/Private')}"), 403, "forbidden_error")


def test_trash_frees_used_size(jane: KDrive) -> None:
    def used() -> int:
        return int(success(jane.get(D2, params={"only": "used_size"}))["data"]["used_size"])

    before = used()
    success(jane.delete(f"{D2}/files/{jane.id_of('/Private/Music/song.mp3')}"))
    assert before - used() == 2 * 1024 * 1024


# -- set mtime -----------------------------------------------------------------------------------------
def test_set_last_modified_returns_the_whole_file(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    before = get_file(jane, todo, **{"with": "version"})
    data = success(jane.post(f"{D}/files/{todo}/last-modified", json={"last_modified_at": 1234567890},
                             params={"with": "version"}))["data"]
    assert data["id"] == todo and data["last_modified_at"] == 1234567890
    for key in ("name", "size", "version", "revised_at"):
        assert data[key] == before[key]
    assert get_file(jane, todo)["last_modified_at"] == 1234567890


def test_set_last_modified_accepts_a_numeric_string_and_refuses_garbage(jane: KDrive) -> None:
    todo = jane.id_of("/Private/todo.txt")
    reply = success(jane.post(f"{D}/files/{todo}/last-modified", json={"last_modified_at": "1500000000"}))
    assert reply["data"]["last_modified_at"] == 1500000000
    failure(jane.post(f"{D}/files/{todo}/last-modified", json={"last_modified_at": "soon"}), 422,
            "validation_failed")
    failure(jane.post(f"{D}/files/{todo}/last-modified", json={}), 422, "validation_failed")


# -- locks ---------------------------------------------------------------------------------------------
def test_locked_file_is_readable_but_refuses_changes(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    emu.knobs.merge({"lock_file": {"drive_id": JANE_DRIVE, "file_id": todo}})
    data = get_file(jane, todo, **{"with": "capabilities"})
    assert data["status"] == "locked"
    assert set(data["lock"]) >= {"locked_at", "unlocked_at", "description", "token"}
    assert data["capabilities"]["can_rename"] is False
    assert jane.get(f"{D2}/files/{todo}/download").status_code == 302
    failure(jane.post(f"{D2}/files/{todo}/rename", json={"name": "x.txt"}), 423, "lock_error")
    failure(jane.post(f"{D}/files/{todo}/move/{jane.id_of('/Private/Music')}"), 423, "lock_error")
    failure(jane.delete(f"{D2}/files/{todo}"), 423, "lock_error")
    failure(jane.post(f"{D}/files/{todo}/last-modified", json={"last_modified_at": 1}), 423, "lock_error")
    failure(jane.delete(f"{D2}/files/{jane.id_of('/Private')}"), 403, "forbidden_error")
    emu.knobs.merge({"lock_file": None})
    assert get_file(jane, todo)["status"] is None
    assert "lock" not in get_file(jane, todo)


def test_folder_holding_a_locked_file_cannot_be_trashed(jane: KDrive, emu: Emulator) -> None:
    song = jane.id_of("/Private/Music/song.mp3")
    emu.knobs.merge({"lock_file": {"file_id": song}})
    failure(jane.delete(f"{D2}/files/{jane.id_of('/Private/Music')}"), 423, "lock_error")


def test_lock_knob_for_another_drive_does_not_apply(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    emu.knobs.merge({"lock_file": {"drive_id": 140947, "file_id": todo}})
    assert get_file(jane, todo)["status"] is None
