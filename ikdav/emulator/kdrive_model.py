"""kDrive's data model as the emulator keeps it: drives, nodes (files and folders), blobs.

These are plain records; the rules that change them live in ``kdrive_tree`` (tree operations)
and ``kdrive_store`` (access, knobs, locking). Names follow the contract (infomaniak-api.md §4.2,
§4.3, D19): case-sensitive, stored as NFC, at most 255 UTF-8 bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ikdav.emulator.web import ApiError

ROOT_ID = 1
MAX_NAME_BYTES = 255
GIB = 1 << 30

DIR = "dir"
FILE = "file"

# Trash states a node can be in (D20); both make it absent from listings and lookups.
TRASHED = "trashed"
TRASH_INHERITED = "trash_inherited"


@dataclass(frozen=True)
class SpecialFolder:
    """One of root ``1``'s special folders, found by clients through ``visibility`` (§4.3)."""

    name: str
    visibility: str
    child_visibility: str
    deep_visibility: str


PRIVATE = SpecialFolder("Private", "is_private_space", "is_in_private_space", "is_in_private_space")
COMMON = SpecialFolder("Common documents", "is_team_space", "is_team_space_folder",
                       "is_in_team_space_folder")
SHARED = SpecialFolder("Shared", "is_shared_space", "is_in_shared_space", "is_in_shared_space")
SPECIAL_FOLDERS: dict[str, SpecialFolder] = {s.name: s for s in (PRIVATE, COMMON, SHARED)}


@dataclass(eq=False, slots=True)
class Blob:
    """Immutable content stored in one file; shared by copies, unlinked when no node refers to it."""

    id: str
    path: Path
    size: int
    digest: str  # XXH3-64, 16 lowercase hex digits
    refs: int = 0

    @property
    def hash(self) -> str:
        return f"xxh3:{self.digest}"


@dataclass(eq=False, slots=True)
class Node:
    """A file or folder. ``children`` holds only live children, by (NFC) name."""

    id: int
    drive_id: int
    parent_id: int | None
    name: str
    type: str
    created_at: int | None
    added_at: int
    last_modified_at: int
    revised_at: int
    updated_at: int
    created_by: int
    last_modified_by: int
    blob: Blob | None = None
    mime_type: str | None = None
    version: int = 1
    special: SpecialFolder | None = None
    is_root: bool = False
    trash: str | None = None
    trashed_at: int | None = None
    uploads: int = 0  # open upload sessions that target this file
    children: dict[str, Node] = field(default_factory=dict, repr=False)

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def size(self) -> int:
        return self.blob.size if self.blob is not None else 0

    @property
    def is_protected(self) -> bool:
        """Root and special folders: nobody renames, moves or deletes them (D18)."""
        return self.is_root or self.special is not None


def validation_error(description: str, status: int = 422) -> ApiError:
    """422 ``validation_failed`` with the ``errors`` list the contract shows (§3.1)."""
    return ApiError(status, "validation_failed", description,
                    errors=[{"code": "validation_failed", "description": description}])


def normalize_name(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def checked_name(raw: object, *, slash_allowed: bool = False) -> str:
    """A valid node name in NFC, or 422 (D19). Uploads turn ``/`` into ``:`` before calling."""
    if not isinstance(raw, str) or not raw.strip():
        raise validation_error("name is required")
    name = normalize_name(raw)
    if not slash_allowed and "/" in name:
        raise validation_error("name must not contain '/'")
    if name in (".", ".."):
        raise validation_error("name must not be '.' or '..'")
    if "\x00" in name:
        raise validation_error("name must not contain NUL")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise validation_error(f"name must be at most {MAX_NAME_BYTES} bytes")
    return name


def numbered_name(name: str, number: int) -> str:
    """``report.pdf`` → ``report (2).pdf``; names without an extension get the suffix at the end."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({number})"
    return f"{stem} ({number}).{ext}"


def split_path(path: str) -> list[str]:
    """Path segments in NFC; ``""``, ``"/"`` → ``[]``. Rejects ``.`` and ``..`` segments."""
    parts = [normalize_name(p) for p in path.split("/") if p]
    for part in parts:
        if part in (".", ".."):
            raise validation_error("path must not contain '.' or '..' segments")
    return parts
