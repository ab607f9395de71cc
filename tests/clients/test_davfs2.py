"""davfs2: the share mounted in the kernel through FUSE, used with plain file operations."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import MY_KDRIVE, PRIVATE, DavServer, have

pytestmark = [
    pytest.mark.client,
    pytest.mark.skipif(not have("mount.davfs"), reason="davfs2 is not installed"),
    pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing: no FUSE mounts here"),
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting davfs2 needs root"),
]


@pytest.fixture
def mounted(dav: DavServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    conf = tmp_path / "davfs2.conf"
    # buf_size 64: needed on kernels >= 6.16, where the default makes every ls fail with EINVAL.
    # The default cache directory is used: davfs2 cannot open one inside pytest's private tmp.
    conf.write_text("buf_size 64\ndelay_upload 0\nuse_locks 1\nask_auth 1\n")
    url = dav.url + PRIVATE + "/"  # davfs2 percent-encodes the URL itself: give it unencoded
    result = subprocess.run(["mount", "-t", "davfs", "-o", f"conf={conf}", url, str(mountpoint)],
                            input=f"{dav.user}\n{dav.password}\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=120)


def test_mount_write_read_rename_and_verify_at_the_emulator(dav: DavServer, mounted: Path,
                                                            tmp_path: Path) -> None:
    assert "todo.txt" in os.listdir(mounted)
    folder = mounted / "from-davfs"
    folder.mkdir()
    payload = os.urandom(2 * 1024 * 1024 + 3)
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    shutil.copy(source, folder / "payload.bin")
    (folder / "note.txt").write_text("written through the kernel\n")
    assert (folder / "payload.bin").read_bytes() == payload
    (folder / "note.txt").rename(folder / "renamed.txt")
    assert sorted(os.listdir(folder)) == ["payload.bin", "renamed.txt"]
    result = subprocess.run(["umount", str(mounted)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # uploads are certain only after the unmount
    kdrive = dav.emulator.state.kdrive
    assert sorted(kdrive.list_names(MY_KDRIVE, "/Private/from-davfs")) == ["payload.bin", "renamed.txt"]
    assert kdrive.read_bytes(MY_KDRIVE, "/Private/from-davfs/payload.bin") == payload
    assert kdrive.read_bytes(MY_KDRIVE, "/Private/from-davfs/renamed.txt") == b"written through the kernel\n"
