"""The kDrive client against the emulator: drives, listings, lookups, changes and the change feed."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator

import pytest
import xxhash

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID
from ikdav.infomaniak import (
    NO_KDRIVE_MESSAGE,
    ROOT_ID,
    AlreadyExists,
    File,
    Forbidden,
    Invalid,
    KDrive,
    Locked,
    NoAccess,
    NotFound,
    StaticTokenProvider,
    Transport,
    UpstreamUnavailable,
    apply_changes,
)

from .client_support import KDriveFactory, Transports, endpoints

DRIVE = 140946
FAMILY_DRIVE = 140947


@pytest.fixture
def make_kdrive() -> Iterator[KDriveFactory]:
    with Transports(retry_backoff=(0.05, 0.1, 0.2)) as transports:
        yield transports.jane_kdrive


def private_id(kdrive: KDrive, drive_id: int = DRIVE) -> int:
    return kdrive.top_folders(drive_id).private.id


def child(kdrive: KDrive, parent_id: int, name: str) -> File:
    found = kdrive.child_by_name(DRIVE, parent_id, name)
    assert found is not None, name
    return found


# -- drives --------------------------------------------------------------------------------------

def test_drives_follow_page_pagination_and_carry_quota(emulator: Emulator, make_kdrive) -> None:
    started = time.time()
    drives = make_kdrive(emulator).drives(per_page=1)
    assert [d.id for d in drives] == [DRIVE, FAMILY_DRIVE]
    pages = [r for r in emulator.log.find(role="api", path_contains="/users/current/drives")
             if r.at >= started]
    assert len(pages) == 2
    mine = drives[0]
    assert mine.name == "My kDrive" and mine.size and mine.used_size is not None
    assert mine.free == mine.size - mine.used_size
    assert not mine.read_only


def test_drive_and_an_unknown_drive(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator)
    assert kdrive.drive(FAMILY_DRIVE).name == "Famille Doe"
    with pytest.raises(NotFound) as caught:
        kdrive.drive(999999)
    assert caught.value.context.get("model") == "Drive"
    with pytest.raises(NoAccess):
        kdrive.drive(150001)  # Marc's drive: not Jane's to see


def test_an_account_without_kdrive_lists_no_drive(emulator: Emulator, make_kdrive) -> None:
    emulator.knobs.merge({"kdrive_drives": []})
    assert make_kdrive(emulator).drives() == []
    assert "no kDrive" in NO_KDRIVE_MESSAGE


def test_a_token_without_kdrive_scope_is_forbidden(emulator: Emulator) -> None:
    token = emulator.issue_token(JANE_ID, scopes="user_info mail")
    with Transport(endpoints(emulator), StaticTokenProvider(token)) as transport:
        with pytest.raises(Forbidden) as caught:
            KDrive(transport).drives()
    assert caught.value.code == "access_denied"


# -- reading -------------------------------------------------------------------------------------

def test_top_folders_are_found_by_visibility(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator)
    top = kdrive.top_folders(DRIVE)
    assert top.private.visibility == "is_private_space" and top.private.name == "Private"
    assert top.common is not None and top.common.visibility == "is_team_space"
    assert top.shared is not None and top.shared.visibility == "is_shared_space"
    family = kdrive.top_folders(FAMILY_DRIVE)
    assert family.common is None and family.shared is None


def test_top_folders_tolerate_missing_optional_ones(emulator: Emulator, make_kdrive) -> None:
    emulator.knobs.merge({"special_folders": ["Private"]})
    top = make_kdrive(emulator).top_folders(DRIVE)
    assert top.private.name == "Private" and top.all() == [top.private]


def test_a_big_folder_is_listed_across_cursor_pages(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator, list_limit=50)
    big = kdrive.child_by_name(DRIVE, private_id(kdrive), "Big folder")
    assert big is not None and big.is_dir
    started = time.time()
    children = list(kdrive.list_dir(DRIVE, big.id))
    assert len(children) == 120 and len({c.id for c in children}) == 120
    requests = [r for r in emulator.log.find(role="api", path_contains=f"/files/{big.id}/files")
                if r.at >= started]
    assert len(requests) == 3
    assert all("limit=50" in r.query for r in requests)
    assert all(c.parent_id == big.id and not c.is_dir and c.content_hash for c in children)


def test_a_listing_restarts_when_its_cursor_expires(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator, list_limit=50)
    big = kdrive.child_by_name(DRIVE, private_id(kdrive), "Big folder")
    assert big is not None
    listing = kdrive.list_dir(DRIVE, big.id)
    first_page = [next(listing) for _ in range(50)]
    emulator.knobs.merge({"expire_cursors": True})
    rest = list(listing)
    assert len({c.id for c in first_page + rest}) == 120 and len(first_page + rest) == 120
    refused = emulator.log.find(role="api", path_contains=f"/files/{big.id}/files")
    assert any(r.status == 400 for r in refused)


def test_child_by_name_normalises_to_nfc(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator)
    parent = private_id(kdrive)
    names = {c.name for c in kdrive.list_dir(DRIVE, parent)}
    documents = kdrive.child_by_name(DRIVE, parent, "Documents")
    assert documents is not None and "Documents" in names
    accented = next((c for c in kdrive.list_dir(DRIVE, documents.id) if c.name != c.name.encode(
        "ascii", "ignore").decode()), None)
    assert accented is not None, "the sample data has a non-ASCII name under Documents"
    decomposed = unicodedata.normalize("NFD", accented.name)
    found = kdrive.child_by_name(DRIVE, documents.id, decomposed)
    assert found is not None and found.id == accented.id
    assert kdrive.child_by_name(DRIVE, parent, "no such thing") is None
    assert kdrive.child_by_name(DRIVE, parent, "documents") is None  # case-sensitive (D19)


def test_stat_and_hash_describe_the_content(emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(emulator)
    todo = kdrive.child_by_name(DRIVE, private_id(kdrive), "todo.txt")
    assert todo is not None
    stat = kdrive.stat(DRIVE, todo.id)
    content = emulator.state.kdrive.read_bytes(DRIVE, "/Private/todo.txt")
    assert stat.path == "/Private/todo.txt" and stat.size == len(content)
    assert stat.mime_type == "text/plain" and stat.last_modified_at
    expected = "xxh3:" + xxhash.xxh3_64(content).hexdigest()
    assert stat.content_hash == expected == kdrive.file_hash(DRIVE, todo.id)
    assert stat.can("can_write") is True
    with pytest.raises(NotFound):
        kdrive.stat(DRIVE, 987654321)


# -- changes -------------------------------------------------------------------------------------

def test_mkdir_rename_move_copy_trash_and_mtime(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    store = fresh_emulator.state.kdrive
    root = private_id(kdrive)
    work = kdrive.mkdir(DRIVE, root, "Work")
    assert work.is_dir and work.parent_id == root
    with pytest.raises(AlreadyExists):
        kdrive.mkdir(DRIVE, root, "Work")

    store.put_file(DRIVE, "/Private/draft.txt", b"first draft")
    draft = kdrive.child_by_name(DRIVE, root, "draft.txt")
    assert draft is not None
    kdrive.rename(DRIVE, draft.id, "Entwurf ü.txt")
    assert store.find(DRIVE, "/Private/Entwurf ü.txt") is not None
    store.put_file(DRIVE, "/Private/taken.txt", b"x")
    with pytest.raises(AlreadyExists):
        kdrive.rename(DRIVE, draft.id, "taken.txt")

    kdrive.move(DRIVE, draft.id, work.id)
    moved = kdrive.stat(DRIVE, draft.id)
    assert moved.parent_id == work.id and moved.name == "Entwurf ü.txt"
    kdrive.move(DRIVE, draft.id, root, name="final.txt")
    assert kdrive.stat(DRIVE, draft.id).name == "final.txt"

    copy = kdrive.copy(DRIVE, draft.id, work.id, "copy.txt")
    assert copy.id != draft.id and copy.parent_id == work.id and copy.name == "copy.txt"
    assert store.read_bytes(DRIVE, "/Private/Work/copy.txt") == b"first draft"

    assert kdrive.set_mtime(DRIVE, copy.id, 1_600_000_000) == 1_600_000_000
    assert kdrive.stat(DRIVE, copy.id).last_modified_at == 1_600_000_000

    undo = kdrive.trash(DRIVE, copy.id)
    assert undo.cancel_id
    with pytest.raises(NotFound):
        kdrive.stat(DRIVE, copy.id)
    assert kdrive.child_by_name(DRIVE, work.id, "copy.txt") is None
    with pytest.raises(Invalid):
        kdrive.mkdir(DRIVE, root, "a/b")


def test_writes_into_root_one_are_forbidden(emulator: Emulator, make_kdrive) -> None:
    with pytest.raises(Forbidden):
        make_kdrive(emulator).mkdir(DRIVE, ROOT_ID, "Not here")


def test_a_locked_file_refuses_changes_but_stays_readable(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    todo = kdrive.child_by_name(DRIVE, private_id(kdrive), "todo.txt")
    assert todo is not None
    fresh_emulator.knobs.merge({"lock_file": {"drive_id": DRIVE, "file_id": todo.id}})
    assert kdrive.stat(DRIVE, todo.id).is_locked
    with pytest.raises(Locked):
        kdrive.rename(DRIVE, todo.id, "renamed.txt")
    with kdrive.download(DRIVE, todo.id) as stream:
        assert stream.read_all() == fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/todo.txt")


def test_a_lost_mkdir_reply_is_confirmed_by_reading_back(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    root = private_id(kdrive)
    fresh_emulator.knobs.merge({"server_errors": {"status": 502, "count": 1,
                                                  "match": {"host": "api", "method": "POST"}}})
    with pytest.raises(UpstreamUnavailable):
        kdrive.mkdir(DRIVE, root, "Lost")  # refused before anything happened: nothing to find
    assert [r.status for r in fresh_emulator.log.find(role="api", method="POST")] == [502]
    assert fresh_emulator.state.kdrive.find(DRIVE, "/Private/Lost") is None

    fresh_emulator.state.kdrive.make_dirs(DRIVE, "/Private/Arrived")  # as if the lost call had worked
    fresh_emulator.knobs.merge({"server_errors": {"status": 502, "count": 1,
                                                  "match": {"host": "api", "method": "POST"}}})
    arrived = kdrive.mkdir(DRIVE, root, "Arrived")
    assert arrived.is_dir and arrived.name == "Arrived"


# -- the change feed -----------------------------------------------------------------------------

def test_the_change_feed_follows_create_rename_move_and_trash(fresh_emulator: Emulator,
                                                              make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, list_limit=5)
    store = fresh_emulator.state.kdrive
    root = private_id(kdrive)
    first = kdrive.changes(DRIVE, root)
    assert first.full and first.cursor
    children = apply_changes({}, first, root)
    assert {f.name for f in children.values()} == set(store.list_names(DRIVE, "/Private"))

    store.put_file(DRIVE, "/Private/new.txt", b"new")
    kdrive.rename(DRIVE, child(kdrive, root, "todo.txt").id, "done.txt")
    kdrive.move(DRIVE, child(kdrive, root, "budget.xlsx").id, child(kdrive, root, "Documents").id)
    kdrive.trash(DRIVE, child(kdrive, root, "Empty folder").id)

    later = kdrive.changes(DRIVE, root, first.cursor)
    assert not later.full and later.cursor
    children = apply_changes(children, later, root)
    assert {f.name for f in children.values()} == set(store.list_names(DRIVE, "/Private"))
    assert {"new.txt", "done.txt"} <= {f.name for f in children.values()}
    assert not {"todo.txt", "budget.xlsx", "Empty folder"} & {f.name for f in children.values()}

    quiet = kdrive.changes(DRIVE, root, later.cursor)
    assert apply_changes(children, quiet, root) == children


def test_an_expired_feed_cursor_gives_a_full_listing(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    root = private_id(kdrive)
    first = kdrive.changes(DRIVE, root)
    fresh_emulator.knobs.merge({"expire_cursors": True})
    again = kdrive.changes(DRIVE, root, first.cursor)
    assert again.full and again.cursor
    assert {f.id for f in again.files} == {f.id for f in first.files}
