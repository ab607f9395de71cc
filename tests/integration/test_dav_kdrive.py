"""The kDrive part of the share, request by request, against the real server and emulator."""

from __future__ import annotations

import base64
import http.client
import io
import xml.etree.ElementTree as ET
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests
from harness import MY_KDRIVE, PRIVATE, DavServer
from webdav4.client import Client

DAV = "{DAV:}"


def propfind(dav: DavServer, path: str, depth: str = "1", body: str | None = None) -> requests.Response:
    return requests.request("PROPFIND", dav.href(path), auth=dav.auth, headers={"Depth": depth},
                            data=body)


def entries(response: requests.Response) -> dict[str, dict[str, str]]:
    """href → {property local name: text} from a 207 reply."""
    assert response.status_code == 207, response.text
    result: dict[str, dict[str, str]] = {}
    for item in ET.fromstring(response.content).iter(f"{DAV}response"):
        href = item.findtext(f"{DAV}href") or ""
        props: dict[str, str] = {}
        for prop in item.iter(f"{DAV}prop"):
            for child in prop:
                props[child.tag.split("}")[1]] = child.text or ("collection" if len(child) else "")
        result[requests.utils.unquote(href)] = props
    return result


def names(dav: DavServer, path: str) -> set[str]:
    found = entries(propfind(dav, path))
    base = "/dav/" + (path.strip("/") + "/" if path.strip("/") else "")
    return {href[len(base):].rstrip("/") for href in found if href != base}


def emulator_node(dav: DavServer, path: str):  # type: ignore[no-untyped-def]
    return dav.emulator.state.kdrive.find(MY_KDRIVE, "/" + path.removeprefix("kDrive/My kDrive/"))


def put(dav: DavServer, path: str, data: bytes, **headers: str) -> requests.Response:
    return requests.put(dav.href(path), data=data, auth=dav.auth, headers=headers)


def upstream_calls(dav: DavServer, fragment: str = "") -> int:
    return len([r for r in dav.emulator.log.find(role="api") if fragment in r.path])


# -- the tree --------------------------------------------------------------------------------------------

def test_root_shows_kdrive_and_mail_and_the_drives_their_top_folders(dav: DavServer) -> None:
    assert names(dav, "") == {"kDrive", "Mail"}
    assert names(dav, "kDrive") == {"My kDrive", "Famille Doe"}
    assert names(dav, "kDrive/My kDrive") == {"Private", "Common documents", "Shared"}
    assert names(dav, "kDrive/Famille Doe") == {"Private"}


def test_a_folder_lists_with_one_paged_listing_and_then_from_the_cache(dav: DavServer) -> None:
    dav.emulator.log.clear()
    listed = names(dav, PRIVATE + "/Big folder")
    assert len(listed) == 30
    assert upstream_calls(dav, "/files/") - upstream_calls(dav, "/name") >= 1
    listing_calls = len([r for r in dav.emulator.log.find(role="api") if r.path.endswith("/files")])
    assert listing_calls == 2  # root 1 (top folders) and Big folder, one page each
    assert upstream_calls(dav, "/name") == 1  # "Big folder" itself was found by a name lookup
    before = len(dav.emulator.log.find(role="api"))
    names(dav, PRIVATE + "/Big folder")
    assert len(dav.emulator.log.find(role="api")) == before  # warm: no upstream call at all


def test_properties_come_from_the_listing(dav: DavServer) -> None:
    dav.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/props.txt", b"x" * 1234,
                                       last_modified_at=1_600_000_000)
    found = entries(propfind(dav, PRIVATE + "/props.txt", depth="0"))
    props = found["/dav/" + PRIVATE + "/props.txt"]
    assert props["getcontentlength"] == "1234"
    assert props["getcontenttype"] == "text/plain"
    assert parsedate_to_datetime(props["getlastmodified"]).timestamp() == 1_600_000_000
    assert props["getetag"].startswith('"') and not props["getetag"].startswith('W/')
    assert props["creationdate"]
    drive = entries(propfind(dav, "kDrive/My kDrive", depth="0"))["/dav/kDrive/My kDrive/"]
    assert int(drive["quota-used-bytes"]) > 0
    assert int(drive["quota-available-bytes"]) > 0


# -- reading ---------------------------------------------------------------------------------------------

