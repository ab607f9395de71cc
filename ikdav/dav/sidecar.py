"""Finder's side files (``._name``, ``.DS_Store``) kept beside the share, never sent to kDrive.

Finder writes an AppleDouble ``._name`` next to every file it copies and reads it back; a copy
fails when the server refuses it. These files mean nothing to kDrive users, so the share keeps
them for a while in memory (bounded, per account) and never lists or uploads them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from cachetools import TTLCache

MAX_SIDECAR_BYTES = 1 << 20  # larger side files are accepted and dropped
SIDECAR_TTL = 3600.0
MAX_SIDECARS = 2000


@dataclass(frozen=True)
class Sidecar:
    data: bytes
    modified: float

    @property
    def size(self) -> int:
        return len(self.data)


class SidecarStore:
    """Path → bytes for one account's Finder side files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: TTLCache[str, Sidecar] = TTLCache(MAX_SIDECARS, SIDECAR_TTL)

    def get(self, path: str) -> Sidecar | None:
        with self._lock:
            return self._items.get(path)

    def put(self, path: str, data: bytes) -> None:
        if len(data) > MAX_SIDECAR_BYTES:
            self.remove(path)
            return
        with self._lock:
            self._items[path] = Sidecar(data, time.time())

    def remove(self, path: str) -> bool:
        with self._lock:
            return self._items.pop(path, None) is not None

    def move(self, source: str, destination: str) -> None:
        with self._lock:
            item = self._items.pop(source, None)
            if item is not None:
                self._items[destination] = item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
