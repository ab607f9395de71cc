"""Finding something to check on the target: a drive, its top folders, a small file, a mailbox.

A real account's data is unknown in advance, so the checks never name a sample path: they take
whatever this module finds, with as few requests as it can (a real account is rate limited), and
the checks then assert shapes and consistency, not values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from .support import ReadOnlyHttp, success

ROOT_ID = 1
FULL_PAGE = 1000  # the largest page the API allows (§3.3)
MAX_FOLDERS_VISITED = 6  # folder listings spent looking for a small file and a crowded folder
SMALL_FILE = (16, 1 << 20)  # a file this size (bytes) is downloaded whole to compare ranges and hashes
CROWDED = 5  # a folder with more children than this needs two pages at limit=5
UID_LIST_LENGTH = 50  # uids asked for in the uid-list checks (the newest first)
UID_BATCH = 10  # of those, messages fetched for the batch checks
DRIVE_LIST = "/2/drive/users/current/drives"
DRIVE_LIST_PARAMS: list[tuple[str, str]] = [("roles[]", "admin"), ("roles[]", "user"),
                                           ("with", "drive,drive.account,total")]


@dataclass(frozen=True)
class Listing:
    """The first page (up to 1000) of a folder's children; ``complete`` when there is no more."""

    children: list[dict[str, Any]]
    complete: bool


@dataclass
class DriveSample:
    """One drive of the account and what the checks need from it."""

    drive_id: int
    root: Listing
    private: dict[str, Any]
    listings: dict[int, Listing] = field(default_factory=dict)
    file: dict[str, Any] | None = None

    def top_folder(self, visibility: str) -> dict[str, Any] | None:
        return next((c for c in self.root.children if c.get("visibility") == visibility), None)

    def crowded_folder(self) -> tuple[int, Listing] | None:
        """The visited folder with the fewest children above :data:`CROWDED` (cheapest to page)."""
        crowded = [(len(listing.children), folder_id, listing) for folder_id, listing in self.listings.items()
                   if len(listing.children) > CROWDED]
        if not crowded:
            return None
        _, folder_id, listing = min(crowded, key=lambda entry: entry[:2])
        return folder_id, listing


def list_folder(http: ReadOnlyHttp, drive_id: int, dir_id: int) -> Listing:
    response = http.get("api", f"/3/drive/{drive_id}/files/{dir_id}/files",
                        params={"limit": FULL_PAGE, "with": "capabilities,hash"})
    body = success(response, kdrive=True)
    assert isinstance(body["data"], list), f"the listing of {dir_id} is not a list"
    return Listing(body["data"], complete=not body.get("has_more"))


def drive_list_reply(http: ReadOnlyHttp) -> httpx.Response:
    """The user's drive list, one page of up to 1000 entries."""
    return http.get("api", DRIVE_LIST, params=[*DRIVE_LIST_PARAMS, ("per_page", str(FULL_PAGE))])


def explore_drive(http: ReadOnlyHttp, drive_id: int) -> DriveSample | None:
    """Root, Private, and a breadth-first walk from Private until a small file and a crowded
    folder are found (or :data:`MAX_FOLDERS_VISITED` folders were listed). ``None``: no Private."""
    root = list_folder(http, drive_id, ROOT_ID)
    private = next((c for c in root.children if c.get("visibility") == "is_private_space"), None)
    if private is None:
        return None
    sample = DriveSample(drive_id, root, private)
    queue = [int(private["id"])]
    while queue and len(sample.listings) < MAX_FOLDERS_VISITED:
        folder_id = queue.pop(0)
        listing = list_folder(http, drive_id, folder_id)
        sample.listings[folder_id] = listing
        queue.extend(int(c["id"]) for c in listing.children if c.get("type") == "dir")
        if sample.file is None:
            sample.file = _smallest_file(listing.children)
        if sample.file is not None and sample.crowded_folder() is not None:
            break
    return sample


def _smallest_file(children: list[dict[str, Any]]) -> dict[str, Any] | None:
    low, high = SMALL_FILE
    files = [c for c in children if c.get("type") == "file" and isinstance(c.get("size"), int)
             and low <= c["size"] <= high and c.get("status") is None]
    return min(files, key=lambda c: c["size"], default=None)


@dataclass(frozen=True)
class Download:
    """The pre-signed content URL of the sample file, and its bytes."""

    location: str
    content: bytes


def download_reply(http: ReadOnlyHttp, drive_id: int, file_id: int) -> httpx.Response:
    """The reply of ``/download`` (expected: a 302 to the content host), unfollowed."""
    return http.get("api", f"/2/drive/{drive_id}/files/{file_id}/download")