def test_get_streams_the_content_and_honours_ranges(dav: DavServer) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    dav.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/blob.bin", data)
    url = dav.href(PRIVATE + "/blob.bin")
    assert requests.get(url, auth=dav.auth).content == data
    part = requests.get(url, auth=dav.auth, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert part.content == data[1000:2000]
    tail = requests.get(url, auth=dav.auth, headers={"Range": "bytes=-10"})
    assert tail.content == data[-10:]
    assert requests.get(url, auth=dav.auth, headers={"Range": "bytes=9999999-"}).status_code == 416


def test_head_costs_no_download(dav: DavServer) -> None:
    dav.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/head.bin", b"abc")
    names(dav, PRIVATE)
    dav.emulator.log.clear()
    response = requests.head(dav.href(PRIVATE + "/head.bin"), auth=dav.auth)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "3"
    assert dav.emulator.log.find(path_contains="/download") == []
    assert dav.emulator.log.find(role="content") == []


def test_the_bearer_token_never_reaches_the_content_host(dav: DavServer) -> None:
    dav.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/t.bin", b"t" * 10)
    assert requests.get(dav.href(PRIVATE + "/t.bin"), auth=dav.auth).content == b"t" * 10
    content = dav.emulator.log.find(role="content")
    assert content and not any(record.authorization for record in content)


# -- writing ---------------------------------------------------------------------------------------------

def test_put_then_propfind_shows_the_file_at_once(dav: DavServer) -> None:
    names(dav, PRIVATE)  # warm the cache
    assert put(dav, PRIVATE + "/new.txt", b"hello").status_code == 201
    assert "new.txt" in names(dav, PRIVATE)
    assert emulator_node(dav, PRIVATE + "/new.txt") is not None
    assert dav.emulator.state.kdrive.read_bytes(MY_KDRIVE, "/Private/new.txt") == b"hello"


def test_put_over_an_existing_file_keeps_its_id(dav: DavServer) -> None:
    assert put(dav, PRIVATE + "/v.txt", b"one").status_code == 201
    first = emulator_node(dav, PRIVATE + "/v.txt")
    assert put(dav, PRIVATE + "/v.txt", b"two!").status_code == 204
    second = emulator_node(dav, PRIVATE + "/v.txt")
    assert second.id == first.id and second.version == 2
    assert requests.get(dav.href(PRIVATE + "/v.txt"), auth=dav.auth).content == b"two!"


def test_zero_byte_and_chunked_uploads(dav: DavServer) -> None:
    assert put(dav, PRIVATE + "/empty.txt", b"").status_code == 201
    assert emulator_node(dav, PRIVATE + "/empty.txt").size == 0
    # The connection stays usable after an empty body (one socket, reused blindly).
    url = urlsplit(dav.href(PRIVATE + "/empty.txt"))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {"Authorization": "Basic " + base64.b64encode(f"{dav.user}:{dav.password}".encode()).decode()}
    for _ in range(3):
        connection.request("GET", url.path, headers=headers)
        reply = connection.getresponse()
        assert (reply.status, reply.read()) == (200, b"")
    connection.close()

    def body():  # no length known: sent with chunked transfer encoding, as Finder does
        yield b"chunk-1;"
        yield b"chunk-2"

    response = requests.put(dav.href(PRIVATE + "/chunked.txt"), data=body(), auth=dav.auth)
    assert response.status_code == 201, response.text
    assert dav.emulator.state.kdrive.read_bytes(MY_KDRIVE, "/Private/chunked.txt") == b"chunk-1;chunk-2"


def test_x_oc_mtime_is_stored_with_the_upload(dav: DavServer) -> None:
    response = put(dav, PRIVATE + "/dated.txt", b"d", **{"X-OC-Mtime": "1500000000"})
    assert response.status_code == 201
    assert response.headers.get("X-OC-Mtime") == "accepted"
    assert emulator_node(dav, PRIVATE + "/dated.txt").last_modified_at == 1_500_000_000


WIN32_TIME = '<Z:Win32LastModifiedTime xmlns:Z="urn:schemas-microsoft-com:">{http}</Z:Win32LastModifiedTime>'


@pytest.mark.parametrize("prop", [
    "<D:getlastmodified>{http}</D:getlastmodified>",  # RFC 4918 clients
    "<D:lastmodified>1400000000</D:lastmodified>",  # ownCloud style (rclone)
    WIN32_TIME,  # Windows Explorer
])
def test_proppatch_of_the_modification_time_does_not_upload_again(dav: DavServer, prop: str) -> None:
    put(dav, PRIVATE + "/touch.txt", b"t")
    dav.emulator.log.clear()
    when = formatdate(1_400_000_000, usegmt=True)
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            + prop.format(http=when) + "</D:prop></D:set></D:propertyupdate>")
    response = requests.request("PROPPATCH", dav.href(PRIVATE + "/touch.txt"), auth=dav.auth, data=body)
    assert response.status_code == 207
    assert "200 OK" in response.text
    assert emulator_node(dav, PRIVATE + "/touch.txt").last_modified_at == 1_400_000_000
    assert not dav.emulator.log.find(path_contains="/upload")
    assert len(dav.emulator.log.find(path_contains="/last-modified")) == 1


