"""Streaming uploads to kDrive: direct (§4.6) up to a size, upload sessions (§4.7) above it.

Memory stays flat whatever the file size:

- a source with a regular-file descriptor (a spooled PUT body, a local file) is read with
  ``os.pread``, so parallel chunk workers each read their own range without sharing a position;
- any other source is read chunk by chunk into temporary files (at most ``parallel_chunks`` at
  once), and each chunk is sent from its file;
- bodies are passed to httpx as generators of 1 MiB blocks, with ``Content-Length`` set.

A failed upload leaves nothing behind: the session is cancelled whatever went wrong. A session
that the server forgot ("session gone", D23) is started again, at most twice, when the source
can be read again from the start.
"""

from __future__ import annotations

import io
import logging
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Protocol

import xxhash

from ikdav.infomaniak.errors import (
    InfomaniakError,
    Invalid,
    NoAccess,
    RateLimited,
    UnexpectedResponse,
    UploadSessionGone,
    UpstreamUnavailable,
)
from ikdav.infomaniak.http import Body, MiB, Transport, join_url
from ikdav.infomaniak.models import File, UploadSession

log = logging.getLogger("ikdav.infomaniak.upload")

BLOCK = MiB
MAX_CHUNKS = 10_000
SESSION_LIFETIME = 12 * 3600.0  # an upload session expires by itself after this long (§4.7)
MAX_SESSION_RESTARTS = 2


def xxh3_tag(hex_digest: str) -> str:
    return f"xxh3:{hex_digest}"


def plan_chunk_size(size: int, minimum: int) -> int:
    """``max(minimum, ceil(size / 10000))`` rounded up to a whole MiB (§4.7)."""
    wanted = max(minimum, math.ceil(size / MAX_CHUNKS), 1)
    return math.ceil(wanted / MiB) * MiB


# -- where the bytes come from -----------------------------------------------------------------


class Source(Protocol):
    """Upload bytes of known ``size``.

    ``replayable`` sources MUST be able to produce their bytes again (for retries and session
    restarts); ``ranged`` sources MUST serve any range from any thread (parallel chunks).
    """

    size: int
    replayable: bool
    ranged: bool

    def blocks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]: ...

    def rewind(self) -> None: ...


class PreadSource:
    """A regular file read with ``os.pread``: ranged, replayable, no shared file position."""

    replayable = True
    ranged = True

    def __init__(self, fd: int, base: int, size: int) -> None:
        self.fd, self.base, self.size = fd, base, size

    def blocks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        remaining = self.size - start if length is None else length
        position = self.base + start
        while remaining > 0:
            block = os.pread(self.fd, min(BLOCK, remaining), position)
            if not block:
                raise ValueError(f"the source file ended {remaining} bytes early")
            position += len(block)
            remaining -= len(block)
            yield block

    def rewind(self) -> None:
        """Nothing to do: every read names its position."""


class SeekSource:
    """A seekable stream without a usable file descriptor (e.g. ``BytesIO``): replayable, sequential."""

    replayable = True
    ranged = False

    def __init__(self, stream: IO[bytes], base: int, size: int) -> None:
        self.stream, self.base, self.size = stream, base, size
        self._lock = threading.Lock()

    def blocks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        remaining = self.size - start if length is None else length
        position = self.base + start
        while remaining > 0:
            with self._lock:
                self.stream.seek(position)
                block = self.stream.read(min(BLOCK, remaining))
            if not block:
                raise ValueError(f"the source stream ended {remaining} bytes early")
            position += len(block)
            remaining -= len(block)
            yield block

    def rewind(self) -> None:
        self.stream.seek(self.base)


class StreamSource:
    """A one-time stream (a WSGI input): read once, in order; nothing can be repeated."""

    replayable = False
    ranged = False

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.size = stream, size
        self._consumed = 0

    def blocks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        if start != self._consumed:
            raise ValueError("a one-time stream can only be read in order")
        remaining = self.size - start if length is None else length
        while remaining > 0:
            block = self.stream.read(min(BLOCK, remaining))
            if not block:
                raise ValueError(f"the upload body ended {remaining} bytes early")
            self._consumed += len(block)
            remaining -= len(block)
            yield block

    def rewind(self) -> None:
        if self._consumed:
            raise ValueError("a one-time stream cannot be read again")


