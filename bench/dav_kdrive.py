"""Measured figures for the kDrive share, each next to its baseline, in one run.

    .venv/bin/python bench/dav_kdrive.py [--size-mib 256] [--files 10000] [--big-mib 1024]

Three processes on loopback: the emulator (``ikdav emulator``), ikdav (``ikdav serve``) and this
script as the client, so each server's memory is its own. It prints:

- GET and PUT throughput of a ``--size-mib`` file through ikdav and directly against the emulator
  (direct = the same transfer with the client library, no WebDAV in between);
- PROPFIND Depth 1 of a folder of ``--files`` files through ikdav (cold and warm) and through
  WsgiDAV's own FilesystemProvider over as many local files, with the upstream calls ikdav made;
- ikdav's peak memory (VmHWM) while a ``--big-mib`` file goes up and comes back down.

Targets: GET >= 0.9x direct, PUT >= 0.85x direct, warm PROPFIND <= 1.2x the filesystem provider,
cold listing = ceil(n/1000) listing calls, peak memory < 150 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests
from processes import Emulator, Ikdav, free_port, peak_rss_mib, start, wait_http

from ikdav.infomaniak import ClientSettings, Endpoints, InfomaniakClient, StaticTokenProvider

MiB = 1 << 20
DRIVE = 140946
PRIVATE = "kDrive/My kDrive/Private"
BLOCK = 1 * MiB
GIGABIT = 125_000_000  # bytes per second


def pattern(size: int) -> Iterator[bytes]:
    block = hashlib.sha256(b"ikdav").digest() * (BLOCK // 32)
    sent = 0
    while sent < size:
        chunk = block[: min(BLOCK, size - sent)]
        sent += len(chunk)
        yield chunk


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for chunk in pattern(size):
            out.write(chunk)


def rate(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:7.1f} MiB/s"


def client_for(emulator: Emulator) -> InfomaniakClient:
    return InfomaniakClient(Endpoints(emulator.login_url, emulator.api_url, emulator.mail_url),
                            StaticTokenProvider(emulator.token), ClientSettings())


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def transfer_figures(emulator: Emulator, ikdav: Ikdav, size: int, work: Path, link: str,
                     repeats: int) -> None:
    """Median of ``repeats`` runs of each transfer; every upload creates a new file."""
    source = work / "source.bin"
    if not source.exists():
        make_file(source, size)
    client = client_for(emulator)
    kdrive = client.kdrive
    private = kdrive.top_folders(DRIVE).private.id
    tag = link.split()[0]
    uploaded: list[int] = []

    def direct_put(run: int) -> None:
        with source.open("rb") as handle:
            uploaded.append(kdrive.upload(DRIVE, private, f"direct-{tag}-{run}.bin", handle, size).id)

    def ikdav_put(run: int) -> None:
        with source.open("rb") as handle:
            reply = ikdav.session.put(ikdav.href(f"{PRIVATE}/via-ikdav-{tag}-{run}.bin"), data=handle)
        assert reply.status_code in (201, 204), reply.text

    def direct_get() -> None:
        assert sum(len(block) for block in kdrive.download(DRIVE, uploaded[0])) == size

    def ikdav_get() -> None:
        with ikdav.session.get(ikdav.href(f"{PRIVATE}/direct-{tag}-0.bin"), stream=True) as reply:
            assert sum(len(block) for block in reply.iter_content(BLOCK)) == size

    figures = {
        "PUT": (statistics.median(timed(lambda r=run: direct_put(r)) for run in range(repeats)),
                statistics.median(timed(lambda r=run: ikdav_put(r)) for run in range(repeats))),
        "GET": (statistics.median(timed(direct_get) for _ in range(repeats)),
                statistics.median(timed(ikdav_get) for _ in range(repeats))),
    }
    client.close()
    print(f"\n{size // MiB} MiB, {link:14s} (median of {repeats})  "
          "direct (library)  through ikdav   ratio  target")
    for method, target in (("GET", "0.90x"), ("PUT", "0.85x")):
        direct, via = figures[method]
        print(f"  {method}                              {rate(size, direct)}   {rate(size, via)}  "
              f"{direct / via:5.2f}x  >= {target}")


def propfind_times(session: requests.Session, url: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        reply = session.request("PROPFIND", url, headers={"Depth": "1"})
        times.append(time.perf_counter() - started)
        assert reply.status_code == 207, reply.status_code
    return times


def listing_figures(emulator: Emulator, ikdav: Ikdav, files: int, work: Path) -> None:
    url = ikdav.href(f"{PRIVATE}/Big folder") + "/"
    ikdav.session.request("PROPFIND", ikdav.href(PRIVATE) + "/", headers={"Depth": "0"})  # resolve parents
    emulator.clear_log()
    cold = propfind_times(ikdav.session, url, 1)[0]
    calls = emulator.calls()
    listing_calls = [c for c in calls if str(c["path"]).endswith("/files")]
    warm = statistics.median(propfind_times(ikdav.session, url, 5))

    local = work / "fs-share"
    folder = local / "Big folder"
    folder.mkdir(parents=True)
    for index in range(files):
        (folder / f"file-{index:05d}.bin").write_bytes(b"x" * 100)
    port = free_port()
    fs = start([str(Path(sys.executable).parent / "wsgidav"), "--host", "127.0.0.1", "--port", str(port),
                "--root", str(local), "--auth", "anonymous", "--no-config", "-q", "-q"])
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        fs_session = requests.Session()
        fs_url = f"http://127.0.0.1:{port}/Big%20folder/"
        propfind_times(fs_session, fs_url, 1)
        fs_warm = statistics.median(propfind_times(fs_session, fs_url, 5))
    finally:
        fs.terminate()
        fs.wait(timeout=30)

    print(f"\nPROPFIND Depth 1, {files} files        time        upstream calls")
    print(f"  ikdav, cold                  {cold * 1000:7.0f} ms   {len(calls)} in all, "
          f"{len(listing_calls)} listing pages (target ceil(n/1000) = {math.ceil(files / 1000)})")
    print(f"  ikdav, warm (median of 5)    {warm * 1000:7.0f} ms   0")
    print(f"  WsgiDAV FilesystemProvider   {fs_warm * 1000:7.0f} ms   -")
    print(f"  warm ratio ikdav / filesystem: {warm / fs_warm:.2f}x (target <= 1.20x)")


def memory_figures(emulator: Emulator, data_dir: Path, size: int, work: Path) -> None:
    ikdav = Ikdav(emulator, data_dir)
    try:
        source = work / "big.bin"
        make_file(source, size)
        before = peak_rss_mib(ikdav.process.pid)
        with source.open("rb") as handle:
            reply = ikdav.session.put(ikdav.href(f"{PRIVATE}/big.bin"), data=handle)
        assert reply.status_code in (201, 204), reply.text
        with ikdav.session.get(ikdav.href(f"{PRIVATE}/big.bin"), stream=True) as reply:
            received = sum(len(block) for block in reply.iter_content(BLOCK))
        assert received == size
        peak = peak_rss_mib(ikdav.process.pid)
    finally:
        ikdav.stop()
    print(f"\nikdav peak memory moving a {size // MiB} MiB file up and down")
    print(f"  VmHWM before {before:.0f} MiB, after {peak:.0f} MiB (target < 150 MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ikdav-bench-"))
    emulator = Emulator("--big-folder-files", str(args.files), "--mail-messages", "20")
    try:
        ikdav = Ikdav(emulator, work / "data")
        try:
            transfer_figures(emulator, ikdav, args.size_mib * MiB, work, "loopback", args.repeats)
            # Downloads again with the content host at 1 Gbit/s, as over a real network link.
            emulator.set_knobs({"content_bytes_per_s": GIGABIT})
            transfer_figures(emulator, ikdav, args.size_mib * MiB, work, "1 Gbit/s down", args.repeats)
            emulator.set_knobs({"content_bytes_per_s": None})
            listing_figures(emulator, ikdav, args.files, work)
        finally:
            ikdav.stop()
        memory_figures(emulator, work / "data-memory", args.big_mib * MiB, work)
    finally:
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
