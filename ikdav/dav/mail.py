"""The Mail part of the share: ``/Mail/<mailbox>/<folder path>/<message>.eml``.

Levels, one class each:

- :class:`MailRoot` ``/Mail``: one folder per mailbox, named by its address (read-only);
- :class:`MailboxFolder` ``/Mail/<address>``: the mailbox's top-level folders (the mailbox itself
  cannot be renamed or deleted; new top-level folders can be made);
- :class:`MailFolderCollection`: a mail folder, holding its subfolders and messages;
- :class:`MessageFile`: one message as ``<local date> <HHMM> <subject> [<uid>].eml``.

What maps to the mail API works (DELETE of a message moves it to Trash, or erases it inside
Trash/Spam/Drafts; MOVE between folders of one mailbox; MKCOL, rename and DELETE of folders);
everything else is refused with 403 and a sentence saying why.
"""

from __future__ import annotations

from typing import Any

from wsgidav import util
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, _DAVResource

from ikdav.dav.base import DeletesNatively, ScopedResource, VirtualCollection, join
from ikdav.dav.errors import Created, DavFailure, exists_already, upstream_errors
from ikdav.dav.mail_index import FolderIndex, MailCache, file_name
from ikdav.dav.names import InvalidName, uid_from_file_name, validate_segment
from ikdav.dav.streams import RemoteReader
from ikdav.infomaniak import AlreadyExists, InfomaniakError, Mail, Mailbox, MailFolder, Message, long_uid

NO_PUT = ("Mail does not accept files: new messages cannot be stored over WebDAV. "
          "Messages can be read, moved between folders of one mailbox, and deleted.")
NO_COPY = ("Messages cannot be copied: the mail service has no copy operation. "
           "Move the message, or download it.")


class MailResource(ScopedResource):
    """Mixin: access to the account's mail client and mail cache."""

    @property
    def mail(self) -> Mail:
        return self.session.client.mail

    @property
    def mail_cache(self) -> MailCache:
        return self.session.mail_cache

    def folders_of(self, mailbox: Mailbox) -> list[MailFolder]:
        with upstream_errors():
            return self.mail_cache.folders(mailbox.uuid, lambda: self.mail.folders(mailbox.uuid))

    def subfolders(self, mailbox: Mailbox, parent_path: str | None) -> dict[str, MailFolder]:
        found: dict[str, MailFolder] = {}
        for folder in self.folders_of(mailbox):
            if folder.parent_path == parent_path:
                try:
                    found[validate_segment(folder.name.replace("/", "_"))] = folder
                except InvalidName:
                    continue
        return found

    def folder_resource(self, path: str, mailbox: Mailbox, folder: MailFolder) -> MailFolderCollection:
        return MailFolderCollection(path, self.environ, mailbox, folder)

    def create_folder(self, mailbox: Mailbox, name: str, parent_path: str | None) -> MailFolderCollection:
        try:
            name = validate_segment(name)
        except InvalidName as exc:
            raise DavFailure(400, f"Invalid folder name: {exc}.") from exc
        with upstream_errors():
            try:
                created = self.mail.create_folder(mailbox.uuid, name, parent_path)
            except AlreadyExists as exc:  # made meanwhile elsewhere; the folder list was older
                self.mail_cache.forget_folders(mailbox.uuid)
                raise exists_already(name) from exc
        self.mail_cache.forget_folders(mailbox.uuid)
        return self.folder_resource(join(self.path, name), mailbox, created)

    def refuse_put(self, name: str) -> Any:
        raise DavFailure(403, NO_PUT)


