"""Listing and reading messages on the mail host: the mobile sync routes (§5.4), the message
resource and the raw download (§5.6), with the limits of D30–D32."""

from __future__ import annotations

from ikdav.emulator.mail_http import MailHost
from ikdav.emulator.mail_ids import parse_short_uid, parse_uid_set
from ikdav.emulator.mail_json import message_json, updated_json
from ikdav.emulator.mail_model import Mailbox, MailFolder, StoredMessage
from ikdav.emulator.mail_parse import download_disposition
from ikdav.emulator.mail_store import message_not_found, validation_failed
from ikdav.emulator.web import Request, Response, Router, ok

MAX_LISTED_UIDS = 10_000  # messages= is capped here (D31)
MAX_FETCHED_UIDS = 200  # more uids in one messages?uids= call gives 422 (D31)

FOLDER = "/api/mail/{mailbox_uuid}/folder/{folder_id}"
MOBILE = FOLDER + "/mobile"


def install_sync_routes(router: Router, host: MailHost) -> None:
    store = host.store

    @router.route("GET", MOBILE + "/date-ordered-messages-uids")
    def date_ordered_uids(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        wanted = request.int_arg("messages", MAX_LISTED_UIDS)
        if wanted is None or wanted < 1:
            raise validation_failed("messages must be a positive integer")
        direction = (request.arg("direction") or "desc").lower()
        if direction not in ("asc", "desc"):
            raise validation_failed("direction must be asc or desc")
        with store.lock:
            folder = host.folder(mailbox, folder_id)
            uids = store.date_ordered_uids(folder, newest_first=direction == "desc")
            signature = store.issue_signature(mailbox, folder)
        return ok({"messages_uids": [str(uid) for uid in uids[:min(wanted, MAX_LISTED_UIDS)]],
                   "signature": signature})

    @router.route("GET", MOBILE + "/messages")
    def messages(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        text = request.arg("uids")
        if not text:
            raise validation_failed("uids is required")
        parts = text.split(",")
        if len(parts) > MAX_FETCHED_UIDS:
            raise validation_failed(f"at most {MAX_FETCHED_UIDS} uids per call")
        uids: list[int] = []
        for part in parts:
            uid = parse_short_uid(part)
            if uid is None:
                raise validation_failed(f"{part!r} is not a message uid")
            if uid not in uids:
                uids.append(uid)
        with store.lock:
            folder = host.folder(mailbox, folder_id)
            found = [folder.messages[uid] for uid in uids if uid in folder.messages]
            return ok({"messages": [message_json(mailbox, folder, message) for message in found]})

    @router.route("GET POST", MOBILE + "/activities")
    def activities(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        signature = request.arg("signature")
        if not signature:
            raise validation_failed("signature is required")
        uid_set_text = request.json().get("uids") if request.method == "POST" else None
        if uid_set_text is not None and (not isinstance(uid_set_text, str) or not uid_set_text.strip()):
            raise validation_failed("uids must be an IMAP uid set such as 1:3,5")
        with store.lock:
            folder = host.folder(mailbox, folder_id)
            only = None
            if uid_set_text is not None:
                only = parse_uid_set(uid_set_text, max(mailbox.uidnext.get(folder.path, 1) - 1, 1))
                if only is None:
                    raise validation_failed("uids must be an IMAP uid set such as 1:3,5")
            saved = store.signatures.resolve(signature, store.clock())
            if saved is not None and host.state.knobs.take("expire_cursors", request.role,
                                                           request.method, request.path):
                store.expire_signature(signature)
            changes, new_signature = store.activities(mailbox, folder, signature, only=only)
            return ok({
                "added": [str(uid) for uid in changes.added],
                "deleted": [str(uid) for uid in changes.deleted],
                "updated": [updated_json(folder.messages[uid]) for uid in changes.updated],
                "unread_count": folder.unread_count,
                "signature": new_signature,
            })

    def find_message(mailbox: Mailbox, folder_id: str, uid: str) -> tuple[MailFolder, StoredMessage]:
        folder = host.folder(mailbox, folder_id)
        number = parse_short_uid(uid)
        if number is None:
            raise message_not_found()
        return folder, store.message(mailbox, folder.path, number)

    @router.route("GET", FOLDER + "/message/{uid}")
    def message_resource(request: Request, mailbox_uuid: str, folder_id: str, uid: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        with store.lock:
            folder, message = find_message(mailbox, folder_id, uid)
            return ok(message_json(mailbox, folder, message))

    @router.route("GET", FOLDER + "/message/{uid}/download")
    def download(request: Request, mailbox_uuid: str, folder_id: str, uid: str) -> Response:
        """The raw bytes; ``Range`` is ignored and ``seen`` stays as it was (D30)."""
        mailbox = host.mailbox(request, mailbox_uuid)
        with store.lock:
            _, message = find_message(mailbox, folder_id, uid)
            raw, subject = message.raw, message.summary.subject
        return Response(200, [
            ("Content-Type", "message/rfc822"),
            ("Content-Length", str(len(raw))),
            ("Content-Disposition", download_disposition(subject)),
        ], raw)
