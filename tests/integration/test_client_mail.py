"""The Mail client against the emulator's mail host: folders, uid lists, batches, sync, raw messages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import JANE_ID
from ikdav.infomaniak import (
    AlreadyExists,
    ClientSettings,
    InvalidCursor,
    Mail,
    Mailbox,
    MailFolder,
    NotFound,
    NoTrashFolder,
    StaticTokenProvider,
    Transport,
    find_folder,
    long_uid,
)

from .client_support import endpoints


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """An emulator of this module's own: these tests change mail."""
    with Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=40)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def mail(emu: Emulator) -> Iterator[Mail]:
    token = emu.issue_token(JANE_ID)
    with Transport(endpoints(emu), StaticTokenProvider(token),
                   ClientSettings(retry_backoff=(0.05,))) as transport:
        yield Mail(transport)


@pytest.fixture(scope="module")
def box(mail: Mail) -> Mailbox:
    return next(m for m in mail.mailboxes() if m.email == "jane@example.ch")


def folder(mail: Mail, box: Mailbox, path: str) -> MailFolder:
    return find_folder(mail.folders(box.uuid), path=path)


def message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.ch>"
    msg["To"] = "jane@example.ch"
    msg["Subject"] = subject
    msg.set_content("Hello Jane,\n\nsee you.\n")
    return msg


# -- mailboxes and folders -----------------------------------------------------------------------

def test_mailboxes_are_the_users_own(mail: Mail) -> None:
    boxes = mail.mailboxes()
    assert {m.email for m in boxes} == {"jane@example.ch", "support@doe-consulting.ch"}
    assert [m.is_primary for m in boxes if m.email == "jane@example.ch"] == [True]
    assert mail.ping()


def test_folders_are_a_flat_list_with_paths_roles_and_parents(mail: Mail, box: Mailbox) -> None:
    folders = mail.folders(box.uuid)
    by_path = {f.path: f for f in folders}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Spam", "Archive", "INBOX/Projects",
            "INBOX/Projects/2026"} <= set(by_path)
    assert by_path["INBOX"].id == "eJzz9HPyjwAABGYBgQ--"  # the contract's examples (§5.1)
    assert by_path["Trash"].id == "eJwLKUoszgAABeICAw--"
    assert by_path["Trash"].role == "TRASH" and by_path["Trash"].allows_permanent_delete
    assert by_path["INBOX"].role == "INBOX" and not by_path["INBOX"].allows_permanent_delete
    sub = by_path["INBOX/Projects/2026"]
    assert (sub.name, sub.parent_path, sub.role) == ("2026", "INBOX/Projects", None)
    order = [f.path for f in folders]
    assert order.index("INBOX") < order.index("INBOX/Projects") < order.index("INBOX/Projects/2026")
    assert not any(f.path.startswith(".ik") for f in folders)


def test_folder_create_rename_delete(mail: Mail, box: Mailbox) -> None:
    top = mail.create_folder(box.uuid, "Clients")
    assert (top.path, top.parent_path) == ("Clients", None)
    child = mail.create_folder(box.uuid, "ACME Société", parent_path="Clients")
    assert child.path == "Clients/ACME Société"
    with pytest.raises(AlreadyExists):
        mail.create_folder(box.uuid, "Clients")

    renamed = mail.rename_folder(box.uuid, top.id, "Customers")
    assert renamed.path == "Customers" and renamed.id != top.id
    paths = {f.path for f in mail.folders(box.uuid)}
    assert {"Customers", "Customers/ACME Société"} <= paths and "Clients" not in paths
    with pytest.raises(NotFound):
        mail.rename_folder(box.uuid, top.id, "Again")  # the old id names nothing now (D29)

    mail.delete_folder(box.uuid, renamed.id)
    assert not any(f.path.startswith("Customers") for f in mail.folders(box.uuid))


# -- listing -------------------------------------------------------------------------------------

