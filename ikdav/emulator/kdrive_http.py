"""What every kDrive route asks of a request: who is asking, numbers, limits, hashes, bodies."""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_cursors import RequestKey
from ikdav.emulator.kdrive_model import validation_error
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import ApiError, Request

DEFAULT_LIMIT = 10
MIN_LIMIT = 5
MAX_LIMIT = 1000
HASH_PREFIXES = ("xxh3", "md5", "sha1", "sha256", "sha512", "xxh32", "xxh64", "xxh128")


def user_of(state: EmulatorState, request: Request) -> int:
    """The caller's user id; 401 without a valid token, 403 ``access_denied`` without kdrive."""
    return state.authenticate(request, "kdrive").user_id


def key_of(request: Request) -> RequestKey:
    return RequestKey(request.role, request.method, request.path)


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An int from a JSON number or a decimal string ("numbers may be strings"), else 422."""
    if isinstance(value, bool):
        raise validation_error(f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise validation_error(f"{name} must be an integer")
    if minimum is not None and number < minimum:
        raise validation_error(f"{name} must be >= {minimum}")
    return number


def required_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    if value is None or value == "":
        raise validation_error(f"{name} is required")
    return as_int(value, name, minimum=minimum)


def optional_int(value: Any, name: str, *, minimum: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    return as_int(value, name, minimum=minimum)


def limit_of(request: Request) -> int:
    """``limit`` of a cursor list: 5..1000, default 10, else 422 (§3.3, D15)."""
    raw = request.arg("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    limit = as_int(raw, "limit")
    if limit < MIN_LIMIT:
        raise validation_error(f"limit must be >= {MIN_LIMIT}")
    if limit > MAX_LIMIT:
        raise validation_error(f"limit must be <= {MAX_LIMIT}")
    return limit


def parse_hash(value: Any, name: str) -> tuple[str, str] | None:
    """``(algorithm, lowercase hex)`` from ``algo:hex``; 422 for an unknown or malformed value."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or ":" not in value:
        raise validation_error(f"{name} must look like 'xxh3:<hex>'")
    algorithm, _, digest = value.partition(":")
    algorithm = algorithm.lower()
    digest = digest.lower()
    if algorithm not in HASH_PREFIXES or not digest or any(c not in "0123456789abcdef" for c in digest):
        raise validation_error(f"{name} must be one of {', '.join(HASH_PREFIXES)} followed by hex")
    if algorithm == "xxh3" and len(digest) != 16:
        raise validation_error(f"{name}: an xxh3 digest has 16 hex digits")
    return algorithm, digest


def require_length(request: Request) -> int:
    """The body's ``Content-Length``; 411 for chunked or length-less bodies (D22)."""
    length = request.content_length
    if request.is_chunked or length is None or length < 0:
        raise ApiError(411, "validation_failed", "Content-Length is required",
                       errors=[{"code": "validation_failed",
                                "description": "Content-Length is required; chunked bodies are refused"}])
    return length


def drain_body(request: Request, block: int = 256 << 10) -> None:
    """Read and drop what is left of the body, in blocks, before answering early.

    Answering without it would make the server read the rest in one go, into memory. A client
    that sent ``Connection: close`` gets its answer at once: the server closes instead of reading.
    """
    stream = request.stream
    if request.content_length is None and not request.is_chunked:
        return
    if "close" in (request.header("Connection") or "").lower() and not request.is_chunked:
        return
    try:
        while stream.read(block):
            pass
    except (OSError, ValueError):
        pass

