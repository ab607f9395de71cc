"""Path segment validation and message file names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikdav.dav.names import (
    InvalidName,
    clean_subject,
    is_finder_metadata,
    message_file_name,
    split_path,
    uid_from_file_name,
    validate_segment,
)

DATE = datetime(2026, 11, 27, 14, 2, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "nul\x00here", "tab\there", "é" * 128,
                                 "bad\udcff"])
def test_invalid_segments_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        validate_segment(bad)


def test_segments_are_normalised_to_nfc() -> None:
    assert validate_segment("e\u0301t\u00e9") == "\u00e9t\u00e9"
    assert split_path("/kDrive/My kDrive//Private/") == ["kDrive", "My kDrive", "Private"]


def test_finder_metadata_names() -> None:
    assert is_finder_metadata("._report.pdf")
    assert is_finder_metadata(".DS_Store")
    assert not is_finder_metadata(".hidden")


@pytest.mark.parametrize(("subject", "expected"), [
    ("Quarterly report", "Quarterly report"),
    (None, "(no subject)"),
    ("", "(no subject)"),
    ("  ...  ", "(no subject)"),
    ("Re: a/b\\c *?\"<>|", "Re a b c"),
    ("=?utf-8?q?Caf=C3=A9_cr=C3=A8me?=", "Café crème"),
    ("line\r\nbreak", "line break"),
    (".hidden.", "hidden"),
    ("🎉 Party", "🎉 Party"),
])
def test_clean_subject(subject: str | None, expected: str) -> None:
    assert clean_subject(subject) == expected


def test_message_name_carries_date_time_subject_and_uid() -> None:
    name = message_file_name(DATE, "Quarterly report", "1042")
    local = DATE.astimezone()
    assert name == f"{local:%Y-%m-%d %H%M} Quarterly report [1042].eml"
    assert uid_from_file_name(name) == "1042"
    assert uid_from_file_name("notes.txt") is None
    assert uid_from_file_name("x [12].eml.bak") is None


@given(st.text(max_size=400), st.text(alphabet="0123456789", min_size=1, max_size=10))
def test_any_subject_gives_a_valid_stable_name(subject: str, uid: str) -> None:
    name = message_file_name(DATE, subject, uid)
    assert validate_segment(name) == name
    assert message_file_name(DATE, subject, uid) == name
    assert uid_from_file_name(name) == uid
    assert len(clean_subject(subject)) <= 100
