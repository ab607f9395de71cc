"""Upload sessions (chunked uploads, infomaniak-api.md §4.7): their state and their registry.

A session is opened on the API host, fed chunks on the upload host, and finished, cancelled or
left to expire (12 h). Chunks are blobs of their own until the finish joins them. The registry
is guarded by the store's lock; chunk bodies are streamed outside it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import xxhash

from ikdav.emulator.kdrive_model import Blob
from ikdav.emulator.web import ApiError

SESSION_LIFETIME = 12 * 3600
MAX_CHUNKS = 10_000
MAX_CHUNK_SIZE = 1 << 30
MAX_SESSION_SIZE = 50 << 30

OPEN = "open"
FINISHING = "finishing"
CANCELLED = "cancelled"
FINISHED = "finished"


@dataclass(slots=True)
class Chunk:
    number: int
    blob: Blob
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "status": "ok", "created_at": self.created_at,
                "size": self.blob.size, "hash": self.blob.hash}


@dataclass(eq=False)
class UploadSession:
    """What ``start`` asked for and what has arrived since."""

    token: str
    drive_id: int
    user_id: int
    started_at: float
    file_name: str
    base_dir_id: int  # existing folder the file (or its missing folders) goes into
    missing_dirs: list[str]  # folders to create below ``base_dir_id`` at finish
    conflict: str
    target_id: int | None  # file whose content is replaced (``file_id`` or ``conflict=version``)
    total_size: int
    total_chunks: int
    last_modified_at: int | None
    created_at: int | None
    by_file_id: bool  # started with ``file_id``: replace that file, whatever its name now
    chunks: dict[int, Chunk] = field(default_factory=dict)
    in_flight: int = 0
    failed: int = 0
    state: str = OPEN

    @property
    def uploaded_size(self) -> int:
        return sum(c.blob.size for c in self.chunks.values())

    def total_chunk_hash(self, count: int) -> str:
        """``xxh3:`` over the concatenated lowercase hex digests of chunks 1..count."""
        joined = "".join(self.chunks[n].blob.digest for n in range(1, count + 1))
        return "xxh3:" + xxhash.xxh3_64(joined.encode("ascii")).hexdigest()

    def status_json(self, with_chunks: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "token": self.token,
            "expected_chunks": self.total_chunks,
            "received_chunks": len(self.chunks),
            "uploading_chunks": self.in_flight,
            "failed_chunks": self.failed,
            "expected_size": self.total_size,
            "uploaded_size": self.uploaded_size,
        }
        if with_chunks:
            data["chunks"] = [self.chunks[n].to_json() for n in sorted(self.chunks)]
        return data


def invalid_token() -> ApiError:
    return ApiError(400, "invalid_upload_token_error", "The upload token is unknown or has expired")


class SessionRegistry:
    """Sessions by token. The caller holds the store's lock for every call."""

    def __init__(self, clock: Callable[[], float], on_close: Callable[[UploadSession], None]) -> None:
        self.clock = clock
        self.on_close = on_close  # releases chunks and the target's "uploading" mark
        self.lifetime = SESSION_LIFETIME
        self._sessions: dict[str, UploadSession] = {}

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(16)

    def add(self, session: UploadSession) -> UploadSession:
        self._sessions[session.token] = session
        return session

    def expire(self) -> None:
        now = self.clock()
        for session in list(self._sessions.values()):
            if now - session.started_at > self.lifetime:
                self.close(session, CANCELLED)
                del self._sessions[session.token]

    def get(self, token: str, drive_id: int, user_id: int) -> UploadSession:
        """An open session of this user on this drive, or the contract's token error (§4.7)."""
        self.expire()
        session = self._sessions.get(token)
        if session is None or session.drive_id != drive_id or session.user_id != user_id:
            raise invalid_token()
        if session.state == CANCELLED:
            raise ApiError(400, "upload_token_canceled", "The upload session was cancelled")
        if session.state == FINISHED:
            raise invalid_token()
        return session

    def close(self, session: UploadSession, state: str) -> None:
        if session.state in (CANCELLED, FINISHED):
            return
        session.state = state
        self.on_close(session)

    def open_sessions(self, drive_id: int | None = None) -> list[UploadSession]:
        self.expire()
        return [s for s in self._sessions.values()
                if s.state in (OPEN, FINISHING) and (drive_id is None or s.drive_id == drive_id)]