def test_uid_list_and_batched_fetch_of_a_big_folder(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    emu.state.mail.bulk_add("jane@example.ch", "Bulk", 450)
    bulk = folder(mail, box, "Bulk")
    listed = mail.message_uids(box.uuid, bulk.id)
    assert len(listed.uids) == 450 and listed.signature
    assert [int(u) for u in listed.uids] == sorted((int(u) for u in listed.uids), reverse=True)

    started = time.time()
    messages = mail.messages(box.uuid, bulk.id, [*listed.uids, "999999"])  # one unknown uid
    fetches = [r for r in emu.log.find(role="mail", path_contains="/mobile/messages") if r.at >= started]
    assert len(fetches) == 3  # 200 + 200 + 51 uids
    assert {m.short_uid for m in messages} == set(listed.uids)
    first = messages[0]
    assert first.uid == long_uid(first.short_uid, bulk.id)
    assert first.internal_date is not None and first.internal_date.tzinfo is not None
    assert first.size > 0 and first.subject and first.subject.startswith("Bulk message")


def test_activities_report_changes_since_a_signature(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    store = emu.state.mail
    store.bulk_add("jane@example.ch", "Sync", 5, seen=False)
    sync = folder(mail, box, "Sync")
    before = mail.message_uids(box.uuid, sync.id)
    oldest, newest = before.uids[-1], before.uids[0]

    arrived = store.add_message("jane@example.ch", "Sync", message("New mail"))
    mail.set_seen(box.uuid, [long_uid(newest, sync.id)])
    mail.move(box.uuid, [long_uid(oldest, sync.id)], folder(mail, box, "Archive").id)

    changes = mail.activities(box.uuid, sync.id, before.signature or "")
    assert changes.added == (str(arrived),)
    assert changes.deleted == (oldest,)
    assert [(u.short_uid, u.seen) for u in changes.updated] == [(newest, True)]
    assert changes.signature and changes.signature != before.signature
    again = mail.activities(box.uuid, sync.id, changes.signature)
    assert again.empty


def test_a_refused_signature_asks_for_a_rebuild(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    inbox = folder(mail, box, "INBOX")
    with pytest.raises(InvalidCursor):
        mail.activities(box.uuid, inbox.id, "not-a-signature")
    listed = mail.message_uids(box.uuid, inbox.id)
    emu.knobs.merge({"expire_cursors": True})
    try:
        with pytest.raises(InvalidCursor):
            mail.activities(box.uuid, inbox.id, listed.signature or "")
    finally:
        emu.knobs.reset()


def test_set_seen_and_unseen(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    uid = emu.state.mail.add_message("jane@example.ch", "INBOX", message("Flag me"))
    inbox = folder(mail, box, "INBOX")
    mail.set_seen(box.uuid, [long_uid(uid, inbox.id)])
    assert mail.messages(box.uuid, inbox.id, [uid])[0].seen
    mail.set_seen(box.uuid, [long_uid(uid, inbox.id)], seen=False)
    assert not mail.messages(box.uuid, inbox.id, [uid])[0].seen


# -- raw messages --------------------------------------------------------------------------------

def test_eml_download_is_byte_exact_and_serves_ranges(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    inbox = folder(mail, box, "INBOX")
    uids = mail.message_uids(box.uuid, inbox.id).uids
    listed = mail.messages(box.uuid, inbox.id, uids[:10])
    biggest = max(listed, key=lambda m: m.size)
    raw = emu.state.mail.raw("jane@example.ch", "INBOX", int(biggest.short_uid))
    with mail.download_eml(box.uuid, inbox.id, biggest.short_uid) as stream:
        assert stream.read_all() == raw
    assert len(raw) == biggest.size  # size is the exact raw length (D30)
    with mail.download_eml(box.uuid, inbox.id, biggest.short_uid, offset=10, length=100) as stream:
        assert stream.read_all() == raw[10:110]
    with mail.download_eml(box.uuid, inbox.id, biggest.short_uid, offset=len(raw) - 7) as stream:
        assert stream.read_all() == raw[-7:]
    with pytest.raises(NotFound) as caught:
        mail.download_eml(box.uuid, inbox.id, "987654")
    assert caught.value.code == "mail__message_not_found"


# -- moving and deleting -------------------------------------------------------------------------

def test_move_batches_past_a_thousand_uids(emu: Emulator, mail: Mail, box: Mailbox) -> None:
    emu.state.mail.bulk_add("jane@example.ch", "Many", 1005)
    source = folder(mail, box, "Many")
    target = mail.create_folder(box.uuid, "Many moved")
    uids = mail.message_uids(box.uuid, source.id).uids
    started = time.time()
    mail.move(box.uuid, [long_uid(u, source.id) for u in uids], target.id)
    posts = [r for r in emu.log.find(role="mail", method="POST", path_contains="/message/move")
             if r.at >= started]
    assert len(posts) == 2
    assert mail.message_uids(box.uuid, source.id).uids == ()
    assert len(mail.message_uids(box.uuid, target.id).uids) == 1005


def test_delete_outside_trash_moves_to_trash_and_inside_trash_erases(emu: Emulator, mail: Mail,
                                                                     box: Mailbox) -> None:
    uid = emu.state.mail.add_message("jane@example.ch", "INBOX", message("Delete me please"))
    folders = mail.folders(box.uuid)
    inbox, trash = find_folder(folders, role="INBOX"), find_folder(folders, role="TRASH")
    trash_before = set(mail.message_uids(box.uuid, trash.id).uids)

    mail.delete(box.uuid, inbox, [long_uid(uid, inbox.id)], folders=folders)
    assert str(uid) not in mail.message_uids(box.uuid, inbox.id).uids
    arrived = set(mail.message_uids(box.uuid, trash.id).uids) - trash_before
    assert len(arrived) == 1
    moved = mail.messages(box.uuid, trash.id, arrived)[0]
    assert moved.subject == "Delete me please"

    mail.delete(box.uuid, trash, [moved.uid])
    assert moved.short_uid not in mail.message_uids(box.uuid, trash.id).uids


def test_delete_without_a_trash_folder_is_a_clear_refusal(emu: Emulator, mail: Mail) -> None:
    store = emu.state.mail
    bare = store.add_mailbox("bare@example.ch", [JANE_ID], standard_folders=False)
    store.create_folder(bare, "INBOX", role="INBOX")
    uid = store.add_message(bare, "INBOX", message("Stays"))
    inbox = find_folder(mail.folders(bare.uuid), role="INBOX")
    with pytest.raises(NoTrashFolder) as caught:
        mail.delete(bare.uuid, inbox, [long_uid(uid, inbox.id)])
    assert "Trash" in caught.value.user_message
    assert mail.message_uids(bare.uuid, inbox.id).uids == (str(uid),)
