"""Fault knobs (infomaniak-api.md §7): the emulator's way of misbehaving on purpose.

Knobs are set through the :class:`~ikdav.emulator.app.Emulator` constructor, its ``knobs``
attribute (:meth:`Knobs.merge`, :meth:`Knobs.reset`) or at run time with
``POST|GET|DELETE {api_url}/_emulator/knobs``.

Every knob takes two optional modifiers besides its value:

- ``match``: which requests it affects, ``{"host": "api", "path": "<regex>", "method": "GET"}``
  (``role`` is a synonym of ``host``), or the short string form ``"api"`` / ``"api ^/2/drive"``;
- ``count``: how many matching requests it affects before it switches itself off;
- ``probability``: the chance (0..1) that a matching request is affected (default 1), for random
  faults such as ``{"server_errors": {"status": 503, "probability": 0.05}}``.

A knob whose value is an object carries its parameters in that object next to ``match`` and
``count`` (``{"force_429": {"retry_after": 2, "count": 3}}``); a scalar knob may be written as
``{"latency_ms": {"value": 1500, "match": "content"}}``.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

ROLES = ("login", "api", "mail", "content", "upload")

# name -> kind of value: "object" knobs carry parameters, "scalar" knobs a single value.
KNOWN_KNOBS: dict[str, str] = {
    "force_429": "object",
    "rate_limit_per_minute": "scalar",
    "server_errors": "object",
    "latency_ms": "scalar",
    "content_bytes_per_s": "scalar",
    "access_token_ttl": "scalar",
    "revoke_refresh": "object",
    "mail_auth_redirect": "scalar",
    "deny_scopes": "scalar",
    "kdrive_drives": "scalar",
    "special_folders": "scalar",
    "lock_file": "object",
    "quota": "object",
    "download_mode": "scalar",
    "content_range": "scalar",
    "expire_cursors": "scalar",
    "consent": "scalar",
    "consent_user": "scalar",
    "user_id_as": "scalar",
}


class KnobError(ValueError):
    """A knob name or value the emulator does not understand."""


@dataclass
class Match:
    role: str | None = None
    path: re.Pattern[str] | None = None
    method: str | None = None

    @classmethod
    def parse(cls, spec: Any) -> Match | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            role, _, path = spec.strip().partition(" ")
            spec = {"host": role or None, "path": path.strip() or None}
        if not isinstance(spec, dict):
            raise KnobError("match must be an object or a string like 'api ^/2/drive'")
        role = spec.get("host", spec.get("role"))
        if role is not None and role not in ROLES:
            raise KnobError(f"match host must be one of {', '.join(ROLES)}")
        path = spec.get("path")
        try:
            pattern = re.compile(path) if path else None
        except re.error as exc:
            raise KnobError(f"match path is not a valid regex: {exc}") from exc
        method = spec.get("method")
        return cls(role, pattern, method.upper() if method else None)

    def accepts(self, role: str, method: str, path: str) -> bool:
        if self.role and self.role != role:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path and not self.path.search(path))

    def describe(self) -> dict[str, Any]:
        return {"host": self.role, "path": self.path.pattern if self.path else None, "method": self.method}


@dataclass
class Knob:
    name: str
    value: Any
    match: Match | None = None
    count: int | None = None  # remaining; None = unlimited
    probability: float = 1.0

    def describe(self) -> Any:
        described: dict[str, Any] = {"value": self.value}
        if self.match:
            described["match"] = self.match.describe()
        if self.count is not None:
            described["count"] = self.count
        if self.probability < 1.0:
            described["probability"] = self.probability
        return described


@dataclass
class RateWindow:
    hits: deque[float] = field(default_factory=deque)


class Knobs:
    """Thread-safe store of the active knobs."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._knobs: dict[str, Knob] = {}
        self._windows: dict[str, RateWindow] = {}
        if initial:
            self.merge(initial)

    # -- configuration ---------------------------------------------------------------------
    def merge(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge knobs in; a ``None`` value switches that knob off. Returns the new snapshot."""
        if not isinstance(values, dict):
            raise KnobError("knobs must be a JSON object")
        parsed: dict[str, Knob | None] = {}
        for name, raw in values.items():
            if name not in KNOWN_KNOBS:
                raise KnobError(f"unknown knob {name!r}; known: {', '.join(sorted(KNOWN_KNOBS))}")
            switched_off = raw is None or (raw is False and name != "content_range")
            parsed[name] = None if switched_off else self._parse(name, raw)
        with self._lock:
            for name, knob in parsed.items():
                if knob is None:
                    self._knobs.pop(name, None)
                else:
                    self._knobs[name] = knob
                if name == "rate_limit_per_minute":
                    self._windows.clear()
        return self.snapshot()

    def reset(self) -> None:
        with self._lock:
            self._knobs.clear()
            self._windows.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {name: knob.describe() for name, knob in self._knobs.items()}

    @staticmethod
    def _parse(name: str, raw: Any) -> Knob:
        match = None
        count = None
        probability: Any = 1.0
        if KNOWN_KNOBS[name] == "object":
            if not isinstance(raw, dict):
                raw = {} if raw is True else {"value": raw}
            params = dict(raw)
            match = Match.parse(params.pop("match", None))
            count = params.pop("count", None)
            probability = params.pop("probability", 1.0)
            value: Any = params
        elif isinstance(raw, dict) and "value" in raw:
            match = Match.parse(raw.get("match"))
            count = raw.get("count")
            probability = raw.get("probability", 1.0)
            value = raw["value"]
        else:
            value = raw
        if count is not None and (not isinstance(count, int) or count < 0):
            raise KnobError(f"{name}.count must be a non-negative integer")
        if not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise KnobError(f"{name}.probability must be a number from 0 to 1")
        return Knob(name, value, match, count, float(probability))

    # -- reading -----------------------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> Any:
        """The knob's value regardless of ``match``/``count`` (for global settings)."""
        with self._lock:
            knob = self._knobs.get(name)
            return default if knob is None else knob.value

    def take(self, name: str, role: str, method: str, path: str) -> Any:
        """The knob's value if it applies to this request, consuming one of its ``count``."""
        with self._lock:
            knob = self._knobs.get(name)
            if knob is None:
                return None
            if knob.match and not knob.match.accepts(role, method, path):
                return None
            if knob.probability < 1.0 and random.random() >= knob.probability:
                return None
            if knob.count is not None:
                if knob.count <= 0:
                    return None
                knob.count -= 1
                if knob.count == 0:
                    del self._knobs[name]
            return knob.value

    def peek(self, name: str, role: str, method: str, path: str) -> Any:
        """Like :meth:`take` but without consuming ``count``."""
        with self._lock:
            knob = self._knobs.get(name)
            if knob is None or (knob.match and not knob.match.accepts(role, method, path)):
                return None
            if knob.count is not None and knob.count <= 0:
                return None
            return knob.value

    def rate_limited(self, key: str, role: str, method: str, path: str) -> float | None:
        """Seconds to wait if ``key`` went over ``rate_limit_per_minute``; records the hit otherwise."""
        limit = self.peek("rate_limit_per_minute", role, method, path)
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, RateWindow())
            while window.hits and now - window.hits[0] >= 60.0:
                window.hits.popleft()
            if len(window.hits) >= int(limit):
                return max(0.001, 60.0 - (now - window.hits[0]))
            window.hits.append(now)
            return None
