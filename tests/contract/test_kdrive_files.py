"""kDrive reading (§3.3 cursors, §4.2–§4.4, §4.9): root, top folders, listings, lookups, the feed."""

from __future__ import annotations

from typing import Any

import pytest

from .samples import CROWDED, ROOT_ID, DriveSample
from .shapes import CHILD_VISIBILITY, TOP_VISIBILITIES, assert_feed_page, assert_file
from .support import ReadOnlyHttp, Target, failure, is_int, missing, success

SMALL_LIMIT = 5  # the smallest page the API allows
MAX_PAGES = 4  # cursor pages followed at most (a real folder may be huge)
MISSING_NAME = "ikdav contract check: no file is called this.txt"


def files_path(drive: DriveSample, dir_id: int) -> str:
    return f"/3/drive/{drive.drive_id}/files/{dir_id}/files"


def test_root_is_folder_1_with_visibility_is_root(http: ReadOnlyHttp, drive: DriveSample) -> None:
    data = success(http.get("api", f"/3/drive/{drive.drive_id}/files/{ROOT_ID}"), kdrive=True)["data"]
    assert_file(data, drive_id=drive.drive_id)
    assert (data["id"], data["type"], data["visibility"]) == (ROOT_ID, "dir", "is_root")


def test_root_holds_only_the_top_folders(drive: DriveSample) -> None:
    visibilities = []
    for child in drive.root.children:
        assert_file(child, parent_id=ROOT_ID, drive_id=drive.drive_id)
        assert child["type"] == "dir", f"root holds a file: {child['name']!r}"
        visibilities.append(child["visibility"])
    assert set(visibilities) <= set(TOP_VISIBILITIES.values()), f"root holds {visibilities!r}"
    assert len(set(visibilities)) == len(visibilities), f"a top folder appears twice: {visibilities!r}"
    assert "is_private_space" in visibilities


@pytest.mark.parametrize("top", list(TOP_VISIBILITIES))
def test_top_folder_children_carry_their_visibility(http: ReadOnlyHttp, drive: DriveSample, target: Target,
                                                    top: str) -> None:
    folder = drive.top_folder(TOP_VISIBILITIES[top])
    if folder is None:
        missing(target, f"the drive has no {top} folder")
    known = drive.listings.get(folder["id"])
    children = known.children if known else success(http.get(
        "api", files_path(drive, folder["id"]), params={"limit": 20}), kdrive=True)["data"]
    if not children:
        missing(target, f"the {top} folder is empty")
    expected = CHILD_VISIBILITY[folder["visibility"]]
    for child in children:
        assert_file(child, parent_id=folder["id"], drive_id=drive.drive_id)
        assert child["visibility"] == expected, f"{child['name']!r} in {top} is {child['visibility']!r}"


def test_listing_children_have_the_file_shape(drive: DriveSample) -> None:
    private_id = drive.private["id"]
    children = drive.listings[private_id].children
    assert children, "Private is empty"
    for child in children:
        assert_file(child, parent_id=private_id, drive_id=drive.drive_id, requested=("hash", "capabilities"))
    assert len({c["id"] for c in children}) == len(children), "a child is listed twice"


def test_cursor_pages_cover_the_folder_without_repeats(http: ReadOnlyHttp, drive: DriveSample,
                                                      target: Target) -> None:
    crowded = drive.crowded_folder()
    if crowded is None:
        missing(target, f"no visited folder has more than {CROWDED} children")
    folder_id, listing = crowded
    seen: list[int] = []
    cursor: str | None = None
    for page in range(1, MAX_PAGES + 1):
        params: dict[str, Any] = {"limit": SMALL_LIMIT} | ({"cursor": cursor} if cursor else {})
        body = success(http.get("api", files_path(drive, folder_id), params=params), kdrive=True)
        assert isinstance(body["data"], list) and 0 < len(body["data"]) <= SMALL_LIMIT, (
            f"page {page} holds {len(body['data'])} children at limit={SMALL_LIMIT}")
        assert isinstance(body.get("has_more"), bool), f"has_more is {body.get('has_more')!r}"
        seen.extend(child["id"] for child in body["data"])
        if not body["has_more"]:
            break
        assert isinstance(body.get("cursor"), str) and body["cursor"], "has_more without a cursor"
        cursor = body["cursor"]
    assert page >= 2, f"{len(listing.children)} children fit in one page of {SMALL_LIMIT}"
    assert len(set(seen)) == len(seen), "a child came on two pages"
    listed = {c["id"] for c in listing.children}
    if listing.complete:
        assert set(seen) <= listed, "a page holds a child that the full listing lacks"
        if not body["has_more"]:
            assert set(seen) == listed, "the pages together differ from the full listing"


