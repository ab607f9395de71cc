"""Mail host: the mobile sync routes and the message object (§5.4, §5.5, D30–D32, D37)."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.mail_ids import folder_id

from .mail_support import JaneMailbox, assert_error, mailbox_fixtures

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
MESSAGE_FIELDS = {
    "uid", "msg_id", "subject", "date", "internal_date", "size", "from", "to", "cc", "bcc", "reply_to",
    "in_reply_to", "references", "priority", "dkim_status", "folder_id", "resource", "download_resource",
    "is_draft", "has_attachments", "seen", "flagged", "answered", "forwarded", "scheduled", "preview",
    "headers",
}
FLAG_FIELDS = {"uid", "seen", "flagged", "answered", "forwarded", "scheduled", "acknowledged"}
INBOX = folder_id("INBOX")


class Sync(JaneMailbox):
    """Jane's primary mailbox through the mobile routes."""

    def mobile(self, folder: str, route: str) -> str:
        return f"{self.base}/folder/{folder}/mobile/{route}"

    def uid_list(self, folder: str = INBOX, **params: Any) -> httpx.Response:
        return self.http.get(self.mobile(folder, "date-ordered-messages-uids"), params=params)

    def uids_and_signature(self, folder: str = INBOX) -> tuple[list[str], str]:
        response = self.uid_list(folder, messages=10000, direction="desc")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return data["messages_uids"], data["signature"]

    def messages(self, uids: list[str] | str, folder: str = INBOX) -> httpx.Response:
        text = uids if isinstance(uids, str) else ",".join(uids)
        return self.http.get(self.mobile(folder, "messages"), params={"uids": text})

    def activities(self, signature: str, folder: str = INBOX) -> httpx.Response:
        return self.http.get(self.mobile(folder, "activities"), params={"signature": signature})

    def changes(self, signature: str, folder: str = INBOX) -> dict[str, Any]:
        response = self.activities(signature, folder)
        assert response.status_code == 200, response.text
        return response.json()["data"]


sync, fresh_sync = mailbox_fixtures(Sync, "sync")


def parse_date(text: str) -> datetime:
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text)


# -- date-ordered-messages-uids ---------------------------------------------------------------------
def test_uid_list_is_newest_first_as_strings(sync: Sync) -> None:
    uids, signature = sync.uids_and_signature()
    assert isinstance(signature, str) and signature
    assert all(isinstance(uid, str) and uid.isdigit() for uid in uids)
    stored = sync.store.list_messages(sync.box, "INBOX")
    assert sorted(uids, key=int) == [str(m.uid) for m in stored]
    dates = [parse_date(m["internal_date"]) for m in sync.messages(uids[:200]).json()["data"]["messages"]]
    assert dates == sorted(dates, reverse=True)
    # Ordered by date, not by uid: the message imported last (highest uid) is the oldest.
    assert uids[-1] == str(max(m.uid for m in stored))


def test_direction_asc_gives_the_oldest_first(sync: Sync) -> None:
    newest_first, _ = sync.uids_and_signature()
    response = sync.uid_list(messages=10000, direction="asc")
    assert response.status_code == 200
    assert response.json()["data"]["messages_uids"] == list(reversed(newest_first))


def test_messages_parameter_keeps_the_newest(sync: Sync) -> None:
    newest_first, _ = sync.uids_and_signature()
    response = sync.uid_list(messages=5, direction="desc")
    assert response.json()["data"]["messages_uids"] == newest_first[:5]
    oldest = sync.uid_list(messages=3, direction="asc").json()["data"]["messages_uids"]
    assert oldest == list(reversed(newest_first))[:3]


@pytest.mark.parametrize("params", [{"messages": 0}, {"messages": -1}, {"messages": "many"},
                                    {"direction": "sideways"}])
def test_uid_list_parameter_errors(sync: Sync, params: dict[str, Any]) -> None:
    assert_error(sync.uid_list(**params), 422, "validation_failed")


