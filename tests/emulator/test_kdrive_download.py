"""kDrive downloads (§4.5, D14): the 302 to a pre-signed content URL, ranges, expiry, knobs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from ikdav.emulator.app import Emulator

from .test_kdrive_support import JANE_DRIVE, KDrive, failure, kdrive, success

NOTES = "/Private/Documents/notes.txt"


@pytest.fixture
def jane(emulator: Emulator) -> Iterator[KDrive]:
    client = kdrive(emulator)
    yield client
    client.close()


def download_url(client: KDrive, path: str) -> str:
    return f"/2/drive/{JANE_DRIVE}/files/{client.id_of(path)}/download"


def presigned(client: KDrive, path: str) -> str:
    response = client.get(download_url(client, path))
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def test_download_redirects_to_the_content_host(jane: KDrive, emulator: Emulator) -> None:
    location = presigned(jane, NOTES)
    assert location.startswith(emulator.content_url + "/")
    assert not location.startswith(emulator.api_url + "/")
    response = httpx.get(location)
    assert response.status_code == 200
    assert response.content == emulator.state.kdrive.read_bytes(JANE_DRIVE, NOTES)
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Accept-Ranges"] == "bytes"


def test_content_type_is_the_files_mime_type(jane: KDrive) -> None:
    response = httpx.get(presigned(jane, "/Private/Documents/report.pdf"))
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_presigned_url_is_reusable(jane: KDrive) -> None:
    location = presigned(jane, NOTES)
    assert httpx.get(location).content == httpx.get(location).content


def test_content_host_refuses_an_authorization_header(jane: KDrive, emulator: Emulator) -> None:
    response = httpx.get(presigned(jane, NOTES), headers={"Authorization": f"Bearer {jane.token}"})
    assert response.status_code == 400
    records = emulator.log.find(role="content", path_contains="/kdrive/")
    assert any(r.authorization and r.status == 400 for r in records)


def test_presigned_url_expires_after_ten_minutes(fresh_emulator: Emulator) -> None:
    client = kdrive(fresh_emulator)
    location = presigned(client, NOTES)
    fresh_emulator.state.kdrive.time_travel(590)
    assert httpx.get(location).status_code == 200
    fresh_emulator.state.kdrive.time_travel(20)
    assert httpx.get(location).status_code == 403


def test_tampered_signature_is_forbidden(jane: KDrive) -> None:
    location = presigned(jane, NOTES)
    assert httpx.get(location[:-4] + "0000").status_code == 403


def test_url_is_bound_to_the_content_version(fresh_emulator: Emulator) -> None:
    client = kdrive(fresh_emulator)
    location = presigned(client, NOTES)
    fresh_emulator.state.kdrive.put_file(JANE_DRIVE, NOTES, b"new content")
    assert httpx.get(location).status_code == 404
    assert httpx.get(presigned(client, NOTES)).content == b"new content"


@pytest.mark.parametrize(("range_header", "first", "last"), [
    ("bytes=0-9", 0, 9), ("bytes=100-", 100, 1999), ("bytes=-50", 1950, 1999),
    ("bytes=1990-5000", 1990, 1999), ("bytes=-5000", 0, 1999),
])
def test_single_ranges_give_206(jane: KDrive, emulator: Emulator, range_header: str, first: int,
                                last: int) -> None:
    whole = emulator.state.kdrive.read_bytes(JANE_DRIVE, NOTES)
    assert len(whole) == 2000
    response = httpx.get(presigned(jane, NOTES), headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/2000"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.content == whole[first:last + 1]


@pytest.mark.parametrize("range_header", ["bytes=2000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_gives_416(jane: KDrive, range_header: str) -> None:
    response = httpx.get(presigned(jane, NOTES), headers={"Range": range_header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */2000"


def test_several_ranges_are_answered_with_the_whole_body(jane: KDrive) -> None:
    response = httpx.get(presigned(jane, NOTES), headers={"Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert len(response.content) == 2000


def test_head_gives_length_without_body(jane: KDrive) -> None:
    response = httpx.head(presigned(jane, NOTES))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "2000"
    assert response.content == b""


def test_directories_are_not_downloaded(jane: KDrive) -> None:
    failure(jane.get(download_url(jane, "/Private/Documents")), 422, "validation_failed")


def test_trashed_file_is_not_downloadable(fresh_emulator: Emulator) -> None:
    client = kdrive(fresh_emulator)
    url = download_url(client, NOTES)
    location = presigned(client, NOTES)
    success(client.delete(f"/2/drive/{JANE_DRIVE}/files/{client.id_of(NOTES)}"))
    failure(client.get(url), 404, "object_not_found")
    assert httpx.get(location).status_code == 404


def test_download_mode_direct_serves_the_body_from_download(jane: KDrive, emulator: Emulator) -> None:
    emulator.knobs.merge({"download_mode": "direct"})
    response = jane.get(download_url(jane, NOTES))
    assert response.status_code == 200
    assert response.content == emulator.state.kdrive.read_bytes(JANE_DRIVE, NOTES)
    assert response.headers["Content-Type"] == "text/plain"
    ranged = jane.get(download_url(jane, NOTES), headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == response.content[10:20]


def test_download_mode_count_switches_back_to_redirects(jane: KDrive, emulator: Emulator) -> None:
    emulator.knobs.merge({"download_mode": {"value": "direct", "count": 1}})
    assert jane.get(download_url(jane, NOTES)).status_code == 200
    assert jane.get(download_url(jane, NOTES)).status_code == 302


def test_content_range_false_ignores_ranges(jane: KDrive, emulator: Emulator) -> None:
    emulator.knobs.merge({"content_range": False})
    response = httpx.get(presigned(jane, NOTES), headers={"Range": "bytes=0-9"})
    assert response.status_code == 200
    assert len(response.content) == 2000
    assert "Content-Range" not in response.headers


def test_content_bytes_per_s_throttles_the_stream(jane: KDrive, emulator: Emulator) -> None:
    location = presigned(jane, "/Private/Documents/report.pdf")  # 12345 bytes
    started = time.monotonic()
    httpx.get(location)
    fast = time.monotonic() - started
    emulator.knobs.merge({"content_bytes_per_s": {"value": 20_000, "match": "content"}})
    started = time.monotonic()
    response = httpx.get(location)
    slow = time.monotonic() - started
    assert len(response.content) == 12_345
    assert slow >= 0.5 > fast
