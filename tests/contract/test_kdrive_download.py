"""kDrive downloads and hashes (§4.5, §4.8 hash, D14, D21).

ikdav follows exactly one redirect to the content host and sends it no ``Authorization``: these
checks make sure the real service still works that way, using a small file found on the target.
"""

from __future__ import annotations

from typing import Any

import httpx
import xxhash

from .samples import Download, DriveSample, download_reply
from .shapes import is_content_hash
from .support import ReadOnlyHttp, success

RANGE = (2, 9)  # inclusive, as in the Range header; the sample file has at least 16 bytes


def under(url: str, base: str) -> bool:
    """Whether ``url`` lies below ``base`` (same origin, and inside its path prefix if any)."""
    inner, outer = httpx.URL(url), httpx.URL(base)
    same_origin = (inner.scheme, inner.host, inner.port) == (outer.scheme, outer.host, outer.port)
    return same_origin and inner.path.startswith(outer.path.rstrip("/") + "/")


def test_download_redirects_once_to_another_host(http: ReadOnlyHttp, drive: DriveSample,
                                                 sample_file: dict[str, Any]) -> None:
    response = download_reply(http, drive.drive_id, sample_file["id"])
    assert response.status_code == 302, f"/download answered {response.status_code}, not 302"
    location = response.headers.get("Location", "")
    assert httpx.URL(location).scheme in ("http", "https"), f"Location is not absolute: {location[:80]!r}"
    assert not under(location, http.target.api_url), "the content URL is on the API host"


def test_content_url_serves_the_whole_file_without_authorization(http: ReadOnlyHttp, download: Download,
                                                                  sample_file: dict[str, Any]) -> None:
    with http.stream_url(download.location) as response:
        assert "Authorization" not in response.request.headers
        assert response.status_code == 200, f"the content URL answered {response.status_code}"
        assert response.headers.get("Content-Length") == str(sample_file["size"])
        assert response.headers.get("Accept-Ranges") == "bytes"
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert content_type == sample_file["mime_type"], f"Content-Type {content_type!r}"
        body = response.read()
    assert len(body) == sample_file["size"]
    assert body == download.content, "two downloads of the same pre-signed URL differ"


def test_content_url_answers_a_range_with_206(http: ReadOnlyHttp, download: Download,
                                              sample_file: dict[str, Any]) -> None:
    first, last = RANGE
    response = http.get_url(download.location, headers={"Range": f"bytes={first}-{last}"})
    assert "Authorization" not in response.request.headers
    assert response.status_code == 206, f"a Range request got {response.status_code}"
    assert response.headers.get("Content-Range") == f"bytes {first}-{last}/{sample_file['size']}"
    assert response.content == download.content[first:last + 1]


def test_hash_route_gives_xxh3_of_the_content_or_nothing(http: ReadOnlyHttp, drive: DriveSample,
                                                         sample_file: dict[str, Any],
                                                         download: Download) -> None:
    data = success(http.get("api", f"/2/drive/{drive.drive_id}/files/{sample_file['id']}/hash"),
                   kdrive=True)["data"]
    value = data.get("hash") if isinstance(data, dict) else None
    assert value is None or is_content_hash(value), f"the hash route gave {value!r}"
    if value is not None:
        assert value == "xxh3:" + xxhash.xxh3_64(download.content).hexdigest(), "the hash is not XXH3-64"
        listed = sample_file.get("hash")
        assert listed in (None, value), f"the listing says {listed!r}, the hash route {value!r}"
