"""Mail host: raw download (§5.6, D30) and message actions (§5.7, D33)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from ikdav.emulator.mail_ids import folder_id

from .mail_support import JaneMailbox, assert_error, mailbox_fixtures

INBOX = folder_id("INBOX")
TRASH = folder_id("Trash")
ARCHIVE = folder_id("Archive")


class Messages(JaneMailbox):
    """Jane's mailbox through the raw download and the message actions."""

    def download(self, folder: str, uid: int | str, **headers: str) -> httpx.Response:
        return self.http.get(f"{self.base}/folder/{folder}/message/{uid}/download",
                             headers={"Accept": "message/rfc822", **headers})

    def uids(self, path: str) -> list[int]:
        return [m.uid for m in self.store.list_messages(self.box, path)]

    def listed(self, folder: str, uid: int) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/folder/{folder}/mobile/messages", params={"uids": str(uid)})
        [message] = response.json()["data"]["messages"]
        return message


api, fresh_api = mailbox_fixtures(Messages, "api")


def long_uids(folder: str, uids: list[int]) -> list[str]:
    return [f"{uid}@{folder}" for uid in uids]


# -- download ---------------------------------------------------------------------------------------
def test_download_is_byte_exact_and_sized(api: Messages) -> None:
    for uid in api.uids("INBOX"):
        response = api.download(INBOX, uid)
        assert response.status_code == 200
        assert response.headers["content-type"] == "message/rfc822"
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.content == api.store.raw(api.box, "INBOX", uid)
        assert api.listed(INBOX, uid)["size"] == len(response.content)


def test_download_filename_is_a_sanitised_subject(api: Messages) -> None:
    messages = {m.summary.msg_id: m for m in api.store.list_messages(api.box, "INBOX")}
    slashes = messages["<awkward-7@example.ch>"]  # 'Invoice 2026/03: "final" version'
    disposition = api.download(INBOX, slashes.uid).headers["content-disposition"]
    match = re.fullmatch(r'attachment; filename="([^"]*)"', disposition)
    assert match, disposition
    assert match.group(1).endswith(".eml") and match.group(1).startswith("Invoice 2026")
    assert not re.search(r'[/\\:*?"<>|]', match.group(1)[:-4])
    unicode = messages["<awkward-2@example.ch>"]  # 日本語の件名テスト
    disposition = api.download(INBOX, unicode.uid).headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''" in disposition
    missing = messages["<awkward-5@example.ch>"]  # no Subject header at all
    assert re.fullmatch(r'attachment; filename="[^"/]+\.eml"',
                        api.download(INBOX, missing.uid).headers["content-disposition"])


def test_download_ignores_range(api: Messages) -> None:
    uid = api.uids("INBOX")[0]
    response = api.download(INBOX, uid, Range="bytes=10-20")
    assert response.status_code == 200
    assert response.content == api.store.raw(api.box, "INBOX", uid)


def test_download_does_not_mark_seen(api: Messages) -> None:
    unseen = next(m for m in api.store.list_messages(api.box, "INBOX") if not m.seen)
    assert api.download(INBOX, unseen.uid).status_code == 200
    assert api.listed(INBOX, unseen.uid)["seen"] is False
    assert unseen.seen is False


def test_download_of_unknown_message_is_404(api: Messages) -> None:
    assert_error(api.download(INBOX, 999999), 404, "mail__message_not_found")
    assert_error(api.download(INBOX, "abc"), 404, "mail__message_not_found")
    assert_error(api.download(folder_id("Nowhere"), 1), 404, "folder__not_exists")


# -- seen / unseen ----------------------------------------------------------------------------------
def test_seen_and_unseen_across_folders(fresh_api: Messages) -> None:
    inbox_uid, archive_uid = fresh_api.uids("INBOX")[0], fresh_api.uids("Archive")[0]
    body = {"uids": long_uids(INBOX, [inbox_uid]) + long_uids(ARCHIVE, [archive_uid])}
    response = fresh_api.action("unseen", body)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"flagged": 2}
    assert fresh_api.listed(INBOX, inbox_uid)["seen"] is False
    assert fresh_api.listed(ARCHIVE, archive_uid)["seen"] is False
    assert fresh_api.action("seen", body).status_code == 200
    assert fresh_api.listed(INBOX, inbox_uid)["seen"] is True
    assert fresh_api.listed(ARCHIVE, archive_uid)["seen"] is True


