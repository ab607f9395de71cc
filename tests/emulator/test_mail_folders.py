"""Mail host: folder ids, the folder tree and folder changes (§5.1, §5.3, D29, D35)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.mail_ids import folder_id, folder_path

from .mail_support import JaneMailbox, assert_error, mailbox_fixtures

CONTRACT_EXAMPLES = {
    "INBOX": "eJzz9HPyjwAABGYBgQ--",
    "Sent": "eJwLTs0rAQADzwGb",
    "Trash": "eJwLKUoszgAABeICAw--",
    "INBOX/Sub": "eJzz9HPyj9APLk0CAA1rAto-",
}
FOLDER_FIELDS = {"id", "path", "name", "role", "is_favorite", "unread_count", "separator", "children"}


class Mail(JaneMailbox):
    """Jane's primary mailbox through the folder routes."""

    def tree(self, **params: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/mail/{self.uuid}/folder", params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def folders(self, **params: str) -> dict[str, dict[str, Any]]:
        """The tree flattened to ``{path: folder}``."""
        flat: dict[str, dict[str, Any]] = {}

        def walk(nodes: list[dict[str, Any]]) -> None:
            for node in nodes:
                flat[node["path"]] = node
                walk(node["children"])

        walk(self.tree(**params))
        return flat

    def create(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/api/mail/{self.uuid}/folder", json=body)

    def rename(self, folder: str, name: Any) -> httpx.Response:
        return self.http.post(f"/api/mail/{self.uuid}/folder/{folder}/rename", json={"name": name})

    def delete(self, folder: str) -> httpx.Response:
        return self.http.delete(f"/api/mail/{self.uuid}/folder/{folder}")

    def flush(self, folder: str) -> httpx.Response:
        return self.http.post(f"/api/mail/{self.uuid}/folder/{folder}/flush")

    def uids(self, folder: str) -> list[str]:
        response = self.http.get(f"/api/mail/{self.uuid}/folder/{folder}/mobile/date-ordered-messages-uids",
                                 params={"messages": 10000})
        assert response.status_code == 200, response.text
        return response.json()["data"]["messages_uids"]


mail, fresh_mail = mailbox_fixtures(Mail, "mail")


# -- ids ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "expected"), CONTRACT_EXAMPLES.items())
def test_folder_ids_reproduce_the_contract_examples(path: str, expected: str) -> None:
    assert folder_id(path) == expected
    assert folder_path(expected) == path


def test_folder_ids_decode_only_when_well_formed() -> None:
    assert folder_path(folder_id("Ordner/Überblick 🗂")) == "Ordner/Überblick 🗂"
    assert folder_path("not base64 !") is None
    assert folder_path("eJzz9HPy") is None  # truncated


def test_tree_ids_are_the_contract_ids(mail: Mail) -> None:
    folders = mail.folders()
    for path in ("INBOX", "Sent", "Trash"):
        assert folders[path]["id"] == CONTRACT_EXAMPLES[path]
    for path, folder in folders.items():
        assert re.fullmatch(r"[A-Za-z0-9_-]+", folder["id"]), path
        assert folder["id"] == folder_id(path)


def test_created_subfolder_gets_the_contract_id(fresh_mail: Mail) -> None:
    response = fresh_mail.create({"name": "Sub", "path": "INBOX"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == CONTRACT_EXAMPLES["INBOX/Sub"]


# -- tree -----------------------------------------------------------------------------------------
def test_tree_has_roles_nesting_and_counts(emulator: Emulator, mail: Mail) -> None:
    tree = mail.tree()
    assert tree[0]["path"] == "INBOX"
    roles = {node["path"]: node["role"] for node in tree}
    assert roles["INBOX"] == "INBOX" and roles["Sent"] == "SENT" and roles["Drafts"] == "DRAFT"
    assert roles["Trash"] == "TRASH" and roles["Spam"] == "SPAM" and roles["Archive"] == "ARCHIVE"
    projects = next(child for child in tree[0]["children"] if child["name"] == "Projects")
    assert projects["path"] == "INBOX/Projects" and projects["role"] is None
    assert [child["path"] for child in projects["children"]] == ["INBOX/Projects/2026"]
    store = emulator.state.mail
    for path, folder in mail.folders().items():
        assert FOLDER_FIELDS <= set(folder)
        assert folder["separator"] == "/"
        assert folder["name"] == path.rsplit("/", 1)[-1]
        assert folder["unread_count"] == sum(1 for m in store.list_messages("jane@example.ch", path)
                                             if not m.seen)


def test_ik_folders_only_with_ik_static(mail: Mail) -> None:
    plain = mail.folders()
    assert not any(path.startswith(".ik") for path in plain)
    with_static = mail.folders(**{"with": "ik-static"})
    virtual = {path: f["role"] for path, f in with_static.items() if path.startswith(".ik")}
    assert virtual
    assert "SCHEDULED_DRAFTS" in virtual.values() and "SNOOZED" in virtual.values()
    assert set(with_static) - set(virtual) == set(plain)


# -- create ---------------------------------------------------------------------------------------
def test_create_by_parent_path_parent_id_and_at_the_root(fresh_mail: Mail) -> None:
    by_path = fresh_mail.create({"name": "Receipts", "path": "Archive"})
    assert by_path.status_code == 200
    folder = by_path.json()["data"]
    assert folder["path"] == "Archive/Receipts" and folder["name"] == "Receipts"
    assert folder["role"] is None and folder["unread_count"] == 0 and folder["children"] == []
    by_parent = fresh_mail.create({"name": "2025", "parent": folder["id"]})
    assert by_parent.status_code == 200
    assert by_parent.json()["data"]["path"] == "Archive/Receipts/2025"
    root = fresh_mail.create({"name": "Ünïcödé 📁", "path": None})
    assert root.status_code == 200
    folders = fresh_mail.folders()
    assert {"Archive/Receipts", "Archive/Receipts/2025", "Ünïcödé 📁"} <= set(folders)
    assert folders["Ünïcödé 📁"]["id"] == root.json()["data"]["id"]


def test_create_errors(fresh_mail: Mail) -> None:
    assert_error(fresh_mail.create({"name": "Projects", "path": "INBOX"}), 409,
                 "folder__destination_already_exists")
    assert_error(fresh_mail.create({"name": "Archive", "path": None}), 409,
                 "folder__destination_already_exists")
    assert_error(fresh_mail.create({"name": "a/b", "path": "INBOX"}), 422, "validation_failed")
    assert_error(fresh_mail.create({"name": "é" * 128, "path": None}), 422, "folder__name_too_long")
    assert_error(fresh_mail.create({"name": "", "path": None}), 422, "validation_failed")
    assert_error(fresh_mail.create({"path": "INBOX"}), 422, "validation_failed")
    assert_error(fresh_mail.create({"name": "X", "path": "No/Such"}), 404, "folder__not_exists")
    assert_error(fresh_mail.create({"name": "X", "parent": folder_id("Gone")}), 404, "folder__not_exists")
    ik_root = fresh_mail.folders(**{"with": "ik-static"})[".ik"]["id"]
    assert_error(fresh_mail.create({"name": "Mine", "parent": ik_root}), 403, "folder__protected_folder")
    assert_error(fresh_mail.create({"name": "Mine", "path": ".ik/Snoozed"}), 403, "folder__protected_folder")
    assert fresh_mail.create({"name": "é" * 127 + "x", "path": None}).status_code == 200  # 255 bytes


# -- rename ---------------------------------------------------------------------------------------
def test_rename_gives_new_ids_to_the_folder_and_its_subfolders(fresh_emulator: Emulator,
                                                               fresh_mail: Mail) -> None:
    before = fresh_mail.folders()
    old_projects, old_2026 = before["INBOX/Projects"]["id"], before["INBOX/Projects/2026"]["id"]
    uids_before = fresh_mail.uids(old_2026)
    assert uids_before
    response = fresh_mail.rename(old_projects, "Clients")
    assert response.status_code == 200, response.text
    renamed = response.json()["data"]
    assert renamed["path"] == "INBOX/Clients" and renamed["name"] == "Clients"
    assert renamed["id"] == folder_id("INBOX/Clients") != old_projects
    assert [child["path"] for child in renamed["children"]] == ["INBOX/Clients/2026"]
    after = fresh_mail.folders()
    assert "INBOX/Projects" not in after and "INBOX/Projects/2026" not in after
    new_2026 = after["INBOX/Clients/2026"]["id"]
    assert new_2026 != old_2026
    assert fresh_mail.uids(new_2026) == uids_before  # messages keep their uids
    gone = fresh_mail.http.get(f"/api/mail/{fresh_mail.uuid}/folder/{old_2026}/mobile/"
                               "date-ordered-messages-uids")
    assert_error(gone, 404, "folder__not_exists")


def test_rename_errors(fresh_mail: Mail) -> None:
    folders = fresh_mail.folders()
    projects = folders["INBOX/Projects"]["id"]
    fresh_mail.create({"name": "Taken", "path": "INBOX"})
    assert_error(fresh_mail.rename(projects, "Taken"), 409, "folder__destination_already_exists")
    assert_error(fresh_mail.rename(projects, "a/b"), 422, "validation_failed")
    assert_error(fresh_mail.rename(projects, "x" * 256), 422, "folder__name_too_long")
    for role_path in ("INBOX", "Sent", "Trash", "Archive"):
        assert_error(fresh_mail.rename(folders[role_path]["id"], "Renamed"), 403, "folder__protected_folder")
    assert_error(fresh_mail.rename(folder_id("Nope"), "Other"), 404, "folder__not_exists")
    assert_error(fresh_mail.rename("%%%", "Other"), 404, "folder__not_exists")
    assert "INBOX/Projects" in fresh_mail.folders()


# -- delete and flush -----------------------------------------------------------------------------
def test_delete_removes_subfolders_and_messages(fresh_emulator: Emulator, fresh_mail: Mail) -> None:
    store = fresh_emulator.state.mail
    projects = fresh_mail.folders()["INBOX/Projects"]["id"]
    assert store.list_messages("jane@example.ch", "INBOX/Projects/2026")
    response = fresh_mail.delete(projects)
    assert response.status_code == 200
    assert response.json() == {"result": "success", "data": True}
    folders = fresh_mail.folders()
    assert "INBOX/Projects" not in folders and "INBOX/Projects/2026" not in folders
    assert_error(fresh_mail.delete(projects), 404, "folder__not_exists")
    recreated = fresh_mail.create({"name": "Projects", "path": "INBOX"}).json()["data"]
    assert recreated["id"] == projects and fresh_mail.uids(projects) == []


def test_role_folders_cannot_be_deleted(fresh_mail: Mail) -> None:
    folders = fresh_mail.folders(**{"with": "ik-static"})
    for path in ("INBOX", "Sent", "Drafts", "Trash", "Spam", "Archive", ".ik", ".ik/Scheduled"):
        assert_error(fresh_mail.delete(folders[path]["id"]), 403, "folder__protected_folder")
    assert set(fresh_mail.folders(**{"with": "ik-static"})) == set(folders)


def test_flush_empties_only_that_folder(fresh_emulator: Emulator, fresh_mail: Mail) -> None:
    folders = fresh_mail.folders()
    projects, sub = folders["INBOX/Projects"]["id"], folders["INBOX/Projects/2026"]["id"]
    sub_uids = fresh_mail.uids(sub)
    assert fresh_mail.uids(projects) and sub_uids
    response = fresh_mail.flush(projects)
    assert response.status_code == 200 and response.json()["data"] is True
    assert fresh_mail.uids(projects) == []
    assert fresh_mail.folders()["INBOX/Projects"]["unread_count"] == 0
    assert fresh_mail.uids(sub) == sub_uids
    trash = folders["Trash"]["id"]
    assert fresh_mail.flush(trash).status_code == 200
    assert fresh_mail.uids(trash) == []
    assert_error(fresh_mail.flush(folder_id("Nope")), 404, "folder__not_exists")


def test_uids_are_never_reused_for_a_path(fresh_emulator: Emulator, fresh_mail: Mail) -> None:
    store = fresh_emulator.state.mail
    box = store.mailbox("jane@example.ch")
    created = fresh_mail.create({"name": "Reuse", "path": None}).json()["data"]
    first = store.add_message(box, "Reuse", b"Subject: one\r\n\r\nbody\r\n")
    assert fresh_mail.delete(created["id"]).status_code == 200
    fresh_mail.create({"name": "Reuse", "path": None})
    second = store.add_message(box, "Reuse", b"Subject: two\r\n\r\nbody\r\n")
    assert second > first
    # Renaming the folder away and creating a new one at the old path keeps counting too.
    assert fresh_mail.rename(folder_id("Reuse"), "Moved").status_code == 200
    fresh_mail.create({"name": "Reuse", "path": None})
    third = store.add_message(box, "Reuse", b"Subject: three\r\n\r\nbody\r\n")
    assert third > second
    assert fresh_mail.uids(folder_id("Moved")) == [str(second)]
    assert fresh_mail.uids(folder_id("Reuse")) == [str(third)]
