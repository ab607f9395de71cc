"""How many examples the fuzz targets try: few in the normal run, as many as asked otherwise.

``IKDAV_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/fuzz`` runs every target with 5000 examples;
without it the pure targets try 200 and the ones that go through the server 25.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ASKED = os.environ.get("IKDAV_FUZZ_EXAMPLES", "").strip()


def fuzz_settings(default: int) -> settings:
    """Hypothesis settings for one target: no deadline (the server may be slow on a busy CI)."""
    examples = int(_ASKED) if _ASKED.isdigit() else default
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


PURE = fuzz_settings(200)
THROUGH_THE_SERVER = fuzz_settings(25)