def test_unknown_folder_is_404(sync: Sync) -> None:
    assert_error(sync.uid_list(folder_id("No such folder")), 404, "folder__not_exists")
    assert_error(sync.messages(["1"], folder_id("No such folder")), 404, "folder__not_exists")


def test_uid_list_is_capped_at_10000(fresh_sync: Sync) -> None:
    created = fresh_sync.store.bulk_add(fresh_sync.box, "Bench/Big", 10_050)
    big = folder_id("Bench/Big")
    response = fresh_sync.uid_list(big, messages=20000, direction="desc")
    assert response.status_code == 200
    uids = response.json()["data"]["messages_uids"]
    assert len(uids) == 10_000
    assert uids[0] == str(created[-1]) and uids[-1] == str(created[50])  # the newest 10,000


# -- messages?uids= ---------------------------------------------------------------------------------
def test_message_batch_limit_is_200(fresh_sync: Sync) -> None:
    fresh_sync.store.bulk_add(fresh_sync.box, "Bench/Batch", 250)
    batch = folder_id("Bench/Batch")
    uids, _ = fresh_sync.uids_and_signature(batch)
    ok = fresh_sync.messages(uids[:200], batch)
    assert ok.status_code == 200
    assert len(ok.json()["data"]["messages"]) == 200
    assert_error(fresh_sync.messages(uids[:201], batch), 422, "validation_failed")


def test_unknown_uids_are_dropped_silently(sync: Sync) -> None:
    uids, _ = sync.uids_and_signature()
    response = sync.messages([uids[0], "999999", uids[1]])
    assert response.status_code == 200
    listed = [m["uid"].split("@")[0] for m in response.json()["data"]["messages"]]
    assert listed == [uids[0], uids[1]]


@pytest.mark.parametrize("uids", ["", "abc", "1,,2", "-3"])
def test_malformed_uid_lists_are_422(sync: Sync, uids: str) -> None:
    assert_error(sync.messages(uids), 422, "validation_failed")


# -- the message object -----------------------------------------------------------------------------
def all_inbox_messages(sync: Sync) -> list[dict[str, Any]]:
    uids, _ = sync.uids_and_signature()
    found: list[dict[str, Any]] = []
    for start in range(0, len(uids), 200):
        found += sync.messages(uids[start:start + 200]).json()["data"]["messages"]
    return found


def test_message_objects_carry_every_field(sync: Sync) -> None:
    for message in all_inbox_messages(sync):
        assert MESSAGE_FIELDS <= set(message), MESSAGE_FIELDS - set(message)
        short, _, folder = message["uid"].partition("@")
        assert short.isdigit() and folder == message["folder_id"] == INBOX
        stored = sync.store.message(sync.box, "INBOX", int(short))
        assert message["size"] == len(stored.raw)
        assert message["seen"] == stored.seen and message["flagged"] == stored.flagged
        parse_date(message["internal_date"])
        if message["date"] is not None:
            parse_date(message["date"])
        assert message["resource"] == f"/api/mail/{sync.box.uuid}/folder/{INBOX}/message/{short}"
        assert message["download_resource"] == message["resource"] + "/download"
        assert message["priority"] in ("low", "normal", "high")
        assert message["dkim_status"] in ("valid", "not_valid", "not_signed")
        for field in ("from", "to", "cc", "bcc", "reply_to"):
            assert all(set(address) == {"email", "name"} for address in message[field])


