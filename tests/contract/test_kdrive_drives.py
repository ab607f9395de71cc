"""kDrive drives and the envelope (§3.1, §3.3 pages, §4.1, D28)."""

from __future__ import annotations

from typing import Any

import pytest

from .samples import DRIVE_LIST, DRIVE_LIST_PARAMS, ROOT_ID, DriveSample
from .shapes import assert_drive, assert_drive_entry
from .support import ReadOnlyHttp, Target, failure, is_int, missing, success

UNKNOWN_DRIVE = 999_999_999


@pytest.mark.parametrize("route", ["drive", "drive list", "file", "listing", "hash"])
def test_kdrive_routes_wrap_data_in_the_envelope(http: ReadOnlyHttp, drive: DriveSample, route: str,
                                                 sample_file: dict[str, Any]) -> None:
    drive_id = drive.drive_id
    path = {"drive": f"/2/drive/{drive_id}", "drive list": DRIVE_LIST,
            "file": f"/3/drive/{drive_id}/files/{ROOT_ID}",
            "listing": f"/3/drive/{drive_id}/files/{ROOT_ID}/files",
            "hash": f"/2/drive/{drive_id}/files/{sample_file['id']}/hash"}[route]
    body = success(http.get("api", path), kdrive=True)
    assert set(body) >= {"result", "data", "response_at"}


def test_drive_list_entries_carry_their_drive(drives: list[dict[str, Any]], target: Target) -> None:
    if not drives:
        missing(target, "the account has no kDrive")
    for item in drives:
        assert_drive_entry(item)
    assert len({item["drive_id"] for item in drives}) == len(drives), "a drive is listed twice"


def drive_list_page(http: ReadOnlyHttp, page: int) -> dict[str, Any]:
    return success(http.get("api", DRIVE_LIST, params=[*DRIVE_LIST_PARAMS, ("page", str(page)),
                                                       ("per_page", "1")]))


def test_drive_list_first_page_carries_the_page_fields(http: ReadOnlyHttp,
                                                      drives: list[dict[str, Any]]) -> None:
    first = drive_list_page(http, 1)
    for key in ("total", "pages", "page", "items_per_page"):
        assert is_int(first.get(key)), f"a page list lacks {key}: {first.get(key)!r}"
    assert (first["page"], first["items_per_page"]) == (1, 1)
    assert first["total"] == len(drives), "total differs from the number of drives listed at once"
    assert len(first["data"]) == min(1, len(drives))
    if drives:
        assert first["pages"] == first["total"], "one drive per page, yet pages differs from total"


def test_drive_list_second_page_holds_the_next_drive(http: ReadOnlyHttp, drives: list[dict[str, Any]],
                                                     target: Target) -> None:
    if len(drives) < 2:
        missing(target, "the account has fewer than two drives, so there is no second page")
    first, second = drive_list_page(http, 1), drive_list_page(http, 2)
    assert second["page"] == 2
    assert len(second["data"]) == 1
    assert second["data"][0]["drive_id"] != first["data"][0]["drive_id"], "page 2 repeats page 1"
    assert {first["data"][0]["drive_id"], second["data"][0]["drive_id"]} <= {d["drive_id"] for d in drives}


def test_drive_info_has_quota_and_state(http: ReadOnlyHttp, drive: DriveSample) -> None:
    data = success(http.get("api", f"/2/drive/{drive.drive_id}"), kdrive=True)["data"]
    assert_drive(data)
    assert data["id"] == drive.drive_id
    assert 0 <= data["used_size"] and 0 < data["size"]


def test_drive_info_answers_only_the_quota_when_asked(http: ReadOnlyHttp, drive: DriveSample) -> None:
    data = success(http.get("api", f"/2/drive/{drive.drive_id}", params={"only": "used_size,size"}),
                   kdrive=True)["data"]
    assert isinstance(data, dict)
    assert is_int(data.get("size")) and is_int(data.get("used_size")), f"only=used_size,size gave {data!r}"


def test_unknown_drive_is_object_not_found_for_model_drive(http: ReadOnlyHttp,
                                                           drives: list[dict[str, Any]]) -> None:
    assert UNKNOWN_DRIVE not in {item["drive_id"] for item in drives}
    error = failure(http.get("api", f"/2/drive/{UNKNOWN_DRIVE}"), 404, "object_not_found")
    assert isinstance(error.get("context"), dict), f"the error has no context: {error!r}"
    assert error["context"].get("model") == "Drive"
