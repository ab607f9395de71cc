"""The kDrive store's Python API, which tests and benches use to shape data directly; what it
creates must be what the HTTP routes then show. Also: interrupted uploads leave nothing behind."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlencode, urlsplit

import pytest
import xxhash

from ikdav.emulator.app import Emulator

from .test_kdrive_support import JANE_DRIVE, failure, kdrive, success


def test_put_file_creates_folders_and_shows_over_http(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    node = store.put_file(JANE_DRIVE, "/Private/api/made/here.txt", b"from python",
                          last_modified_at=1600000000)
    client = kdrive(fresh_emulator)
    data = success(client.get(f"/3/drive/{JANE_DRIVE}/files/{node.id}", params={"with": "path,hash"}))["data"]
    assert data["path"] == "/Private/api/made/here.txt"
    assert data["last_modified_at"] == 1600000000
    assert data["hash"] == "xxh3:" + xxhash.xxh3_64(b"from python").hexdigest()
    assert store.read_bytes(JANE_DRIVE, "/Private/api/made/here.txt") == b"from python"
    assert b"".join(store.iter_bytes(JANE_DRIVE, "/Private/api/made/here.txt")) == b"from python"
    again = store.put_file(JANE_DRIVE, "/Private/api/made/here.txt", [b"new ", b"version"])
    assert again.id == node.id and again.version == 2
    assert store.list_names(JANE_DRIVE, "/Private/api/made") == ["here.txt"]


def test_make_dirs_and_count(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    folder = store.make_dirs(JANE_DRIVE, "/Common documents/a/b/c")
    assert store.find(JANE_DRIVE, "/Common documents/a/b/c") is folder
    assert store.make_dirs(JANE_DRIVE, "/Common documents/a/b/c") is folder
    assert store.count(JANE_DRIVE, "/Common documents/a", recursive=True) == 2
    with pytest.raises(ValueError):
        store.make_dirs(JANE_DRIVE, "/Not special/x")


def test_add_many_files_is_fast_and_listable(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    started = time.monotonic()
    folder = store.add_many_files(JANE_DRIVE, "/Private/bench", 10_000, 64)
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"10,000 files took {elapsed:.1f} s"
    assert store.count(JANE_DRIVE, "/Private/bench") == 10_000
    client = kdrive(fresh_emulator)
    body = success(client.get(f"/3/drive/{JANE_DRIVE}/files/{folder.id}/files", params={"limit": 1000}))
    assert len(body["data"]) == 1000 and body["has_more"] is True
    assert body["data"][0]["name"] == "file-00000.bin"


def test_trash_through_the_api_hides_the_file(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    node = store.find(JANE_DRIVE, "/Private/todo.txt")
    assert node is not None
    store.trash(JANE_DRIVE, "/Private/todo.txt")
    assert store.find(JANE_DRIVE, "/Private/todo.txt") is None
    failure(kdrive(fresh_emulator).get(f"/3/drive/{JANE_DRIVE}/files/{node.id}"), 404, "object_not_found")


def test_file_json_matches_the_route(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    node = store.find(JANE_DRIVE, "/Private/budget.xlsx")
    assert node is not None
    over_http = success(kdrive(fresh_emulator).get(f"/3/drive/{JANE_DRIVE}/files/{node.id}",
                                                   params={"with": "path"}))["data"]
    assert store.file_json(JANE_DRIVE, node, {"path"}) == over_http


def test_interrupted_upload_leaves_nothing(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.kdrive
    blobs = store.blob_count()
    client = kdrive(fresh_emulator)
    parts = urlsplit(fresh_emulator.api_url)
    query = urlencode({"total_size": 1000, "file_name": "cut.bin", "directory_id": client.id_of("/Private")})
    head = (f"POST /3/drive/{JANE_DRIVE}/upload?{query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {client.token}\r\nContent-Length: 1000\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"only ten b")
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.split()[1] == b"400"
    assert b"upload_error" in reply
    assert store.find(JANE_DRIVE, "/Private/cut.bin") is None
    assert store.blob_count() == blobs
    assert store.blobs.count_parts() == 0
