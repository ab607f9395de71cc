"""The Mail part of the share against the real server and emulator."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from harness import DavServer, start_dav
from webdav4.client import Client

from ikdav.dav.names import message_file_name, validate_segment
from ikdav.emulator.app import Emulator

DAV = "{DAV:}"
BOX = "jane@example.ch"
INBOX = f"Mail/{BOX}/INBOX"


@pytest.fixture
def mail_dav(fresh_emulator: Emulator, tmp_path: Path) -> Iterator[DavServer]:
    """The share with a short mail cache, so revalidation can be watched."""
    server = start_dav(fresh_emulator, tmp_path / "data", **{"cache.mail_ttl": 0.5})
    yield server
    server.stop()


def listing(dav: DavServer, path: str, depth: str = "1") -> dict[str, dict[str, str]]:
    response = requests.request("PROPFIND", dav.href(path), auth=dav.auth, headers={"Depth": depth})
    assert response.status_code == 207, response.text
    found: dict[str, dict[str, str]] = {}
    for item in ET.fromstring(response.content).iter(f"{DAV}response"):
        href = requests.utils.unquote(item.findtext(f"{DAV}href") or "")
        props = {child.tag.split("}")[1]: child.text or ""
                 for prop in item.iter(f"{DAV}prop") for child in prop}
        found[href.rstrip("/").rsplit("/", 1)[-1]] = props
    return found


def messages(dav: DavServer, path: str) -> dict[str, dict[str, str]]:
    return {name: props for name, props in listing(dav, path).items() if name.endswith(".eml")}


def stored(dav: DavServer, folder: str = "INBOX"):  # type: ignore[no-untyped-def]
    return dav.emulator.state.mail.list_messages(BOX, folder)


def name_of(message) -> str:  # type: ignore[no-untyped-def]
    return message_file_name(message.internal_date, message.summary.subject, str(message.uid))


def mail_calls(dav: DavServer, fragment: str) -> int:
    return len([r for r in dav.emulator.log.find(role="mail") if fragment in r.path])


def test_mailboxes_and_folder_tree(mail_dav: DavServer) -> None:
    assert set(listing(mail_dav, "Mail")) - {"Mail"} == {BOX, "support@doe-consulting.ch"}
    top = set(listing(mail_dav, f"Mail/{BOX}")) - {BOX}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Spam", "Archive"} <= top
    assert not any(name.startswith(".ik") for name in top)
    assert "Projects" in listing(mail_dav, INBOX)


def test_every_message_is_a_file_with_exact_properties(mail_dav: DavServer) -> None:
    found = messages(mail_dav, INBOX)
    expected = {name_of(m): m for m in stored(mail_dav)}
    assert set(found) == set(expected)
    for name, message in expected.items():
        props = found[name]
        assert int(props["getcontentlength"]) == len(message.raw)
        assert props["getcontenttype"] == "message/rfc822"
        modified = parsedate_to_datetime(props["getlastmodified"])
        assert modified.timestamp() == int(message.internal_date.timestamp())
        assert props["getetag"].startswith('"')
    newest = max(m.internal_date for m in expected.values())
    folder = listing(mail_dav, INBOX, depth="0")["INBOX"]
    assert parsedate_to_datetime(folder["getlastmodified"]).timestamp() == int(newest.timestamp())


def test_get_returns_the_raw_message_byte_for_byte_and_honours_ranges(mail_dav: DavServer) -> None:
    message = stored(mail_dav)[0]
    url = mail_dav.href(f"{INBOX}/{name_of(message)}")
    assert requests.get(url, auth=mail_dav.auth).content == message.raw
    part = requests.get(url, auth=mail_dav.auth, headers={"Range": "bytes=5-24"})
    assert part.status_code == 206 and part.content == message.raw[5:25]


def test_a_path_resolves_without_listing_the_folder(mail_dav: DavServer) -> None:
    message = stored(mail_dav)[-1]
    mail_dav.emulator.log.clear()
    response = requests.request("PROPFIND", mail_dav.href(f"{INBOX}/{name_of(message)}"), auth=mail_dav.auth,
                                headers={"Depth": "0"})
    assert response.status_code == 207
    assert mail_calls(mail_dav, "date-ordered-messages-uids") == 0
    assert mail_calls(mail_dav, "/mobile/messages") == 1
    wrong = name_of(message).replace("[", "[9")
    assert requests.request("PROPFIND", mail_dav.href(f"{INBOX}/{wrong}"), auth=mail_dav.auth,
                            headers={"Depth": "0"}).status_code == 404


def test_listing_uses_batches_and_then_the_change_feed(mail_dav: DavServer) -> None:
    mail_dav.emulator.state.mail.bulk_add(BOX, "Archive", 450)
    mail_dav.emulator.log.clear()
    assert len(messages(mail_dav, f"Mail/{BOX}/Archive")) >= 450
    assert mail_calls(mail_dav, "date-ordered-messages-uids") == 1
    assert mail_calls(mail_dav, "/mobile/messages") == 3  # 450+ uids in batches of at most 200
    # New mail arrives and a message disappears at Infomaniak; after the cache's TTL the next
    # listing asks the change feed, not the whole folder.
    arrived = EmailMessage()
    arrived["Subject"] = "Arrived later"
    arrived["From"] = "a@example.ch"
    arrived.set_content("hello")
    uid = mail_dav.emulator.state.mail.add_message(BOX, "Archive", arrived)
    gone = stored(mail_dav, "Archive")[0]
    mail_dav.emulator.state.mail.delete_messages(BOX, "Archive", [gone.uid])
    time.sleep(0.6)
    mail_dav.emulator.log.clear()
    names = set(messages(mail_dav, f"Mail/{BOX}/Archive"))
    assert any(name.endswith(f" Arrived later [{uid}].eml") for name in names)
    assert name_of(gone) not in names
    assert mail_calls(mail_dav, "/activities") == 1
    assert mail_calls(mail_dav, "date-ordered-messages-uids") == 0


def test_an_expired_signature_rebuilds_the_listing(mail_dav: DavServer) -> None:
    before = set(messages(mail_dav, INBOX))
    mail_dav.emulator.knobs.merge({"expire_cursors": True})
    time.sleep(0.6)
    assert set(messages(mail_dav, INBOX)) == before


def test_delete_moves_to_trash_or_erases_inside_trash(mail_dav: DavServer) -> None:
    message = stored(mail_dav)[0]
    uid, raw = message.uid, message.raw  # the emulator's object changes when the message moves
    client = Client(mail_dav.url, auth=mail_dav.auth)
    client.remove(f"{INBOX}/{name_of(message)}")
    assert uid not in {m.uid for m in stored(mail_dav)}
    in_trash = [m for m in stored(mail_dav, "Trash") if m.raw == raw]
    assert len(in_trash) == 1
    assert any(name == name_of(in_trash[0]) for name in messages(mail_dav, f"Mail/{BOX}/Trash"))
    client.remove(f"Mail/{BOX}/Trash/{name_of(in_trash[0])}")
    assert not [m for m in stored(mail_dav, "Trash") if m.raw == raw]


def test_move_between_folders_of_one_mailbox(mail_dav: DavServer) -> None:
    message = stored(mail_dav)[1]
    raw = message.raw
    source = f"{INBOX}/{name_of(message)}"
    target = f"Mail/{BOX}/Archive/{name_of(message)}"
    response = requests.request("MOVE", mail_dav.href(source), auth=mail_dav.auth,
                                headers={"Destination": mail_dav.href(target)})
    assert response.status_code == 201
    assert [m for m in stored(mail_dav, "Archive") if m.raw == raw]
    # The message got a new uid there, yet the name the client chose answers for a while.
    assert requests.get(mail_dav.href(target), auth=mail_dav.auth).content == raw
    assert requests.head(mail_dav.href(source), auth=mail_dav.auth).status_code == 404


@pytest.mark.parametrize(("method", "path", "headers", "body"), [
    ("PUT", f"{INBOX}/new.eml", {}, b"From: x\r\n\r\nhi"),
    ("COPY", "{message}", {"Destination": f"/dav/Mail/{BOX}/Archive/copy.eml"}, b""),
    ("MOVE", "{message}", {"Destination": "/dav/Mail/support@doe-consulting.ch/INBOX/x.eml"}, b""),
    ("MOVE", "{message}", {"Destination": "/dav/kDrive/My kDrive/Private/x.eml"}, b""),
    ("DELETE", f"Mail/{BOX}", {}, b""),
    ("MOVE", f"Mail/{BOX}", {"Destination": "/dav/Mail/other@example.ch"}, b""),
    ("DELETE", INBOX, {}, b""),
    ("PROPPATCH", "{message}", {}, b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                                   b"<D:getlastmodified>Mon, 01 Jan 2024 00:00:00 GMT</D:getlastmodified>"
                                   b"</D:prop></D:set></D:propertyupdate>"),
])
def test_what_mail_cannot_do_is_refused_plainly(mail_dav: DavServer, method: str, path: str,
                                                headers: dict[str, str], body: bytes) -> None:
    message = name_of(stored(mail_dav)[0])
    response = requests.request(method, mail_dav.href(path.format(message=f"{INBOX}/{message}")),
                                auth=mail_dav.auth, headers=headers, data=body)
    if method == "PROPPATCH":
        assert response.status_code == 207 and "403 Forbidden" in response.text
    else:
        assert response.status_code == 403, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        assert len(response.text.strip()) > 20
    assert len(stored(mail_dav)) == len(messages(mail_dav, INBOX))


def test_folders_can_be_made_renamed_and_deleted_when_empty(mail_dav: DavServer) -> None:
    client = Client(mail_dav.url, auth=mail_dav.auth)
    client.mkdir(f"{INBOX}/Receipts")
    assert mail_dav.emulator.state.mail.folder(BOX, "INBOX/Receipts")
    client.move(f"{INBOX}/Receipts", f"{INBOX}/Bills")
    assert "Bills" in listing(mail_dav, INBOX)
    assert "Receipts" not in listing(mail_dav, INBOX)
    mail_dav.emulator.state.mail.add_message(BOX, "INBOX/Bills", b"Subject: keep\r\n\r\nme")
    time.sleep(0.6)
    refused = requests.delete(mail_dav.href(f"{INBOX}/Bills"), auth=mail_dav.auth)
    assert refused.status_code == 403 and "1 message" in refused.text
    mail_dav.emulator.state.mail.flush_folder(BOX, "INBOX/Bills")
    time.sleep(0.6)
    assert requests.delete(mail_dav.href(f"{INBOX}/Bills"), auth=mail_dav.auth).status_code == 204
    assert "Bills" not in listing(mail_dav, INBOX)


SUBJECTS = ["", "   ", "x" * 400, "a/b\\c:d*e?f\"g<h>i|j", "🎉 Fête 🎂", "=?utf-8?b?w4lsw6hudmU=?=",
            "..hidden..", "line\r\nbreak", "日本語の件名"]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_awkward_subjects_give_stable_valid_names(mail_dav: DavServer, subject: str) -> None:
    raw = (f"Subject: {subject}\r\nFrom: x@example.ch\r\n\r\nbody\r\n").encode()
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    uid = mail_dav.emulator.state.mail.add_message(BOX, "Archive", raw, internal_date=when)
    time.sleep(0.6)
    first = [n for n in messages(mail_dav, f"Mail/{BOX}/Archive") if n.endswith(f"[{uid}].eml")]
    assert len(first) == 1
    name = first[0]
    assert validate_segment(name) == name
    assert len(name.encode()) <= 255
    time.sleep(0.6)
    assert name in messages(mail_dav, f"Mail/{BOX}/Archive")  # stable across listings
    assert requests.get(mail_dav.href(f"Mail/{BOX}/Archive/{name}"), auth=mail_dav.auth).content == raw


def test_mkcol_of_a_mail_folder_made_meanwhile_elsewhere_is_405(mail_dav: DavServer) -> None:
    listing(mail_dav, INBOX)  # the folder list is cached without the new folder
    mail_dav.emulator.state.mail.create_folder(BOX, "INBOX/Raced")
    response = requests.request("MKCOL", mail_dav.href(f"{INBOX}/Raced"), auth=mail_dav.auth)
    assert response.status_code == 405, response.text
    assert "Raced" in listing(mail_dav, INBOX)
