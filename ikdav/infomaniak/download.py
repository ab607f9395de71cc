"""Byte streams of remote content, with ranges served whatever the server does with ``Range``.

:class:`DownloadStream` wraps an *opener*, a callable that opens the content at a byte position
and returns a streaming ``httpx.Response``. The stream then:

- accepts a ``206`` whose ``Content-Range`` starts where asked, or a ``200`` of the whole content,
  in which case it reads and drops the bytes before the offset (D14, D30);
- stops after ``length`` bytes even when the server sends more;
- reopens at the current position when the connection breaks mid-body (a few times at most).

Memory stays flat: bytes are passed on as they arrive (at most one network read at a time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import httpx

from ikdav.infomaniak.errors import RangeNotSatisfiable, UnexpectedResponse, UpstreamUnavailable

log = logging.getLogger("ikdav.infomaniak.download")

MAX_RESUMES = 2
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)

# opener(start, end_exclusive_or_None) -> an open response positioned as its status says
Opener = Callable[[int, int | None], httpx.Response]


def range_header(start: int, end: int | None) -> dict[str, str]:
    """The ``Range`` header for ``[start, end)``; none for the whole content."""
    if start <= 0 and end is None:
        return {}
    return {"Range": f"bytes={start}-" + (str(end - 1) if end is not None else "")}


class DownloadStream(Iterator[bytes]):
    """An iterator over the bytes ``[offset, offset + length)`` of a remote object. Close it.

    ``total_size`` is the whole object's size when the server told it, ``content_type`` its type.
    The first response is opened by the constructor, so "not found" and friends raise there,
    before any byte is handed out.
    """

    def __init__(self, opener: Opener, offset: int = 0, length: int | None = None) -> None:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        self._opener = opener
        self.offset = offset
        self.end: int | None = None if length is None else offset + length
        self._position = offset
        self._resumes = 0
        self._response: httpx.Response | None = None
        self._blocks: Iterator[bytes] | None = None
        self._closed = False
        self.total_size: int | None = None
        self.content_type: str | None = None
        if self.end is not None and self.end == offset:
            self._closed = True  # nothing to read: no request at all
            return
        self._open()

    @property
    def length(self) -> int | None:
        """How many bytes this stream will yield, when known."""
        end = self.end if self.end is not None else self.total_size
        if end is None:
            return None
        if self.total_size is not None:
            end = min(end, self.total_size)
        return max(0, end - self.offset)

    # -- opening ----------------------------------------------------------------------------
    def _open(self) -> None:
        response = self._opener(self._position, self.end)
        try:
            skip = self._check(response)
        except BaseException:
            response.close()
            raise
        self._response = response
        self._blocks = self._body(response, skip)

    def _check(self, response: httpx.Response) -> int:
        """Validate the reply; return how many leading bytes to drop."""
        self.content_type = self.content_type or response.headers.get("Content-Type")
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match:
                raise UnexpectedResponse("a 206 reply without a readable Content-Range", status=206)
            start = int(match.group(1))
            if match.group(3) != "*":
                self.total_size = int(match.group(3))
            if start > self._position:
                raise UnexpectedResponse(f"asked for byte {self._position}, got a range from {start}",
                                         status=206)
            return self._position - start
        if response.status_code == 200:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit():
                self.total_size = int(length)
                if self._position > self.total_size:
                    raise RangeNotSatisfiable(f"byte {self._position} lies beyond the {length}-byte object",
                                              status=416)
            return self._position  # the whole object: drop what comes before the offset
        if response.status_code == 416:
            raise RangeNotSatisfiable(status=416)
        raise UnexpectedResponse(f"unexpected status {response.status_code} for content",
                                 status=response.status_code)

    def _body(self, response: httpx.Response, skip: int) -> Iterator[bytes]:
        for block in response.iter_bytes():  # as received: nothing held back if the body breaks
            if skip:
                if len(block) <= skip:
                    skip -= len(block)
                    continue
                block = block[skip:]
                skip = 0
            yield block

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> DownloadStream:
        return self

    def __next__(self) -> bytes:
        while True:
            if self._closed or self._blocks is None:
                raise StopIteration
            remaining = None if self.end is None else self.end - self._position
            if remaining is not None and remaining <= 0:
                self.close()
                raise StopIteration
            try:
                block = next(self._blocks)
            except StopIteration:
                self._finish_or_resume(None)
                continue
            except httpx.TransportError as exc:
                self._finish_or_resume(exc)
                continue
            if remaining is not None and len(block) > remaining:
                block = block[:remaining]
            self._position += len(block)
            return block

    def _finish_or_resume(self, error: Exception | None) -> None:
        """End of a body: done if complete, else reopen at the current position (a few times).

        A stream closed by its reader (say, from another thread) is never reopened.
        """
        if self._closed:
            self._close_response()
            return
        expected_end = self.end if self.end is not None else self.total_size
        if error is None and (expected_end is None or self._position >= expected_end):
            self.close()
            return
        self._close_response()
        if self._resumes >= MAX_RESUMES:
            self._closed = True
            raise UpstreamUnavailable(
                f"the download broke off at byte {self._position}"
                + (f" ({type(error).__name__})" if error else ""))
        self._resumes += 1
        log.info("download broke off at byte %d; resuming", self._position)
        self._open()

    def read_all(self) -> bytes:
        """Everything left, joined: for small objects and tests only."""
        return b"".join(self)

    # -- closing -----------------------------------------------------------------------------
    def _close_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        self._blocks = None

    def close(self) -> None:
        self._close_response()
        self._closed = True

    def __enter__(self) -> DownloadStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._close_response()
