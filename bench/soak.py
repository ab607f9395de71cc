"""A bounded soak run: many concurrent WebDAV clients against ikdav and a misbehaving emulator.

    .venv/bin/python bench/soak.py [--clients 32] [--seconds 60] [--rate-limit 600] [--error-rate 0.03]

The emulator (own process) enforces a per-token rate limit and answers a share of API requests
with a 503; ikdav (own process) serves 32 clients doing mixed PROPFIND/GET/PUT/MOVE/DELETE in
their own folders until the time is up. Printed: requests and their outcomes, latency p50/p99,
ikdav's memory over the run (RSS sampled twice a second, and its peak), and the two checks that
matter: every acknowledged PUT is at the emulator byte for byte, and no 5xx came that the
upstream did not cause. Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from processes import Emulator, Ikdav, peak_rss_mib
from soak_workload import UPSTREAM_CAUSED, run, verify

from ikdav.infomaniak import ClientSettings, Endpoints, InfomaniakClient, StaticTokenProvider

DRIVE = 140946
FOLDER = "kDrive/My kDrive/Private/soak"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_back(emulator: Emulator) -> dict[int, dict[str, bytes]]:
    """Every client folder as the emulator stores it, read with the client library."""
    client = InfomaniakClient(Endpoints(emulator.login_url, emulator.api_url, emulator.mail_url),
                              StaticTokenProvider(emulator.token), ClientSettings())
    kdrive = client.kdrive
    private = kdrive.top_folders(DRIVE).private
    soak = kdrive.child_by_name(DRIVE, private.id, "soak")
    stored: dict[int, dict[str, bytes]] = {}
    if soak is not None:
        for folder in kdrive.list_dir(DRIVE, soak.id):
            number = int(folder.name[1:])
            stored[number] = {item.name: b"".join(kdrive.download(DRIVE, item.id)) if item.size else b""
                              for item in kdrive.list_dir(DRIVE, folder.id)}
    client.close()
    return stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate-limit", type=int, default=600,
                        help="upstream requests per minute per token")
    parser.add_argument("--error-rate", type=float, default=0.03, help="share of API requests answered 503")
    args = parser.parse_args()
    knobs = {"rate_limit_per_minute": args.rate_limit,
             "server_errors": {"status": 503, "probability": args.error_rate, "match": "api"}}
    work = Path(tempfile.mkdtemp(prefix="ikdav-soak-"))
    emulator = Emulator("--big-folder-files", "10", "--mail-messages", "10", "--knobs", json.dumps(knobs))
    samples: list[float] = []
    try:
        ikdav = Ikdav(emulator, work / "data", {
            "IKDAV_UPLOAD__DIRECT_MAX_BYTES": str(1 << 20), "IKDAV_UPLOAD__CHUNK_SIZE": str(1 << 20),
            "IKDAV_INFOMANIAK__MAX_RETRY_WAIT": "10"})
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append(rss_mib(ikdav.process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            started = time.monotonic()
            figures, workers = run(ikdav.url, FOLDER, ("jane@example.ch", ikdav.session.auth[1]),
                                   clients=args.clients, seconds=args.seconds,
                                   sizes=(0, 2_000, 150_000, 900_000, 2_500_000))
            elapsed = time.monotonic() - started
            peak = peak_rss_mib(ikdav.process.pid)
        finally:
            stop.set()
            ikdav.stop()
        emulator.set_knobs({"rate_limit_per_minute": None, "server_errors": None})
        stored = read_back(emulator)
        lost = verify(workers, lambda number: stored.get(number, {}))
    finally:
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)

    errors = {key: count for key, count in sorted(figures.statuses.items())
              if not key.split()[1].isdigit() or int(key.split()[1]) >= 400}
    print(f"\nSoak: {args.clients} clients for {elapsed:.0f} s, upstream limit {args.rate_limit}/min "
          f"per token, {args.error_rate:.0%} random 503 on the API")
    print(f"  requests                 {figures.requests} ({figures.requests / elapsed:.0f}/s)")
    print(f"  latency p50 / p99        {figures.percentile(0.5) * 1000:.0f} ms / "
          f"{figures.percentile(0.99) * 1000:.0f} ms")
    print(f"  answers >= 400           {sum(errors.values())}: "
          + ", ".join(f"{k} x{v}" for k, v in errors.items()))
    upstream_caused = sum(v for k, v in errors.items() if k.split()[1].isdigit()
                          and int(k.split()[1]) in UPSTREAM_CAUSED)
    print(f"  5xx caused upstream      {upstream_caused} (502/503/504: upstream faults, rate limit)")
    print(f"  5xx not caused upstream  {figures.unexpected_5xx()} (must be 0)")
    print(f"  consistency problems     {len(figures.problems) + len(lost)} (must be 0)"
          + "".join(f"\n    {p}" for p in (figures.problems + lost)[:10]))
    if samples:
        third = max(1, len(samples) // 3)
        print(f"  ikdav RSS                first third {max(samples[:third]):.0f} MiB, last third "
              f"{max(samples[-third:]):.0f} MiB, peak {peak:.0f} MiB")
    return 0 if not lost and not figures.problems and not figures.unexpected_5xx() else 1


if __name__ == "__main__":
    raise SystemExit(main())
