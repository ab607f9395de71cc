"""Per-account metadata cache: drives, folder listings and name lookups, with short TTLs.

A PROPFIND walks paths segment by segment and lists folders; without a cache every request would
cost several API calls. Entries expire after a few seconds (config ``cache.*``), and the share's
own writes update them at once (:meth:`KDriveCache.upsert`, :meth:`KDriveCache.remove`), so a
PROPFIND right after a PUT, MOVE or DELETE shows the change. One lock guards everything:
cachetools caches are not thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import TTLCache

from ikdav.infomaniak import Drive, File, TopFolders

T = TypeVar("T")
MISSING: Any = object()  # a cached "no such child"


@dataclass
class Listing:
    """All present children of one folder, by NFC name."""

    children: dict[str, File]


@dataclass(frozen=True)
class CacheSettings:
    listing_ttl: float = 30.0
    item_ttl: float = 30.0
    quota_ttl: float = 60.0
    mail_ttl: float = 60.0
    max_entries: int = 20_000


class KDriveCache:
    """What the share knows about one account's kDrive, for a few seconds at a time."""

    def __init__(self, settings: CacheSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        size = max(16, settings.max_entries)
        self._listings: TTLCache[tuple[int, int], Listing] = TTLCache(size, settings.listing_ttl or 0.001)
        self._items: TTLCache[tuple[int, int, str], Any] = TTLCache(size, settings.item_ttl or 0.001)
        self._drives: TTLCache[str, list[Drive]] = TTLCache(4, settings.quota_ttl or 0.001)
        self._top: TTLCache[int, TopFolders] = TTLCache(256, settings.listing_ttl or 0.001)

    # -- generic --------------------------------------------------------------------------------
    def _get_or_load(self, cache: TTLCache[Any, Any], key: Any, load: Callable[[], T]) -> T:
        with self.lock:
            value = cache.get(key, MISSING)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        value = load()  # outside the lock: an API call may take a while
        with self.lock:
            cache[key] = value
        return value

    def clear(self) -> None:
        with self.lock:
            for cache in (self._listings, self._items, self._drives, self._top):
                cache.clear()

    # -- drives -----------------------------------------------------------------------------------
    def drives(self, load: Callable[[], list[Drive]]) -> list[Drive]:
        return self._get_or_load(self._drives, "drives", load)

    def top_folders(self, drive_id: int, load: Callable[[], TopFolders]) -> TopFolders:
        return self._get_or_load(self._top, drive_id, load)

    # -- listings and lookups -----------------------------------------------------------------------
    def listing(self, drive_id: int, dir_id: int, load: Callable[[], list[File]]) -> Listing:
        def build() -> Listing:
            return Listing({child.name: child for child in load()})

        return self._get_or_load(self._listings, (drive_id, dir_id), build)

    def child(self, drive_id: int, dir_id: int, name: str, lookup: Callable[[], File | None]) -> File | None:
        """The child ``name`` of ``dir_id``: from a cached listing, a cached lookup, or ``lookup()``."""
        with self.lock:
            listing = self._listings.get((drive_id, dir_id))
            if listing is not None:
                return listing.children.get(name)
            cached = self._items.get((drive_id, dir_id, name), MISSING)
        if cached is not MISSING:
            return None if cached is None else cached  # type: ignore[no-any-return]
        found = lookup()
        with self.lock:
            self._items[(drive_id, dir_id, name)] = found
        return found

    # -- our own writes ---------------------------------------------------------------------------------
    def upsert(self, drive_id: int, dir_id: int, item: File) -> None:
        """``item`` now lives in ``dir_id`` under ``item.name``."""
        with self.lock:
            listing = self._listings.get((drive_id, dir_id))
            if listing is not None:
                for name, existing in list(listing.children.items()):
                    if existing.id == item.id and name != item.name:
                        del listing.children[name]
                listing.children[item.name] = item
            self._items[(drive_id, dir_id, item.name)] = item

    def remove(self, drive_id: int, dir_id: int, name: str) -> None:
        """``name`` no longer exists in ``dir_id``."""
        with self.lock:
            listing = self._listings.get((drive_id, dir_id))
            if listing is not None:
                listing.children.pop(name, None)
            self._items[(drive_id, dir_id, name)] = None

    def forget_dir(self, drive_id: int, dir_id: int) -> None:
        """Drop what is known about ``dir_id``'s children (after a change we cannot describe)."""
        with self.lock:
            self._listings.pop((drive_id, dir_id), None)
            for key in [k for k in self._items if k[0] == drive_id and k[1] == dir_id]:
                self._items.pop(key, None)
