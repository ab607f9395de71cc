"""kDrive downloads and uploads through the client, checked byte for byte at the emulator."""

from __future__ import annotations

import io
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import IO

import pytest
import xxhash

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.infomaniak import (
    AlreadyExists,
    Invalid,
    KDrive,
    QuotaExceeded,
    RangeNotSatisfiable,
    UpstreamUnavailable,
)

from .client_support import KDriveFactory, Transports

DRIVE = 140946
MiB = 1 << 20


@pytest.fixture
def make_kdrive() -> Iterator[KDriveFactory]:
    with Transports(retry_backoff=(0.02, 0.05, 0.1)) as transports:
        yield transports.jane_kdrive


class OneTimeStream:
    """A body that can be read once, in order, like a WSGI input."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def seekable(self) -> bool:
        return False


@pytest.fixture
def random_file() -> Iterator[Callable[[int], IO[bytes]]]:
    """A temporary file of random bytes, written in blocks (never whole in memory)."""
    opened: list[IO[bytes]] = []

    def make(size: int) -> IO[bytes]:
        handle = tempfile.TemporaryFile()
        remaining = size
        while remaining:
            block = os.urandom(min(MiB, remaining))
            handle.write(block)
            remaining -= len(block)
        handle.flush()
        handle.seek(0)
        opened.append(handle)
        return handle

    yield make
    for handle in opened:
        handle.close()


def same_content(emu: Emulator, path: str, local: IO[bytes]) -> bool:
    """Compare the emulator's stored content with a local file, block by block."""
    local.seek(0)
    for stored in emu.state.kdrive.iter_bytes(DRIVE, path):
        if local.read(len(stored)) != stored:
            return False
    return local.read(1) == b""


def max_overlap(records: list) -> int:
    """How many of these requests were in progress at the same moment."""
    events = sorted([(r.at - r.duration_ms / 1000, 1) for r in records] + [(r.at, -1) for r in records])
    running = peak = 0
    for _moment, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def private(kdrive: KDrive) -> int:
    return kdrive.top_folders(DRIVE).private.id


# -- downloads -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reader_emulator() -> Iterator[Emulator]:
    """An emulator of this module's own, holding one extra file to download."""
    with Emulator(sample=SampleOptions(big_folder_files=5, mail_messages=5)) as emu:
        yield emu


@pytest.fixture
def reader(reader_emulator: Emulator) -> Iterator[Emulator]:
    """The download tests' emulator, with its knobs reset after each test."""
    yield reader_emulator
    reader_emulator.knobs.reset()


@pytest.fixture(scope="module")
def sample(reader_emulator: Emulator) -> tuple[int, bytes]:
    """The file the download tests read: its id and its content."""
    content = os.urandom(3 * MiB + 123)
    store = reader_emulator.state.kdrive
    store.put_file(DRIVE, "/Private/Documents/download-sample.bin", content)
    node = store.find(DRIVE, "/Private/Documents/download-sample.bin")
    assert node is not None
    return node.id, content


@pytest.mark.parametrize("offset,length", [(None, None), (0, 100), (MiB + 7, 65_000), (3 * MiB, None)],
                         ids=["whole", "first-bytes", "middle", "suffix"])
@pytest.mark.parametrize("knobs", [{}, {"download_mode": "direct"}, {"content_range": False}],
                         ids=["redirect", "direct", "range-ignored"])
def test_download_serves_exact_ranges(reader: Emulator, make_kdrive, sample, offset, length,
                                      knobs) -> None:
    file_id, content = sample
    reader.knobs.merge(knobs)
    start = offset or 0
    expected = content[start:] if length is None else content[start:start + length]
    with make_kdrive(reader).download(DRIVE, file_id, offset, length) as stream:
        assert stream.read_all() == expected
        assert stream.total_size == len(content)


