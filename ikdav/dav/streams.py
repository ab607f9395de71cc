"""File-like adapters between WsgiDAV's GET/PUT handling and the client library's streams.

WsgiDAV reads a GET body with ``seek(start)`` then ``read(block)`` calls, and writes a PUT body
with ``writelines(blocks)``. :class:`RemoteReader` opens the upstream download lazily at the
sought offset; :class:`UploadWriter` hands the request body straight to the upload (or spools it
to a temporary file first when its length is unknown). Neither ever holds a whole file.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Protocol

from ikdav.dav.errors import DavFailure, upstream_errors


class ClosableBlocks(Protocol):
    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...


COALESCE_BYTES = 1 << 20  # hand blocks of about 1 MiB to the server: fewer, larger socket writes


class RemoteReader:
    """A read-only, forward-only file over remote content; the download starts at first read.

    The first read opens the download in the calling thread (so "not found" and friends become
    the response status); after that a helper thread keeps up to ``prefetch`` blocks ready, so
    receiving from Infomaniak and sending to the client overlap instead of taking turns.
    """

    def __init__(self, open_at: Callable[[int], ClosableBlocks], prefetch: int = 2) -> None:
        self._open_at = open_at
        self._offset = 0
        self._stream: ClosableBlocks | None = None
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=max(1, prefetch))
        self._pump: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending = b""
        self._done = False

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._stream is not None or whence != 0:
            raise OSError("RemoteReader can only seek to an absolute offset before reading")
        self._offset = offset
        return offset

    def _start(self) -> None:
        with upstream_errors():
            self._stream = self._open_at(self._offset)
        self._pump = threading.Thread(target=self._fill, name="ikdav-download", daemon=True)
        self._pump.start()

    def _fill(self) -> None:
        """Runs in the helper thread: move blocks from the download into the queue."""
        stream = self._stream
        assert stream is not None
        item: bytes | BaseException | None
        try:
            gathered: list[bytes] = []
            size = 0
            for block in stream:
                gathered.append(block)
                size += len(block)
                if size >= COALESCE_BYTES:
                    if not self._offer(b"".join(gathered)):
                        return
                    gathered, size = [], 0
            if gathered and not self._offer(b"".join(gathered)):
                return
            item = None
        except BaseException as exc:  # handed to the reading thread, which raises it
            item = exc
        finally:
            if self._stopping.is_set():
                stream.close()  # the reader went away: never leave a download open upstream
        self._offer(item)

    def _offer(self, item: bytes | BaseException | None) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        if self._stream is None:
            self._start()
        if not self._pending:
            item = self._queue.get()
            if item is None:
                self._done = True
                return b""
            if isinstance(item, BaseException):
                self._done = True
                with upstream_errors():
                    raise item
            self._pending = item
        if size < 0 or len(self._pending) <= size:
            block, self._pending = self._pending, b""
        else:
            block, self._pending = self._pending[:size], self._pending[size:]
        return block

    def close(self) -> None:
        """Stop the helper thread and close the upstream connection (e.g. the client went away)."""
        self._done = True
        self._stopping.set()
        if self._stream is not None:
            self._stream.close()
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None
        self._stream = None


class ShortBody(DavFailure):
    def __init__(self, received: int, expected: int) -> None:
        super().__init__(400, f"The request body ended after {received} of the announced {expected} bytes; "
                              "nothing was stored.")


class BodyReader:
    """A sequential file over the PUT body blocks that insists on exactly ``size`` bytes."""

    def __init__(self, blocks: Iterable[bytes], size: int) -> None:
        self._blocks = iter(blocks)
        self._size = size
        self._received = 0
        self._pending = b""
        self._offset = 0  # how much of ``_pending`` was handed out already (no copying of the rest)

    def read(self, size: int = -1) -> bytes:
        while self._offset >= len(self._pending):
            try:
                self._pending, self._offset = next(self._blocks), 0
            except StopIteration:
                if self._received < self._size:
                    raise ShortBody(self._received, self._size) from None
                return b""
            except OSError as exc:  # the client went away mid-body
                raise ShortBody(self._received, self._size) from exc
        if self._offset == 0 and (size < 0 or len(self._pending) <= size):
            block = self._pending
        else:
            end = len(self._pending) if size < 0 else min(len(self._pending), self._offset + size)
            block = self._pending[self._offset:end]
        self._offset += len(block)
        self._received += len(block)
        if self._received > self._size:
            raise DavFailure(400, "The request body is longer than its Content-Length.")
        return block

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read to the end of the body (lets the server keep the connection alive)."""
        for block in self._blocks:
            if block:
                raise DavFailure(400, "The request body is longer than its Content-Length.")


Upload = Callable[[IO[bytes] | Any, int], Any]


class UploadWriter:
    """What ``begin_write`` returns: ``writelines(blocks)`` performs the whole upload.

    ``upload(stream, size)`` MUST store exactly ``size`` bytes read from ``stream`` or raise, leaving
    nothing behind. With a known ``size`` the body streams straight through; without one (chunked
    transfer, as Finder sends) it is spooled to a temporary file first, because kDrive needs the
    length before the first byte (D22).
    """

    def __init__(self, upload: Upload, size: int | None, spool_dir: str | None = None) -> None:
        self._upload = upload
        self._size = size
        self._spool_dir = spool_dir or None
        self.result: Any = None

    def writelines(self, blocks: Iterable[bytes]) -> None:
        if self._size is not None:
            body = BodyReader(blocks, self._size)
            with upstream_errors():
                self.result = self._upload(body, self._size)
            body.drain()
            return
        with tempfile.TemporaryFile(dir=self._spool_dir, prefix="ikdav-put-") as spool:
            size = 0
            for block in blocks:
                spool.write(block)
                size += len(block)
            spool.flush()
            spool.seek(0)
            with upstream_errors():
                self.result = self._upload(spool, size)

    def close(self) -> None:
        """Nothing to do: ``writelines`` has finished (or raised) by the time WsgiDAV calls this."""
