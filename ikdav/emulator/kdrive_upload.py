"""Uploads: the direct upload (§4.6) and upload sessions (§4.7).

Bodies are streamed into a temporary blob while being hashed, never held in memory, and the
store's lock is taken only to plan and to commit. Early refusals drain what is left of the body
in blocks first. Chunks are routed on the upload host only: a chunk sent to the API host finds
no route there, as it would in production.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_blobs import BLOCK, IncompleteBody
from ikdav.emulator.kdrive_http import (
    drain_body,
    optional_int,
    parse_hash,
    require_length,
    required_int,
    user_of,
)
from ikdav.emulator.kdrive_model import GIB, Blob, validation_error
from ikdav.emulator.kdrive_sessions import (
    CANCELLED,
    FINISHED,
    FINISHING,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    MAX_SESSION_SIZE,
    OPEN,
    Chunk,
    SessionRegistry,
    UploadSession,
)
from ikdav.emulator.kdrive_store import KDriveStore
from ikdav.emulator.kdrive_upload_plan import UploadParams, UploadPlan, commit_upload, plan_upload
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import ApiError, Request, Response, Router, ok

MAX_DIRECT_UPLOAD = GIB


def upload_failed(description: str) -> ApiError:
    return ApiError(400, "upload_error", description)


def check_digest(blob: Blob, wanted: tuple[str, str] | None, name: str) -> None:
    """422 when an ``xxh3`` digest does not match (D21); other algorithms are not checked."""
    if wanted is not None and wanted[0] == "xxh3" and wanted[1] != blob.digest:
        raise validation_error(f"{name} does not match the received content")


def store_body(store: KDriveStore, request: Request, length: int) -> Blob:
    try:
        return store.blobs.write(request.iter_body(BLOCK), expected_size=length)
    except IncompleteBody as exc:
        raise upload_failed(f"The body ended early: {exc}") from exc


def install_uploads(routers: dict[str, Router], state: EmulatorState, store: KDriveStore) -> None:
    api = routers["api"]
    upload_host = routers["upload"]
    sessions: SessionRegistry = store.sessions

    # -- direct upload ------------------------------------------------------------------------
    @api.route("POST", "/3/drive/{drive_id:int}/upload")
    def direct_upload(request: Request, drive_id: int) -> Response:
        try:
            return _direct_upload(request, drive_id)
        except ApiError:
            drain_body(request)
            raise

    def _direct_upload(request: Request, drive_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        length = require_length(request)
        total_size = required_int(request.arg("total_size"), "total_size", minimum=0)
        if total_size != length:
            raise validation_error("total_size must equal the Content-Length")
        if length > MAX_DIRECT_UPLOAD:
            raise ApiError(400, "limit_exceeded_error",
                           "Direct uploads are limited to 1 GiB; use an upload session")
        wanted = parse_hash(request.arg("total_chunk_hash"), "total_chunk_hash")
        params = UploadParams(
            total_size=total_size,
            file_name=request.arg("file_name"),
            directory_id=optional_int(request.arg("directory_id"), "directory_id"),
            directory_path=request.arg("directory_path"),
            file_id=optional_int(request.arg("file_id"), "file_id"),
            conflict=request.arg("conflict"),
            last_modified_at=optional_int(request.arg("last_modified_at"), "last_modified_at"),
            created_at=optional_int(request.arg("created_at"), "created_at"),
        )
        with store.lock:
            plan = plan_upload(store, drive, params)
        blob = store_body(store, request, length)
        try:
            check_digest(blob, wanted, "total_chunk_hash")
            with store.lock:
                node = commit_upload(store, drive, plan, blob, user_id)
                data = store.file_json(drive, node, request.with_fields())
        except BaseException:
            if blob.refs == 0:
                store.blobs.discard(blob)
            raise
        return ok(data, kdrive=True)

    # -- sessions: start, status, cancel, finish on the API host --------------------------------
    @api.route("POST", "/3/drive/{drive_id:int}/upload/session/start")
    def start_session(request: Request, drive_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body = request.json(required=True)
        total_size = required_int(body.get("total_size"), "total_size", minimum=0)
        if total_size > MAX_SESSION_SIZE:
            raise validation_error("An upload session takes at most 50 GiB")
        total_chunks = required_int(body.get("total_chunks"), "total_chunks")
        if not 1 <= total_chunks <= MAX_CHUNKS:
            raise validation_error(f"total_chunks must be between 1 and {MAX_CHUNKS}")
        params = UploadParams(
            total_size=total_size,
            file_name=_text(body.get("file_name"), "file_name"),
            directory_id=optional_int(body.get("directory_id"), "directory_id"),
            directory_path=_text(body.get("directory_path"), "directory_path"),
            file_id=optional_int(body.get("file_id"), "file_id"),
            conflict=_text(body.get("conflict"), "conflict"),
            last_modified_at=optional_int(body.get("last_modified_at"), "last_modified_at"),
            created_at=optional_int(body.get("created_at"), "created_at"),
        )
        with store.lock:
            plan = plan_upload(store, drive, params)
            session = sessions.add(UploadSession(
                token=sessions.new_token(), drive_id=drive.id, user_id=user_id,
                started_at=store.clock(), file_name=plan.file_name, base_dir_id=plan.base_dir_id,
                missing_dirs=plan.missing_dirs, conflict=plan.conflict, target_id=plan.target_id,
                total_size=total_size, total_chunks=total_chunks,
                last_modified_at=plan.last_modified_at, created_at=plan.created_at,
                by_file_id=plan.by_file_id))
            if plan.target_id is not None:
                target = drive.nodes[plan.target_id]
                target.uploads += 1
            data = {
                "token": session.token,
                "upload_url": state.urls.get("upload", ""),
                "result": True,
                "file_name": plan.file_name,
                "directory_id": plan.base_dir_id if not plan.missing_dirs else None,
                "directory_path": params.directory_path,
                "file": None,
                "message": None,
            }
        return ok(data, kdrive=True)

    @api.route("GET", "/2/drive/{drive_id:int}/upload/session/{token}")
    def session_status(request: Request, drive_id: int, token: str) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            session = sessions.get(token, drive.id, user_id)
            data = session.status_json("chunks" in request.with_fields())
        return ok(data, kdrive=True)

    @api.route("DELETE", "/2/drive/{drive_id:int}/upload/session/{token}")
    def cancel_session(request: Request, drive_id: int, token: str) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            session = sessions.get(token, drive.id, user_id)
            sessions.close(session, CANCELLED)
        return ok(True, kdrive=True)

    @api.route("POST", "/3/drive/{drive_id:int}/upload/session/{token}/finish")
    def finish_session(request: Request, drive_id: int, token: str) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        body = request.json()
        wanted = parse_hash(body.get("total_chunk_hash"), "total_chunk_hash")
        expected = optional_int(body.get("total_chunks"), "total_chunks", minimum=1)
        last_modified_at = optional_int(body.get("last_modified_at"), "last_modified_at")
        created_at = optional_int(body.get("created_at"), "created_at")
        with store.lock:
            session = sessions.get(token, drive.id, user_id)
            if session.state == FINISHING:
                raise ApiError(409, "still_uploading_error", "The session is already finishing")
            count = expected or session.total_chunks
            _ensure_complete(session, count)
            if wanted is not None and wanted[0] == "xxh3" and \
                    session.total_chunk_hash(count) != f"xxh3:{wanted[1]}":
                raise validation_error("total_chunk_hash does not match the received chunks")
            session.state = FINISHING
            parts = [session.chunks[n].blob for n in range(1, count + 1)]
        try:
            blob = parts[0] if len(parts) == 1 else store.blobs.concat(parts)
        except BaseException:
            with store.lock:
                session.state = OPEN
            raise
        try:
            with store.lock:
                plan = _plan_of(session, last_modified_at, created_at)
                node = commit_upload(store, drive, plan, blob, user_id, own_session=True)
                if len(parts) == 1:
                    del session.chunks[1]  # the single chunk became the file's content
                sessions.close(session, FINISHED)
                data = {"token": session.token, "file": store.file_json(drive, node, request.with_fields()),
                        "result": True, "message": None}
        except BaseException:
            with store.lock:
                if session.state == FINISHING:
                    session.state = OPEN
            if blob.refs == 0 and len(parts) > 1:
                store.blobs.discard(blob)
            raise
        return ok(data, kdrive=True)

    # -- chunks on the upload host only --------------------------------------------------------
    @upload_host.route("POST", "/3/drive/{drive_id:int}/upload/session/{token}/chunk")
    def upload_chunk(request: Request, drive_id: int, token: str) -> Response:
        try:
            return _upload_chunk(request, drive_id, token)
        except ApiError:
            drain_body(request)
            raise

    def _upload_chunk(request: Request, drive_id: int, token: str) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            session = sessions.get(token, drive.id, user_id)
            if session.state != OPEN:
                raise ApiError(409, "still_uploading_error", "The session is finishing")
        length = require_length(request)
        number = required_int(request.arg("chunk_number"), "chunk_number")
        if not 1 <= number <= session.total_chunks:
            raise validation_error(f"chunk_number must be between 1 and {session.total_chunks}")
        chunk_size = required_int(request.arg("chunk_size"), "chunk_size", minimum=0)
        if chunk_size > MAX_CHUNK_SIZE:
            raise validation_error("A chunk takes at most 1 GiB")
        if chunk_size != length:
            raise validation_error("chunk_size must equal the Content-Length")
        wanted = parse_hash(request.arg("chunk_hash"), "chunk_hash")
        with store.lock:
            session.in_flight += 1
        blob: Blob | None = None
        try:
            blob = store_body(store, request, length)
            check_digest(blob, wanted, "chunk_hash")
        except BaseException:
            with store.lock:
                session.in_flight -= 1
                session.failed += 1
            if blob is not None:
                store.blobs.discard(blob)
            raise
        with store.lock:
            session.in_flight -= 1
            if session.state != OPEN:
                store.blobs.discard(blob)
                if session.state == CANCELLED:
                    raise ApiError(400, "upload_token_canceled", "The upload session was cancelled")
                raise ApiError(400, "invalid_upload_token_error", "The upload session is closed")
            previous = session.chunks.get(number)
            chunk = Chunk(number, blob, store.now())
            session.chunks[number] = chunk
            if previous is not None:
                store.blobs.discard(previous.blob)
            data = chunk.to_json()
        return ok(data, kdrive=True)


def _ensure_complete(session: UploadSession, count: int) -> None:
    numbers = set(session.chunks)
    missing = sorted(set(range(1, count + 1)) - numbers)
    extra = sorted(n for n in numbers if n > count)
    if session.in_flight:
        raise ApiError(400, "upload_not_terminated", "Chunks are still being received")
    if missing or extra:
        raise ApiError(400, "upload_not_terminated",
                       f"Chunks missing: {missing[:20]}; unexpected chunks: {extra[:20]}")
    uploaded = sum(session.chunks[n].blob.size for n in range(1, count + 1))
    if uploaded != session.total_size:
        raise ApiError(400, "upload_not_terminated",
                       f"Received {uploaded} bytes, the session announced {session.total_size}")


def _plan_of(session: UploadSession, last_modified_at: int | None, created_at: int | None) -> UploadPlan:
    return UploadPlan(
        file_name=session.file_name, base_dir_id=session.base_dir_id,
        missing_dirs=list(session.missing_dirs), conflict=session.conflict,
        target_id=session.target_id, by_file_id=session.by_file_id,
        total_size=session.total_size,
        last_modified_at=last_modified_at if last_modified_at is not None else session.last_modified_at,
        created_at=created_at if created_at is not None else session.created_at,
    )


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise validation_error(f"{name} must be a string")
    return value
