"""The mail host's JSON shapes: Mailbox (§5.2), Folder (§5.3) and Message (§5.5).

Callers hold the store's lock while serialising, so one reply shows one consistent state.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.mail_ids import SEPARATOR, long_uid, rfc3339, rfc3339_local
from ikdav.emulator.mail_model import Mailbox, MailFolder, StoredMessage

ROOT_ORDER = {"INBOX": 0}


def mailbox_json(mailbox: Mailbox, with_fields: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "uuid": mailbox.uuid, "email": mailbox.email, "email_idn": mailbox.email,
        "mailbox": mailbox.local_part, "mailbox_id": mailbox.mailbox_id, "hosting_id": mailbox.hosting_id,
        "access_id": mailbox.access_id, "is_primary": mailbox.is_primary, "is_locked": mailbox.is_locked,
        "is_free": mailbox.is_free, "owner_or_admin": True,
    }
    if "unseen" in with_fields:
        data["unseen_messages"] = mailbox.unseen_messages
    if "aliases" in with_fields:
        data["aliases"] = list(mailbox.aliases)
    return data


def folder_json(folder: MailFolder, children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": folder.id, "path": folder.path, "name": folder.name, "role": folder.role,
        "is_favorite": folder.is_favorite, "unread_count": folder.unread_count, "separator": SEPARATOR,
        "children": children or [],
    }


def folder_tree(mailbox: Mailbox, *, include_virtual: bool) -> list[dict[str, Any]]:
    """Root folders with nested ``children``; INBOX first, then by name (case-insensitive)."""
    return _TreeBuilder(mailbox, include_virtual).level(None)


def folder_node(mailbox: Mailbox, folder: MailFolder) -> dict[str, Any]:
    """One folder as it appears in the tree, its subfolders included (the rename reply)."""
    return folder_json(folder, _TreeBuilder(mailbox, include_virtual=True).level(folder.path))


class _TreeBuilder:
    def __init__(self, mailbox: Mailbox, include_virtual: bool) -> None:
        self.by_parent: dict[str | None, list[MailFolder]] = {}
        for folder in mailbox.folders.values():
            if include_virtual or not folder.is_virtual:
                self.by_parent.setdefault(folder.parent_path, []).append(folder)

    def level(self, parent: str | None) -> list[dict[str, Any]]:
        ordered = sorted(self.by_parent.get(parent, []),
                         key=lambda f: (ROOT_ORDER.get(f.path, 1), f.name.casefold(), f.name))
        return [folder_json(f, self.level(f.path)) for f in ordered]


def message_json(mailbox: Mailbox, folder: MailFolder, message: StoredMessage) -> dict[str, Any]:
    summary = message.summary
    folder_id_text = folder.id
    resource = f"/api/mail/{mailbox.uuid}/folder/{folder_id_text}/message/{message.uid}"
    return {
        "uid": long_uid(message.uid, folder_id_text),
        "msg_id": summary.msg_id,
        "subject": summary.subject,
        "date": rfc3339(summary.date) if summary.date else None,
        "internal_date": rfc3339_local(message.internal_date),
        "size": message.size,
        "from": summary.from_, "to": summary.to, "cc": summary.cc, "bcc": summary.bcc,
        "reply_to": summary.reply_to,
        "in_reply_to": summary.in_reply_to,
        "references": summary.references,
        "priority": summary.priority,
        "dkim_status": summary.dkim_status,
        "folder_id": folder_id_text,
        "resource": resource,
        "download_resource": resource + "/download",
        "is_draft": message.draft,
        "has_attachments": summary.has_attachments,
        **message.flags(),
        "preview": summary.preview,
        "headers": {},
    }


def updated_json(message: StoredMessage) -> dict[str, Any]:
    """One ``updated`` entry of ``activities``: the uid as a string and the current flags (D31)."""
    return {"uid": str(message.uid), **message.flags()}