def test_awkward_subjects_survive(sync: Sync) -> None:
    by_id = {m["msg_id"]: m for m in all_inbox_messages(sync)}
    subjects = [m["subject"] for m in by_id.values()]
    assert "Réunion d'équipe – planification Q3" in subjects  # sent as an encoded word
    assert "🎉 Party on Friday 🍕🥳" in subjects
    assert "日本語の件名テスト" in subjects
    assert None in subjects and "" in subjects
    assert any(s and len(s) > 250 for s in subjects)
    assert 'Invoice 2026/03: "final" version' in subjects
    no_date = [m for m in by_id.values() if m["date"] is None]
    assert no_date and all(m["internal_date"] for m in no_date)
    with_files = by_id["<awkward-7@example.ch>"]
    assert with_files["has_attachments"] is True and with_files["dkim_status"] == "valid"
    assert by_id["<awkward-0@example.ch>"]["priority"] == "high"
    assert by_id["<awkward-3@example.ch>"]["priority"] == "low"
    assert any(m["from"] and m["from"][0]["name"] == "Zoë Müller" for m in by_id.values())
    replies = [m for m in by_id.values() if (m["subject"] or "").startswith("Re: Re: ")]
    assert replies and all(m["in_reply_to"] and m["references"] for m in replies)


def test_message_resource_is_the_same_object(sync: Sync) -> None:
    uids, _ = sync.uids_and_signature()
    listed = sync.messages([uids[0]]).json()["data"]["messages"][0]
    single = sync.http.get(listed["resource"])
    assert single.status_code == 200
    assert single.json()["data"] == listed
    assert_error(sync.http.get(f"{sync.base}/folder/{INBOX}/message/999999"), 404, "mail__message_not_found")


# -- activities -------------------------------------------------------------------------------------
def test_activities_report_new_mail(fresh_sync: Sync) -> None:
    _, signature = fresh_sync.uids_and_signature()
    message = EmailMessage()
    message["From"] = "Someone <someone@example.org>"
    message["Subject"] = "Fresh news ✨"
    message.set_content("Hello!")
    uid = fresh_sync.store.add_message(fresh_sync.box, "INBOX", message)
    changes = fresh_sync.changes(signature)
    assert changes["added"] == [str(uid)]
    assert changes["deleted"] == [] and changes["updated"] == []
    assert changes["unread_count"] == fresh_sync.store.folder(fresh_sync.box, "INBOX").unread_count
    assert changes["signature"] != signature
    quiet = fresh_sync.changes(changes["signature"])
    assert quiet["added"] == quiet["deleted"] == quiet["updated"] == []
    fetched = fresh_sync.messages([str(uid)]).json()["data"]["messages"][0]
    assert fetched["subject"] == "Fresh news ✨" and fetched["seen"] is False


def test_activities_after_seen_move_and_delete(fresh_sync: Sync) -> None:
    uids, inbox_signature = fresh_sync.uids_and_signature()
    archive = folder_id("Archive")
    trash = folder_id("Trash")
    _, archive_signature = fresh_sync.uids_and_signature(archive)
    trash_uids, trash_signature = fresh_sync.uids_and_signature(trash)
    unseen = next(m.uid for m in fresh_sync.store.list_messages(fresh_sync.box, "INBOX") if not m.seen)
    moving = next(u for u in uids if int(u) != unseen)
    assert fresh_sync.action("seen", {"uids": [f"{unseen}@{INBOX}"]}).status_code == 200
    assert fresh_sync.action("move", {"uids": [f"{moving}@{INBOX}"], "to": archive}).status_code == 200
    assert fresh_sync.action("delete", {"uids": [f"{trash_uids[0]}@{trash}"]}).status_code == 200

    inbox = fresh_sync.changes(inbox_signature)
    assert inbox["added"] == [] and inbox["deleted"] == [moving]
    [entry] = inbox["updated"]
    assert set(entry) == FLAG_FIELDS
    assert entry["uid"] == str(unseen) and entry["seen"] is True
    moved = fresh_sync.changes(archive_signature, archive)
    assert len(moved["added"]) == 1 and moved["deleted"] == []
    new_uid = moved["added"][0]
    assert isinstance(new_uid, str)
    assert fresh_sync.store.message(fresh_sync.box, "Archive", int(new_uid)).raw
    assert fresh_sync.changes(trash_signature, trash)["deleted"] == [trash_uids[0]]


