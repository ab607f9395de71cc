"""The mail store's Python API and sample data: what tests and benches build on."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx
import pytest

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.mail_ids import folder_id
from ikdav.emulator.mail_sample import seed_mail
from ikdav.emulator.mail_store import MailStore
from ikdav.emulator.sample_data import JANE_ID, MARC_ID
from ikdav.emulator.web import ApiError

STANDARD = {"INBOX": "INBOX", "Sent": "SENT", "Drafts": "DRAFT", "Trash": "TRASH", "Spam": "SPAM",
            "Archive": "ARCHIVE"}


def seeded(messages: int = 60, seed: int = 7) -> MailStore:
    store = MailStore()
    seed_mail(store, SampleOptions(mail_messages=messages, seed=seed))
    return store


def test_sample_mailboxes_and_folders() -> None:
    store = seeded()
    assert [m.email for m in store.mailboxes_of(JANE_ID)] == ["jane@example.ch", "support@doe-consulting.ch"]
    assert [m.email for m in store.mailboxes_of(MARC_ID)] == ["marc@example.ch"]
    for mailbox in store.mailboxes.values():
        for path, role in STANDARD.items():
            assert store.folder(mailbox, path).role == role
        assert store.folder(mailbox, "INBOX/Projects/2026").role is None
    for email in ("jane@example.ch", "marc@example.ch"):
        box = store.mailbox(email)
        total = sum(len(f.messages) for f in box.folders.values())
        assert total == 60
        assert all(box.folders[path].messages for path in STANDARD)
        inbox = store.list_messages(box, "INBOX")
        assert any(not m.seen for m in inbox) and any(m.flagged for m in inbox)
        dates = [m.internal_date for f in box.folders.values() for m in f.messages.values()]
        assert max(dates) - min(dates) > (datetime(2026, 6, 1) - datetime(2026, 1, 1))


def test_sample_is_deterministic_from_the_seed() -> None:
    def fingerprint(store: MailStore) -> list[tuple[str, int, bytes, bool]]:
        return [(path, m.uid, m.raw, m.seen) for box in store.mailboxes.values()
                for path, folder in sorted(box.folders.items()) for m in folder.messages.values()]

    assert fingerprint(seeded(seed=7)) == fingerprint(seeded(seed=7))
    assert fingerprint(seeded(seed=7)) != fingerprint(seeded(seed=8))


def test_sample_messages_use_crlf_and_parse() -> None:
    store = seeded()
    for message in store.list_messages("jane@example.ch", "INBOX"):
        head = message.raw.split(b"\r\n\r\n", 1)[0]
        assert b"\n" not in head.replace(b"\r\n", b"")
        assert message.summary.from_


def test_seeding_300_messages_per_mailbox_is_fast() -> None:
    started = time.perf_counter()
    seeded(messages=300)
    assert time.perf_counter() - started < 1.0


def test_bulk_add_10000_messages_in_seconds() -> None:
    store = seeded(messages=10)
    started = time.perf_counter()
    uids = store.bulk_add("jane@example.ch", "Bench/Ten thousand", 10_000)
    assert time.perf_counter() - started < 3.0
    assert uids == list(range(1, 10_001))
    folder = store.folder("jane@example.ch", "Bench/Ten thousand")
    assert len(folder.messages) == 10_000 and folder.unread_count == 0
    last = folder.messages[10_000]
    assert last.summary.subject == "Bulk message 10000 of 10000"
    assert last.size == len(last.raw)


def test_add_message_accepts_email_messages_and_bytes() -> None:
    store = seeded(messages=10)
    message = EmailMessage()
    message["Subject"] = "Grüße"
    message["From"] = "a@example.ch"
    message.set_content("Hallo\n")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    uid = store.add_message("jane@example.ch", "Archive", message, internal_date=when, seen=True)
    stored = store.message("jane@example.ch", "Archive", uid)
    assert stored.internal_date == when and stored.seen
    assert stored.summary.subject == "Grüße"
    assert b"\r\n" in stored.raw and stored.raw.endswith(b"\r\n")
    raw_uid = store.add_message("jane@example.ch", "Archive", b"Subject: raw\r\n\r\nbody\r\n")
    assert store.raw("jane@example.ch", "Archive", raw_uid) == b"Subject: raw\r\n\r\nbody\r\n"
    assert raw_uid == uid + 1


def test_store_errors_use_contract_codes() -> None:
    store = seeded(messages=10)
    with pytest.raises(ApiError) as missing:
        store.folder("jane@example.ch", "Nope")
    assert (missing.value.status, missing.value.code) == (404, "folder__not_exists")
    with pytest.raises(ApiError) as protected:
        store.delete_folder("jane@example.ch", "INBOX")
    assert protected.value.code == "folder__protected_folder"
    with pytest.raises(ApiError) as gone:
        store.message("jane@example.ch", "INBOX", 10**6)
    assert gone.value.code == "mail__message_not_found"
    with pytest.raises(KeyError):
        store.mailbox("nobody@example.ch")


def test_concurrent_deliveries_and_actions_keep_uids_unique(fresh_emulator: Emulator) -> None:
    """New mail arriving while a client flags and moves messages over HTTP."""
    store = fresh_emulator.state.mail
    box = store.mailbox("jane@example.ch")
    token = fresh_emulator.issue_token(JANE_ID)
    inbox, archive = folder_id("INBOX"), folder_id("Archive")
    existing = [m.uid for m in store.list_messages(box, "INBOX")]
    archived_before = len(store.list_messages(box, "Archive"))
    errors: list[BaseException] = []

    def deliver(worker: int) -> None:
        try:
            for n in range(40):
                store.add_message(box, "INBOX", f"Subject: w{worker} n{n}\r\n\r\nx\r\n".encode())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def act() -> None:
        try:
            with httpx.Client(base_url=fresh_emulator.mail_url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                for uid in existing[:10]:
                    body = {"uids": [f"{uid}@{inbox}"]}
                    assert client.post(f"/api/mail/{box.uuid}/message/seen", json=body).status_code == 200
                    moved = client.post(f"/api/mail/{box.uuid}/message/move", json={**body, "to": archive})
                    assert moved.status_code == 200
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)] + [threading.Thread(target=act)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    inbox_uids = [m.uid for m in store.list_messages(box, "INBOX")]
    assert len(inbox_uids) == len(set(inbox_uids)) == len(existing) - 10 + 6 * 40
    assert len(store.list_messages(box, "Archive")) == archived_before + 10
