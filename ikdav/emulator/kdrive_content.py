"""Downloads: the API host's ``/download`` and the content host's pre-signed URLs (§4.5, D14).

``/download`` answers 302 to a URL on the content host that is signed (HMAC), valid 600 s,
reusable, and bound to the content version it was signed for: once the file has new content
or is gone, that URL answers 404 and the client asks ``/download`` again. The content host
behaves like an object store: no ``Authorization`` accepted (400), 403 once expired, one
``Range`` per request (206, or 416 when unsatisfiable).

Knobs: ``download_mode: "direct"`` serves the body from ``/download`` itself,
``content_range: false`` makes ranges ignored (200 with the whole body), and
``content_bytes_per_s`` throttles the stream.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

from ikdav.emulator.kdrive_http import user_of
from ikdav.emulator.kdrive_model import Blob, Node, validation_error
from ikdav.emulator.kdrive_store import KDriveStore, file_not_found
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import ApiError, Request, Response, Router, redirect

URL_LIFETIME = 600
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for one byte range; ``None`` = serve everything.

    Several ranges, or a malformed header, are ignored (the whole body), as object stores do.
    Raises :class:`Unsatisfiable` for a range that selects nothing of ``size`` bytes.
    """
    if not header or "," in header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # suffix range: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1)


def content_response(request: Request, store: KDriveStore, node: Node, blob: Blob, role: str) -> Response:
    """The body of ``blob`` with the object-store headers, honouring one ``Range``."""
    knobs = store.knobs
    ignore_range = knobs.take("content_range", role, request.method, request.path) is False
    rate = knobs.take("content_bytes_per_s", role, request.method, request.path)
    headers = [
        ("Content-Type", node.mime_type or "application/octet-stream"),
        ("Accept-Ranges", "bytes"),
        ("ETag", f'"{blob.digest}"'),
        ("Content-Disposition", f"attachment; filename*=UTF-8''{quote(node.name, safe='')}"),
    ]
    status = 200
    first, length = 0, blob.size
    if not ignore_range:
        try:
            wanted = parse_range(request.header("Range"), blob.size)
        except Unsatisfiable:
            headers = [("Content-Range", f"bytes */{blob.size}"), ("Accept-Ranges", "bytes"),
                       ("Content-Type", "text/plain"), ("Content-Length", "0")]
            return Response(416, headers, b"")
        if wanted is not None:
            first, last = wanted
            length = last - first + 1
            status = 206
            headers.append(("Content-Range", f"bytes {first}-{last}/{blob.size}"))
    headers.append(("Content-Length", str(length)))
    if request.method == "HEAD":
        return Response(status, headers, b"")
    stream = store.blobs.open_stream(blob, first, length, float(rate) if rate else None)
    return Response(status, headers, stream)


def sign(store: KDriveStore, drive_id: int, file_id: int, blob_id: str, expires: int) -> str:
    message = f"{drive_id}/{file_id}/{blob_id}/{expires}".encode()
    return hmac.new(store.url_secret, message, hashlib.sha256).hexdigest()


def install_content(routers: dict[str, Router], state: EmulatorState, store: KDriveStore) -> None:
    api = routers["api"]
    content = routers["content"]

    @api.route("GET", "/2/drive/{drive_id:int}/files/{file_id:int}/download")
    def download(request: Request, drive_id: int, file_id: int) -> Response:
        user_id = user_of(state, request)
        drive = store.drive_for(user_id, drive_id)
        with store.lock:
            node = store.file_for(drive, file_id)
            if node.is_dir or node.blob is None:
                raise validation_error("Folders cannot be downloaded here")
            blob = node.blob
            mode = store.knobs.take("download_mode", request.role, request.method, request.path)
            if mode == "direct":
                return content_response(request, store, node, blob, request.role)
            expires = store.now() + URL_LIFETIME
        signature = sign(store, drive.id, node.id, blob.id, expires)
        base = state.urls.get("content", "")
        location = f"{base}/kdrive/{drive.id}/{node.id}/{blob.id}?expires={expires}&signature={signature}"
        return redirect(location)

    @content.route("GET", "/kdrive/{drive_id:int}/{file_id:int}/{blob_id}")
    def presigned(request: Request, drive_id: int, file_id: int, blob_id: str) -> Response:
        if request.header("Authorization") is not None:
            raise ApiError(400, "invalid_request",
                           "Pre-signed URLs take no Authorization header; send none")
        expires_text = request.arg("expires") or ""
        signature = request.arg("signature") or ""
        if not expires_text.isdigit():
            raise ApiError(403, "access_denied", "The URL is not signed")
        expires = int(expires_text)
        wanted = sign(store, drive_id, file_id, blob_id, expires)
        if not hmac.compare_digest(wanted, signature):
            raise ApiError(403, "access_denied", "The URL signature is invalid")
        if store.now() > expires:
            raise ApiError(403, "access_denied", "The URL has expired")
        with store.lock:
            drive = store.drives.get(drive_id)
            node = drive.live(file_id) if drive is not None else None
            if drive is None or node is None or node.blob is None or node.blob.id != blob_id:
                raise file_not_found()
            return content_response(request, store, node, node.blob, request.role)
