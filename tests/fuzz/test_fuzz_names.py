"""Fuzz target: path segments, URL paths and message file names, with arbitrary text.

Runs 200 examples per target by default; ``IKDAV_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/fuzz``
for a long run (see :mod:`tests.fuzz.settings`).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

from hypothesis import given
from hypothesis import strategies as st

from ikdav.dav.names import (
    CONTROL,
    FORBIDDEN_IN_SUBJECT,
    MAX_NAME_BYTES,
    MAX_SUBJECT_BYTES,
    MAX_SUBJECT_CHARS,
    InvalidName,
    check_url_path,
    clean_subject,
    message_file_name,
    split_path,
    uid_from_file_name,
    validate_segment,
)

from .settings import PURE

# Characters that trip path handling, mixed into otherwise arbitrary text.
TRICKY = st.sampled_from(["/", ".", "..", "%", "%2F", "%2e", "\x00", "\t", "\n", "\x7f", "\x85", "é",
                          "e\u0301", "\ud800", "\udcff", "\ufeff", "\u202e", "🏖", "\\", ":", "[12].eml", " "])
TEXT = st.lists(st.one_of(st.text(max_size=20), TRICKY), max_size=30).map("".join)
LONG_TEXT = st.one_of(TEXT, st.text(min_size=200, max_size=400))


def valid_segment_shape(segment: str) -> None:
    assert segment not in ("", ".", "..")
    assert "/" not in segment and not CONTROL.search(segment)
    assert len(segment.encode("utf-8")) <= MAX_NAME_BYTES
    assert unicodedata.is_normalized("NFC", segment)
    assert validate_segment(segment) == segment


@PURE
@given(LONG_TEXT)
def test_split_path_accepts_only_clean_segments(path: str) -> None:
    try:
        segments = split_path(path)
    except InvalidName as exc:
        assert str(exc)  # says why
        return
    for segment in segments:
        valid_segment_shape(segment)
    assert segments == [unicodedata.normalize("NFC", part) for part in path.split("/") if part]


@PURE
@given(st.lists(TEXT, max_size=6))
def test_quoted_valid_names_always_pass_the_url_check_and_round_trip(names: list[str]) -> None:
    valid = []
    for name in names:
        try:
            valid.append(validate_segment(name))
        except InvalidName:
            continue
    raw = "/dav/" + "/".join(quote(name, safe="") for name in valid)
    check_url_path(raw)
    assert [unquote(part) for part in raw.split("/")[2:] if part] == [n for n in valid if n]


@PURE
@given(st.lists(st.one_of(st.sampled_from(["%2e", "%2E", ".", "..", "%2f", "%2F", "%", "a", "%25"]),
                          st.text(alphabet="%./2eEfF5a", max_size=6)), max_size=8).map("/".join))
def test_the_url_check_refuses_exactly_dot_segments_and_encoded_slashes(raw: str) -> None:
    parts = raw.split("/")
    bad = any("%2f" in part.lower() or unquote(part) in (".", "..") for part in parts)
    try:
        check_url_path(raw)
    except InvalidName:
        assert bad
    else:
        assert not bad


@PURE
@given(LONG_TEXT)
def test_a_cleaned_subject_is_safe_short_and_stable(subject: str) -> None:
    cleaned = clean_subject(subject)
    assert cleaned and len(cleaned) <= MAX_SUBJECT_CHARS and len(cleaned.encode()) <= MAX_SUBJECT_BYTES
    assert not FORBIDDEN_IN_SUBJECT.search(cleaned) and not CONTROL.search(cleaned)
    assert cleaned == cleaned.strip(" .") and "  " not in cleaned
    assert clean_subject(cleaned) == cleaned


ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@PURE
@given(st.datetimes(timezones=ZONES), LONG_TEXT, st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_message_names_carry_their_uid_at_any_date(moment: datetime, subject: str, uid: str) -> None:
    name = message_file_name(moment, subject, uid)
    valid_segment_shape(name)
    assert name.endswith(f" [{uid}].eml")
    assert uid_from_file_name(name) == uid
    assert message_file_name(moment, subject, uid) == name


@PURE
@given(TEXT)
def test_only_message_names_yield_a_uid(name: str) -> None:
    uid = uid_from_file_name(name)
    if uid is not None:
        assert uid.isdigit() and name.endswith(f"[{uid}].eml")