def open_source(stream: IO[bytes] | bytes, size: int) -> Source:
    """The best :class:`Source` for ``stream``: pread for regular files, seek, else one-time."""
    if isinstance(stream, bytes | bytearray | memoryview):
        data = bytes(stream)
        if len(data) != size:
            raise ValueError(f"size is {size} but the data holds {len(data)} bytes")
        return SeekSource(io.BytesIO(data), 0, size)
    position: int | None = None
    try:
        if stream.seekable():
            position = stream.tell()
    except (AttributeError, OSError, ValueError):
        position = None
    if position is not None:
        try:
            fd = stream.fileno()
            if stat.S_ISREG(os.fstat(fd).st_mode):
                flush = getattr(stream, "flush", None)
                if flush is not None:
                    flush()  # a writable spool may still hold bytes in its buffer
                return PreadSource(fd, position, size)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            pass
        return SeekSource(stream, position, size)
    return StreamSource(stream, size)


def hash_blocks(blocks: Iterator[bytes]) -> str:
    digest = xxhash.xxh3_64()
    for block in blocks:
        digest.update(block)
    return digest.hexdigest()


# -- what the upload creates or replaces -------------------------------------------------------


@dataclass(frozen=True)
class UploadTarget:
    """A new file (``directory_id`` + ``file_name`` + ``conflict``) or a new version of ``file_id``."""

    drive_id: int
    directory_id: int | None = None
    file_name: str | None = None
    conflict: str = "error"
    file_id: int | None = None

    def query(self) -> list[tuple[str, str]]:
        if self.file_id is not None:
            return [("file_id", str(self.file_id))]
        assert self.directory_id is not None and self.file_name is not None
        return [("file_name", self.file_name), ("directory_id", str(self.directory_id)),
                ("conflict", self.conflict)]

    def json(self) -> dict[str, Any]:
        if self.file_id is not None:
            return {"file_id": self.file_id}
        return {"file_name": self.file_name, "directory_id": self.directory_id, "conflict": self.conflict}


# Re-reads what is there after an ambiguous failure (§3.5): the File, or None.
Lookup = Callable[[], File | None]