def test_the_bearer_token_never_reaches_the_content_host(reader: Emulator, make_kdrive, sample) -> None:
    file_id, content = sample
    started = time.time()
    with make_kdrive(reader).download(DRIVE, file_id, 10, 10) as stream:
        assert stream.read_all() == content[10:20]
    content_requests = [r for r in reader.log.find(role="content") if r.at >= started]
    assert content_requests and all(r.status == 206 for r in content_requests)
    assert not [r for r in reader.log.find(role="content") if r.authorization]


def test_a_refused_content_url_is_asked_for_again(reader: Emulator, make_kdrive, sample) -> None:
    file_id, content = sample
    reader.knobs.merge({"server_errors": {"status": 403, "count": 1, "match": "content"}})
    started = time.time()
    with make_kdrive(reader).download(DRIVE, file_id) as stream:
        assert stream.read_all() == content
    asked = [r for r in reader.log.find(role="api", path_contains=f"/files/{file_id}/download")
             if r.at >= started]
    assert len(asked) == 2


def test_a_stalled_download_resumes_where_it_broke_off(reader: Emulator, make_kdrive, sample) -> None:
    file_id, content = sample
    reader.knobs.merge({"content_bytes_per_s": 2000})  # 1 KiB, then a 0.5 s pause per block
    started = time.time()
    with make_kdrive(reader, timeout=0.3).download(DRIVE, file_id) as stream:
        first = next(stream)
        reader.knobs.merge({"content_bytes_per_s": None})  # the reopened stream flows freely
        rest = b"".join(stream)
    assert first + rest == content
    opened = [r for r in reader.log.find(role="content") if r.at >= started]
    assert [r.status for r in opened] == [200, 206]


def test_a_range_beyond_the_end_is_not_satisfiable(reader: Emulator, make_kdrive, sample) -> None:
    file_id, content = sample
    with pytest.raises(RangeNotSatisfiable):
        make_kdrive(reader).download(DRIVE, file_id, len(content) + 10)
    reader.knobs.merge({"content_range": False})
    with pytest.raises(RangeNotSatisfiable):
        make_kdrive(reader).download(DRIVE, file_id, len(content) + 10)


# -- small uploads -------------------------------------------------------------------------------

