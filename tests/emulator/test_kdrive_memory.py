"""Streams stay streams: a 64 MiB upload and download leave the emulator's memory nearly flat.

The emulator runs in a process of its own here, so that its peak resident memory is measured
alone (the test's own buffers do not count).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import xxhash

SIZE = 64 << 20
BLOCK = 1 << 20
ALLOWED_GROWTH = 16 << 20  # a quarter of the file

SERVER = """
import json, sys
from ikdav.emulator.app import Emulator, SampleOptions
emu = Emulator(sample=SampleOptions(big_folder_files=0, mail_messages=0)).start()
print(json.dumps({"api": emu.api_url, "token": emu.issue_token()}), flush=True)
sys.stdin.read()
emu.close()
"""


def blocks(count: int, seed: int = 1) -> Iterator[bytes]:
    """Deterministic, incompressible-looking blocks without holding them all."""
    for index in range(count):
        yield xxhash.xxh3_128(f"{seed}:{index}".encode()).digest() * (BLOCK // 16)


def expected_hash(count: int) -> str:
    hasher = xxhash.xxh3_64()
    for block in blocks(count):
        hasher.update(block)
    return hasher.hexdigest()


class PeakMemory:
    """The highest resident set size of a process, from the kernel's high-water mark when it
    offers one, else sampled."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.status = Path(f"/proc/{pid}/status")
        self.sampled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            try:
                self.sampled = max(self.sampled, self.process.memory_info().rss)
            except psutil.Error:
                return

    def peak(self) -> int:
        if self.status.exists():
            for line in self.status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return self.sampled

    def current(self) -> int:
        return int(self.process.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def server() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        info["pid"] = process.pid
        yield info
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_64_mib_upload_and_download_keep_memory_flat(server: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {server['token']}"}
    drive = 140946
    with httpx.Client(base_url=server["api"], headers=headers, timeout=120) as api:
        private = next(f for f in api.get(f"/3/drive/{drive}/files/1/files").json()["data"]
                       if f["visibility"] == "is_private_space")["id"]

        def upload(name: str, count: int) -> dict[str, Any]:
            size = count * BLOCK
            response = api.post(f"/3/drive/{drive}/upload", content=blocks(count),
                                headers={"Content-Length": str(size)},
                                params={"total_size": size, "file_name": name, "directory_id": private,
                                        "with": "hash"})
            assert response.status_code == 200, response.text
            return response.json()["data"]

        def download_digest(file_id: int) -> str:
            location = api.get(f"/2/drive/{drive}/files/{file_id}/download").headers["Location"]
            hasher = xxhash.xxh3_64()
            with httpx.stream("GET", location, timeout=120) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes(BLOCK):
                    hasher.update(chunk)
            return hasher.hexdigest()

        warm = upload("warm-up.bin", 2)  # first use of every code path, thread and buffer
        download_digest(warm["id"])
        memory = PeakMemory(server["pid"])
        try:
            baseline = max(memory.peak(), memory.current())
            big = upload("big.bin", SIZE // BLOCK)
            assert big["size"] == SIZE
            assert big["hash"] == f"xxh3:{expected_hash(SIZE // BLOCK)}"
            assert download_digest(big["id"]) == expected_hash(SIZE // BLOCK)
            _session_upload(api, drive, private)
            growth = max(memory.peak(), memory.sampled) - baseline
        finally:
            memory.stop()
    assert growth < ALLOWED_GROWTH, f"the emulator grew by {growth / (1 << 20):.1f} MiB"


def _session_upload(api: httpx.Client, drive: int, private: int) -> None:
    """A 64 MiB upload in two chunks of 32 MiB."""
    count = SIZE // BLOCK
    start = api.post(f"/3/drive/{drive}/upload/session/start",
                     json={"file_name": "session.bin", "directory_id": private, "total_size": SIZE,
                           "total_chunks": 2})
    assert start.status_code == 200, start.text
    data = start.json()["data"]
    source = blocks(count)  # one generator, split into two chunks of count/2 blocks
    for number in (1, 2):
        part = (next(source) for _ in range(count // 2))
        url = f"{data['upload_url']}/3/drive/{drive}/upload/session/{data['token']}/chunk"
        reply = api.post(url, params={"chunk_number": number, "chunk_size": SIZE // 2}, content=part,
                         headers={"Content-Length": str(SIZE // 2)})
        assert reply.status_code == 200, reply.text
    done = api.post(f"/3/drive/{drive}/upload/session/{data['token']}/finish", json={})
    assert done.status_code == 200, done.text
    assert done.json()["data"]["file"]["size"] == SIZE