@pytest.mark.parametrize("limit", [SMALL_LIMIT - 1, 1001])
def test_limit_outside_5_to_1000_is_refused(http: ReadOnlyHttp, drive: DriveSample, limit: int) -> None:
    failure(http.get("api", files_path(drive, drive.private["id"]), params={"limit": limit}),
            422, "validation_failed")


def test_child_by_name_finds_the_child(http: ReadOnlyHttp, drive: DriveSample,
                                       sample_file: dict[str, Any]) -> None:
    response = http.get("api", f"/3/drive/{drive.drive_id}/files/{sample_file['parent_id']}/name",
                        params={"name": sample_file["name"], "with": "path,hash"})
    data = success(response, kdrive=True)["data"]
    assert_file(data, parent_id=sample_file["parent_id"], requested=("path", "hash"))
    assert data["id"] == sample_file["id"]


def test_child_by_name_of_a_missing_name_is_object_not_found(http: ReadOnlyHttp, drive: DriveSample) -> None:
    response = http.get("api", f"/3/drive/{drive.drive_id}/files/{drive.private['id']}/name",
                        params={"name": MISSING_NAME})
    failure(response, 404, "object_not_found")


def test_file_object_with_path_hash_and_capabilities(http: ReadOnlyHttp, drive: DriveSample,
                                                     sample_file: dict[str, Any]) -> None:
    response = http.get("api", f"/3/drive/{drive.drive_id}/files/{sample_file['id']}",
                        params={"with": "path,hash,capabilities"})
    data = success(response, kdrive=True)["data"]
    assert_file(data, parent_id=sample_file["parent_id"], drive_id=drive.drive_id,
                requested=("path", "hash", "capabilities"))
    assert (data["id"], data["name"], data["type"]) == (sample_file["id"], sample_file["name"], "file")
    assert data["path"].startswith("/"), data["path"]
    assert data["capabilities"]["can_read"] is True


def test_change_feed_starts_with_files_and_a_cursor(http: ReadOnlyHttp, drive: DriveSample) -> None:
    private_id = drive.private["id"]
    feed = f"/3/drive/{drive.drive_id}/files/{private_id}/listing"
    start = success(http.get("api", feed, params={"limit": SMALL_LIMIT,
                                                  "with": "files.capabilities,files.hash"}), kdrive=True)
    assert_feed_page(start["data"], dir_id=private_id, drive_id=drive.drive_id)
    assert 0 < len(start["data"]["files"]) <= SMALL_LIMIT
    assert isinstance(start.get("has_more"), bool), f"has_more is {start.get('has_more')!r}"
    assert isinstance(start.get("cursor"), str) and start["cursor"], "the feed start has no cursor"
    assert is_int(start.get("response_at"))

    more = success(http.get("api", feed + "/continue",
                            params={"cursor": start["cursor"], "limit": SMALL_LIMIT}), kdrive=True)
    assert_feed_page(more["data"], dir_id=private_id, drive_id=drive.drive_id)
    assert isinstance(more.get("cursor"), str) and more["cursor"], "the feed continuation has no cursor"
    first_ids = {f["id"] for f in start["data"]["files"]}
    assert not first_ids & {f["id"] for f in more["data"]["files"]}, "the continuation repeats files"
