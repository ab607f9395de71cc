"""Mail (§5.2–§5.6): mailboxes, the folder tree, the sync routes ikdav lists with, raw downloads.

ikdav reports a message's ``size`` as the ``.eml`` file's length before downloading it, so the
check that ``size`` equals the raw length (D30) is the one a user would notice first if it broke.
"""

from __future__ import annotations

from typing import Any

from .samples import UID_LIST_LENGTH
from .shapes import (
    assert_activities,
    assert_folder,
    assert_mailbox,
    assert_message,
    assert_uid_list,
    walk_folders,
)
from .support import ReadOnlyHttp, failure, success

UNKNOWN_UID = "4294967295"  # the largest IMAP uid: no real folder reaches it
RAW_CHECKS = 3  # messages downloaded to compare their size


def test_mailbox_list_shape(mailboxes: list[dict[str, Any]]) -> None:
    for mailbox in mailboxes:
        assert_mailbox(mailbox)
    assert len({m["uuid"] for m in mailboxes}) == len(mailboxes), "a mailbox is listed twice"


def test_folder_tree_shape(folder_tree: list[Any]) -> None:
    folders = list(walk_folders(folder_tree))
    assert folders, "the folder tree is empty"
    for folder, parent in folders:
        assert_folder(folder, parent)
    ids = [folder["id"] for folder, _ in folders]
    assert len(set(ids)) == len(ids), "two folders share an id"


def test_uid_list_gives_string_uids_and_a_signature(inbox_uid_list: dict[str, Any],
                                                    inbox_uids: list[str]) -> None:
    uids = assert_uid_list(inbox_uid_list)
    assert 0 < len(uids) <= UID_LIST_LENGTH, f"asked for {UID_LIST_LENGTH} uids, got {len(uids)}"


def test_activities_since_a_fresh_signature(http: ReadOnlyHttp, inbox_path: str,
                                            inbox_uid_list: dict[str, Any]) -> None:
    response = http.get("mail", inbox_path + "/mobile/activities",
                        params={"signature": inbox_uid_list["signature"]})
    assert_activities(success(response)["data"])


def test_messages_batch_shape(inbox_messages: list[Any], inbox: dict[str, Any],
                              inbox_uids: list[str]) -> None:
    assert inbox_messages, "none of the newest uids came back from messages?uids="
    for message in inbox_messages:
        assert_message(message, folder_id=inbox["id"])
    short = [m["uid"].partition("@")[0] for m in inbox_messages]
    assert set(short) <= set(inbox_uids), "messages?uids= returned uids that were not asked for"
    assert len(set(short)) == len(short), "a message came twice"


def test_messages_batch_leaves_unknown_uids_out(http: ReadOnlyHttp, inbox_path: str,
                                                inbox_uids: list[str]) -> None:
    known = inbox_uids[0]
    body = success(http.get("mail", inbox_path + "/mobile/messages",
                            params={"uids": f"{known},{UNKNOWN_UID}"}))
    assert [m["uid"].partition("@")[0] for m in body["data"]["messages"]] == [known]


def test_raw_downloads_are_rfc822_of_exactly_size_bytes(http: ReadOnlyHttp, inbox_path: str,
                                                        inbox_messages: list[Any]) -> None:
    smallest = sorted(inbox_messages, key=lambda m: m["size"])[:RAW_CHECKS]
    for message in smallest:
        short = message["uid"].partition("@")[0]
        response = http.get("mail", f"{inbox_path}/message/{short}/download",
                            headers={"Accept": "message/rfc822"})
        assert response.status_code == 200, f"download of {short} answered {response.status_code}"
        assert response.headers.get("Content-Type", "").split(";")[0].strip() == "message/rfc822"
        assert len(response.content) == message["size"], (
            f"message {short}: size says {message['size']}, the download has {len(response.content)} bytes")
        if "Content-Length" in response.headers:
            assert response.headers["Content-Length"] == str(message["size"])
    # Reading a file of the share must not mark its message read (D30).
    shorts = [m["uid"].partition("@")[0] for m in smallest]
    after = success(http.get("mail", inbox_path + "/mobile/messages", params={"uids": ",".join(shorts)}))
    seen_after = {m["uid"]: m["seen"] for m in after["data"]["messages"]}
    for message in smallest:
        assert seen_after.get(message["uid"], message["seen"]) == message["seen"], (
            f"downloading message {message['uid']} changed its seen flag")


def test_download_of_an_unknown_uid_is_mail__message_not_found(http: ReadOnlyHttp, inbox_path: str) -> None:
    response = http.get("mail", f"{inbox_path}/message/{UNKNOWN_UID}/download",
                        headers={"Accept": "message/rfc822"})
    failure(response, 404, "mail__message_not_found")