class MailRoot(VirtualCollection):
    """``/Mail``: one folder per mailbox."""

    def mailboxes(self) -> dict[str, Mailbox]:
        session = self.session
        with upstream_errors():
            boxes = session.mail_cache.mailboxes(session.client.mail.mailboxes)
        named: dict[str, Mailbox] = {}
        for box in boxes:
            try:
                named[validate_segment(box.email)] = box
            except InvalidName:
                continue
        return named

    def members(self) -> list[_DAVResource]:
        return [MailboxFolder(join(self.path, name), self.environ, box)
                for name, box in self.mailboxes().items()]

    def get_member(self, name: str) -> _DAVResource | None:
        box = self.mailboxes().get(name)
        return MailboxFolder(join(self.path, name), self.environ, box) if box else None


class MailboxFolder(MailResource, VirtualCollection):
    """``/Mail/<address>``: the top-level folders; the mailbox itself is fixed."""

    def __init__(self, path: str, environ: dict[str, Any], mailbox: Mailbox) -> None:
        VirtualCollection.__init__(self, path, environ)
        self.mailbox = mailbox

    def members(self) -> list[_DAVResource]:
        return [self.folder_resource(join(self.path, name), self.mailbox, folder)
                for name, folder in self.subfolders(self.mailbox, None).items()]

    def get_member(self, name: str) -> _DAVResource | None:
        folder = self.subfolders(self.mailbox, None).get(name)
        return self.folder_resource(join(self.path, name), self.mailbox, folder) if folder else None

    def create_collection(self, name: str) -> MailFolderCollection:
        return self.create_folder(self.mailbox, name, None)

    def create_empty_resource(self, name: str) -> Any:
        return self.refuse_put(name)