# -- move -------------------------------------------------------------------------------------------
def test_move_gives_new_uids_in_the_destination(fresh_api: Messages) -> None:
    moving = fresh_api.uids("INBOX")[:3]
    raws = [fresh_api.store.raw(fresh_api.box, "INBOX", uid) for uid in moving]
    flags = [fresh_api.store.message(fresh_api.box, "INBOX", uid).flags() for uid in moving]
    archive_before = set(fresh_api.uids("Archive"))
    response = fresh_api.action("move", {"uids": long_uids(INBOX, moving), "to": ARCHIVE})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["data"]["undo_resource"], str)
    assert not set(moving) & set(fresh_api.uids("INBOX"))
    new_uids = sorted(set(fresh_api.uids("Archive")) - archive_before)
    assert len(new_uids) == 3 and min(new_uids) > max(archive_before)
    assert [fresh_api.store.raw(fresh_api.box, "Archive", uid) for uid in new_uids] == raws
    assert [fresh_api.store.message(fresh_api.box, "Archive", uid).flags() for uid in new_uids] == flags
    assert_error(fresh_api.download(INBOX, moving[0]), 404, "mail__message_not_found")


def test_move_errors_change_nothing(fresh_api: Messages) -> None:
    inbox = fresh_api.uids("INBOX")
    body = {"uids": long_uids(INBOX, inbox[:2])}
    assert_error(fresh_api.action("move", {**body, "to": folder_id("Nowhere")}), 404,
                 "mail__move_destination_folder_not_found")
    assert_error(fresh_api.action("move", body), 422, "validation_failed")
    assert_error(fresh_api.action("move", {"uids": long_uids(INBOX, [999999]), "to": ARCHIVE}), 404,
                 "mail__message_not_found")
    assert fresh_api.uids("INBOX") == inbox


# -- permanent delete -------------------------------------------------------------------------------
def test_permanent_delete_is_refused_outside_trash_spam_and_drafts(fresh_api: Messages) -> None:
    inbox, archive, trash = fresh_api.uids("INBOX"), fresh_api.uids("Archive"), fresh_api.uids("Trash")
    for folder, uids in ((INBOX, inbox), (ARCHIVE, archive)):
        assert_error(fresh_api.action("delete", {"uids": long_uids(folder, uids[:1])}), 422,
                     "validation_failed")
    mixed = {"uids": long_uids(TRASH, trash[:1]) + long_uids(INBOX, inbox[:1])}
    assert_error(fresh_api.action("delete", mixed), 422, "validation_failed")
    assert fresh_api.uids("INBOX") == inbox and fresh_api.uids("Trash") == trash


def test_permanent_delete_in_trash_spam_and_drafts(fresh_api: Messages) -> None:
    for path in ("Trash", "Spam", "Drafts"):
        uids = fresh_api.uids(path)
        assert uids, path
        response = fresh_api.action("delete", {"uids": long_uids(folder_id(path), uids[:1])})
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success", "data": True}
        assert fresh_api.uids(path) == uids[1:]


# -- limits and malformed bodies --------------------------------------------------------------------
def test_at_most_1000_uids_per_action(fresh_api: Messages) -> None:
    created = fresh_api.store.bulk_add(fresh_api.box, "Bench/Actions", 1001, seen=True)
    bench = folder_id("Bench/Actions")
    assert_error(fresh_api.action("unseen", {"uids": long_uids(bench, created)}), 422, "validation_failed")
    assert all(m.seen for m in fresh_api.store.list_messages(fresh_api.box, "Bench/Actions"))
    response = fresh_api.action("unseen", {"uids": long_uids(bench, created[:1000])})
    assert response.status_code == 200
    assert response.json()["data"] == {"flagged": 1000}
    assert sum(not m.seen for m in fresh_api.store.list_messages(fresh_api.box, "Bench/Actions")) == 1000


@pytest.mark.parametrize("body", [{}, {"uids": []}, {"uids": "1@x"}, {"uids": ["17"]}, {"uids": [17]},
                                  {"uids": ["abc@" + INBOX]}, {"uids": ["0@" + INBOX]}])
def test_malformed_uids_are_422(api: Messages, body: dict[str, Any]) -> None:
    assert_error(api.action("seen", body), 422, "validation_failed")


def test_unknown_messages_and_folders(api: Messages) -> None:
    assert_error(api.action("seen", {"uids": long_uids(INBOX, [999999])}), 404, "mail__message_not_found")
    nowhere = {"uids": long_uids(folder_id("Nowhere"), [1])}
    assert_error(api.action("seen", nowhere), 404, "folder__not_exists")
    response = api.http.post(f"{api.base}/message/explode", json={"uids": long_uids(INBOX, [1])})
    assert response.status_code == 404
