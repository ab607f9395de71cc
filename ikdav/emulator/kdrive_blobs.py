"""File content as blobs on disk, written and read in blocks.

A 1 GiB upload or download must never sit in memory: bodies are streamed into a temporary file
while being hashed, then renamed into place; reads hand out an iterable over an open file.
Blobs are immutable; copies of a file share its blob (reference counted by the store).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import xxhash

from ikdav.emulator.kdrive_model import Blob

# Small enough that every server thread's allocator arena stays small, big enough for speed.
BLOCK = 256 << 10
PART_PREFIX = ".part-"


class IncompleteBody(Exception):
    """The body ended before (or went past) the announced length."""

    def __init__(self, received: int, expected: int) -> None:
        super().__init__(f"received {received} of {expected} bytes")
        self.received = received
        self.expected = expected


class BlobStore:
    """Blob files under one directory. Thread-safe: every blob has its own file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        existing = [int(p.name[1:]) for p in self.root.glob("b*") if p.name[1:].isdigit()]
        self._serial = itertools.count(max(existing, default=0) + 1)
        self.open_streams = 0  # content bodies being sent right now (tests watch it drop to 0)
        self.cut = threading.Event()  # set while the emulator is down: bodies in flight break off

    def write(self, chunks: Iterable[bytes], expected_size: int | None = None) -> Blob:
        """Stream ``chunks`` into a new blob. Raises :class:`IncompleteBody` on a size mismatch,
        leaving no file behind."""
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=PART_PREFIX)
        hasher = xxhash.xxh3_64()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if expected_size is not None and size > expected_size:
                        raise IncompleteBody(size, expected_size)
                    hasher.update(chunk)
                    out.write(chunk)
            if expected_size is not None and size != expected_size:
                raise IncompleteBody(size, expected_size)
            blob_id = self._new_id()
            final = self.root / blob_id
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return Blob(blob_id, final, size, hasher.hexdigest())

    def _new_id(self) -> str:
        """Serial names: ext4 creates files with ordered names several times faster than random."""
        with self._lock:
            return f"b{next(self._serial):012d}"

    def write_bytes(self, data: bytes) -> Blob:
        """A blob from bytes already in memory (sample data, small test files): written straight
        under its final name, which nobody knows before this returns."""
        blob_id = self._new_id()
        final = self.root / blob_id
        with final.open("xb") as out:
            out.write(data)
        return Blob(blob_id, final, len(data), xxhash.xxh3_64_hexdigest(data))

    def concat(self, parts: list[Blob]) -> Blob:
        """One blob holding ``parts`` one after the other (finishing an upload session)."""
        return self.write(self._iter_all(parts), sum(p.size for p in parts))

    def _iter_all(self, parts: list[Blob]) -> Iterator[bytes]:
        for part in parts:
            with part.path.open("rb") as handle:
                while block := handle.read(BLOCK):
                    yield block

    def read_bytes(self, blob: Blob) -> bytes:
        """The whole content; for tests and small files only."""
        return blob.path.read_bytes()

    def open_stream(self, blob: Blob, start: int = 0, length: int | None = None,
                    bytes_per_s: float | None = None) -> FileStream:
        """An iterable over ``length`` bytes from ``start``; the file is opened now, so the
        stream survives the blob being replaced (and unlinked) while it is sent."""
        handle = blob.path.open("rb")
        handle.seek(start)
        remaining = blob.size - start if length is None else length
        with self._lock:
            self.open_streams += 1
        return FileStream(handle, remaining, bytes_per_s, on_close=self._stream_closed, cut=self.cut)

    def _stream_closed(self) -> None:
        with self._lock:
            self.open_streams -= 1

    def discard(self, blob: Blob) -> None:
        blob.path.unlink(missing_ok=True)

    def count(self) -> int:
        """How many finished blob files exist (temporary parts excluded)."""
        return sum(1 for p in self.root.iterdir() if not p.name.startswith(PART_PREFIX))

    def count_parts(self) -> int:
        return sum(1 for p in self.root.iterdir() if p.name.startswith(PART_PREFIX))


class FileStream:
    """A WSGI body over an open file: yields blocks, optionally throttled, closes the file."""

    def __init__(self, handle: BinaryIO, remaining: int, bytes_per_s: float | None = None,
                 on_close: Callable[[], None] | None = None, cut: threading.Event | None = None) -> None:
        self.handle = handle
        self._cut = cut
        self.remaining = max(0, remaining)
        self.bytes_per_s = bytes_per_s if bytes_per_s and bytes_per_s > 0 else None
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        block = BLOCK
        if self.bytes_per_s is not None:
            block = max(1024, min(BLOCK, int(self.bytes_per_s / 10)))
        started = time.monotonic()
        sent = 0
        try:
            while self.remaining > 0:
                if self._cut is not None and self._cut.is_set():
                    raise ConnectionAbortedError("the emulator went down mid-transfer")
                data = self.handle.read(min(block, self.remaining))
                if not data:
                    return
                self.remaining -= len(data)
                sent += len(data)
                yield data
                if self.bytes_per_s is not None:
                    ahead = sent / self.bytes_per_s - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        finally:
            self.close()

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()
            if self._on_close is not None:
                self._on_close()
