"""Fuzz target: arbitrary paths and request bodies through the real server; never a 5xx.

Paths are resolved by the provider against the emulator; bodies go to PROPFIND, PROPPATCH and
LOCK. Runs 25 examples per target by default; ``IKDAV_FUZZ_EXAMPLES=5000 .venv/bin/pytest
tests/fuzz`` for a long run (see :mod:`tests.fuzz.settings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from security.support import JANE_PRIVATE, SharedServer, shared_on_own_emulator

from .settings import THROUGH_THE_SERVER

FILE = JANE_PRIVATE + "/fuzzed.txt"
FOLDER = JANE_PRIVATE
DAV_NAMES = ["propfind", "prop", "allprop", "propname", "include", "propertyupdate", "set", "remove",
             "lockinfo", "lockscope", "exclusive", "shared", "locktype", "write", "owner", "href",
             "displayname", "getlastmodified", "getcontentlength", "resourcetype", "lockdiscovery",
             "quota-used-bytes", "creationdate"]
NAMESPACES = ["DAV:", "urn:z", "http://apache.org/dav/props/", ""]


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    with shared_on_own_emulator(data_dir, {"/Private/fuzzed.txt": b"fuzz"}) as server:
        yield server


def assert_answered(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


def release(share: SharedServer, response: requests.Response, path: str) -> None:
    """Unlock whatever a fuzzed LOCK was granted, so later examples see the same file."""
    token = response.headers.get("Lock-Token")
    if token:
        share.jane.request("UNLOCK", path, headers={"Lock-Token": token})


SEGMENT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["kDrive", "Mail", "My kDrive", "Private", "jane@example.ch", "INBOX", ".", "..", "",
                     "Big folder", "fuzzed.txt", "x [1].eml", "2026-01-01 0000 a [999999999999].eml", "._x",
                     ".DS_Store", "%", "%2F", "a" * 256, "é" * 128]),
)
RAW_SEGMENT = st.binary(max_size=12).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw))


@THROUGH_THE_SERVER
@given(st.lists(st.one_of(SEGMENT.map(lambda s: quote(s, safe="")), RAW_SEGMENT), min_size=1, max_size=6),
       st.sampled_from(["PROPFIND", "GET", "HEAD", "OPTIONS"]))
def test_any_path_is_resolved_or_refused_in_plain_words(share: SharedServer, segments: list[str],
                                                         method: str) -> None:
    url = share.url + "/".join(segments)
    response = share.jane.http.request(method, url, auth=share.jane.auth, headers={"Depth": "1"}, timeout=60)
    assert_answered(response)


TEXT_NODE = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="<&"),
                    max_size=10)


def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda name, ns, kids, text: f'<{name} xmlns="{ns}">{text}{"".join(kids)}</{name}>',
        st.sampled_from(DAV_NAMES), st.sampled_from(NAMESPACES), st.lists(children, max_size=4), TEXT_NODE)


XML_BODIES = st.recursive(st.sampled_from(["", "x", "<D:href xmlns:D='DAV:'>/dav/</D:href>"]), element,
                          max_leaves=20).map(lambda tree: ('<?xml version="1.0"?>' + tree).encode())
BODIES = st.one_of(st.binary(max_size=2000), XML_BODIES,
                   XML_BODIES.map(lambda body: body[: len(body) // 2]),  # cut short
                   XML_BODIES.map(lambda body: body.replace(b'"1.0"', b'"1.0" encoding="utf-16"')))


@THROUGH_THE_SERVER
@given(BODIES, st.sampled_from(["PROPFIND", "PROPPATCH", "LOCK"]), st.sampled_from([FILE, FOLDER]),
       st.sampled_from(["0", "1", "infinity"]))
def test_any_body_is_answered_without_a_5xx(share: SharedServer, body: bytes, method: str, path: str,
                                            depth: str) -> None:
    response = share.jane.request(method, path, data=body, headers={"Depth": depth, "Timeout": "Second-60"})
    assert_answered(response)
    release(share, response, path)
