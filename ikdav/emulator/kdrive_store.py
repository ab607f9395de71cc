"""The emulator's kDrive: drives, nodes, blobs, cursors, upload sessions, and the rules of access.

``state.kdrive`` is a :class:`KDriveStore`. Besides serving the HTTP routes it is the Python API
that tests (and the bridge's tests) use to look at and shape the data directly:

    store = emulator.state.kdrive
    node = store.find(140946, "/Private/Documents/notes.txt")       # Node | None (live nodes only)
    node = store.get(140946, 42)                                     # by id (live nodes only)
    data = store.read_bytes(140946, "/Private/Documents/notes.txt")  # whole content (small files)
    for block in store.iter_bytes(140946, "/Private/big.bin"): ...   # streamed content
    store.put_file(140946, "/Private/a.txt", b"...")                 # create (folders too) or new version
    store.make_dirs(140946, "/Private/x/y")                          # like mkdir -p
    store.add_many_files(140946, "/Private/bench", 10_000, 512)      # fast bulk creation
    store.count(140946, "/Private/bench")                            # live children (recursive=...)
    store.list_names(140946, "/Private")                             # live child names, sorted
    store.trash(140946, "/Private/a.txt")                            # as the DELETE route does
    store.upload_sessions(140946)                                    # open upload sessions
    store.blob_count()                                               # content files on disk
    store.time_travel(601)                                           # move the emulator's clock on
    store.file_json(140946, node, {"path", "hash"})                  # the File object of §4.2
    store.add_drive(160001, "Team", {112233: "user"}, specials=("Private",))  # another drive

Every public method takes the store's lock; the lock is never held while a body streams.
``Node`` fields: ``id``, ``parent_id``, ``name``, ``type`` ("dir"/"file"), ``size``,
``mime_type``, ``last_modified_at``, ``created_at``, ``version``, ``blob.hash`` ("xxh3:..."),
``trash`` (None, "trashed", "trash_inherited").
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ikdav.emulator.faults import Knobs
from ikdav.emulator.kdrive_blobs import BlobStore
from ikdav.emulator.kdrive_cursors import CursorStore
from ikdav.emulator.kdrive_json import drive_json, file_json
from ikdav.emulator.kdrive_model import (
    PRIVATE,
    Blob,
    Node,
    normalize_name,
    split_path,
    validation_error,
)
from ikdav.emulator.kdrive_sessions import SessionRegistry, UploadSession
from ikdav.emulator.kdrive_tree import Drive
from ikdav.emulator.web import ApiError

CANCEL_WINDOW = 600  # seconds a rename, move or delete can be undone


def drive_not_found() -> ApiError:
    return ApiError(404, "object_not_found", "Drive not found", context={"model": "Drive"})


def file_not_found() -> ApiError:
    return ApiError(404, "object_not_found", "File not found", context={"model": "File"})


def forbidden(description: str) -> ApiError:
    return ApiError(403, "forbidden_error", description)


@dataclass
class Cancellable:
    drive_id: int
    user_id: int
    undo: Callable[[], None]
    valid_until: int


class KDriveStore:
    """All kDrive data of one emulator. See the module docstring for the Python API."""

    def __init__(self, knobs: Knobs, blob_root: Path) -> None:
        self.knobs = knobs
        self.lock = threading.RLock()
        self.drives: dict[int, Drive] = {}
        self.blobs = BlobStore(blob_root)
        self.skew = 0.0
        self.cursors = CursorStore(knobs, self.clock)
        self.sessions = SessionRegistry(self.clock, self._session_closed)
        self.cancellables: dict[str, Cancellable] = {}
        self.url_secret = secrets.token_bytes(32)
        self._locks_seen: dict[tuple[int, int], int] = {}

    # -- time -----------------------------------------------------------------------------------
    def clock(self) -> float:
        return time.time() + self.skew

    def now(self) -> int:
        return int(self.clock())

    def time_travel(self, seconds: float) -> None:
        """Move the emulator's clock forward: signed URLs, cursors and sessions age with it."""
        self.skew += seconds

    # -- drives ---------------------------------------------------------------------------------
    def add_drive(self, drive_id: int, name: str, users: dict[int, str], *,
                  specials: Iterable[str] = ("Private", "Common documents", "Shared"),
                  size: int = 1 << 40, account_id: int = 5001, account_name: str = "",
                  color: str = "#0098FF", created_at: int = 1700000000) -> Drive:
        owner = next(iter(users))
        drive = Drive(drive_id, name, account_id, account_name or name, size, dict(users), self.now,
                      color=color, created_at=created_at, updated_at=created_at)
        drive.create_root(list(specials), owner)
        with self.lock:
            self.drives[drive_id] = drive
        return drive

    def _drive_kept(self, drive_id: int) -> bool:
        kept = self.knobs.get("kdrive_drives")
        if not isinstance(kept, list | tuple):
            return True
        return drive_id in {int(d) for d in kept}

    def drives_of(self, user_id: int) -> list[Drive]:
        with self.lock:
            return [d for d in sorted(self.drives.values(), key=lambda d: d.id)
                    if user_id in d.users and self._drive_kept(d.id)]

    def drive_for(self, user_id: int, drive_id: int) -> Drive:
        """The drive if this user may reach it, else 404 ``Drive`` (D28)."""
        with self.lock:
            drive = self.drives.get(drive_id)
            if drive is None or user_id not in drive.users or not self._drive_kept(drive_id):
                raise drive_not_found()
            return drive

    def quota_of(self, drive: Drive) -> tuple[int, int]:
        """``(size, used_size)``; the ``quota`` knob overrides either (optionally per drive)."""
        size, used = drive.size, drive.used
        knob = self.knobs.get("quota")
        if isinstance(knob, dict) and knob.get("drive_id") in (None, drive.id):
            size = int(knob.get("size", size))
            used = int(knob.get("used_size", used))
        return size, used

    def ensure_quota(self, drive: Drive, extra: int) -> None:
        """400 ``quota_exceeded_error`` if ``extra`` more bytes do not fit (D26)."""
        size, used = self.quota_of(drive)
        if extra > 0 and used + extra > size:
            raise ApiError(400, "quota_exceeded_error",
                           f"Not enough space: {size - used} bytes free, {extra} needed")

    def drive_json(self, drive: Drive, user_id: int) -> dict[str, Any]:
        size, used = self.quota_of(drive)
        return drive_json(drive, user_id, size, used)

    # -- nodes ----------------------------------------------------------------------------------
    def _special_kept(self, node: Node) -> bool:
        kept = self.knobs.get("special_folders")
        if kept is None or node.special is None:
            return True
        if isinstance(kept, str):
            kept = [kept]
        return node.special is PRIVATE or node.special.name in kept  # Private always exists

    def visible(self, drive: Drive, node: Node) -> bool:
        """Live, and not inside a special folder the ``special_folders`` knob dropped."""
        if node.trash is not None:
            return False
        if node.is_root:
            return True
        if node.special is not None:
            return self._special_kept(node)
        for ancestor in drive.ancestors(node):
            if ancestor.special is not None:
                return self._special_kept(ancestor)
        return True

    def file_for(self, drive: Drive, file_id: int) -> Node:
        self.sessions.expire()  # an expired session no longer marks its target "uploading"
        node = drive.live(file_id)
        if node is None or not self.visible(drive, node):
            raise file_not_found()
        return node

    def dir_for(self, drive: Drive, dir_id: int) -> Node:
        node = self.file_for(drive, dir_id)
        if not node.is_dir:
            raise validation_error("The item is not a folder")
        return node

    def children_of(self, drive: Drive, node: Node) -> list[Node]:
        children = list(node.children.values())
        if node.is_root:
            children = [c for c in children if self._special_kept(c)]
        return children

    def lock_of(self, drive: Drive, node: Node) -> dict[str, Any] | None:
        """The ``lock`` object if the ``lock_file`` knob names this file (D27)."""
        knob = self.knobs.get("lock_file")
        if not isinstance(knob, dict) or knob.get("file_id") is None:
            return None
        if int(knob["file_id"]) != node.id or knob.get("drive_id") not in (None, drive.id):
            return None
        key = (drive.id, node.id)
        locked_at = self._locks_seen.setdefault(key, self.now())
        return {"locked_at": locked_at, "unlocked_at": None,
                "description": str(knob.get("description", "webdav")),
                "token": f"opaquelocktoken:emulator-{drive.id}-{node.id}"}

    def ensure_not_locked(self, drive: Drive, node: Node) -> None:
        if self.lock_of(drive, node) is not None:
            raise ApiError(423, "lock_error", "The file is locked")

    def ensure_changeable(self, drive: Drive, node: Node) -> None:
        """Refusals shared by rename, move, delete, set-mtime: protected, locked, uploading."""
        if node.is_protected:
            raise forbidden("The root and the special folders cannot be changed")
        self.ensure_not_locked(drive, node)
        if node.uploads:
            raise ApiError(409, "still_uploading_error", "An upload to this file is in progress")

    def ensure_container(self, drive: Drive, node: Node) -> None:
        """A folder new items may go into: not the root (D18), and a folder."""
        if node.is_root:
            raise forbidden("Nothing can be created in the drive's root")
        if not node.is_dir:
            raise validation_error("The destination is not a folder")

    def locked_within(self, drive: Drive, node: Node) -> bool:
        knob = self.knobs.get("lock_file")
        if not isinstance(knob, dict) or knob.get("file_id") is None:
            return False
        if knob.get("drive_id") not in (None, drive.id):
            return False
        locked = drive.live(int(knob["file_id"]))
        return locked is not None and drive.is_within(locked, node)

    def file_json(self, drive: Drive | int, node: Node, fields: set[str] | frozenset[str]) -> dict[str, Any]:
        with self.lock:
            if isinstance(drive, int):
                drive = self.drives[drive]
            return file_json(drive, node, fields, self.lock_of(drive, node))

    def release(self, blob: Blob | None) -> None:
        """Drop one node's reference; the file goes when nothing refers to it."""
        if blob is None:
            return
        blob.refs -= 1
        if blob.refs <= 0:
            self.blobs.discard(blob)

    # -- cancellable replies (D17) ----------------------------------------------------------------
    def cancellable(self, drive: Drive, user_id: int, undo: Callable[[], None]) -> dict[str, Any]:
        now = self.now()
        for cancel_id in [k for k, c in self.cancellables.items() if c.valid_until < now]:
            del self.cancellables[cancel_id]
        cancel_id = secrets.token_hex(16)
        valid_until = now + CANCEL_WINDOW
        self.cancellables[cancel_id] = Cancellable(drive.id, user_id, undo, valid_until)
        return {"cancel_id": cancel_id, "valid_until": valid_until, "cancel_valid_until": valid_until}

    def cancel(self, drive: Drive, user_id: int, cancel_id: str) -> None:
        with self.lock:
            entry = self.cancellables.get(cancel_id)
            if entry is None or entry.drive_id != drive.id or entry.user_id != user_id \
                    or entry.valid_until < self.now():
                raise validation_error("The cancel_id is unknown or no longer valid")
            entry.undo()
            del self.cancellables[cancel_id]

    # -- upload sessions ------------------------------------------------------------------------
    def _session_closed(self, session: UploadSession) -> None:
        for chunk in session.chunks.values():
            self.blobs.discard(chunk.blob)
        session.chunks.clear()
        drive = self.drives.get(session.drive_id)
        if session.target_id is not None and drive is not None:
            target = drive.nodes.get(session.target_id)
            if target is not None and target.uploads > 0:
                target.uploads -= 1

    def upload_sessions(self, drive_id: int | None = None) -> list[UploadSession]:
        """Open (unfinished, uncancelled, unexpired) upload sessions."""
        with self.lock:
            return self.sessions.open_sessions(drive_id)

    # -- Python API for tests and benches ---------------------------------------------------------
    def _drive(self, drive_id: int) -> Drive:
        drive = self.drives.get(drive_id)
        if drive is None:
            raise KeyError(f"no drive {drive_id}")
        return drive

    def _owner(self, drive: Drive) -> int:
        admins = [u for u, role in drive.users.items() if role == "admin"]
        return admins[0] if admins else next(iter(drive.users))

    def find(self, drive_id: int, path: str) -> Node | None:
        """The live node at ``path`` (``/`` is the root; special folders by their English name)."""
        with self.lock:
            return self._drive(drive_id).resolve(split_path(path))

    def get(self, drive_id: int, file_id: int) -> Node | None:
        with self.lock:
            return self._drive(drive_id).live(file_id)

    def path_of(self, drive_id: int, node: Node) -> str:
        with self.lock:
            return self._drive(drive_id).path_of(node)

    def _file(self, drive_id: int, path: str) -> Node:
        node = self.find(drive_id, path)
        if node is None or node.blob is None:
            raise FileNotFoundError(f"{drive_id}:{path}")
        return node

    def read_bytes(self, drive_id: int, path: str) -> bytes:
        blob = self._file(drive_id, path).blob
        assert blob is not None
        return self.blobs.read_bytes(blob)

    def iter_bytes(self, drive_id: int, path: str) -> Iterator[bytes]:
        blob = self._file(drive_id, path).blob
        assert blob is not None
        return iter(self.blobs.open_stream(blob))

    def make_dirs(self, drive_id: int, path: str, *, user_id: int | None = None) -> Node:
        """Create every missing folder of ``path`` (below a special folder) and return the last."""
        with self.lock:
            drive = self._drive(drive_id)
            owner = user_id or self._owner(drive)
            node = drive.root
            for name in split_path(path):
                child = node.children.get(name)
                if child is None:
                    if node.is_root:
                        raise ValueError(f"{name!r} is not a special folder of drive {drive_id}")
                    child = drive.add_dir(node, name, owner)
                elif not child.is_dir:
                    raise NotADirectoryError(f"{drive_id}:{path}")
                node = child
            return node

    def put_file(self, drive_id: int, path: str, data: bytes | Iterable[bytes], *,
                 last_modified_at: int | None = None, created_at: int | None = None,
                 user_id: int | None = None) -> Node:
        """Create the file (and its folders), or give an existing file a new version."""
        parent_path, _, leaf = path.rstrip("/").rpartition("/")
        name = normalize_name(leaf)
        blob = self.blobs.write_bytes(data) if isinstance(data, bytes) else self.blobs.write(data)
        try:
            with self.lock:
                drive = self._drive(drive_id)
                parent = self.make_dirs(drive_id, parent_path, user_id=user_id)
                if parent.is_root:
                    raise ValueError(f"files cannot live in drive {drive_id}'s root")
                owner = user_id or self._owner(drive)
                existing = parent.children.get(name)
                if existing is not None and existing.is_dir:
                    raise IsADirectoryError(f"{drive_id}:{path}")
                if existing is not None:
                    old = drive.replace_content(existing, blob, owner, last_modified_at=last_modified_at,
                                                created_at=created_at)
                    self.release(old)
                    return existing
                return drive.add_file(parent, name, blob, owner, last_modified_at=last_modified_at,
                                      created_at=created_at)
        except BaseException:
            if blob.refs == 0:
                self.blobs.discard(blob)
            raise

    def add_many_files(self, drive_id: int, dir_path: str, n: int, size: int, *,
                       name_format: str = "file-{:05d}.bin", seed: int = 0,
                       last_modified_at: int | None = None) -> Node:
        """``n`` files of ``size`` deterministic bytes in ``dir_path`` (created if missing)."""
        rng = random.Random(f"{drive_id}:{dir_path}:{seed}")
        blobs = [self.blobs.write_bytes(rng.randbytes(size)) for _ in range(n)]
        with self.lock:
            drive = self._drive(drive_id)
            folder = self.make_dirs(drive_id, dir_path)
            owner = self._owner(drive)
            for index, blob in enumerate(blobs):
                drive.add_file(folder, normalize_name(name_format.format(index)), blob, owner,
                               last_modified_at=last_modified_at)
            return folder

    def list_names(self, drive_id: int, path: str) -> list[str]:
        with self.lock:
            node = self.find(drive_id, path)
            if node is None:
                raise FileNotFoundError(f"{drive_id}:{path}")
            return sorted(node.children)

    def count(self, drive_id: int, path: str = "/", *, recursive: bool = False) -> int:
        """Live items directly in (or, ``recursive``, anywhere below) the folder at ``path``."""
        with self.lock:
            node = self.find(drive_id, path)
            if node is None:
                raise FileNotFoundError(f"{drive_id}:{path}")
            if not recursive:
                return len(node.children)
            return sum(1 for _ in self._drive(drive_id).subtree(node)) - 1

    def trash(self, drive_id: int, path: str) -> None:
        with self.lock:
            node = self.find(drive_id, path)
            if node is None:
                raise FileNotFoundError(f"{drive_id}:{path}")
            self._drive(drive_id).trash(node)

    def blob_count(self) -> int:
        """Finished content files on disk (temporary parts excluded)."""
        return self.blobs.count()