def test_mkcol_move_copy_delete_are_native_calls(dav: DavServer) -> None:
    client = Client(dav.url, auth=dav.auth)
    client.mkdir(PRIVATE + "/work")
    client.upload_fileobj(io.BytesIO(b"content"), PRIVATE + "/work/a.txt")
    dav.emulator.log.clear()
    client.move(PRIVATE + "/work/a.txt", PRIVATE + "/work/b.txt")  # rename
    assert len(dav.emulator.log.find(path_contains="/rename")) == 1
    client.copy(PRIVATE + "/work/b.txt", PRIVATE + "/c.txt")
    assert len(dav.emulator.log.find(path_contains="/copy/")) == 1
    client.move(PRIVATE + "/c.txt", PRIVATE + "/work/d.txt")  # move to another folder
    assert len(dav.emulator.log.find(path_contains="/move/")) == 1
    assert names(dav, PRIVATE + "/work") == {"b.txt", "d.txt"}
    client.remove(PRIVATE + "/work")
    assert "work" not in names(dav, PRIVATE)
    node = dav.emulator.state.kdrive.find(MY_KDRIVE, "/Private/work")
    assert node is None  # gone from listings: it sits in the kDrive trash
    assert len(dav.emulator.log.find(method="DELETE", path_contains="/files/")) == 1


def test_move_and_copy_answer_201_for_new_and_204_for_replaced(dav: DavServer) -> None:
    put(dav, PRIVATE + "/m1.txt", b"1")
    put(dav, PRIVATE + "/m2.txt", b"2")
    moved = requests.request("MOVE", dav.href(PRIVATE + "/m1.txt"), auth=dav.auth,
                             headers={"Destination": dav.href(PRIVATE + "/m3.txt")})
    assert moved.status_code == 201
    refused = requests.request("COPY", dav.href(PRIVATE + "/m3.txt"), auth=dav.auth,
                               headers={"Destination": dav.href(PRIVATE + "/m2.txt"), "Overwrite": "F"})
    assert refused.status_code == 412
    replaced = requests.request("COPY", dav.href(PRIVATE + "/m3.txt"), auth=dav.auth,
                                headers={"Destination": dav.href(PRIVATE + "/m2.txt"), "Overwrite": "T"})
    assert replaced.status_code == 204
    assert requests.get(dav.href(PRIVATE + "/m2.txt"), auth=dav.auth).content == b"1"


def test_lock_null_resource_becomes_an_empty_file(dav: DavServer) -> None:
    body = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            "<D:locktype><D:write/></D:locktype><D:owner>tests</D:owner></D:lockinfo>")
    response = requests.request("LOCK", dav.href(PRIVATE + "/locked-null.txt"), auth=dav.auth, data=body,
                                headers={"Timeout": "Second-60"})
    assert response.status_code == 201
    token = response.headers["Lock-Token"]
    assert emulator_node(dav, PRIVATE + "/locked-null.txt").size == 0
    assert put(dav, PRIVATE + "/locked-null.txt", b"x").status_code == 423
    assert put(dav, PRIVATE + "/locked-null.txt", b"x", If=f"({token})").status_code == 204


