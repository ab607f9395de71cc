"""Two people on one server: neither reaches, changes, locks or learns anything of the other's.

Jane and Marc are connected to the same ikdav. Marc also has a drive called "My kDrive" (the
name kDrive gives new drives), so both have the path ``kDrive/My kDrive/Private/same.txt``: the
case where one shared namespace of locks, properties or caches would leak.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ikdav.emulator.app import Emulator
from ikdav.emulator.kdrive_sample import FAMILY_DRIVE, JANE_DRIVE, MARC_DRIVE
from ikdav.emulator.sample_data import MARC_ID

from .support import JANE, MARC, SharedServer, start_shared

MARC_MY_KDRIVE = 150_002
SAME = "kDrive/My kDrive/Private/same.txt"
# Words only Jane's side of the share contains (Marc has a "My kDrive" too, so that is not one).
JANE_MARKERS = ("Famille Doe", "support@doe-consulting.ch", "jane@example.ch", "jane%40example.ch",
                "jane-only", "tax-return-2025", "Team handbook", "tarte aux pommes", "jane-secret")
JANE_PATHS = [
    "kDrive/Famille Doe/Private/Recettes/tarte aux pommes.txt",
    "kDrive/Famille Doe/Private/Recettes",
    "kDrive/Famille Doe",
    "kDrive/Famille Doe (140947)",
    "kDrive/My kDrive (140946)/Private/jane-secret.txt",
    "kDrive/My kDrive/Private/Documents/Taxes/2025/tax-return-2025.pdf",
    "Mail/jane@example.ch",
    "Mail/jane@example.ch/INBOX",
    "Mail/support@doe-consulting.ch/INBOX",
]
PROPPATCH = (b'<?xml version="1.0" encoding="utf-8"?>'
             b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:ikdav-tests">'
             b'<D:set><D:prop><Z:secret>jane-only value</Z:secret></D:prop></D:set></D:propertyupdate>')
PROPFIND_SECRET = (b'<?xml version="1.0" encoding="utf-8"?>'
                   b'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:ikdav-tests">'
                   b'<D:prop><Z:secret/><D:lockdiscovery/></D:prop></D:propfind>')
REMOVE_SECRET = PROPPATCH.replace(b"<D:set>", b"<D:remove>").replace(b"</D:set>", b"</D:remove>") \
    .replace(b">jane-only value<", b"><")


@pytest.fixture
def two(fresh_emulator: Emulator, tmp_path: Path) -> Iterator[SharedServer]:
    kdrive = fresh_emulator.state.kdrive
    kdrive.add_drive(MARC_MY_KDRIVE, "My kDrive", {MARC_ID: "admin"}, account_id=5004, account_name="Marc")
    kdrive.put_file(JANE_DRIVE, "/Private/same.txt", b"jane's content")
    kdrive.put_file(JANE_DRIVE, "/Private/jane-secret.txt", b"jane-secret content")
    kdrive.put_file(MARC_MY_KDRIVE, "/Private/same.txt", b"marc's content")
    server = start_shared(fresh_emulator, tmp_path / "data")
    yield server
    server.stop()


def assert_nothing_of_jane(response: requests.Response, sent: str = "") -> None:
    """No word of Jane's in Marc's reply, beyond the path Marc typed himself (``sent``)."""
    seen = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    if sent:
        seen = seen.replace(sent, "")
    for marker in JANE_MARKERS:
        assert marker not in seen, f"{marker!r} reached Marc: {response.request.method} {response.url}"


def hrefs(response: requests.Response) -> set[str]:
    assert response.status_code == 207, response.text
    return {requests.utils.unquote(h.text or "") for h in ET.fromstring(response.content).iter("{DAV:}href")}


def jane_drives(two: SharedServer) -> dict[str, bytes]:
    """Every file of Jane's two drives with its content: what Marc must never change."""
    kdrive = two.emulator.state.kdrive
    found: dict[str, bytes] = {}

    def walk(drive: int, folder: str) -> None:
        for name in kdrive.list_names(drive, folder):
            path = f"{folder.rstrip('/')}/{name}"
            node = kdrive.find(drive, path)
            assert node is not None
            if node.is_dir:
                found[f"{drive}:{path}/"] = b""
                walk(drive, path)
            else:
                found[f"{drive}:{path}"] = kdrive.read_bytes(drive, path)

    for drive in (JANE_DRIVE, FAMILY_DRIVE):
        walk(drive, "/")
    return found


