"""Allocator settings that keep a long-running server's memory flat.

Many worker threads moving MiB-sized buffers make glibc's malloc keep freed memory: each thread
gets its own arena, and after the first large buffer is freed the allocator stops giving such
buffers back to the system (its mmap threshold grows). Fixing the threshold and capping the
arenas keeps the resident size near what is actually in use. Elsewhere than glibc this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("ikdav")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD = 4 << 20  # buffers from this size on come from, and go back to, the system
# (above the 1 MiB blocks a transfer moves: mapping each of those costs more CPU than the copy)
ARENA_MAX = 4


def tune_allocator() -> bool:
    """Apply the settings; ``True`` if the C library took them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
    log.debug("allocator tuning %s", "applied" if applied else "not available")
    return applied