class Uploader:
    """Runs one upload at a time per call; safe to share between threads."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.settings = transport.settings
        # Sessions whose cancel could not reach Infomaniak (an outage): cancelled on the next upload.
        self._orphans: list[tuple[float, UploadSession]] = []
        self._orphans_lock = threading.Lock()

    def upload(self, target: UploadTarget, source: Source, *, mtime: int | None = None,
               lookup: Lookup | None = None) -> File:
        """Upload ``source`` to ``target``; direct up to ``direct_upload_max``, a session above."""
        self.cancel_orphans()
        if source.size <= self.settings.direct_upload_max:
            return self.direct(target, source, mtime=mtime, lookup=lookup)
        return self.session(target, source, mtime=mtime, lookup=lookup)

    # -- direct upload -------------------------------------------------------------------------
    def direct(self, target: UploadTarget, source: Source, *, mtime: int | None = None,
               lookup: Lookup | None = None) -> File:
        hash_retry_left = 1
        while True:
            digest = hash_blocks(source.blocks()) if source.replayable else None
            params = [("total_size", str(source.size)), *target.query(), ("with", "hash")]
            if mtime is not None:
                params.append(("last_modified_at", str(int(mtime))))
            if digest is not None:
                params.append(("total_chunk_hash", xxh3_tag(digest)))
            body = Body(source.size, source.blocks, replayable=source.replayable)
            try:
                envelope = self.transport.post("api", f"/3/drive/{target.drive_id}/upload",
                                               params=params, body=body)
            except Invalid as exc:
                # A hash mismatch (D21) usually means the source changed under us: try once more.
                if digest is not None and hash_retry_left and _about_hash(exc):
                    hash_retry_left -= 1
                    continue
                raise
            except UpstreamUnavailable:
                found = _confirm(lookup, source.size, digest, require_hash=target.file_id is not None)
                if found is not None:
                    return found
                raise
            return _file_of(envelope.data)

    # -- upload session ------------------------------------------------------------------------
    def session(self, target: UploadTarget, source: Source, *, mtime: int | None = None,
                lookup: Lookup | None = None) -> File:
        chunk_size = plan_chunk_size(source.size, self.settings.chunk_size)
        total_chunks = max(1, math.ceil(source.size / chunk_size))
        restarts = 0
        while True:
            session = self._start(target, source.size, total_chunks, chunk_size, mtime)
            try:
                digests = self._send_chunks(session, source)
                return self._finish(session, digests, mtime, source.size, lookup,
                                    replacing=target.file_id is not None)
            except UploadSessionGone:
                self.cancel(session)
                if restarts >= MAX_SESSION_RESTARTS or not source.replayable:
                    raise
                restarts += 1
                log.info("upload session gone; starting again (%d/%d)", restarts, MAX_SESSION_RESTARTS)
                source.rewind()
            except BaseException:
                self.cancel(session)
                raise

    def _start(self, target: UploadTarget, size: int, total_chunks: int, chunk_size: int,
               mtime: int | None) -> UploadSession:
        payload: dict[str, Any] = {**target.json(), "total_size": size, "total_chunks": total_chunks}
        if mtime is not None:
            payload["last_modified_at"] = int(mtime)
        envelope = self.transport.post("api", f"/3/drive/{target.drive_id}/upload/session/start",
                                       json=payload)
        try:
            return UploadSession.from_json(envelope.data or {}, drive_id=target.drive_id,
                                           total_chunks=total_chunks, chunk_size=chunk_size)
        except (ValueError, AttributeError) as exc:
            raise UnexpectedResponse(str(exc)) from exc

    def _send_chunks(self, session: UploadSession, source: Source) -> list[str]:
        """Send every chunk, ``parallel_chunks`` at a time; return their hex digests in order."""
        digests: list[str] = [""] * session.total_chunks
        failed = threading.Event()
        workers = max(1, min(self.settings.parallel_chunks, session.total_chunks))
        slots = threading.BoundedSemaphore(workers)  # chunks read but not yet sent
        futures: list[Future[None]] = []

        def send(number: int, length: int, chunk: Source, start: int, spool: IO[bytes] | None) -> None:
            try:
                if failed.is_set():
                    return
                digest = digests[number - 1] or hash_blocks(chunk.blocks(start, length))
                digests[number - 1] = digest
                self._send_chunk(session, number, length, digest,
                                 Body(length, lambda: chunk.blocks(start, length)))
            except BaseException:
                failed.set()
                raise
            finally:
                if spool is not None:
                    spool.close()
                slots.release()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ikdav-chunk") as pool:
            try:
                for number in range(1, session.total_chunks + 1):
                    start = (number - 1) * session.chunk_size
                    length = min(session.chunk_size, source.size - start)
                    slots.acquire()
                    if failed.is_set():
                        slots.release()
                        break
                    if source.ranged:
                        futures.append(pool.submit(send, number, length, source, start, None))
                        continue
                    try:
                        spool, digest = _spool(source.blocks(start, length))
                    except BaseException:
                        slots.release()
                        raise
                    digests[number - 1] = digest
                    spooled = PreadSource(spool.fileno(), 0, length)
                    futures.append(pool.submit(send, number, length, spooled, 0, spool))
            except BaseException:
                failed.set()
                raise
            finally:
                errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        if failed.is_set():
            raise UpstreamUnavailable("an upload chunk failed")
        return digests

    def _send_chunk(self, session: UploadSession, number: int, length: int, digest: str,
                    body: Body) -> None:
        url = join_url(session.upload_url,
                       f"/3/drive/{session.drive_id}/upload/session/{session.token}/chunk")
        params = [("chunk_number", str(number)), ("chunk_size", str(length)),
                  ("chunk_hash", xxh3_tag(digest))]
        self.transport.call_url("POST", url, role="upload", params=params, body=body, idempotent=True)

    def _finish(self, session: UploadSession, digests: list[str], mtime: int | None, size: int,
                lookup: Lookup | None, *, replacing: bool) -> File:
        total_hash = xxh3_tag(xxhash.xxh3_64("".join(digests).encode()).hexdigest())
        payload: dict[str, Any] = {"total_chunk_hash": total_hash, "total_chunks": session.total_chunks}
        if mtime is not None:
            payload["last_modified_at"] = int(mtime)
        path = f"/3/drive/{session.drive_id}/upload/session/{session.token}/finish"
        try:
            envelope = self.transport.post("api", path, json=payload)
        except UpstreamUnavailable:
            found = _confirm(lookup, size, None, require_hash=replacing)
            if found is not None:
                return found
            raise
        data = envelope.data if isinstance(envelope.data, dict) else {}
        return _file_of(data.get("file"))

    def cancel(self, session: UploadSession) -> None:
        """Cancel a session, best effort: "already gone" counts as done.

        A DELETE is never repeated blindly (§3.5): after a server error the session's status is
        read first, and the cancel is sent once more only if the session is still there.
        """
        path = f"/2/drive/{session.drive_id}/upload/session/{session.token}"
        for attempt in (1, 2):
            try:
                self.transport.delete("api", path)
                return
            except UpstreamUnavailable as exc:
                if attempt == 2 or not self._session_exists(session):
                    if attempt == 2:
                        self._keep_for_later(session, exc)
                    return
            except RateLimited as exc:
                self._keep_for_later(session, exc)
                return
            except InfomaniakError as exc:
                if exc.status not in (400, 404):
                    log.warning("could not cancel an upload session: %s", exc)
                return

    def _keep_for_later(self, session: UploadSession, error: InfomaniakError) -> None:
        log.warning("could not cancel an upload session (%s); trying again later", error)
        with self._orphans_lock:
            self._orphans.append((time.monotonic(), session))

    def cancel_orphans(self) -> None:
        """Cancel sessions an earlier outage left open (sessions die by themselves after 12 h)."""
        with self._orphans_lock:
            orphans, self._orphans = self._orphans, []
        for queued_at, session in orphans:
            if time.monotonic() - queued_at < SESSION_LIFETIME:
                self.cancel(session)

    def _session_exists(self, session: UploadSession) -> bool:
        """Whether the server still knows the session (unknown counts as yes: try the cancel)."""
        try:
            self.transport.get("api", f"/2/drive/{session.drive_id}/upload/session/{session.token}")
        except (UploadSessionGone, NoAccess):
            return False
        except InfomaniakError:
            return True
        return True


def _spool(blocks: Iterator[bytes]) -> tuple[IO[bytes], str]:
    """Copy a chunk into an anonymous temporary file while hashing it."""
    spool = tempfile.TemporaryFile(prefix="ikdav-chunk-")
    digest = xxhash.xxh3_64()
    try:
        for block in blocks:
            digest.update(block)
            spool.write(block)
        spool.flush()
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest()


def _about_hash(error: Invalid) -> bool:
    """Whether a 422 complains about a hash (the only 422 worth one more try, D21)."""
    texts = [error.description, *(str(e) for e in error.errors)]
    return any("hash" in text.lower() for text in texts)


def _file_of(data: Any) -> File:
    if not isinstance(data, dict):
        raise UnexpectedResponse("the upload reply holds no file")
    return File.from_json(data)


def _confirm(lookup: Lookup | None, size: int, digest: str | None, *, require_hash: bool) -> File | None:
    """After an ambiguous 5xx (§3.5): the file, if it is there with our size and, when both sides
    know it, our hash. A replaced file (``require_hash``) must match by hash: its old version may
    have the same size."""
    if lookup is None:
        return None
    try:
        found = lookup()
    except InfomaniakError:
        return None
    if found is None or found.size != size:
        return None
    known = found.content_hash
    if digest is not None and known is not None:
        return found if known == xxh3_tag(digest) else None
    if require_hash:
        return None
    log.info("an upload was confirmed by name and size after a server error")
    return found