# -- refusals --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "headers"), [
    ("DELETE", "kDrive", {}),
    ("DELETE", "kDrive/My kDrive", {}),
    ("DELETE", PRIVATE, {}),
    ("MOVE", PRIVATE, {"Destination": "/dav/kDrive/My kDrive/Renamed"}),
    ("MKCOL", "kDrive/new-drive", {}),
    ("PUT", "kDrive/My kDrive/file.txt", {}),
    ("MKCOL", "newtop", {}),
])
def test_virtual_levels_are_read_only_with_a_plain_message(dav: DavServer, method: str, path: str,
                                                           headers: dict[str, str]) -> None:
    response = requests.request(method, dav.href(path), auth=dav.auth, headers=headers, data=b"")
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "cannot be changed" in response.text
    assert "Traceback" not in response.text


def test_depth_infinity_propfind_is_refused_and_no_depth_means_one(dav: DavServer) -> None:
    response = propfind(dav, PRIVATE, depth="infinity")
    assert response.status_code == 403
    assert "propfind-finite-depth" in response.text
    no_depth = requests.request("PROPFIND", dav.href(PRIVATE), auth=dav.auth)
    assert no_depth.status_code == 207
    assert "todo.txt" in no_depth.text and "2025" not in entries(no_depth)  # children, not grandchildren
    assert not any(href.count("/") > 6 for href in entries(no_depth))


def test_locked_file_and_full_drive_map_to_423_and_507(dav: DavServer) -> None:
    node = dav.emulator.state.kdrive.put_file(MY_KDRIVE, "/Private/busy.txt", b"busy")
    dav.emulator.knobs.merge({"lock_file": {"drive_id": MY_KDRIVE, "file_id": node.id}})
    locked = put(dav, PRIVATE + "/busy.txt", b"new")
    assert locked.status_code == 423
    assert requests.get(dav.href(PRIVATE + "/busy.txt"), auth=dav.auth).content == b"busy"
    dav.emulator.knobs.merge({"quota": {"size": 10_000_000, "used_size": 9_999_990}})
    full = put(dav, PRIVATE + "/big.bin", b"0" * 1000)
    assert full.status_code == 507
    assert full.headers["Content-Type"].startswith("text/plain")
    assert emulator_node(dav, PRIVATE + "/big.bin") is None


def test_a_failed_upload_leaves_nothing_behind(dav: DavServer) -> None:
    dav.emulator.knobs.merge({"server_errors": {"status": 500, "match": {"host": "api", "path": "/upload"}}})
    response = put(dav, PRIVATE + "/fails.txt", b"x" * 100)
    assert response.status_code in (502, 503)
    assert "Traceback" not in response.text
    dav.emulator.knobs.reset()
    assert emulator_node(dav, PRIVATE + "/fails.txt") is None
    assert dav.emulator.state.kdrive.upload_sessions() == []


def test_finder_side_files_stay_out_of_kdrive(dav: DavServer) -> None:
    put(dav, PRIVATE + "/photo.jpg", b"jpeg")
    assert put(dav, PRIVATE + "/._photo.jpg", b"appledouble").status_code == 201
    assert put(dav, PRIVATE + "/.DS_Store", b"ds").status_code == 201
    assert requests.get(dav.href(PRIVATE + "/._photo.jpg"), auth=dav.auth).content == b"appledouble"
    assert propfind(dav, PRIVATE + "/._photo.jpg", depth="0").status_code == 207
    assert emulator_node(dav, PRIVATE + "/._photo.jpg") is None
    assert emulator_node(dav, PRIVATE + "/.DS_Store") is None
    assert "._photo.jpg" not in names(dav, PRIVATE)
    assert requests.delete(dav.href(PRIVATE + "/._photo.jpg"), auth=dav.auth).status_code == 204
    assert requests.get(dav.href(PRIVATE + "/._photo.jpg"), auth=dav.auth).status_code == 404


def test_wrong_password_and_other_users_are_refused(dav: DavServer) -> None:
    assert requests.request("PROPFIND", dav.url, auth=(dav.user, "wrong"),
                            headers={"Depth": "0"}).status_code == 401
    assert requests.request("PROPFIND", dav.url, auth=("marc@example.ch", dav.password),
                            headers={"Depth": "0"}).status_code == 401


def test_mkcol_of_a_folder_made_meanwhile_elsewhere_is_405(dav: DavServer) -> None:
    names(dav, PRIVATE)  # the listing is cached without the folder
    dav.emulator.state.kdrive.make_dirs(MY_KDRIVE, "/Private/raced")
    response = requests.request("MKCOL", dav.href(PRIVATE + "/raced"), auth=dav.auth)
    assert response.status_code == 405, response.text
    assert "raced" in names(dav, PRIVATE)