def test_each_lists_only_their_own_tree(two: SharedServer) -> None:
    marc, jane = two.marc, two.jane
    assert hrefs(marc.propfind("kDrive")) == {"/dav/kDrive/", "/dav/kDrive/Marc's kDrive/",
                                              "/dav/kDrive/My kDrive/"}
    assert hrefs(marc.propfind("Mail")) == {"/dav/Mail/", "/dav/Mail/marc@example.ch/"}
    marcs_private = hrefs(marc.propfind("kDrive/My kDrive/Private"))
    assert "/dav/kDrive/My kDrive/Private/same.txt" in marcs_private
    assert "/dav/kDrive/My kDrive/Private/jane-secret.txt" not in marcs_private
    for path in ("", "kDrive", "Mail", "kDrive/My kDrive", "kDrive/My kDrive/Private", "kDrive/Marc's kDrive",
                 "Mail/marc@example.ch"):
        assert_nothing_of_jane(marc.propfind(path))
    assert hrefs(jane.propfind("kDrive")) == {"/dav/kDrive/", "/dav/kDrive/My kDrive/",
                                              "/dav/kDrive/Famille Doe/"}
    assert "Marc's kDrive" not in jane.propfind("kDrive").text
    assert jane.request("GET", SAME).content == b"jane's content"
    assert marc.request("GET", SAME).content == b"marc's content"


def test_the_dir_browser_shows_only_ones_own_names(two: SharedServer) -> None:
    for path in ("", "kDrive/", "Mail/", "kDrive/My kDrive/Private/"):
        page = two.marc.request("GET", path)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert_nothing_of_jane(page)
    assert "Famille Doe" in two.jane.request("GET", "kDrive/").text  # the page does list names


@pytest.mark.parametrize("path", JANE_PATHS)
def test_janes_paths_are_not_there_for_marc_by_any_method(two: SharedServer, path: str) -> None:
    marc = two.marc
    before = jane_drives(two)
    attempts = [
        marc.request("GET", path), marc.request("HEAD", path), marc.propfind(path, depth="0"),
        marc.propfind(path, depth="1", data=PROPFIND_SECRET),
        marc.request("PUT", path + "/x.txt", data=b"from marc"), marc.request("PUT", path, data=b"from marc"),
        marc.request("DELETE", path), marc.request("MKCOL", path + "/new"),
        marc.request("PROPPATCH", path, data=PROPPATCH), marc.lock(path + "/x.txt"),
        marc.request("COPY", "kDrive/Marc's kDrive/Private/Notes/todo.txt",
                     headers={"Destination": "/dav/" + path + "/todo.txt"}),
        marc.request("MOVE", "kDrive/Marc's kDrive/Private/Notes/ideas.md",
                     headers={"Destination": "/dav/" + path + "/ideas.md"}),
        marc.request("COPY", path, headers={"Destination": "/dav/kDrive/Marc's kDrive/Private/stolen"}),
        marc.request("MOVE", path, headers={"Destination": "/dav/kDrive/Marc's kDrive/Private/stolen"}),
    ]
    for response in attempts:
        assert response.status_code in (403, 404, 405, 409), (response.request.method, response.status_code)
        assert_nothing_of_jane(response, sent=path)
    assert jane_drives(two) == before
    kdrive = two.emulator.state.kdrive
    assert "stolen" not in kdrive.list_names(MARC_DRIVE, "/Private")
    assert sorted(kdrive.list_names(MARC_DRIVE, "/Private/Notes")) == ["ideas.md", "todo.txt"]


def test_writes_to_the_same_path_stay_in_each_ones_drive(two: SharedServer) -> None:
    kdrive = two.emulator.state.kdrive
    assert two.marc.request("PUT", SAME, data=b"marc wrote this").status_code in (201, 204)
    created = two.marc.request("PUT", "kDrive/My kDrive/Private/jane-secret.txt", data=b"marc")
    assert created.status_code == 201
    assert kdrive.read_bytes(JANE_DRIVE, "/Private/same.txt") == b"jane's content"
    assert kdrive.read_bytes(JANE_DRIVE, "/Private/jane-secret.txt") == b"jane-secret content"
    assert kdrive.read_bytes(MARC_MY_KDRIVE, "/Private/jane-secret.txt") == b"marc"
    assert two.marc.request("DELETE", SAME).status_code == 204
    assert two.jane.request("GET", SAME).content == b"jane's content"
    assert two.jane.propfind("kDrive/My kDrive/Private", depth="1").status_code == 207


