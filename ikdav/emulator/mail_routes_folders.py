"""Mailbox and folder routes of the mail host (infomaniak-api.md §5.2, §5.3, D35)."""

from __future__ import annotations

from ikdav.emulator.mail_http import MailHost
from ikdav.emulator.mail_json import folder_json, folder_node, folder_tree, mailbox_json
from ikdav.emulator.mail_store import validation_failed
from ikdav.emulator.web import Request, Response, Router, ok

IK_STATIC = "ik-static"


def install_folder_routes(router: Router, host: MailHost) -> None:
    store = host.store

    @router.route("GET", "/api/mailbox")
    def list_mailboxes(request: Request) -> Response:
        access = host.caller(request)
        with_fields = request.with_fields()
        with store.lock:
            return ok([mailbox_json(m, with_fields) for m in store.mailboxes_of(access.user_id)])

    @router.route("GET", "/api/ping-with-auth")
    def ping(request: Request) -> Response:
        host.caller(request)
        return ok("pong")

    @router.route("GET", "/api/mail/{mailbox_uuid}/folder")
    def list_folders(request: Request, mailbox_uuid: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        include_virtual = IK_STATIC in request.with_fields()
        with store.lock:
            return ok(folder_tree(mailbox, include_virtual=include_virtual))

    @router.route("POST", "/api/mail/{mailbox_uuid}/folder")
    def create_folder(request: Request, mailbox_uuid: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        body = request.json(required=True)
        parent_path = body.get("path")
        parent_id = body.get("parent")
        if parent_path is not None and not isinstance(parent_path, str):
            raise validation_failed("path must be a string or null")
        if parent_id is not None and not isinstance(parent_id, str):
            raise validation_failed("parent must be a folder id")
        with store.lock:
            if parent_path is None and parent_id:
                parent_path = host.folder(mailbox, parent_id).path
            elif parent_path == "":
                parent_path = None
            folder = store.create_child(mailbox, parent_path, body.get("name"))
            return ok(folder_json(folder))

    @router.route("GET", "/api/mail/{mailbox_uuid}/folder/{folder_id}")
    def get_folder(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        with store.lock:
            return ok(folder_json(host.folder(mailbox, folder_id)))

    @router.route("POST", "/api/mail/{mailbox_uuid}/folder/{folder_id}/rename")
    def rename_folder(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        body = request.json(required=True)
        with store.lock:
            folder = host.folder(mailbox, folder_id)
            renamed = store.rename_folder(mailbox, folder.path, body.get("name"))
            return ok(folder_node(mailbox, renamed))

    @router.route("DELETE", "/api/mail/{mailbox_uuid}/folder/{folder_id}")
    def delete_folder(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        with store.lock:
            store.delete_folder(mailbox, host.folder(mailbox, folder_id).path)
        return ok(True)

    @router.route("POST", "/api/mail/{mailbox_uuid}/folder/{folder_id}/flush")
    def flush_folder(request: Request, mailbox_uuid: str, folder_id: str) -> Response:
        mailbox = host.mailbox(request, mailbox_uuid)
        with store.lock:
            store.flush_folder(mailbox, host.folder(mailbox, folder_id).path)
        return ok(True)