class MailFolderCollection(DeletesNatively, MailResource, DAVCollection):
    """A mail folder: its subfolders, then its messages."""

    def __init__(self, path: str, environ: dict[str, Any], mailbox: Mailbox, folder: MailFolder) -> None:
        DAVCollection.__init__(self, path, environ)
        self.mailbox = mailbox
        self.folder = folder

    @property
    def index(self) -> FolderIndex:
        return self.mail_cache.index(self.mailbox.uuid, self.folder.id)

    def current_messages(self) -> list[Message]:
        index = self.index
        with upstream_errors():
            index.ensure_current(self.mail, self.mail_cache.ttl)
        with index.lock:
            return list(index.messages.values())

    def message_resource(self, message: Message, name: str | None = None) -> MessageFile:
        return MessageFile(join(self.path, name or file_name(message)), self.environ, self.mailbox,
                           self.folder, message)

    # -- listing ----------------------------------------------------------------------------------
    def get_member_list(self) -> list[_DAVResource]:
        members: list[_DAVResource] = [
            self.folder_resource(join(self.path, name), self.mailbox, folder)
            for name, folder in self.subfolders(self.mailbox, self.folder.path).items()]
        members.extend(self.message_resource(message) for message in self.current_messages())
        return members

    def get_member_names(self) -> list[str]:
        return [member.name for member in self.get_member_list()]

    def get_member(self, name: str) -> _DAVResource | None:
        uid = uid_from_file_name(name)
        if uid is None:
            folder = self.subfolders(self.mailbox, self.folder.path).get(name)
            return self.folder_resource(join(self.path, name), self.mailbox, folder) if folder else None
        index = self.index
        aliased = index.alias(name)
        with upstream_errors():
            message = index.find(self.mail, aliased or uid)
        if message is None:
            return None
        if aliased is None and file_name(message) != name:
            return None  # the uid exists, but under another name: one name per message
        return self.message_resource(message, name)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Mail folder"}

    def get_last_modified(self) -> float | None:
        if self._is_being_listed():
            self.current_messages()  # the listing needs the index anyway: date it from there
        with upstream_errors():
            newest = self.mail_cache.newest(self.mail, self.mailbox.uuid, self.folder.id)
        return newest.timestamp() if newest else None

    def _is_being_listed(self) -> bool:
        environ = self.environ
        return (environ.get("REQUEST_METHOD") in ("PROPFIND", "GET")
                and environ.get("HTTP_DEPTH", "1") != "0"
                and environ.get("PATH_INFO", "").rstrip("/") == self.path.rstrip("/"))

    # -- changes ---------------------------------------------------------------------------------
    def create_collection(self, name: str) -> MailFolderCollection:
        return self.create_folder(self.mailbox, name, self.folder.path)

    def create_empty_resource(self, name: str) -> Any:
        return self.refuse_put(name)

    def handle_delete(self) -> bool:
        if self.folder.role:
            raise DavFailure(403, f"'{self.folder.name}' is a special folder ({self.folder.role.lower()}) "
                                  "of the mailbox and cannot be deleted.")
        self.check_no_foreign_locks()
        if self.subfolders(self.mailbox, self.folder.path):
            raise DavFailure(403, f"The mail folder '{self.folder.name}' still has subfolders; "
                                  "delete them first.")
        self.index.mark_stale()
        count = len(self.current_messages())
        if count:
            raise DavFailure(403, f"The mail folder '{self.folder.name}' still holds {count} message(s). "
                                  "Deleting it would erase them for good: delete the messages first "
                                  "(they go to Trash), then the folder.")
        with upstream_errors():
            self.mail.delete_folder(self.mailbox.uuid, self.folder.id)
        self.mail_cache.forget_folders(self.mailbox.uuid)
        self.forget_dead_state(recursive=True)
        return True

    def handle_move(self, dest_path: str) -> bool | list[tuple[str, DavFailure]]:
        parent = self.provider.get_resource_inst(util.get_uri_parent(dest_path), self.environ)
        current_parent = self.provider.get_resource_inst(util.get_uri_parent(self.path), self.environ)
        if parent is None or current_parent is None or parent.path != current_parent.path:
            raise DavFailure(403, "Mail folders can be renamed in place, not moved elsewhere.")
        if self.folder.role:
            raise DavFailure(403, f"'{self.folder.name}' is a special folder of the mailbox and cannot be "
                                  "renamed.")
        if self.provider.get_resource_inst(dest_path, self.environ) is not None:
            raise DavFailure(403, "A mail folder with that name exists already.")
        try:
            name = validate_segment(util.get_uri_name(dest_path))
        except InvalidName as exc:
            raise DavFailure(400, f"Invalid folder name: {exc}.") from exc
        self.check_no_foreign_locks()
        with upstream_errors():
            self.mail.rename_folder(self.mailbox.uuid, self.folder.id, name)
        self.mail_cache.forget_folders(self.mailbox.uuid)
        self.remove_all_locks(recursive=True)
        return [(self.get_href(), Created())]

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        raise DavFailure(403, "Mail folders cannot be copied.")

    def support_recursive_move(self, dest_path: str) -> bool:
        return False

    def set_last_modified(self, dest_path: str, time_stamp: Any, *, dry_run: bool) -> bool:
        raise DavFailure(403, "The date of a mail folder follows its newest message; it cannot be set.")


