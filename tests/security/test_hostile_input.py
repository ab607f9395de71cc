"""Hostile and malformed requests against the real server: each one a plain 4xx, never a 5xx or a hang.

XML bodies (malformed, oversized, entity expansion, external entities, too deep), Depth: infinity,
traversal in URLs and Destination headers, oversized headers, lock timeouts and lock floods.
"""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ikdav.emulator.app import Emulator
from ikdav.emulator.kdrive_sample import JANE_DRIVE

from .support import (
    JANE_PRIVATE,
    LOCKINFO,
    SHARED_LOCKINFO,
    SharedServer,
    basic,
    raw_request,
    shared_on_own_emulator,
    start_shared,
)

PROPFIND_NAME = (b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
                 b'</D:prop></D:propfind>')
PROPPATCH_SET = (b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
                 b'<D:set><D:prop><Z:note>x</Z:note></D:prop></D:set></D:propertyupdate>')
TARGET = JANE_PRIVATE + "/target.txt"


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    with shared_on_own_emulator(data_dir, {"/Private/target.txt": b"target"}) as server:
        yield server


def assert_plain_refusal(response: requests.Response, *statuses: int, says: str = "") -> str:
    """A 4xx with a short plain-text sentence: no traceback, no HTML, no exception name."""
    text = response.text
    assert response.status_code in statuses, (response.status_code, text)
    assert response.headers["Content-Type"].startswith("text/plain"), response.headers
    assert text.strip() and len(text) < 500, text
    assert "Traceback" not in text and "Error(" not in text and "<html" not in text.lower()
    assert says.lower() in text.lower(), text
    return text


def still_serving(share: SharedServer) -> None:
    assert share.jane.propfind("", depth="0").status_code == 207


# -- XML bodies -----------------------------------------------------------------------------------------

MALFORMED = {
    "truncated": b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>',
    "mismatched": b'<D:propfind xmlns:D="DAV:"></D:lockinfo>',
    "not xml": b"\xff\xfe\x00garbage\x00",
    "undefined entity": b'<D:propfind xmlns:D="DAV:"><D:prop>&nbsp;</D:prop></D:propfind>',
    "unbound prefix": b"<D:propfind><D:allprop/></D:propfind>",
    "two roots": b'<a xmlns="DAV:"/><b xmlns="DAV:"/>',
}


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "LOCK"])
@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_xml_is_a_plain_400(share: SharedServer, method: str, kind: str) -> None:
    response = share.jane.request(method, TARGET, data=MALFORMED[kind], headers={"Depth": "0"})
    assert_plain_refusal(response, 400, says="not well-formed")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:note>&lol9;</Z:note></D:prop></D:set>
</D:propertyupdate>"""


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "LOCK"])
def test_entity_expansion_is_refused_at_once(share: SharedServer, method: str) -> None:
    started = time.monotonic()
    response = share.jane.request(method, TARGET, data=BILLION_LAUGHS, headers={"Depth": "0"})
    assert time.monotonic() - started < 2
    assert_plain_refusal(response, 400, says="document type declaration")
    assert "lollol" not in response.text
    still_serving(share)


class Listener:
    """A TCP port on loopback that records every connection made to it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.connections.append(conn.recv(4096))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.socket.close()


def test_external_entities_are_neither_read_nor_fetched(share: SharedServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("file-entity-marker-4d1c")
    listener = Listener()
    url = f"http://127.0.0.1:{listener.port}"
    bodies = [
        f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:n>&e;</Z:n></D:prop></D:set>'
        '</D:propertyupdate>',
        f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY e SYSTEM "{url}/general">]>'
        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>',
        f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY % p SYSTEM "{url}/parameter"> %p;]>'
        '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        f'<?xml version="1.0"?><!DOCTYPE D:propfind SYSTEM "{url}/dtd">'
        '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e SYSTEM "{url}/owner">]><D:lockinfo xmlns:D="DAV:">'
        '<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>'
        '<D:owner>&e;</D:owner></D:lockinfo>',
    ]
    try:
        for method in ("PROPFIND", "PROPPATCH", "LOCK"):
            for body in bodies:
                response = share.jane.request(method, TARGET, data=body.encode(), headers={"Depth": "0"})
                assert_plain_refusal(response, 400)
                assert "file-entity-marker" not in response.text
        time.sleep(0.3)
    finally:
        listener.close()
    assert listener.connections == []
    props = share.jane.propfind(TARGET, depth="0").text
    assert "file-entity-marker" not in props


