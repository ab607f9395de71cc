"""litmus, the WebDAV conformance suite, run inside a kDrive folder of the share: 100% required."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from harness import PRIVATE, DavServer, have

pytestmark = [pytest.mark.client, pytest.mark.skipif(not have("litmus"), reason="litmus is not installed")]

GROUPS = ("basic", "copymove", "props", "locks", "http")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


def test_litmus_passes_every_group(dav: DavServer, tmp_path: Path) -> None:
    url = dav.href(PRIVATE) + "/"
    result = subprocess.run(["litmus", "-k", url, dav.user, dav.password], cwd=tmp_path,
                            env={"TESTS": " ".join(GROUPS), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=600)
    output = result.stdout.replace("\x08", "").replace("\r", "\n")
    summaries = {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)))
                 for m in SUMMARY.finditer(output)}
    failures = [line.strip() for line in output.splitlines() if "FAIL" in line]
    debug_log = (tmp_path / "debug.log").read_text(errors="replace") if failures else ""
    assert not failures, "\n".join(failures) + "\n" + debug_log[-4000:]
    assert set(summaries) == set(GROUPS), output[-2000:]
    for group, (run, passed, failed) in summaries.items():
        assert failed == 0 and passed == run, f"{group}: {passed}/{run}"
    assert sum(run for run, _, _ in summaries.values()) == 104
    assert "WARNING" not in output
