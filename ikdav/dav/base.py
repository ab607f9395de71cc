"""What every resource of the share has in common: its account, its session, its lock namespace.

WsgiDAV keys locks and dead properties by a resource's *ref URL*. Two accounts see the same paths
(``/kDrive/My kDrive/...``), so the ref URL here starts with the account id: one user's locks and
properties can never touch another's. :class:`VirtualCollection` is the read-only base of the
fixed levels of the tree (root, ``kDrive/``, drive folders, ``Mail/``, mailboxes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wsgidav.dav_provider import DAVCollection, _DAVResource

from ikdav.dav.auth import ENVIRON_ACCOUNT
from ikdav.dav.errors import DavFailure, read_only

if TYPE_CHECKING:
    from ikdav.dav.session import AccountSession


def account_of(environ: dict[str, Any]) -> int:
    account = environ.get(ENVIRON_ACCOUNT)
    if account is None:
        raise DavFailure(401, "Authentication is required.")
    return int(account)


def account_ref_root(account_id: int) -> str:
    """The prefix of every ref URL of one account: its locks and dead properties live below it."""
    return f"/{account_id}"


def join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


class ScopedResource(_DAVResource):
    """Mixin: ref URLs in the account's own namespace; convenience accessors."""

    environ: dict[str, Any]

    @property
    def session(self) -> AccountSession:
        return self.environ["ikdav.session"]  # type: ignore[no-any-return]

    def get_ref_url(self) -> str:
        return account_ref_root(account_of(self.environ)) + quote(self.provider.share_path
                                                                  + self.get_preferred_path())

    def check_no_foreign_locks(self) -> None:
        """Raise 423 if this resource or anything below it is locked by a token the request lacks.

        WsgiDAV checks only the parent before a natively handled DELETE; a recursive trash must
        not remove a locked child.
        """
        lock_manager = self.provider.lock_manager
        if lock_manager is None:
            return
        lock_manager.check_write_permission(
            url=self.get_ref_url(), depth="infinity",
            token_list=self.environ.get("wsgidav.ifLockTokenList", []),
            principal=self.environ.get("wsgidav.user_name", ""))

    def forget_dead_state(self, *, recursive: bool) -> None:
        """Drop dead properties and locks of a resource that no longer exists here."""
        self.remove_all_properties(recursive=recursive)
        self.remove_all_locks(recursive=recursive)


class DeletesNatively:
    """Mixin: a DELETE is one native call in ``handle_delete``; WsgiDAV never walks the tree.

    WsgiDAV falls back to ``delete`` (and asks ``support_recursive_delete``) on some paths; both
    lead to the same single call.
    """

    def handle_delete(self) -> bool:
        raise NotImplementedError

    def support_recursive_delete(self) -> bool:
        return True

    def delete(self) -> None:
        self.handle_delete()


class VirtualCollection(ScopedResource, DAVCollection):
    """A fixed, read-only level of the tree; members come from ``members()``."""

    label = "This folder"

    def __init__(self, path: str, environ: dict[str, Any]) -> None:
        DAVCollection.__init__(self, path, environ)

    def members(self) -> list[_DAVResource]:
        raise NotImplementedError

    def get_member_list(self) -> list[_DAVResource]:
        return self.members()

    def get_member_names(self) -> list[str]:
        return [member.name for member in self.members()]

    def get_member(self, name: str) -> _DAVResource | None:
        return next((m for m in self.members() if m.name == name), None)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}

    def prevent_locking(self) -> bool:
        return True

    # -- everything that would change the layout is refused --------------------------------------
    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise read_only(f"'{self.name or '/'}'")

    create_empty_resource: Callable[..., Any] = _refuse
    create_collection: Callable[..., Any] = _refuse
    handle_delete: Callable[..., Any] = _refuse
    delete: Callable[..., Any] = _refuse
    handle_move: Callable[..., Any] = _refuse
    handle_copy: Callable[..., Any] = _refuse
    copy_move_single: Callable[..., Any] = _refuse
    set_last_modified: Callable[..., Any] = _refuse

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        raise read_only(f"'{self.name or '/'}'")

    def support_recursive_delete(self) -> bool:
        return False

    def support_recursive_move(self, dest_path: str) -> bool:
        return False
