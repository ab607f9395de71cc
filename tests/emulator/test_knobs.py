"""Generic knob behaviour: match, count, probability."""

from __future__ import annotations

import httpx

from ikdav.emulator.app import Emulator


def test_a_knob_with_a_probability_affects_about_that_share(emulator: Emulator) -> None:
    emulator.knobs.merge({"server_errors": {"status": 503, "probability": 0.3, "match": "login"}})
    statuses = [httpx.get(emulator.login_url + "/token/check").status_code for _ in range(200)]
    failed = statuses.count(503)
    assert 30 <= failed <= 95  # 60 expected; far outside this band the knob is broken
    assert set(statuses) == {401, 503}