class MessageFile(DeletesNatively, MailResource, DAVNonCollection):
    """One message as a read-only ``.eml`` file (it can be moved and deleted)."""

    def __init__(self, path: str, environ: dict[str, Any], mailbox: Mailbox, folder: MailFolder,
                 message: Message) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self.mailbox = mailbox
        self.folder = folder
        self.message = message

    @property
    def long_uid(self) -> str:
        return long_uid(self.message.short_uid, self.folder.id)

    # -- properties -------------------------------------------------------------------------------
    def get_content_length(self) -> int:
        return self.message.size

    def get_content_type(self) -> str:
        return "message/rfc822"

    def get_last_modified(self) -> float | None:
        when = self.message.internal_date or self.message.date
        return when.timestamp() if when else None

    def get_creation_date(self) -> float | None:
        return self.get_last_modified()

    def get_etag(self) -> str:
        return f"{self.folder.id}-{self.message.short_uid}-{self.message.size}"

    def get_property_value(self, name: str) -> Any:
        if name == "{DAV:}getetag":
            return f'"{self.get_etag()}"'
        return super().get_property_value(name)

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_display_info(self) -> dict[str, str]:
        return {"type": "E-mail message"}

    # -- reading --------------------------------------------------------------------------------------
    def get_content(self) -> RemoteReader:
        uid = self.message.short_uid

        def open_at(offset: int) -> Any:
            return self.mail.download_eml(self.mailbox.uuid, self.folder.id, uid, offset=offset or None)

        return RemoteReader(open_at)

    # -- refused ------------------------------------------------------------------------------------------
    def begin_write(self, *, content_type: str | None = None) -> Any:
        raise DavFailure(403, NO_PUT)

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        raise DavFailure(403, NO_COPY)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        raise DavFailure(403, NO_COPY)

    def set_last_modified(self, dest_path: str, time_stamp: Any, *, dry_run: bool) -> bool:
        raise DavFailure(403, "The date of a message is when it arrived; it cannot be changed.")

    # -- delete and move ----------------------------------------------------------------------------------
    def handle_delete(self) -> bool:
        self.check_no_foreign_locks()
        folders = self.folders_of(self.mailbox)
        with upstream_errors():
            self.mail.delete(self.mailbox.uuid, self.folder, [self.long_uid], folders=folders)
        self.mail_cache.index(self.mailbox.uuid, self.folder.id).forget(self.message.short_uid)
        trash = next((f for f in folders if f.role == "TRASH"), None)
        if trash is not None and trash.id != self.folder.id:
            self.mail_cache.index(self.mailbox.uuid, trash.id).mark_stale()
        self.forget_dead_state(recursive=False)
        return True

    def handle_move(self, dest_path: str) -> bool | list[tuple[str, DavFailure]]:
        parent = self.provider.get_resource_inst(util.get_uri_parent(dest_path), self.environ)
        if not isinstance(parent, MailFolderCollection):
            raise DavFailure(403, "A message can only be moved into a mail folder of the same mailbox.")
        if parent.mailbox.uuid != self.mailbox.uuid:
            raise DavFailure(403, "Messages cannot be moved between mailboxes.")
        if parent.folder.id == self.folder.id:
            raise DavFailure(403, "Message names are made of date, subject and number; "
                                  "they cannot be renamed.")
        if self.provider.get_resource_inst(dest_path, self.environ) is not None:
            raise DavFailure(412, "The destination exists already.")
        self.check_no_foreign_locks()
        mail = self.mail
        with upstream_errors():
            before = set(mail.message_uids(self.mailbox.uuid, parent.folder.id).uids)
            mail.move(self.mailbox.uuid, [self.long_uid], parent.folder.id)
        self.mail_cache.index(self.mailbox.uuid, self.folder.id).forget(self.message.short_uid)
        destination = self.mail_cache.index(self.mailbox.uuid, parent.folder.id)
        destination.mark_stale()
        self._remember_new_name(mail, parent, before, util.get_uri_name(dest_path), destination)
        self.remove_all_locks(recursive=False)
        return [(self.get_href(), Created())]

    def _remember_new_name(self, mail: Mail, parent: MailFolderCollection, before: set[str], name: str,
                           destination: FolderIndex) -> None:
        """A moved message gets a new uid (and so a new name); let the client's name reach it for a while."""
        try:
            after = mail.message_uids(self.mailbox.uuid, parent.folder.id).uids
            added = [uid for uid in after if uid not in before]
            candidates = mail.messages(self.mailbox.uuid, parent.folder.id, added) if added else []
        except InfomaniakError:  # the move succeeded; a missing alias only costs a re-list
            return
        same = [m for m in candidates if m.msg_id == self.message.msg_id and m.size == self.message.size]
        if len(same) == 1:
            destination.add_alias(name, same[0].short_uid)
            with destination.lock:
                destination.singles[same[0].short_uid] = same[0]
