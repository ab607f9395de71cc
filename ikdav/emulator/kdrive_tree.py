"""One drive's tree of nodes and the operations that change it.

The operations here know the tree's own rules (names, clashes, trash, versions, the change
log) and raise the contract's errors for them. Who may do what (rights, knobs, locks, quota,
open upload sessions) is checked by the caller (``kdrive_store``), which also holds the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ikdav.emulator.kdrive_changes import ChangeLog
from ikdav.emulator.kdrive_mime import mime_type_for
from ikdav.emulator.kdrive_model import (
    DIR,
    FILE,
    ROOT_ID,
    SPECIAL_FOLDERS,
    TRASH_INHERITED,
    TRASHED,
    Blob,
    Node,
    SpecialFolder,
    numbered_name,
    validation_error,
)
from ikdav.emulator.web import ApiError

Clock = Callable[[], int]


def conflict(code: str, name: str) -> ApiError:
    return ApiError(409, code, f"An item named {name!r} already exists here")


@dataclass(eq=False)
class Drive:
    """A drive: its metadata, its users and their roles, its nodes and its change log."""

    id: int
    name: str
    account_id: int
    account_name: str
    size: int
    users: dict[int, str]  # user id -> "admin" | "user"
    clock: Clock
    color: str = "#0098FF"
    pack: dict[str, object] = field(default_factory=lambda: {
        "id": 1, "name": "solo", "display_name": "Solo", "is_free": False})
    created_at: int = 1700000000
    updated_at: int = 1700000000
    nodes: dict[int, Node] = field(default_factory=dict)
    changes: ChangeLog = field(default_factory=ChangeLog)
    used: int = 0  # bytes of live files
    next_id: int = ROOT_ID

    # -- building ---------------------------------------------------------------------------------
    def _new_id(self) -> int:
        node_id = self.next_id
        self.next_id += 1
        return node_id

    def create_root(self, specials: list[str], owner: int) -> Node:
        now = self.clock()
        root = Node(self._new_id(), self.id, None, "", DIR, self.created_at, self.created_at, now, now,
                    now, owner, owner, is_root=True)
        self.nodes[root.id] = root
        for name in specials:
            special = SPECIAL_FOLDERS[name]
            folder = Node(self._new_id(), self.id, root.id, special.name, DIR, self.created_at,
                          self.created_at, now, now, now, owner, owner, special=special)
            self.nodes[folder.id] = folder
            root.children[folder.name] = folder
        return root

    @property
    def root(self) -> Node:
        return self.nodes[ROOT_ID]

    # -- lookups ----------------------------------------------------------------------------------
    def live(self, node_id: int) -> Node | None:
        node = self.nodes.get(node_id)
        return node if node is not None and node.trash is None else None

    def parent_of(self, node: Node) -> Node | None:
        return self.nodes.get(node.parent_id) if node.parent_id is not None else None

    def ancestors(self, node: Node) -> Iterator[Node]:
        """``node``'s parents, nearest first, up to the root."""
        current = self.parent_of(node)
        while current is not None:
            yield current
            current = self.parent_of(current)

    def special_of(self, node: Node) -> SpecialFolder | None:
        """The special folder ``node`` lives in (or is); ``None`` for the root."""
        if node.special is not None:
            return node.special
        for ancestor in self.ancestors(node):
            if ancestor.special is not None:
                return ancestor.special
        return None

    def depth_of(self, node: Node) -> int:
        return sum(1 for _ in self.ancestors(node))

    def path_of(self, node: Node) -> str:
        if node.is_root:
            return "/"
        names = [node.name]
        names.extend(a.name for a in self.ancestors(node) if not a.is_root)
        return "/" + "/".join(reversed(names))

    def visibility_of(self, node: Node) -> str:
        if node.is_root:
            return "is_root"
        if node.special is not None:
            return node.special.visibility
        special = self.special_of(node)
        if special is None:
            return ""
        parent = self.parent_of(node)
        if parent is not None and parent.special is not None:
            return special.child_visibility
        return special.deep_visibility

    def is_within(self, node: Node, ancestor: Node) -> bool:
        """Whether ``node`` is ``ancestor`` or lies below it."""
        return node is ancestor or any(a is ancestor for a in self.ancestors(node))

    def resolve(self, segments: list[str], base: Node | None = None) -> Node | None:
        node = base or self.root
        for name in segments:
            if not node.is_dir:
                return None
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def subtree(self, node: Node) -> Iterator[Node]:
        """``node`` and everything below it, parents before children."""
        stack = [node]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(current.children.values())

    def free_name(self, parent: Node, name: str) -> str:
        """``name``, or the first ``name (n).ext`` not taken in ``parent`` (D16)."""
        if name not in parent.children:
            return name
        number = 1
        while numbered_name(name, number) in parent.children:
            number += 1
        return numbered_name(name, number)

    # -- changes ----------------------------------------------------------------------------------
    def record(self, action: str, node: Node, parent_id: int | None = None) -> None:
        where = parent_id if parent_id is not None else node.parent_id
        if where is not None:
            self.changes.record(action, node.id, where, self.path_of(node), self.clock())

    def add_dir(self, parent: Node, name: str, user_id: int, *, at: int | None = None) -> Node:
        if name in parent.children:
            raise conflict("destination_already_exists", name)
        now = self.clock()
        node = Node(self._new_id(), self.id, parent.id, name, DIR, at or now, now, at or now, now, now,
                    user_id, user_id)
        self._attach(parent, node)
        self.record("file_create", node)
        return node

    def add_file(self, parent: Node, name: str, blob: Blob, user_id: int, *,
                 last_modified_at: int | None = None, created_at: int | None = None,
                 mime_type: str | None = None) -> Node:
        if name in parent.children:
            raise conflict("file_already_exists_error", name)
        now = self.clock()
        node = Node(self._new_id(), self.id, parent.id, name, FILE, created_at, now,
                    last_modified_at if last_modified_at is not None else now, now, now,
                    user_id, user_id, blob=blob, mime_type=mime_type or mime_type_for(name))
        blob.refs += 1
        self._attach(parent, node)
        self.used += blob.size
        self.record("file_create", node)
        return node

    def replace_content(self, node: Node, blob: Blob, user_id: int, *,
                        last_modified_at: int | None = None, created_at: int | None = None) -> Blob | None:
        """A new version of ``node``; returns the previous blob (the caller releases it)."""
        old = node.blob
        now = self.clock()
        blob.refs += 1
        node.blob = blob
        node.version += 1
        node.revised_at = node.updated_at = now
        node.last_modified_at = last_modified_at if last_modified_at is not None else now
        if created_at is not None:
            node.created_at = created_at
        node.last_modified_by = user_id
        self.used += blob.size - (old.size if old else 0)
        self.record("file_update", node)
        return old

    def _attach(self, parent: Node, node: Node) -> None:
        self.nodes[node.id] = node
        parent.children[node.name] = node
        node.parent_id = parent.id
        parent.updated_at = self.clock()

    def rename(self, node: Node, name: str) -> str:
        """Rename in place; returns the old name."""
        old = node.name
        if name == old:
            return old
        parent = self.parent_of(node)
        assert parent is not None
        if name in parent.children:
            raise conflict("conflict_error", name)
        del parent.children[old]
        node.name = name
        parent.children[name] = node
        node.updated_at = parent.updated_at = self.clock()
        self.record("file_rename", node)
        return old

    def move(self, node: Node, destination: Node, name: str) -> None:
        parent = self.parent_of(node)
        assert parent is not None
        if destination is parent and name == node.name:
            return
        if self.is_within(destination, node):
            raise validation_error("A folder cannot be moved into itself or its subfolders")
        if name in destination.children:
            raise conflict("conflict_error", name)
        del parent.children[node.name]
        self.record("file_move_out", node, parent.id)
        node.name = name
        destination.children[name] = node
        node.parent_id = destination.id
        node.updated_at = parent.updated_at = destination.updated_at = self.clock()
        self.record("file_move", node)

    def copy(self, node: Node, destination: Node, name: str, user_id: int) -> Node:
        if node.is_dir and self.is_within(destination, node):
            raise validation_error("A folder cannot be copied into itself or its subfolders")
        if name in destination.children:
            raise conflict("conflict_error", name)
        copied = self._copy_into(node, destination, name, user_id)
        self.record("file_create", copied)
        return copied

    def _copy_into(self, node: Node, destination: Node, name: str, user_id: int) -> Node:
        now = self.clock()
        copied = Node(self._new_id(), self.id, destination.id, name, node.type, node.created_at, now,
                      node.last_modified_at, now, now, user_id, user_id, blob=node.blob,
                      mime_type=node.mime_type)
        if node.blob is not None:
            node.blob.refs += 1
            self.used += node.blob.size
        self._attach(destination, copied)
        for child in list(node.children.values()):
            self._copy_into(child, copied, child.name, user_id)
        return copied

    def tree_size(self, node: Node) -> int:
        return sum(n.size for n in self.subtree(node))

    def trash(self, node: Node) -> None:
        parent = self.parent_of(node)
        assert parent is not None
        now = self.clock()
        del parent.children[node.name]
        for member in self.subtree(node):
            member.trash = TRASHED if member is node else TRASH_INHERITED
            member.trashed_at = now
            self.used -= member.size
        parent.updated_at = now
        self.record("file_trash", node, parent.id)

    def restore(self, node: Node) -> None:
        """Undo :meth:`trash`: back into its folder, under its name (409 if that is taken)."""
        parent = self.live(node.parent_id) if node.parent_id is not None else None
        if parent is None:
            raise ApiError(404, "object_not_found", "The original folder no longer exists",
                           context={"model": "File"})
        if node.name in parent.children:
            raise conflict("conflict_error", node.name)
        for member in self.subtree(node):
            member.trash = None
            member.trashed_at = None
            self.used += member.size
        parent.children[node.name] = node
        parent.updated_at = self.clock()
        self.record("file_restore", node)

    def set_mtime(self, node: Node, last_modified_at: int) -> None:
        node.last_modified_at = last_modified_at
        node.updated_at = self.clock()
        self.record("file_update", node)

    def live_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.trash is None)