def test_a_message_that_came_and_went_is_not_reported(fresh_sync: Sync) -> None:
    _, signature = fresh_sync.uids_and_signature()
    uid = fresh_sync.store.add_message(fresh_sync.box, "INBOX", b"Subject: brief\r\n\r\nx\r\n")
    fresh_sync.store.delete_messages(fresh_sync.box, "INBOX", [uid])
    changes = fresh_sync.changes(signature)
    assert changes["added"] == changes["deleted"] == changes["updated"] == []


def test_bad_signatures_are_422(sync: Sync) -> None:
    _, inbox_signature = sync.uids_and_signature()
    assert_error(sync.activities("made-up-signature"), 422, "validation_failed")
    assert_error(sync.http.get(sync.mobile(INBOX, "activities")), 422, "validation_failed")
    # A signature belongs to its folder.
    assert_error(sync.activities(inbox_signature, folder_id("Sent")), 422, "validation_failed")


def test_signature_older_than_seven_days_is_422(fresh_sync: Sync) -> None:
    _, signature = fresh_sync.uids_and_signature()
    fresh_sync.store.age_signatures(7 * 24 * 3600 - 60)
    assert fresh_sync.activities(signature).status_code == 200
    fresh_sync.store.age_signatures(120)
    assert_error(fresh_sync.activities(signature), 422, "validation_failed")


def test_expire_cursors_knob_fails_saved_signatures(emulator: Emulator, sync: Sync) -> None:
    _, first = sync.uids_and_signature()
    _, second = sync.uids_and_signature()
    emulator.knobs.merge({"expire_cursors": True})
    assert_error(sync.activities(first), 422, "validation_failed")
    emulator.knobs.reset()
    assert_error(sync.activities(first), 422, "validation_failed")  # it stays dead
    assert sync.activities(second).status_code == 200


def test_expire_cursors_with_count_fails_only_that_many(emulator: Emulator, sync: Sync) -> None:
    _, first = sync.uids_and_signature()
    _, second = sync.uids_and_signature()
    emulator.knobs.merge({"expire_cursors": {"value": True, "count": 1}})
    assert_error(sync.activities(first), 422, "validation_failed")
    assert sync.activities(second).status_code == 200


def test_post_activities_with_a_uid_set(fresh_sync: Sync) -> None:
    uids, signature = fresh_sync.uids_and_signature()
    numbers = sorted(int(u) for u in uids)
    low, high = numbers[0], numbers[-1]
    fresh_sync.store.set_flags(fresh_sync.box, "INBOX", [low, high], flagged=True)
    response = fresh_sync.http.post(fresh_sync.mobile(INBOX, "activities"), params={"signature": signature},
                                    json={"uids": f"{low}:{low + 1},{low + 2}"})
    assert response.status_code == 200, response.text
    assert [entry["uid"] for entry in response.json()["data"]["updated"]] == [str(low)]
    everything = fresh_sync.http.post(fresh_sync.mobile(INBOX, "activities"),
                                      params={"signature": signature}, json={"uids": "1:*"})
    assert {e["uid"] for e in everything.json()["data"]["updated"]} == {str(low), str(high)}
    bad = fresh_sync.http.post(fresh_sync.mobile(INBOX, "activities"), params={"signature": signature},
                               json={"uids": "1:x"})
    assert_error(bad, 422, "validation_failed")


def test_signature_survives_a_folder_rename(fresh_sync: Sync) -> None:
    projects = folder_id("INBOX/Projects")
    _, signature = fresh_sync.uids_and_signature(projects)
    renamed = fresh_sync.http.post(f"{fresh_sync.base}/folder/{projects}/rename", json={"name": "Work"})
    assert renamed.status_code == 200
    uid = fresh_sync.store.add_message(fresh_sync.box, "INBOX/Work", b"Subject: after\r\n\r\nx\r\n")
    assert fresh_sync.changes(signature, folder_id("INBOX/Work"))["added"] == [str(uid)]
