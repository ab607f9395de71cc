"""cadaver (an interactive WebDAV client) driven by a script: it always exits 0, so we read its output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from harness import MY_KDRIVE, PRIVATE, DavServer, client_env, have

pytestmark = [pytest.mark.client, pytest.mark.skipif(not have("cadaver"), reason="cadaver is not installed")]


def cadaver(dav: DavServer, home: Path, script: str, cwd: Path) -> str:
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {dav.user} password {dav.password}\n")
    netrc.chmod(0o600)
    url = dav.href(PRIVATE) + "/"
    result = subprocess.run(["cadaver", url], input=script + "\nquit\n", capture_output=True, text=True,
                            env=client_env(home), cwd=cwd, timeout=120)
    return result.stdout + result.stderr


def test_cadaver_script(dav: DavServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "upload.txt").write_bytes(b"sent by cadaver\n")
    script = "\n".join([
        "ls",
        "mkcol cadaver-dir",
        "put upload.txt cadaver-dir/upload.txt",
        "get cadaver-dir/upload.txt fetched.txt",
        "copy cadaver-dir/upload.txt cadaver-dir/copy.txt",
        "move cadaver-dir/copy.txt cadaver-dir/moved.txt",
        "propset cadaver-dir/moved.txt color blue",
        "propget cadaver-dir/moved.txt color",
        "ls cadaver-dir",
        "delete cadaver-dir/upload.txt",
        "ls cadaver-dir",
    ])
    output = cadaver(dav, home, script, work)
    assert "todo.txt" in output  # the first ls
    assert "Creating `cadaver-dir': succeeded" in output
    assert "Uploading upload.txt to" in output and "succeeded" in output
    assert (work / "fetched.txt").read_bytes() == b"sent by cadaver\n"
    assert "Copying `" in output and "Moving `" in output
    assert "Setting property on `cadaver-dir/moved.txt': succeeded" in output
    assert "blue" in output
    assert "Deleting `cadaver-dir/upload.txt': succeeded" in output
    assert "failed" not in output.lower(), output
    kdrive = dav.emulator.state.kdrive
    assert kdrive.list_names(MY_KDRIVE, "/Private/cadaver-dir") == ["moved.txt"]
    assert kdrive.read_bytes(MY_KDRIVE, "/Private/cadaver-dir/moved.txt") == b"sent by cadaver\n"