def test_bodies_over_the_limit_are_a_413_even_unannounced(share: SharedServer) -> None:
    limit = share.config.dav.max_xml_body
    padding = limit - len(PROPFIND_NAME)
    at_limit = PROPFIND_NAME.replace(b"<D:prop>", b"<D:prop>" + b" " * padding)
    assert len(at_limit) == limit
    assert share.jane.propfind(TARGET, depth="0", data=at_limit).status_code == 207
    over = at_limit.replace(b"<D:prop>", b"<D:prop> ")
    assert_plain_refusal(share.jane.propfind(TARGET, depth="0", data=over), 413, says=str(limit))

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        yield over[: limit // 2]
        yield over[limit // 2:]

    for method in ("PROPFIND", "PROPPATCH", "LOCK"):
        response = share.jane.request(method, TARGET, data=chunks(), headers={"Depth": "0"})
        assert_plain_refusal(response, 413)
    # A Content-Length announcing 5 GiB is refused before any of the body is read.
    head = (f"PROPFIND /dav/{TARGET.replace(' ', '%20')} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {basic(*share.jane.auth)}\r\nDepth: 0\r\nContent-Length: {5 << 30}").encode()
    started = time.monotonic()
    assert raw_request(share.url, head).status == 413
    assert time.monotonic() - started < 5
    still_serving(share)


def test_a_small_chunked_body_is_read_not_ignored(share: SharedServer) -> None:
    response = share.jane.request("PROPFIND", TARGET, data=iter([PROPFIND_NAME]), headers={"Depth": "0"})
    assert response.status_code == 207
    assert "displayname" in response.text and "getcontentlength" not in response.text  # not allprop


def test_deep_or_huge_xml_trees_are_refused(share: SharedServer) -> None:
    deep_owner = LOCKINFO.replace(b"tests", b"<a>" * 5000 + b"</a>" * 5000)
    assert_plain_refusal(share.jane.lock(TARGET, deep_owner), 400, says="nests deeper")
    deep_value = PROPPATCH_SET.replace(b">x<", b">" + b"<a>" * 5000 + b"</a>" * 5000 + b"<")
    assert_plain_refusal(share.jane.request("PROPPATCH", TARGET, data=deep_value), 400, says="nests deeper")
    many = PROPFIND_NAME.replace(b"<D:displayname/>", b"<Z:p xmlns:Z='urn:z'/>" * 20_000)
    assert_plain_refusal(share.jane.propfind(JANE_PRIVATE, depth="1", data=many), 400, says="elements")
    # What clients really send still works, and the lock is released again.
    normal = share.jane.lock(TARGET, LOCKINFO.replace(b"tests", b"<D:href>mailto:jane@example.ch</D:href>"))
    assert normal.status_code == 200
    assert share.jane.request("UNLOCK", TARGET, headers={"Lock-Token": normal.headers["Lock-Token"]}
                              ).status_code == 204
    assert share.jane.request("PROPPATCH", TARGET, data=PROPPATCH_SET).status_code == 207


@pytest.mark.parametrize("depth", ["infinity", "Infinity", "INFINITY "])
def test_depth_infinity_is_refused_without_walking_anything(share: SharedServer, depth: str) -> None:
    before = len(share.emulator.log.find(role="api"))
    for path in ("", JANE_PRIVATE, JANE_PRIVATE + "/no such folder"):
        response = share.jane.propfind(path, depth=depth)
        assert response.status_code == 403
        assert b"propfind-finite-depth" in response.content
    assert len(share.emulator.log.find(role="api")) == before


# -- traversal and names in URLs -------------------------------------------------------------------------

TRAVERSALS = [
    "/dav/kDrive/../Mail/", "/dav/kDrive/%2e%2e/Mail/", "/dav/kDrive/%2E%2E/", "/dav/./kDrive/",
    "/dav/kDrive/My%20kDrive/Private/..", "/dav/..%2f..%2fetc%2fpasswd", "/dav/kDrive/My%20kDrive%2FPrivate",
    "/dav/kDrive/My%20kDrive/Private%2f..%2f..", "/dav/kDrive/a%00b", "/dav/kDrive/%ff", "/dav/kDrive/%c3%28",
    "/dav/kDrive/%ed%a0%80", "/dav/kDrive/tab%09name", "/dav/kDrive/" + "a" * 256,
    "/dav/kDrive/" + "%C3%A9" * 128,
]


@pytest.mark.parametrize("method", ["PROPFIND", "GET", "DELETE", "PUT"])
@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_and_bad_names_in_the_url_are_a_plain_400(share: SharedServer, method: str,
                                                            target: str) -> None:
    head = (f"{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*share.jane.auth)}\r\n"
            "Depth: 0\r\nContent-Length: 4").encode("latin-1")
    reply = raw_request(share.url, head, b"evil")
    assert reply.status == 400, (reply.status, reply.text)
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text.strip() and "Traceback" not in reply.text


def test_a_put_through_dot_segments_creates_nothing_anywhere(share: SharedServer) -> None:
    kdrive = share.emulator.state.kdrive
    before = {folder: kdrive.list_names(JANE_DRIVE, folder) for folder in ("/Private", "/Common documents")}
    for target in ("/dav/kDrive/My%20kDrive/Private/../Common%20documents/evil.txt",
                   "/dav/kDrive/My%20kDrive/Private/%2e%2e/Common%20documents/evil.txt"):
        head = (f"PUT {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*share.jane.auth)}\r\n"
                "Content-Length: 4").encode()
        assert raw_request(share.url, head, b"evil").status == 400
    assert {folder: kdrive.list_names(JANE_DRIVE, folder) for folder in before} == before


def test_names_with_dots_and_percent_signs_still_work(share: SharedServer) -> None:
    for name in ("...", "..hidden", "a..b.txt", "50%2e.txt", "%2F is not a slash.txt"):
        path = f"{JANE_PRIVATE}/{name}"
        assert share.jane.request("PUT", path, data=b"ok").status_code in (201, 204), name
        assert share.jane.request("GET", path).content == b"ok", name
    assert "%2F is not a slash.txt" in share.emulator.state.kdrive.list_names(JANE_DRIVE, "/Private")


# -- Destination headers ---------------------------------------------------------------------------------

def destinations(share: SharedServer) -> list[tuple[str, int, str]]:
    own = share.server.url
    other_host = own.replace("127.0.0.1", "localhost")
    return [
        ("http://evil.example/dav/kDrive/My%20kDrive/Private/x.txt", 403, "another server"),
        (other_host + "/dav/kDrive/My%20kDrive/Private/x.txt", 403, "another server"),
        ("https://" + own.split("://")[1] + "/dav/kDrive/My%20kDrive/Private/x.txt", 403, "another server"),
        ("ftp://127.0.0.1/dav/x.txt", 403, "another server"),
        (own + "/account/x.txt", 403, "below /dav/"),
        ("/davx/kDrive/x.txt", 403, "below /dav/"),
        ("/x.txt", 403, "below /dav/"),
        ("/dav/../x.txt", 400, "'..'"),
        ("/dav/kDrive/My%20kDrive/Private/../../../Mail/x.txt", 400, "'..'"),
        ("/dav/kDrive/My%20kDrive/Private/%2e%2e/Common%20documents/x.txt", 400, "'..'"),
        ("/dav/kDrive/My%20kDrive/Private/./x.txt", 400, "'..'"),
        ("/dav/kDrive/My%20kDrive/Private/a%2Fb.txt", 400, "%2F"),
        ("/dav/kDrive/My%20kDrive/Private/a%00b.txt", 400, "NUL"),
        ("/dav/kDrive/My%20kDrive/Private/%ff.txt", 400, "UTF-8"),
        ("/dav/kDrive/My%20kDrive/Private/" + "a" * 256, 400, "255 bytes"),
        ("kDrive/x.txt", 400, "absolute"),
        ("", 400, "empty"),
    ]


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_destinations_outside_the_share_or_with_bad_names_are_refused(share: SharedServer,
                                                                      method: str) -> None:
    kdrive = share.emulator.state.kdrive
    folders = ("/Private", "/Common documents", "/Shared")
    before = {folder: kdrive.list_names(JANE_DRIVE, folder) for folder in folders}
    for destination, status, says in destinations(share):
        response = share.jane.request(method, TARGET, headers={"Destination": destination})
        assert_plain_refusal(response, status, says=says)
    assert {folder: kdrive.list_names(JANE_DRIVE, folder) for folder in folders} == before
    assert kdrive.read_bytes(JANE_DRIVE, "/Private/target.txt") == b"target"


def test_a_raw_utf8_destination_names_the_right_file(share: SharedServer) -> None:
    head = (f"COPY /dav/{TARGET.replace(' ', '%20')} HTTP/1.1\r\nHost: {share.server.url.split('://')[1]}\r\n"
            f"Authorization: {basic(*share.jane.auth)}\r\n"
            f"Destination: /dav/kDrive/My%20kDrive/Private/Zürich copy.txt").encode()
    assert raw_request(share.url, head).status == 201
    assert "Zürich copy.txt" in share.emulator.state.kdrive.list_names(JANE_DRIVE, "/Private")


# -- headers --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/dav/", "/healthz", "/"])
def test_oversized_headers_are_refused_by_the_server(share: SharedServer, path: str) -> None:
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Padding: ".encode() + b"a" * (1 << 20)
    reply = raw_request(share.url, head)
    assert reply.status in (400, 413, 431)


def test_many_small_headers_and_a_long_url_are_answered_cleanly(share: SharedServer) -> None:
    head = (f"PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*share.jane.auth)}\r\nDepth: 0\r\n"
            ).encode() + b"".join(b"X-Filler-%d: v\r\n" % i for i in range(500)).rstrip(b"\r\n")
    assert raw_request(share.url, head).status == 207
    long_url = "/dav/" + "/".join(["folder"] * 4000)
    head = (f"PROPFIND {long_url} HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*share.jane.auth)}\r\n"
            "Depth: 0").encode()
    assert raw_request(share.url, head).status in (404, 414)


# -- locks ----------------------------------------------------------------------------------------------

def granted_seconds(response: requests.Response) -> int:
    """The lock's remaining lifetime as the lockdiscovery reports it (``Second-N``)."""
    assert response.status_code == 200, response.text
    timeout = ET.fromstring(response.content).find(".//{DAV:}timeout")
    assert timeout is not None and (timeout.text or "").startswith("Second-"), timeout
    return int((timeout.text or "").removeprefix("Second-"))


DAY = 86_400


@pytest.mark.parametrize(("asked", "granted"), [
    ("Second-99999999999", DAY), ("Infinite", DAY), (None, DAY), ("Infinite, Second-4100000000", DAY),
    ("Second-600", 600), ("bogus", DAY),
])
def test_lock_timeouts_are_capped_at_a_day(share: SharedServer, asked: str | None, granted: int) -> None:
    headers = {"Timeout": asked} if asked else {}
    response = share.jane.lock(TARGET, **headers)
    token = response.headers.get("Lock-Token", "")
    try:
        assert granted - 5 < granted_seconds(response) <= granted
        refreshed = share.jane.request("LOCK", TARGET, headers={"If": f"({token})", "Timeout": "Infinite"})
        assert DAY - 5 < granted_seconds(refreshed) <= DAY
    finally:
        share.jane.request("UNLOCK", TARGET, headers={"Lock-Token": token})


def test_a_lock_flood_is_bounded_per_account(fresh_emulator: Emulator, tmp_path: Path) -> None:
    kdrive = fresh_emulator.state.kdrive
    for number in range(14):
        kdrive.put_file(JANE_DRIVE, f"/Private/flood/f{number}.txt", b"x")
    shared = start_shared(fresh_emulator, tmp_path / "data", **{"dav.max_locks_per_account": 12})
    jane, marc = shared.jane, shared.marc
    try:
        folder = JANE_PRIVATE + "/flood"
        short = jane.lock(f"{folder}/f0.txt", Timeout="Second-1")
        assert short.status_code == 200
        time.sleep(1.2)  # an expired lock no longer counts
        tokens = []
        for number in range(12):
            response = jane.lock(f"{folder}/f{number}.txt", SHARED_LOCKINFO)
            assert response.status_code == 200, (number, response.text)
            tokens.append(response.headers["Lock-Token"])
        refused = jane.lock(f"{folder}/f12.txt")
        assert_plain_refusal(refused, 507, says="12 active locks")
        assert "Lock-Token" not in refused.headers
        assert jane.lock(f"{folder}/f0.txt", SHARED_LOCKINFO).status_code == 507  # same path, new lock
        created = jane.lock(f"{folder}/new-by-lock.txt")
        assert created.status_code == 507
        assert "new-by-lock.txt" not in kdrive.list_names(JANE_DRIVE, "/Private/flood")
        # Refreshing a held lock is not a new lock.
        assert jane.request("LOCK", f"{folder}/f3.txt", headers={"If": f"({tokens[3]})"}).status_code == 200
        # The cap is per account.
        assert marc.lock("kDrive/Marc's kDrive/Private/Notes/todo.txt").status_code == 200
        # Unlocking frees a place.
        unlocked = jane.request("UNLOCK", f"{folder}/f5.txt", headers={"Lock-Token": tokens[5]})
        assert unlocked.status_code == 204
        assert jane.lock(f"{folder}/f12.txt").status_code == 200
        assert jane.lock(f"{folder}/f13.txt").status_code == 507
    finally:
        shared.stop()


def test_a_body_that_never_arrives_is_answered_not_waited_for(fresh_emulator: Emulator,
                                                              tmp_path: Path) -> None:
    shared = start_shared(fresh_emulator, tmp_path / "data", **{"server.request_timeout": 2})
    try:
        head = (f"PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\nAuthorization: {basic(*shared.jane.auth)}\r\n"
                "Depth: 0\r\nContent-Length: 100").encode()
        started = time.monotonic()
        reply = raw_request(shared.url, head, b"<D:propfind", timeout=15)
        assert reply.status in (400, 408), reply.text
        assert time.monotonic() - started < 10
        assert shared.jane.propfind("", depth="0").status_code == 207
    finally:
        shared.stop()
