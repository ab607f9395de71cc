"""Measured figures for the Mail share: a PROPFIND of a big mail folder, cold and warm.

    .venv/bin/python bench/dav_mail.py [--messages 10000]

The emulator (``ikdav emulator --big-mail-folder N``) and ikdav (``ikdav serve``) run as their own
processes. Printed: the time of PROPFIND Depth 1 on the folder with a cold cache (uid list plus
metadata in batches of 200), warm (from the cache), and after the cache's TTL (revalidated through
the activities feed), each with the upstream calls it took, and the size of the multistatus reply.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from processes import Emulator, Ikdav

FOLDER = "Mail/jane@example.ch/Archive/Bulk/"


def propfind(ikdav: Ikdav) -> tuple[float, int, int]:
    started = time.perf_counter()
    reply = ikdav.session.request("PROPFIND", ikdav.href(FOLDER), headers={"Depth": "1"})
    elapsed = time.perf_counter() - started
    assert reply.status_code == 207, reply.status_code
    return elapsed, reply.text.count(".eml</ns0:href>"), len(reply.content)


def kinds(calls: list[dict[str, object]]) -> str:
    counted = Counter(str(call["path"]).rsplit("/", 1)[-1] for call in calls)
    return ", ".join(f"{count} {name}" for name, count in sorted(counted.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--ttl", type=float, default=15.0, help="ikdav's cache.mail_ttl for the run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ikdav-bench-"))
    emulator = Emulator("--big-folder-files", "10", "--mail-messages", "20",
                        "--big-mail-folder", str(args.messages))
    try:
        ikdav = Ikdav(emulator, work / "data", {"IKDAV_CACHE__MAIL_TTL": str(args.ttl)})
        try:
            parent = ikdav.href("Mail/jane@example.ch/Archive/")
            ikdav.session.request("PROPFIND", parent, headers={"Depth": "0"})
            emulator.clear_log()
            cold, count, size = propfind(ikdav)
            cold_calls = emulator.calls()
            emulator.clear_log()
            warm_runs = [propfind(ikdav)[0] for _ in range(3)]
            warm_calls = emulator.calls()
            time.sleep(args.ttl + 0.2)
            emulator.clear_log()
            revalidated, _, _ = propfind(ikdav)
            revalidated_calls = emulator.calls()
        finally:
            ikdav.stop()
    finally:
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    batches = math.ceil(args.messages / 200)
    print(f"\nPROPFIND Depth 1 of a mail folder of {count} messages ({size / 1e6:.1f} MB of XML)")
    print(f"  cold                       {cold * 1000:7.0f} ms   {len(cold_calls)} upstream calls "
          f"({kinds(cold_calls)}; expected 1 uid list + {batches} batches of 200)")
    print(f"  warm (median of 3)         {statistics.median(warm_runs) * 1000:7.0f} ms   "
          f"{len(warm_calls)} upstream calls")
    print(f"  after the {args.ttl:g} s TTL       {revalidated * 1000:7.0f} ms   {len(revalidated_calls)} "
          f"upstream calls ({kinds(revalidated_calls)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
