"""kDrive direct upload (§4.6, D16, D21, D22, D26, D27): transport, targets, conflicts, refusals."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import xxhash

from ikdav.emulator.app import Emulator

from .test_kdrive_support import JANE_DRIVE, KDrive, failure, success


def xxh3(content: bytes) -> str:
    return "xxh3:" + xxhash.xxh3_64(content).hexdigest()


def test_upload_creates_a_file_and_returns_it(jane: KDrive, emu: Emulator) -> None:
    documents = jane.id_of("/Private/Documents")
    body = success(jane.upload(b"hello world", file_name="hello.txt", directory_id=documents,
                               last_modified_at="1700000123", created_at="1690000000",
                               **{"with": "hash,path"}))
    data = body["data"]
    assert (data["name"], data["size"], data["parent_id"], data["type"]) == (
        "hello.txt", 11, documents, "file")
    assert data["last_modified_at"] == 1700000123
    assert data["created_at"] == 1690000000
    assert data["hash"] == xxh3(b"hello world")
    assert data["path"] == "/Private/Documents/hello.txt"
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/Documents/hello.txt") == b"hello world"


def test_zero_byte_upload_is_valid(jane: KDrive) -> None:
    data = success(jane.upload(b"", file_name="empty.bin", directory_id=jane.id_of("/Private")))["data"]
    assert data["size"] == 0


def test_slash_in_file_name_is_stored_as_colon(jane: KDrive) -> None:
    data = success(jane.upload(b"x", file_name="a/b.txt", directory_id=jane.id_of("/Private")))["data"]
    assert data["name"] == "a:b.txt"


def test_directory_path_creates_missing_folders(jane: KDrive, emu: Emulator) -> None:
    data = success(jane.upload(b"deep", file_name="leaf.txt", directory_path="/Private/new/deeper"))["data"]
    folder = emu.state.kdrive.find(JANE_DRIVE, "/Private/new/deeper")
    assert folder is not None and folder.type == "dir"
    assert data["parent_id"] == folder.id


def test_directory_path_is_relative_to_directory_id(jane: KDrive, emu: Emulator) -> None:
    documents = jane.id_of("/Private/Documents")
    success(jane.upload(b"r", file_name="r.txt", directory_id=documents, directory_path="Taxes/2026"))
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/Documents/Taxes/2026/r.txt") is not None


def test_upload_into_the_root_is_forbidden(jane: KDrive, emu: Emulator) -> None:
    failure(jane.upload(b"x", file_name="x.txt", directory_id=1), 403, "forbidden_error")
    failure(jane.upload(b"x", file_name="x.txt", directory_path="/Elsewhere"), 403, "forbidden_error")
    assert emu.state.kdrive.find(JANE_DRIVE, "/Elsewhere") is None


def test_unknown_directory_is_not_found(jane: KDrive) -> None:
    error = failure(jane.upload(b"x", file_name="x.txt", directory_id=999999), 404, "object_not_found")
    assert error["context"]["model"] == "File"


def test_chunked_body_is_refused_with_411(jane: KDrive, emu: Emulator) -> None:
    blobs = emu.state.kdrive.blob_count()

    def body() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    response = jane.post(f"/3/drive/{JANE_DRIVE}/upload",
                         params={"total_size": 18, "file_name": "c.txt",
                                 "directory_id": jane.id_of("/Private")}, content=body())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    failure(response, 411, "validation_failed")
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/c.txt") is None
    assert emu.state.kdrive.blob_count() == blobs
    success(jane.get(f"/3/drive/{JANE_DRIVE}/files/1"))  # the connection is still usable


def test_total_size_must_match_content_length(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    url = f"/3/drive/{JANE_DRIVE}/upload"
    failure(jane.post(url, params={"total_size": 5, "file_name": "m.txt", "directory_id": private},
                      content=b"four"), 422, "validation_failed")
    failure(jane.post(url, params={"file_name": "m.txt", "directory_id": private}, content=b"four"),
            422, "validation_failed")


def raw_post(emu: Emulator, token: str, query: dict[str, object],
             content_length: int) -> tuple[int, dict[str, Any]]:
    """Send only the head of a POST announcing ``content_length`` bytes, with Connection: close."""
    parts = urlsplit(emu.api_url)
    target = f"/3/drive/{JANE_DRIVE}/upload?{urlencode(query)}"
    head = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {content_length}\r\nConnection: close\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def test_more_than_one_gib_is_refused_before_the_body(jane: KDrive, emu: Emulator) -> None:
    size = (1 << 30) + 1
    assert jane.token is not None
    status, body = raw_post(emu, jane.token, {"total_size": size, "file_name": "huge.bin",
                                              "directory_id": jane.id_of("/Private")}, size)
    assert status == 400
    assert body["error"]["code"] == "limit_exceeded_error"


def test_quota_is_checked_before_the_body(jane: KDrive, emu: Emulator) -> None:
    emu.knobs.merge({"quota": {"size": 10_485_760, "used_size": 10_480_000}})
    size = 64 << 20
    assert jane.token is not None
    status, body = raw_post(emu, jane.token, {"total_size": size, "file_name": "big.bin",
                                              "directory_id": jane.id_of("/Private")}, size)
    assert status == 400
    assert body["error"]["code"] == "quota_exceeded_error"
    failure(jane.upload(b"x" * 6000, file_name="over.bin", directory_id=jane.id_of("/Private")),
            400, "quota_exceeded_error")
    success(jane.upload(b"x" * 5000, file_name="fits.bin", directory_id=jane.id_of("/Private")))


def test_conflict_error_refuses_an_existing_file(jane: KDrive, emu: Emulator) -> None:
    failure(jane.upload(b"again", file_name="todo.txt", directory_id=jane.id_of("/Private")),
            409, "file_already_exists_error")
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/todo.txt") != b"again"


def test_conflict_rename_stores_a_numbered_name(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    first = success(jane.upload(b"1", file_name="todo.txt", directory_id=private, conflict="rename"))
    second = success(jane.upload(b"2", file_name="todo.txt", directory_id=private, conflict="rename"))
    assert first["data"]["name"] == "todo (1).txt"
    assert second["data"]["name"] == "todo (2).txt"


def test_conflict_version_replaces_content_and_keeps_the_id(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    data = success(jane.upload(b"v2", file_name="todo.txt", directory_id=jane.id_of("/Private"),
                               conflict="version", **{"with": "version,hash"}))["data"]
    assert data["id"] == todo
    assert data["version"]["number"] == 2
    assert data["hash"] == xxh3(b"v2")
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/todo.txt") == b"v2"


def test_upload_onto_a_directory_name_lands_beside_it(jane: KDrive) -> None:
    private = jane.id_of("/Private")
    data = success(jane.upload(b"d", file_name="Music", directory_id=private))["data"]
    assert data["name"] == "Music (1)"
    success(jane.post(f"/3/drive/{JANE_DRIVE}/files/{private}/directory", json={"name": "report.v2.pdf"}))
    data = success(jane.upload(b"d", file_name="report.v2.pdf", directory_id=private))["data"]
    assert data["name"] == "report.v2 (1).pdf"


def test_file_id_replaces_content(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    data = success(jane.upload(b"replaced", file_id=todo, last_modified_at="1600000000"))["data"]
    assert (data["id"], data["name"], data["last_modified_at"]) == (todo, "todo.txt", 1600000000)
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/todo.txt") == b"replaced"


@pytest.mark.parametrize("extra", [{"file_name": "x.txt"}, {"directory_id": "1"}, {"conflict": "rename"},
                                   {"directory_path": "/Private"}])
def test_file_id_with_target_parameters_is_refused(jane: KDrive, extra: dict[str, str]) -> None:
    failure(jane.upload(b"x", file_id=jane.id_of("/Private/todo.txt"), **extra), 422, "validation_failed")


def test_hash_match_and_mismatch(jane: KDrive, emu: Emulator) -> None:
    private = jane.id_of("/Private")
    success(jane.upload(b"checked", file_name="ok.txt", directory_id=private,
                        total_chunk_hash=xxh3(b"checked")))
    blobs = emu.state.kdrive.blob_count()
    failure(jane.upload(b"checked", file_name="bad.txt", directory_id=private,
                        total_chunk_hash=xxh3(b"other")), 422, "validation_failed")
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/bad.txt") is None
    assert emu.state.kdrive.blob_count() == blobs
    success(jane.upload(b"unchecked", file_name="md5.txt", directory_id=private,
                        total_chunk_hash="md5:0123456789abcdef0123456789abcdef"))
    failure(jane.upload(b"x", file_name="y.txt", directory_id=private, total_chunk_hash="crc:12"),
            422, "validation_failed")


def test_failed_upload_leaves_no_folders_behind(jane: KDrive, emu: Emulator) -> None:
    failure(jane.upload(b"abc", file_name="f.txt", directory_path="/Private/ghost/folder",
                        total_chunk_hash=xxh3(b"xyz")), 422, "validation_failed")
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/ghost") is None


@pytest.mark.parametrize("name", ["", "x" * 256, "é" * 128])
def test_bad_names_are_refused(jane: KDrive, name: str) -> None:
    failure(jane.upload(b"x", file_name=name, directory_id=jane.id_of("/Private")), 422, "validation_failed")


def test_names_are_stored_as_nfc(jane: KDrive) -> None:
    data = success(jane.upload(b"x", file_name="Cafe\u0301.txt", directory_id=jane.id_of("/Private")))["data"]
    assert data["name"] == "Caf\u00e9.txt"


def test_locked_file_refuses_a_new_version(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    emu.knobs.merge({"lock_file": {"drive_id": JANE_DRIVE, "file_id": todo}})
    failure(jane.upload(b"x", file_id=todo), 423, "lock_error")
    failure(jane.upload(b"x", file_name="todo.txt", directory_id=jane.id_of("/Private"), conflict="version"),
            423, "lock_error")


def test_upload_changes_used_size(jane: KDrive) -> None:
    before = success(jane.get(f"/2/drive/{JANE_DRIVE}", params={"only": "used_size"}))["data"]["used_size"]
    success(jane.upload(b"z" * 1000, file_name="z.bin", directory_id=jane.id_of("/Private")))
    after = success(jane.get(f"/2/drive/{JANE_DRIVE}", params={"only": "used_size"}))["data"]["used_size"]
    assert after - before == 1000