def test_upload_adopts_the_server_file_and_honours_conflict_modes(fresh_emulator: Emulator,
                                                                  make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    root = private(kdrive)
    made = kdrive.upload(DRIVE, root, "notes.txt", io.BytesIO(b"hello"), 5, mtime=1_700_000_000)
    assert (made.name, made.size, made.last_modified_at) == ("notes.txt", 5, 1_700_000_000)
    assert made.content_hash == "xxh3:" + xxhash.xxh3_64(b"hello").hexdigest()
    with pytest.raises(AlreadyExists):
        kdrive.upload(DRIVE, root, "notes.txt", b"again", 5)
    renamed = kdrive.upload(DRIVE, root, "notes.txt", b"again", 5, conflict="rename")
    assert renamed.name == "notes (1).txt"
    empty = kdrive.upload(DRIVE, root, "empty.txt", b"", 0)
    assert empty.size == 0
    assert fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/notes (1).txt") == b"again"


def test_replace_keeps_the_file_id(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB)
    root = private(kdrive)
    original = kdrive.upload(DRIVE, root, "report.txt", b"v1", 2)
    small = kdrive.replace(DRIVE, original.id, b"version two", 11, mtime=1_650_000_000)
    assert small.id == original.id and small.last_modified_at == 1_650_000_000
    big = os.urandom(2 * MiB + 1)
    large = kdrive.replace(DRIVE, original.id, io.BytesIO(big), len(big))
    assert large.id == original.id
    assert fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/report.txt") == big


def test_the_body_hash_is_sent_only_when_it_costs_no_buffering(fresh_emulator: Emulator,
                                                               make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    root = private(kdrive)
    kdrive.upload(DRIVE, root, "seekable.txt", io.BytesIO(b"0123456789"), 10)
    kdrive.upload(DRIVE, root, "one-time.txt", OneTimeStream(b"abcdefghij"), 10)
    queries = [r.query for r in fresh_emulator.log.find(role="api", method="POST", path_contains="/upload")]
    assert len(queries) == 2
    assert "total_chunk_hash" in queries[0] and "total_chunk_hash" not in queries[1]
    assert fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/one-time.txt") == b"abcdefghij"


class ChangingFile(io.BytesIO):
    """A file being saved while it is read: the first pass sees an older version."""

    def __init__(self, older: bytes, final: bytes) -> None:
        super().__init__(final)
        self._older = older
        self.passes = 0

    def seek(self, position: int, whence: int = 0) -> int:
        if position == 0 and whence == 0:
            self.passes += 1
        return super().seek(position, whence)

    def read(self, size: int | None = -1) -> bytes:
        start = self.tell()
        data = super().read(size)
        return self._older[start:start + len(data)] if self.passes == 1 else data


def test_a_hash_mismatch_is_retried_once(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    source = ChangingFile(b"old content", b"new content")
    made = kdrive.upload(DRIVE, private(kdrive), "saved.txt", source, 11)
    assert made.content_hash == "xxh3:" + xxhash.xxh3_64(b"new content").hexdigest()
    assert fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/saved.txt") == b"new content"
    posts = fresh_emulator.log.find(role="api", method="POST", path_contains="/upload")
    assert [r.status for r in posts] == [422, 200]


def test_other_validation_errors_are_not_retried(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator)
    with pytest.raises(Invalid):
        kdrive.upload(DRIVE, private(kdrive), "é" * 200 + ".txt", io.BytesIO(b"data"), 4)
    assert len(fresh_emulator.log.find(role="api", method="POST", path_contains="/upload")) == 1


def test_a_short_body_fails_and_leaves_nothing(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB)
    root = private(kdrive)
    with pytest.raises(ValueError, match="ended"):
        kdrive.upload(DRIVE, root, "short.bin", OneTimeStream(b"x" * (2 * MiB)), 3 * MiB)
    assert fresh_emulator.state.kdrive.find(DRIVE, "/Private/short.bin") is None
    assert fresh_emulator.state.kdrive.upload_sessions(DRIVE) == []


def test_quota_is_refused_before_the_body_and_leaves_nothing(fresh_emulator: Emulator,
                                                             make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB)
    root = private(kdrive)
    used = kdrive.drive(DRIVE).used_size or 0
    fresh_emulator.knobs.merge({"quota": {"size": used + 1000, "used_size": used}})
    with pytest.raises(QuotaExceeded):
        kdrive.upload(DRIVE, root, "too-big.bin", b"x" * 5000, 5000)
    with pytest.raises(QuotaExceeded):
        kdrive.upload(DRIVE, root, "way-too-big.bin", io.BytesIO(b"y" * (3 * MiB)), 3 * MiB)
    store = fresh_emulator.state.kdrive
    assert store.find(DRIVE, "/Private/too-big.bin") is None
    assert store.find(DRIVE, "/Private/way-too-big.bin") is None
    assert store.upload_sessions(DRIVE) == []


# -- large uploads -------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_20_mib_file_goes_up_in_one_direct_upload(fresh_emulator: Emulator, make_kdrive,
                                                    random_file) -> None:
    kdrive = make_kdrive(fresh_emulator)
    local = random_file(20 * MiB)
    made = kdrive.upload(DRIVE, private(kdrive), "twenty.bin", local, 20 * MiB)
    assert made.size == 20 * MiB
    assert same_content(fresh_emulator, "/Private/twenty.bin", local)
    log = fresh_emulator.log
    assert len(log.find(role="api", method="POST", path_contains="/upload")) == 1
    assert not log.find(path_contains="/upload/session")


@pytest.mark.slow
def test_a_50_mib_file_goes_up_in_parallel_chunks_with_flat_memory(fresh_emulator: Emulator, make_kdrive,
                                                                    random_file) -> None:
    kdrive = make_kdrive(fresh_emulator, chunk_size=8 * MiB, parallel_chunks=4)
    local = random_file(50 * MiB)
    root = private(kdrive)
    tracemalloc.start()
    try:
        made = kdrive.upload(DRIVE, root, "fifty.bin", local, 50 * MiB, mtime=1_690_000_000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made.size == 50 * MiB and made.last_modified_at == 1_690_000_000
    assert same_content(fresh_emulator, "/Private/fifty.bin", local)
    chunks = fresh_emulator.log.find(role="upload", method="POST", path_contains="/chunk")
    assert len(chunks) == 7  # ceil(50 / 8)
    assert not fresh_emulator.log.find(role="api", path_contains="/chunk")  # chunks only to upload_url
    assert max_overlap(chunks) >= 2
    print(f"upload peak {peak / MiB:.1f} MiB")
    assert peak < 24 * MiB, f"peak Python memory {peak / MiB:.1f} MiB for a 50 MiB upload"

    tracemalloc.start()
    try:
        with kdrive.download(DRIVE, made.id) as stream:
            digest = xxhash.xxh3_64()
            for block in stream:
                digest.update(block)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "xxh3:" + digest.hexdigest() == kdrive.file_hash(DRIVE, made.id)
    print(f"download peak {peak / MiB:.1f} MiB")
    assert peak < 16 * MiB, f"peak Python memory {peak / MiB:.1f} MiB for a 50 MiB download"


def test_a_one_time_stream_goes_up_through_spooled_chunks(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB, parallel_chunks=3)
    data = os.urandom(5 * MiB + 3)
    made = kdrive.upload(DRIVE, private(kdrive), "streamed.bin", OneTimeStream(data), len(data))
    assert made.size == len(data)
    assert fresh_emulator.state.kdrive.read_bytes(DRIVE, "/Private/streamed.bin") == data
    assert len(fresh_emulator.log.find(role="upload", path_contains="/chunk")) == 6


class AgingStream(io.BytesIO):
    """Moves the emulator's clock 13 h on at its first read: the open upload session expires."""

    def __init__(self, data: bytes, emu: Emulator) -> None:
        super().__init__(data)
        self._emu: Emulator | None = emu

    def read(self, size: int | None = -1) -> bytes:
        if self._emu is not None:
            self._emu.state.kdrive.time_travel(13 * 3600)
            self._emu = None
        return super().read(size)


def test_an_expired_session_is_started_again(fresh_emulator: Emulator, make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB)
    data = os.urandom(2 * MiB + 5)
    source = AgingStream(data, fresh_emulator)
    made = kdrive.upload(DRIVE, private(kdrive), "restarted.bin", source, len(data))
    assert made.size == len(data)
    store = fresh_emulator.state.kdrive
    assert store.read_bytes(DRIVE, "/Private/restarted.bin") == data
    assert len(fresh_emulator.log.find(role="api", path_contains="/upload/session/start")) == 2
    assert store.upload_sessions(DRIVE) == []


def test_a_failing_chunk_cancels_the_session_and_leaves_nothing(fresh_emulator: Emulator,
                                                                make_kdrive) -> None:
    kdrive = make_kdrive(fresh_emulator, direct_upload_max=MiB, chunk_size=MiB)
    root = private(kdrive)
    fresh_emulator.knobs.merge({"server_errors": {"status": 500, "match": "upload"}})
    data = io.BytesIO(os.urandom(3 * MiB))
    with pytest.raises(UpstreamUnavailable):
        kdrive.upload(DRIVE, root, "doomed.bin", data, 3 * MiB)
    store = fresh_emulator.state.kdrive
    assert store.find(DRIVE, "/Private/doomed.bin") is None
    assert store.upload_sessions(DRIVE) == []
    chunk_tries = fresh_emulator.log.find(role="upload", path_contains="/chunk")
    assert len(chunk_tries) >= 4  # at least one chunk was tried four times
    assert fresh_emulator.log.find(role="api", method="DELETE", path_contains="/upload/session/")
