"""ikdav's client library, read-only, against the target: does what the bridge calls still work?

The raw checks say the replies have the contract's shape; these say ikdav's own parsing of them
(paging, top folders by visibility, ranged downloads, the mail sync routes) gives the same
answers as the raw routes.
"""

from __future__ import annotations

from typing import Any

from ikdav.infomaniak import InfomaniakClient, find_folder

from .samples import UID_BATCH, UID_LIST_LENGTH, Download, DriveSample
from .shapes import walk_folders

RANGE_OFFSET, RANGE_LENGTH = 3, 10


def test_drives(library: InfomaniakClient, drives: list[dict[str, Any]]) -> None:
    found = library.kdrive.drives()
    assert [d.id for d in found] == [item["drive_id"] for item in drives]
    for drive in found:
        assert drive.name, f"drive {drive.id} has no name"
        assert drive.size is not None and drive.used_size is not None, f"drive {drive.id} has no quota"


def test_top_folders(library: InfomaniakClient, drive: DriveSample) -> None:
    top = library.kdrive.top_folders(drive.drive_id)
    assert top.private.id == drive.private["id"] and top.private.is_dir
    common, shared = drive.top_folder("is_team_space"), drive.top_folder("is_shared_space")
    assert (top.common.id if top.common else None) == (common["id"] if common else None)
    assert (top.shared.id if top.shared else None) == (shared["id"] if shared else None)


def test_list_dir_of_private(library: InfomaniakClient, drive: DriveSample) -> None:
    listing = drive.listings[drive.private["id"]]
    children = list(library.kdrive.list_dir(drive.drive_id, drive.private["id"]))
    ids = [child.id for child in children]
    assert len(set(ids)) == len(ids), "list_dir yielded a child twice"
    raw = {child["id"] for child in listing.children}
    assert set(ids) == raw if listing.complete else raw <= set(ids)
    by_id = {child["id"]: child for child in listing.children}
    for child in children:
        if child.id in by_id:
            assert (child.name, child.is_dir) == (by_id[child.id]["name"], by_id[child.id]["type"] == "dir")


def test_download_with_a_range(library: InfomaniakClient, drive: DriveSample, sample_file: dict[str, Any],
                               download: Download) -> None:
    with library.kdrive.download(drive.drive_id, sample_file["id"], offset=RANGE_OFFSET,
                                 length=RANGE_LENGTH) as stream:
        data = stream.read_all()
        assert stream.total_size == sample_file["size"]
    assert data == download.content[RANGE_OFFSET:RANGE_OFFSET + RANGE_LENGTH]


def test_mailboxes(library: InfomaniakClient, mailboxes: list[dict[str, Any]]) -> None:
    found = library.mail.mailboxes()
    assert [m.uuid for m in found] == [m["uuid"] for m in mailboxes]
    assert all(m.email for m in found)


def test_folders(library: InfomaniakClient, mailbox: dict[str, Any], folder_tree: list[Any],
                 inbox: dict[str, Any]) -> None:
    found = library.mail.folders(mailbox["uuid"])
    raw = {f["id"]: f["path"] for f, _ in walk_folders(folder_tree) if not f["path"].startswith(".ik")}
    assert {f.id: f.path for f in found} == raw
    assert find_folder(found, role="INBOX").id == inbox["id"]


def test_message_uids_and_messages_of_inbox(library: InfomaniakClient, mailbox: dict[str, Any],
                                            inbox: dict[str, Any], inbox_uids: list[str],
                                            inbox_messages: list[Any]) -> None:
    listed = library.mail.message_uids(mailbox["uuid"], inbox["id"], limit=UID_LIST_LENGTH)
    assert listed.signature
    # Mail may arrive between the two listings: the newest few still appear in both.
    assert set(inbox_uids[:UID_BATCH]) <= set(listed.uids)
    messages = library.mail.messages(mailbox["uuid"], inbox["id"], listed.uids[:UID_BATCH])
    assert messages, "messages() found none of the newest uids"
    raw_sizes = {m["uid"].partition("@")[0]: m["size"] for m in inbox_messages}
    for message in messages:
        assert message.short_uid in listed.uids
        assert message.folder_id == inbox["id"]
        assert message.internal_date is not None and message.internal_date.tzinfo is not None
        if message.short_uid in raw_sizes:
            assert message.size == raw_sizes[message.short_uid]
    smallest = min(messages, key=lambda m: m.size)
    with library.mail.download_eml(mailbox["uuid"], inbox["id"], smallest.short_uid) as stream:
        assert len(stream.read_all()) == smallest.size
