"""kDrive reading (§4.2–§4.4): File objects, root layout, lookups, cursor lists, sorting, hashes."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest
import xxhash

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.kdrive_sample import LONG_NAME

from .test_kdrive_support import (
    FAMILY_DRIVE,
    FILE_FIELDS,
    JANE_DRIVE,
    MARC_DRIVE,
    KDrive,
    failure,
    kdrive,
    success,
)


@pytest.fixture
def jane(emulator: Emulator) -> Iterator[KDrive]:
    client = kdrive(emulator)
    yield client
    client.close()


def files_url(dir_id: int, drive: int = JANE_DRIVE) -> str:
    return f"/3/drive/{drive}/files/{dir_id}/files"


def test_file_object_has_the_always_present_fields(jane: KDrive) -> None:
    file_id = jane.id_of("/Private/Documents/report.pdf")
    data = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{file_id}"))["data"]
    assert FILE_FIELDS | {"size", "mime_type"} <= set(data)
    assert not {"path", "hash", "capabilities", "version", "lock"} & set(data)
    assert (data["id"], data["drive_id"], data["type"], data["name"]) == (
        file_id, JANE_DRIVE, "file", "report.pdf")
    assert data["size"] == 12_345
    assert data["mime_type"] == "application/pdf"
    assert data["status"] is None
    assert data["visibility"] == "is_in_private_space"
    for key in ("added_at", "last_modified_at", "revised_at", "updated_at"):
        assert isinstance(data[key], int)
    assert data["last_modified_at"] < 1_740_000_000  # sample times lie in the past


def test_with_adds_path_hash_capabilities_and_version(jane: KDrive, emulator: Emulator) -> None:
    file_id = jane.id_of("/Private/Documents/notes.txt")
    data = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{file_id}",
                            params={"with": "path,hash,capabilities,version"}))["data"]
    content = emulator.state.kdrive.read_bytes(JANE_DRIVE, "/Private/Documents/notes.txt")
    assert data["path"] == "/Private/Documents/notes.txt"
    assert data["hash"] == "xxh3:" + xxhash.xxh3_64(content).hexdigest()
    assert data["capabilities"]["can_read"] is True
    assert data["capabilities"]["can_rename"] is True
    assert data["version"]["number"] == 1


def test_directories_omit_size_and_mime_type(jane: KDrive) -> None:
    dir_id = jane.id_of("/Private/Documents")
    data = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{dir_id}"))["data"]
    assert data["type"] == "dir"
    assert "mime_type" not in data


def test_root_holds_only_the_special_folders_found_by_visibility(jane: KDrive) -> None:
    root = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/1", params={"with": "capabilities"}))["data"]
    assert root["visibility"] == "is_root"
    assert root["capabilities"]["can_create_file"] is False
    children = jane.list_all(1)
    assert {c["visibility"]: c["name"] for c in children} == {
        "is_private_space": "Private", "is_team_space": "Common documents", "is_shared_space": "Shared"}


def test_children_visibility_follows_their_space(jane: KDrive) -> None:
    def visibility(path: str) -> str:
        return success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{jane.id_of(path)}"))["data"]["visibility"]

    assert visibility("/Private/Documents/Taxes/2025") == "is_in_private_space"
    assert visibility("/Common documents/Projects") == "is_team_space_folder"
    assert visibility("/Common documents/Projects/ikdav/design.md") == "is_in_team_space_folder"
    assert visibility("/Shared/From Marc/recipe.txt") == "is_in_shared_space"


def test_family_drive_has_only_private(jane: KDrive) -> None:
    children = jane.list_all(1, drive=FAMILY_DRIVE)
    assert [c["visibility"] for c in children] == ["is_private_space"]


def test_special_folders_knob_drops_folders_from_root(jane: KDrive, emulator: Emulator) -> None:
    common_id = jane.id_of("/Common documents")
    handbook_id = jane.id_of("/Common documents/Team handbook/handbook.pdf")
    emulator.knobs.merge({"special_folders": ["Private"]})
    assert [c["name"] for c in jane.list_all(1)] == ["Private"]
    failure(jane.get(f"/3/drive/{JANE_DRIVE}/files/{common_id}"), 404, "object_not_found")
    failure(jane.get(f"/3/drive/{JANE_DRIVE}/files/{handbook_id}"), 404, "object_not_found")


def test_unknown_file_is_not_found_with_model_file(jane: KDrive) -> None:
    error = failure(jane.get(f"/3/drive/{JANE_DRIVE}/files/987654"), 404, "object_not_found")
    assert error["context"]["model"] == "File"


def test_child_by_name_handles_awkward_names(jane: KDrive) -> None:
    documents = jane.id_of("/Private/Documents")
    url = f"/3/drive/{JANE_DRIVE}/files/{documents}/name"
    for name in ("name with  two spaces.txt", "#hash & percent%.txt", "Ωmega.txt", "10:30 meeting notes.md",
                 "Résumé – Jane Doe.docx", LONG_NAME):
        data = success(jane.get(url, params={"name": name, "with": "path"}))["data"]
        assert data["name"] == name
        assert data["path"] == f"/Private/Documents/{name}"
    assert len(LONG_NAME.encode()) > 190
    decomposed = unicodedata.normalize("NFD", "Über große Dateien.md")
    assert success(jane.get(url, params={"name": decomposed}))["data"]["name"] == "Über große Dateien.md"
    failure(jane.get(url, params={"name": "NOTES.TXT"}), 404, "object_not_found")


def test_emoji_folder_is_listed(jane: KDrive) -> None:
    photos = jane.list_all(jane.id_of("/Private/Photos"))
    assert "Vacances été 2024 🏖" in [p["name"] for p in photos]


def test_default_order_is_folders_first_then_name(jane: KDrive) -> None:
    names = [(c["type"], c["name"]) for c in jane.list_all(jane.id_of("/Private"))]
    assert names == sorted(names, key=lambda t: (t[0], t[1].casefold()))
    assert names[0][0] == "dir" and names[-1][0] == "file"


def test_order_by_and_direction(jane: KDrive) -> None:
    documents = jane.id_of("/Private/Documents")
    by_size = jane.list_all(documents, order_by="size", order="desc")
    sizes = [c.get("size", 0) for c in by_size]
    assert sizes == sorted(sizes, reverse=True)
    by_name = jane.list_all(documents, **{"order_by": "name", "order_for[name]": "desc"})
    names = [c["name"].casefold() for c in by_name]
    assert names == sorted(names, reverse=True)
    failure(jane.get(files_url(documents), params={"order_by": "colour"}), 422, "validation_failed")


def test_cursor_pagination_walks_every_child_once(jane: KDrive) -> None:
    big = jane.id_of("/Private/Big folder")
    seen: list[str] = []
    pages = 0
    query: dict[str, object] = {"limit": 50, "with": "files.hash"}
    while True:
        body = success(jane.get(files_url(big), params=query))
        pages += 1
        assert len(body["data"]) <= 50
        assert all(item["hash"].startswith("xxh3:") for item in body["data"])
        seen.extend(item["name"] for item in body["data"])
        if not body["has_more"]:
            assert body["cursor"] is None
            break
        assert isinstance(body["cursor"], str)
        query["cursor"] = body["cursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120


def test_default_limit_is_ten(jane: KDrive) -> None:
    body = success(jane.get(files_url(jane.id_of("/Private/Big folder"))))
    assert len(body["data"]) == 10
    assert body["has_more"] is True


@pytest.mark.parametrize("limit", ["4", "0", "1001", "-5", "ten"])
def test_limit_out_of_bounds_is_refused(jane: KDrive, limit: str) -> None:
    error = failure(jane.get(files_url(jane.id_of("/Private")), params={"limit": limit}),
                    422, "validation_failed")
    assert error["errors"][0]["code"] == "validation_failed"


def test_limit_bounds_themselves_are_accepted(jane: KDrive) -> None:
    big = jane.id_of("/Private/Big folder")
    assert len(success(jane.get(files_url(big), params={"limit": 5}))["data"]) == 5
    assert len(success(jane.get(files_url(big), params={"limit": 1000}))["data"]) == 120


def test_unknown_cursor_is_an_invalid_cursor_error(jane: KDrive) -> None:
    failure(jane.get(files_url(jane.id_of("/Private")), params={"limit": 5, "cursor": "nope"}),
            400, "invalid_cursor_error")


def test_cursor_of_another_folder_is_refused(jane: KDrive) -> None:
    body = success(jane.get(files_url(jane.id_of("/Private/Big folder")), params={"limit": 5}))
    failure(jane.get(files_url(jane.id_of("/Private")), params={"limit": 5, "cursor": body["cursor"]}),
            400, "invalid_cursor_error")


def test_saved_cursor_can_be_reused(jane: KDrive) -> None:
    big = jane.id_of("/Private/Big folder")
    cursor = success(jane.get(files_url(big), params={"limit": 5}))["cursor"]
    once = success(jane.get(files_url(big), params={"limit": 5, "cursor": cursor}))["data"]
    twice = success(jane.get(files_url(big), params={"limit": 5, "cursor": cursor}))["data"]
    assert [f["id"] for f in once] == [f["id"] for f in twice]


def test_cursor_expires_after_a_day(fresh_emulator: Emulator) -> None:
    jane = kdrive(fresh_emulator)
    big = jane.id_of("/Private/Big folder")
    cursor = success(jane.get(files_url(big), params={"limit": 5}))["cursor"]
    fresh_emulator.state.kdrive.time_travel(23 * 3600)
    success(jane.get(files_url(big), params={"limit": 5, "cursor": cursor}))
    fresh_emulator.state.kdrive.time_travel(2 * 3600)
    failure(jane.get(files_url(big), params={"limit": 5, "cursor": cursor}), 400, "invalid_cursor_error")


def test_expire_cursors_knob_fails_saved_cursors_once(jane: KDrive, emulator: Emulator) -> None:
    big = jane.id_of("/Private/Big folder")
    saved = success(jane.get(files_url(big), params={"limit": 5}))["cursor"]
    emulator.knobs.merge({"expire_cursors": True})
    failure(jane.get(files_url(big), params={"limit": 5, "cursor": saved}), 400, "invalid_cursor_error")
    failure(jane.get(files_url(big), params={"limit": 5, "cursor": saved}), 400, "invalid_cursor_error")
    restarted = success(jane.get(files_url(big), params={"limit": 5}))["cursor"]
    success(jane.get(files_url(big), params={"limit": 5, "cursor": restarted}))


def test_listing_a_file_as_a_folder_is_refused(jane: KDrive) -> None:
    failure(jane.get(files_url(jane.id_of("/Private/todo.txt"))), 422, "validation_failed")


def test_hash_route_gives_xxh3_of_the_content(jane: KDrive, emulator: Emulator) -> None:
    path = "/Private/Music/song.mp3"
    body = success(jane.get(f"/2/drive/{JANE_DRIVE}/files/{jane.id_of(path)}/hash"))
    expected = xxhash.xxh3_64(emulator.state.kdrive.read_bytes(JANE_DRIVE, path)).hexdigest()
    assert body["data"] == {"hash": f"xxh3:{expected}"}
    assert len(expected) == 16 and expected == expected.lower()


def test_zero_byte_file_exists(jane: KDrive) -> None:
    data = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{jane.id_of('/Private/Documents/empty.txt')}",
                            params={"with": "hash"}))["data"]
    assert data["size"] == 0
    assert data["hash"] == "xxh3:" + xxhash.xxh3_64(b"").hexdigest()


def test_sample_content_is_deterministic_from_the_seed() -> None:
    def digests(seed: int) -> list[str]:
        emu = Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=0, seed=seed))
        try:
            store = emu.state.kdrive
            return [store.find(drive, path).blob.digest
                    for drive, path in ((JANE_DRIVE, "/Private/Documents/notes.txt"),
                                        (JANE_DRIVE, "/Private/Big folder/file-0003.txt"),
                                        (MARC_DRIVE, "/Private/Notes/ideas.md"))]
        finally:
            emu.close()

    assert digests(7) == digests(7)
    assert digests(7) != digests(8)
