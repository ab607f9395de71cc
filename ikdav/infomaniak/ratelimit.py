"""A per-account token bucket, so one busy account stays under N requests per minute (§3.4).

Infomaniak documents 60 requests/minute without saying how it counts; pacing ourselves keeps a
listing storm from turning into a wall of 429s. Off by default (``rate_limit_per_minute = 0``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Blocking token bucket: ``per_minute`` requests per minute with bursts up to ``burst``.

    MUST be thread-safe (every worker of one account shares it); SHOULD never sleep while holding
    its lock, so a waiting thread does not delay the bookkeeping of others.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = float(burst if burst is not None else max(1.0, min(per_minute, per_minute / 6)))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token now and return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may go out; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
