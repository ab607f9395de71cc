"""kDrive upload sessions (§4.7, D23): start, chunks on the upload host only, finish, status, cancel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import xxhash

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import MARC_ID

from .test_kdrive_support import JANE_DRIVE, KDrive, failure, kdrive, success

START = f"/3/drive/{JANE_DRIVE}/upload/session/start"


def start(client: KDrive, **fields: Any) -> httpx.Response:
    body = {"conflict": "error", "directory_id": client.id_of("/Private"), **fields}
    return client.post(START, json=body)


def started(client: KDrive, **fields: Any) -> dict[str, Any]:
    return success(start(client, **fields))["data"]


def send_chunk(client: KDrive, upload_url: str, token: str, number: int, content: bytes,
               chunk_size: int | None = None, **params: Any) -> httpx.Response:
    url = f"{upload_url}/3/drive/{JANE_DRIVE}/upload/session/{token}/chunk"
    query = {"chunk_number": number, "chunk_size": len(content) if chunk_size is None else chunk_size,
             **params}
    return client.http.post(url, params=query, content=content)


def finish(client: KDrive, token: str, **body: Any) -> httpx.Response:
    return client.post(f"/3/drive/{JANE_DRIVE}/upload/session/{token}/finish", json=body)


def session_hash(chunks: list[bytes]) -> str:
    joined = "".join(xxhash.xxh3_64(c).hexdigest() for c in chunks)
    return "xxh3:" + xxhash.xxh3_64(joined.encode()).hexdigest()


def test_session_round_trip_with_chunks_out_of_order(jane: KDrive, emu: Emulator) -> None:
    chunks = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    data = started(jane, file_name="joined.bin", total_size=2010, total_chunks="3",
                   last_modified_at=1650000000)
    assert data["upload_url"] == emu.upload_url
    assert data["upload_url"] != emu.api_url
    assert data["result"] is True and data["file"] is None
    token = data["token"]
    for number in (3, 1, 2):
        reply = success(send_chunk(jane, data["upload_url"], token, number, chunks[number - 1]))["data"]
        assert reply["number"] == number and reply["status"] == "ok"
        assert reply["size"] == len(chunks[number - 1])
        assert reply["hash"] == "xxh3:" + xxhash.xxh3_64(chunks[number - 1]).hexdigest()
    done = success(finish(jane, token, total_chunk_hash=session_hash(chunks), total_chunks=3))["data"]
    assert done["token"] == token and done["result"] is True
    assert done["file"]["name"] == "joined.bin"
    assert done["file"]["size"] == 2010
    assert done["file"]["last_modified_at"] == 1650000000
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/joined.bin") == b"".join(chunks)
    assert emu.state.kdrive.upload_sessions() == []
    failure(finish(jane, token), 400, "invalid_upload_token_error")


def test_parallel_chunks(jane: KDrive, emu: Emulator) -> None:
    chunks = [bytes([i]) * 5000 for i in range(8)]
    data = started(jane, file_name="parallel.bin", total_size=40000, total_chunks=8)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda n: send_chunk(jane, data["upload_url"], data["token"], n,
                                                     chunks[n - 1]), range(1, 9)))
    assert all(r.status_code == 200 for r in replies)
    success(finish(jane, data["token"], total_chunk_hash=session_hash(chunks)))
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/parallel.bin") == b"".join(chunks)


def test_resent_chunk_replaces_the_earlier_one(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="resent.txt", total_size=4, total_chunks=1)
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"old!"))
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"new!"))
    success(finish(jane, data["token"]))
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/resent.txt") == b"new!"


def test_status_reports_received_chunks(jane: KDrive) -> None:
    data = started(jane, file_name="status.bin", total_size=30, total_chunks=3)
    success(send_chunk(jane, data["upload_url"], data["token"], 2, b"x" * 10))
    url = f"/2/drive/{JANE_DRIVE}/upload/session/{data['token']}"
    status = success(jane.get(url, params={"with": "chunks"}))["data"]
    assert (status["expected_chunks"], status["received_chunks"], status["uploading_chunks"],
            status["failed_chunks"], status["expected_size"], status["uploaded_size"]) == (3, 1, 0, 0, 30, 10)
    assert [c["number"] for c in status["chunks"]] == [2]
    assert "chunks" not in success(jane.get(url))["data"]


def test_chunk_sent_to_the_api_host_fails(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="wrong-host.bin", total_size=3, total_chunks=1)
    response = send_chunk(jane, emu.api_url, data["token"], 1, b"abc")
    assert response.status_code == 404
    failure(finish(jane, data["token"]), 400, "upload_not_terminated")


def test_chunk_needs_the_bearer(jane: KDrive) -> None:
    data = started(jane, file_name="anon.bin", total_size=3, total_chunks=1)
    url = f"{data['upload_url']}/3/drive/{JANE_DRIVE}/upload/session/{data['token']}/chunk"
    response = httpx.post(url, params={"chunk_number": 1, "chunk_size": 3}, content=b"abc")
    failure(response, 401, "not_authorized")


def test_chunk_numbers_start_at_one_and_stay_within_total(jane: KDrive) -> None:
    data = started(jane, file_name="numbers.bin", total_size=6, total_chunks=2)
    failure(send_chunk(jane, data["upload_url"], data["token"], 0, b"abc"), 422, "validation_failed")
    failure(send_chunk(jane, data["upload_url"], data["token"], 3, b"abc"), 422, "validation_failed")


def test_chunk_size_must_match_content_length(jane: KDrive) -> None:
    data = started(jane, file_name="sizes.bin", total_size=6, total_chunks=2)
    failure(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc", chunk_size=4), 422,
            "validation_failed")
    failure(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc", chunk_size=(1 << 30) + 1), 422,
            "validation_failed")


def test_chunked_transfer_of_a_chunk_is_refused(jane: KDrive) -> None:
    data = started(jane, file_name="te.bin", total_size=3, total_chunks=1)
    url = f"{data['upload_url']}/3/drive/{JANE_DRIVE}/upload/session/{data['token']}/chunk"
    response = jane.http.post(url, params={"chunk_number": 1, "chunk_size": 3}, content=iter([b"a", b"bc"]))
    failure(response, 411, "validation_failed")


def test_chunk_hash_mismatch_is_refused(jane: KDrive) -> None:
    data = started(jane, file_name="h.bin", total_size=3, total_chunks=1)
    wrong = "xxh3:" + xxhash.xxh3_64(b"zzz").hexdigest()
    failure(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc", chunk_hash=wrong), 422,
            "validation_failed")
    right = "xxh3:" + xxhash.xxh3_64(b"abc").hexdigest()
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc", chunk_hash=right))


def test_finish_with_missing_chunk_is_not_terminated(jane: KDrive) -> None:
    data = started(jane, file_name="missing.bin", total_size=6, total_chunks=2)
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc"))
    failure(finish(jane, data["token"]), 400, "upload_not_terminated")
    failure(finish(jane, data["token"], total_chunks=3), 400, "upload_not_terminated")


def test_finish_with_extra_chunk_is_not_terminated(jane: KDrive) -> None:
    data = started(jane, file_name="extra.bin", total_size=6, total_chunks=2)
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc"))
    success(send_chunk(jane, data["upload_url"], data["token"], 2, b"def"))
    failure(finish(jane, data["token"], total_chunks=1), 400, "upload_not_terminated")


def test_finish_with_wrong_total_hash_is_refused(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="hash.bin", total_size=3, total_chunks=1)
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc"))
    failure(finish(jane, data["token"], total_chunk_hash=session_hash([b"abd"])), 422, "validation_failed")
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/hash.bin") is None
    success(finish(jane, data["token"], total_chunk_hash=session_hash([b"abc"])))


@pytest.mark.parametrize(("fields", "code"), [
    ({"total_chunks": 0, "total_size": 1}, "validation_failed"),
    ({"total_chunks": 10001, "total_size": 10001}, "validation_failed"),
    ({"total_chunks": 2, "total_size": (50 << 30) + 1}, "validation_failed"),
    ({"total_chunks": 1}, "validation_failed"),
])
def test_session_limits(jane: KDrive, fields: dict[str, int], code: str) -> None:
    failure(start(jane, file_name="limits.bin", **fields), 422, code)


def test_unknown_token_is_invalid(jane: KDrive, emu: Emulator) -> None:
    failure(jane.get(f"/2/drive/{JANE_DRIVE}/upload/session/nope"), 400, "invalid_upload_token_error")
    failure(finish(jane, "nope"), 400, "invalid_upload_token_error")
    failure(send_chunk(jane, emu.upload_url, "nope", 1, b"a"), 400, "invalid_upload_token_error")


def test_cancel_then_every_use_says_cancelled(jane: KDrive, emu: Emulator) -> None:
    blobs = emu.state.kdrive.blob_count()
    data = started(jane, file_name="cancel.bin", total_size=6, total_chunks=2)
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc"))
    url = f"/2/drive/{JANE_DRIVE}/upload/session/{data['token']}"
    assert success(jane.delete(url))["data"] is True
    failure(jane.delete(url), 400, "upload_token_canceled")
    failure(send_chunk(jane, data["upload_url"], data["token"], 2, b"def"), 400, "upload_token_canceled")
    failure(finish(jane, data["token"]), 400, "upload_token_canceled")
    assert emu.state.kdrive.blob_count() == blobs
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/cancel.bin") is None
    assert emu.state.kdrive.upload_sessions() == []


def test_session_expires_after_twelve_hours(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="late.bin", total_size=3, total_chunks=1)
    emu.state.kdrive.time_travel(12 * 3600 + 5)
    failure(send_chunk(jane, data["upload_url"], data["token"], 1, b"abc"), 400, "invalid_upload_token_error")


def test_session_of_another_user_is_invalid(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="mine.bin", total_size=3, total_chunks=1)
    same_user = KDrive(emu, emu.issue_token())
    assert success(same_user.get(f"/2/drive/{JANE_DRIVE}/upload/session/{data['token']}"))
    emu.state.kdrive.drives[JANE_DRIVE].users[MARC_ID] = "user"
    marc = kdrive(emu, MARC_ID)
    failure(marc.get(f"/2/drive/{JANE_DRIVE}/upload/session/{data['token']}"), 400,
            "invalid_upload_token_error")
    failure(send_chunk(marc, data["upload_url"], data["token"], 1, b"abc"), 400, "invalid_upload_token_error")


def test_conflict_quota_and_lock_are_checked_at_start(jane: KDrive, emu: Emulator) -> None:
    failure(start(jane, file_name="todo.txt", total_size=3, total_chunks=1), 409, "file_already_exists_error")
    emu.knobs.merge({"quota": {"size": 1000, "used_size": 990}})
    failure(start(jane, file_name="q.bin", total_size=11, total_chunks=1), 400, "quota_exceeded_error")
    emu.knobs.merge({"quota": None, "lock_file": {"file_id": jane.id_of("/Private/todo.txt")}})
    failure(start(jane, file_id=jane.id_of("/Private/todo.txt"), conflict=None, directory_id=None,
                  total_size=3, total_chunks=1), 423, "lock_error")


def test_target_shows_uploading_and_refuses_other_changes(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    data = started(jane, file_name="todo.txt", conflict="version", total_size=3, total_chunks=1)
    file = success(jane.get(f"/3/drive/{JANE_DRIVE}/files/{todo}"))["data"]
    assert file["status"] == "uploading"
    failure(jane.post(f"/2/drive/{JANE_DRIVE}/files/{todo}/rename", json={"name": "t.txt"}), 409,
            "still_uploading_error")
    failure(jane.upload(b"x", file_id=todo), 409, "still_uploading_error")
    failure(jane.delete(f"/2/drive/{JANE_DRIVE}/files/{todo}"), 409, "still_uploading_error")
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"new"))
    done = success(finish(jane, data["token"]))["data"]["file"]
    assert done["id"] == todo and done["status"] is None
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/todo.txt") == b"new"


def test_file_id_session_keeps_the_id(jane: KDrive, emu: Emulator) -> None:
    todo = jane.id_of("/Private/todo.txt")
    body = {"file_id": str(todo), "total_size": "2", "total_chunks": "1"}  # numbers may be strings
    data = success(jane.post(START, json=body))["data"]
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"v2"))
    assert success(finish(jane, data["token"]))["data"]["file"]["id"] == todo
    failure(jane.post(START, json={"file_id": todo, "file_name": "x", "total_size": 1, "total_chunks": 1}),
            422, "validation_failed")


def test_session_creates_missing_folders_only_at_finish(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="f.txt", directory_id=None, directory_path="/Private/s1/s2",
                   total_size=2, total_chunks=1)
    assert emu.state.kdrive.find(JANE_DRIVE, "/Private/s1") is None
    success(send_chunk(jane, data["upload_url"], data["token"], 1, b"ok"))
    success(finish(jane, data["token"]))
    assert emu.state.kdrive.read_bytes(JANE_DRIVE, "/Private/s1/s2/f.txt") == b"ok"


def test_open_sessions_are_listed_for_tests(jane: KDrive, emu: Emulator) -> None:
    data = started(jane, file_name="open.bin", total_size=3, total_chunks=1)
    assert [s.token for s in emu.state.kdrive.upload_sessions(JANE_DRIVE)] == [data["token"]]
