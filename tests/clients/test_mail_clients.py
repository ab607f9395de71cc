"""Real clients on the Mail part of the share: rclone, cadaver and davfs2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from harness import DavServer, client_env, have, rclone

from ikdav.dav.names import message_file_name

pytestmark = pytest.mark.client
BOX = "jane@example.ch"


def expected_files(dav: DavServer, folder: str) -> dict[str, bytes]:
    return {message_file_name(m.internal_date, m.summary.subject, str(m.uid)): m.raw
            for m in dav.emulator.state.mail.list_messages(BOX, folder)}


@pytest.mark.skipif(not have("rclone"), reason="rclone is not installed")
def test_rclone_copies_a_mail_folder_byte_for_byte(dav: DavServer, tmp_path: Path) -> None:
    down = tmp_path / "inbox"
    rclone(dav, "copy", f"dav:Mail/{BOX}/INBOX", str(down), "--max-depth", "1")
    expected = expected_files(dav, "INBOX")
    assert expected
    copied = {path.name: path.read_bytes() for path in down.iterdir() if path.is_file()}
    assert copied == expected
    rclone(dav, "check", "--download", "--max-depth", "1", f"dav:Mail/{BOX}/INBOX", str(down))


@pytest.mark.skipif(not have("cadaver"), reason="cadaver is not installed")
def test_cadaver_lists_and_gets_messages(dav: DavServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login {dav.user} password {dav.password}\n")
    (home / ".netrc").chmod(0o600)
    name, raw = sorted(expected_files(dav, "Sent").items())[0]
    script = f'ls\nget "{name}" fetched.eml\nquit\n'
    result = subprocess.run(["cadaver", dav.href(f"Mail/{BOX}/Sent") + "/"], input=script,
                            capture_output=True, text=True, env=client_env(home), cwd=tmp_path, timeout=120)
    output = result.stdout + result.stderr
    assert name.split(" [")[0][:20] in output  # the listing shows the message names
    assert (tmp_path / "fetched.eml").read_bytes() == raw


@pytest.mark.skipif(not have("mount.davfs"), reason="davfs2 is not installed")
@pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing: no FUSE mounts here")
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting davfs2 needs root")
def test_deleting_through_davfs2_lands_the_message_in_trash(dav: DavServer, tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    conf = tmp_path / "davfs2.conf"
    conf.write_text("buf_size 64\ndelay_upload 0\nask_auth 1\n")
    url = dav.url + f"Mail/{BOX}/INBOX/"
    mounted = subprocess.run(["mount", "-t", "davfs", "-o", f"conf={conf}", url, str(mountpoint)],
                             input=f"{dav.user}\n{dav.password}\n", capture_output=True, text=True,
                             timeout=60)
    assert mounted.returncode == 0, mounted.stderr
    try:
        name, raw = sorted(expected_files(dav, "INBOX").items())[0]
        assert name in os.listdir(mountpoint)
        assert (mountpoint / name).read_bytes() == raw
        (mountpoint / name).unlink()
        assert name not in os.listdir(mountpoint)
    finally:
        subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=120)
    assert raw not in {m.raw for m in dav.emulator.state.mail.list_messages(BOX, "INBOX")}
    assert raw in {m.raw for m in dav.emulator.state.mail.list_messages(BOX, "Trash")}
