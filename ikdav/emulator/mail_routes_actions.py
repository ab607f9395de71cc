"""Message actions on the mail host: seen, unseen, move and permanent delete (§5.7, D33).

Actions take long uids (``"<short>@<folder id>"``), at most 1000 per call, possibly from
several folders of the one mailbox. A call is checked whole before anything changes.
"""

from __future__ import annotations

import secrets
from typing import Any

from ikdav.emulator.mail_http import MailHost
from ikdav.emulator.mail_ids import parse_long_uid
from ikdav.emulator.mail_model import PERMANENT_DELETE_ROLES, Mailbox, MailFolder
from ikdav.emulator.mail_store import message_not_found, validation_failed
from ikdav.emulator.web import ApiError, Request, Response, Router, ok

MAX_ACTION_UIDS = 1000
ACTIONS = ("seen", "unseen", "move", "delete")


def install_action_routes(router: Router, host: MailHost) -> None:
    store = host.store

    @router.route("POST", "/api/mail/{mailbox_uuid}/message/{action}")
    def message_action(request: Request, mailbox_uuid: str, action: str) -> Response:
        if action not in ACTIONS:
            raise ApiError(404, "route_not_found", f"No message action {action!r}")
        mailbox = host.mailbox(request, mailbox_uuid)
        body = request.json(required=True)
        wanted = parse_uids(body.get("uids"))
        with store.lock:
            groups = group_by_folder(host, mailbox, wanted)
            if action == "move":
                return ok(move(host, mailbox, groups, body.get("to")))
            if not any(uid in folder.messages for folder, uids in groups for uid in uids):
                raise message_not_found()
            if action == "delete":
                refused = [folder.path for folder, _ in groups if folder.role not in PERMANENT_DELETE_ROLES]
                if refused:
                    raise validation_failed("Messages can only be deleted for good in the trash, spam "
                                            f"or drafts; not in {', '.join(refused)}")
                for folder, uids in groups:
                    store.delete_messages(mailbox, folder.path, uids)
                return ok(True)
            touched = 0
            for folder, uids in groups:
                touched += sum(1 for uid in uids if uid in folder.messages)
                store.set_flags(mailbox, folder.path, uids, seen=action == "seen")
            return ok({"flagged": touched})


def parse_uids(value: object) -> list[tuple[int, str]]:
    """The body's long uids as ``(short uid, folder id)``; 422 if missing, malformed or too many."""
    if not isinstance(value, list) or not value:
        raise validation_failed("uids must be a non-empty list of message uids")
    if len(value) > MAX_ACTION_UIDS:
        raise validation_failed(f"at most {MAX_ACTION_UIDS} uids per call")
    parsed: list[tuple[int, str]] = []
    for item in value:
        uid = parse_long_uid(item)
        if uid is None:
            raise validation_failed(f"{item!r} is not a message uid of the form <uid>@<folder id>")
        parsed.append(uid)
    return parsed


def group_by_folder(host: MailHost, mailbox: Mailbox,
                    uids: list[tuple[int, str]]) -> list[tuple[MailFolder, list[int]]]:
    """Uids grouped by their folder, in first-seen order; an unknown folder gives 404."""
    groups: dict[str, list[int]] = {}
    for short, folder_id_text in uids:
        bucket = groups.setdefault(folder_id_text, [])
        if short not in bucket:
            bucket.append(short)
    result: list[tuple[MailFolder, list[int]]] = []
    for folder_id_text, shorts in groups.items():
        result.append((host.folder(mailbox, folder_id_text), shorts))
    return result


def move(host: MailHost, mailbox: Mailbox, groups: list[tuple[MailFolder, list[int]]],
         to: object) -> dict[str, Any]:
    if not isinstance(to, str) or not to:
        raise validation_failed("to must be the destination folder id")
    try:
        destination = host.folder(mailbox, to)
    except ApiError as exc:
        raise ApiError(404, "mail__move_destination_folder_not_found",
                       "The destination folder does not exist") from exc
    if not any(uid in folder.messages for folder, uids in groups for uid in uids):
        raise message_not_found()
    for folder, uids in groups:
        host.store.move_messages(mailbox, folder.path, uids, destination.path)
    token = secrets.token_hex(8)
    return {"undo_resource": f"/api/mail/{mailbox.uuid}/message/undo/{token}"}
