"""A short soak: concurrent clients with mixed requests, a tight upstream rate limit and random 5xx.

It stops by itself after a few seconds. Nothing acknowledged may be lost, no file may hold
content nobody wrote, and no answer may be a 5xx the upstream did not cause. The long version
with memory figures is ``bench/soak.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness import MY_KDRIVE, PRIVATE, start_dav

from ikdav.emulator.app import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from soak_workload import run, verify

FAULTS = {
    "rate_limit_per_minute": 1200,
    "server_errors": {"status": 503, "probability": 0.05, "match": {"host": "api", "method": "GET"}},
}


def test_concurrent_clients_lose_nothing_under_upstream_faults(fresh_emulator: Emulator,
                                                               tmp_path: Path) -> None:
    dav = start_dav(fresh_emulator, tmp_path / "data", **{
        "upload.direct_max_bytes": 1 << 20, "upload.chunk_size": 1 << 20,
        "infomaniak.max_retry_wait": 5})
    try:
        fresh_emulator.knobs.merge(FAULTS)
        figures, workers = run(dav.url, f"{PRIVATE}/soak", dav.auth, clients=8, seconds=8,
                               sizes=(0, 1_000, 200_000, 1_500_000))
        fresh_emulator.knobs.reset()
    finally:
        dav.stop()
    kdrive = fresh_emulator.state.kdrive

    def stored(number: int) -> dict[str, bytes]:
        folder = f"/Private/soak/c{number}"
        if kdrive.find(MY_KDRIVE, folder) is None:
            return {}
        return {name: kdrive.read_bytes(MY_KDRIVE, f"{folder}/{name}")
                for name in kdrive.list_names(MY_KDRIVE, folder)}

    assert figures.requests > 100
    assert figures.problems == []
    assert figures.unexpected_5xx() == 0, figures.statuses
    assert verify(workers, stored) == []
    assert kdrive.upload_sessions() == [], "upload sessions left open after the run"
