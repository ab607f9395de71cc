"""rclone (a real WebDAV client) against the share: listing, copies both ways, check, purge, mtimes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import MY_KDRIVE, PRIVATE, DavServer, have, rclone

pytestmark = [pytest.mark.client, pytest.mark.skipif(not have("rclone"), reason="rclone is not installed")]

MTIME = 1_577_836_800  # 2020-01-01 00:00:00 UTC


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "notes.txt": b"plain text\n",
        "empty.bin": b"",
        "Ünïcödé folder/réunion 2026.txt": "déjà vu ✓".encode(),
        "sub/deeper/data.bin": os.urandom(3 * 1024 * 1024 + 17),
        "sub/with space & ampersand.txt": b"&",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))
    return files


def test_lsf_lists_the_share(dav: DavServer) -> None:
    assert set(rclone(dav, "lsf", "dav:").split()) == {"kDrive/", "Mail/"}
    assert "Private/" in rclone(dav, "lsf", "dav:kDrive/My kDrive")


def test_copy_up_check_copy_down_and_purge(dav: DavServer, tmp_path: Path) -> None:
    local = tmp_path / "up"
    files = make_tree(local)
    remote = f"dav:{PRIVATE}/rclone-test"
    rclone(dav, "mkdir", remote)
    rclone(dav, "copy", str(local), remote)
    for name, data in files.items():
        assert dav.emulator.state.kdrive.read_bytes(MY_KDRIVE, f"/Private/rclone-test/{name}") == data
    rclone(dav, "check", str(local), remote)
    rclone(dav, "check", "--download", str(local), remote)
    down = tmp_path / "down"
    rclone(dav, "copy", remote, str(down))
    for name, data in files.items():
        assert (down / name).read_bytes() == data
    rclone(dav, "purge", remote)
    assert dav.emulator.state.kdrive.find(MY_KDRIVE, "/Private/rclone-test") is None
    assert "rclone-test" not in rclone(dav, "lsf", f"dav:{PRIVATE}")


def test_owncloud_vendor_keeps_modification_times(dav: DavServer, tmp_path: Path) -> None:
    local = tmp_path / "up"
    files = make_tree(local)
    remote = f"dav:{PRIVATE}/mtimes"
    rclone(dav, "copy", str(local), remote, vendor="owncloud")
    node = dav.emulator.state.kdrive.find(MY_KDRIVE, "/Private/mtimes/notes.txt")
    assert node.last_modified_at == MTIME
    listing = rclone(dav, "lsl", remote, vendor="owncloud")
    assert listing.count("2020-01-01 00:00:00") == len(files), listing
    down = tmp_path / "down"
    rclone(dav, "copy", remote, str(down), vendor="owncloud")
    for name in files:
        assert int((down / name).stat().st_mtime) == MTIME
    # A second sync finds nothing to do: sizes and times agree.
    assert "There was nothing to transfer" in rclone(dav, "copy", "-v", str(local), remote, vendor="owncloud")
    rclone(dav, "check", str(local), remote, vendor="owncloud")