def test_locks_live_in_each_ones_own_namespace(two: SharedServer) -> None:
    jane, marc = two.jane, two.marc
    locked = jane.lock(SAME)
    assert locked.status_code == 200
    token = locked.headers["Lock-Token"]
    assert jane.request("PUT", SAME, data=b"no token").status_code == 423

    # Marc's file of the same path is not locked for him, and Jane's token shows nowhere.
    discovery = marc.propfind(SAME, depth="0", data=PROPFIND_SECRET)
    assert token.strip("<>") not in discovery.text and "activelock" not in discovery.text
    assert marc.request("PUT", SAME, data=b"marc, unhindered").status_code in (201, 204)
    # Jane's token is worth nothing to Marc: not to unlock, refresh, or write through an If header.
    assert marc.request("UNLOCK", SAME, headers={"Lock-Token": token}).status_code in (409, 412)
    assert marc.request("LOCK", SAME, headers={"If": f"({token})", "Timeout": "Second-60"}).status_code in (
        400, 409, 412)
    with_her_token = marc.request("PUT", SAME, data=b"with jane's token", headers={"If": f"({token})"})
    assert with_her_token.status_code == 412
    assert marc.request("MOVE", "kDrive/Marc's kDrive/Private/Notes/todo.txt", headers={
        "Destination": "/dav/" + SAME.replace(" ", "%20"), "If": f"({token})"}).status_code == 412
    # Marc's own lock on his same path does not collide with Jane's.
    marcs = marc.lock(SAME)
    assert marcs.status_code == 200
    assert jane.request("UNLOCK", SAME, headers={"Lock-Token": marcs.headers["Lock-Token"]}).status_code in (
        409, 412)

    # Jane's lock is intact: her file unchanged, her token still works.
    kdrive = two.emulator.state.kdrive
    assert kdrive.read_bytes(JANE_DRIVE, "/Private/same.txt") == b"jane's content"
    assert jane.request("PUT", SAME, data=b"no token").status_code == 423
    written = jane.request("PUT", SAME, data=b"jane, with her token", headers={"If": f"({token})"})
    assert written.status_code in (201, 204)
    assert jane.request("UNLOCK", SAME, headers={"Lock-Token": token}).status_code == 204
    unlocked = marc.request("UNLOCK", SAME, headers={"Lock-Token": marcs.headers["Lock-Token"]})
    assert unlocked.status_code == 204


def test_dead_properties_of_the_same_path_are_separate(two: SharedServer) -> None:
    jane, marc = two.jane, two.marc
    assert jane.request("PROPPATCH", SAME, data=PROPPATCH).status_code == 207
    assert "jane-only value" in jane.propfind(SAME, depth="0", data=PROPFIND_SECRET).text
    seen = marc.propfind(SAME, depth="0", data=PROPFIND_SECRET)
    assert seen.status_code == 207 and "404" in seen.text
    assert_nothing_of_jane(seen)
    assert_nothing_of_jane(marc.propfind("kDrive/My kDrive/Private", depth="1", data=b""))
    assert marc.request("PROPPATCH", SAME, data=REMOVE_SECRET).status_code == 207
    assert "jane-only value" in jane.propfind(SAME, depth="0", data=PROPFIND_SECRET).text


def test_the_others_credentials_never_open_a_cached_login(two: SharedServer) -> None:
    jane, marc = two.jane, two.marc
    assert jane.propfind("", depth="0").status_code == 207  # Jane's login is now cached
    assert marc.propfind("", depth="0").status_code == 207  # and Marc's
    mixed = [(JANE, marc.password), (MARC, jane.password), (JANE.upper(), marc.password),
             (MARC, jane.password + marc.password), (JANE, ""), (JANE, jane.password + " "),
             (JANE + " ", jane.password), ("", jane.password), (f"{MARC}:{jane.password}", marc.password)]
    for user, password in mixed:
        response = requests.request("PROPFIND", two.url, auth=(user, password), headers={"Depth": "1"},
                                    timeout=30)
        assert response.status_code == 401, (user, response.status_code)
        assert "Famille Doe" not in response.text and "Marc's kDrive" not in response.text
    as_marc = requests.request("PROPFIND", two.url + "kDrive/", auth=(MARC.upper(), marc.password),
                               headers={"Depth": "1"}, timeout=30)
    assert "Marc's kDrive" in as_marc.text
    assert_nothing_of_jane(as_marc)
