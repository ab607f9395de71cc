"""kDrive drives (§4.1): the v2 page list, drive info, access and scope refusals, drive knobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT, MARC_ID

from .test_kdrive_support import (
    FAMILY_DRIVE,
    JANE_DRIVE,
    MARC_DRIVE,
    KDrive,
    failure,
    kdrive,
    success,
)

DRIVE_FIELDS = {"id", "name", "account_id", "size", "used_size", "in_maintenance", "maintenance_reason",
                "is_locked", "role", "account", "pack", "preferences", "created_at", "updated_at"}
DRIVES = "/2/drive/users/current/drives"


@pytest.fixture
def jane(emulator: Emulator) -> Iterator[KDrive]:
    client = kdrive(emulator, JANE_ID)
    yield client
    client.close()


def test_drive_list_shows_the_users_drives_with_their_drive_objects(jane: KDrive) -> None:
    body = success(jane.get(DRIVES, params={"roles[]": ["admin", "user"], "with": "drive,drive.account"}))
    items = body["data"]
    assert [i["drive_id"] for i in items] == [JANE_DRIVE, FAMILY_DRIVE]
    assert items[0]["drive_name"] == "My kDrive"
    assert items[0]["id"] == JANE_ID
    assert items[0]["preference"]["color"].startswith("#")
    assert DRIVE_FIELDS <= set(items[0]["drive"])
    assert items[0]["drive"]["account"]["id"] == items[0]["drive"]["account_id"]
    assert (body["total"], body["pages"], body["page"], body["items_per_page"]) == (2, 1, 1, 10)


def test_drive_list_pages_with_per_page(jane: KDrive) -> None:
    first = success(jane.get(DRIVES, params={"per_page": 1, "page": 1, "with": "total"}))
    second = success(jane.get(DRIVES, params={"per_page": 1, "page": 2, "with": "total"}))
    beyond = success(jane.get(DRIVES, params={"per_page": 1, "page": 3}))
    assert (first["pages"], first["total"], first["items_per_page"]) == (2, 2, 1)
    assert [i["drive_id"] for i in first["data"]] == [JANE_DRIVE]
    assert [i["drive_id"] for i in second["data"]] == [FAMILY_DRIVE]
    assert second["page"] == 2
    assert beyond["data"] == []


def test_drive_list_filters_by_role(jane: KDrive) -> None:
    admin = success(jane.get(DRIVES, params={"roles[]": "admin"}))
    assert [i["drive_id"] for i in admin["data"]] == [JANE_DRIVE]


def test_drive_list_refuses_oversized_pages(jane: KDrive) -> None:
    failure(jane.get(DRIVES, params={"per_page": 1001}), 422, "validation_failed")
    failure(jane.get(DRIVES, params={"page": 0}), 422, "validation_failed")


def test_drive_info_and_only_fields(jane: KDrive, emulator: Emulator) -> None:
    drive = success(jane.get(f"/2/drive/{JANE_DRIVE}", params={"with": "preferences,pack"}))["data"]
    assert DRIVE_FIELDS <= set(drive)
    assert drive["id"] == JANE_DRIVE
    assert drive["role"] == "admin"
    assert drive["used_size"] == emulator.state.kdrive.drives[JANE_DRIVE].used > 0
    assert drive["size"] == 1 << 40
    only = success(jane.get(f"/2/drive/{JANE_DRIVE}", params={"only": "used_size,size"}))["data"]
    assert only == {"size": drive["size"], "used_size": drive["used_size"]}


def test_unknown_or_foreign_drive_is_not_found(jane: KDrive) -> None:
    for drive_id in (999999, MARC_DRIVE):
        error = failure(jane.get(f"/2/drive/{drive_id}"), 404, "object_not_found")
        assert error["context"]["model"] == "Drive"
        error = failure(jane.get(f"/3/drive/{drive_id}/files/1"), 404, "object_not_found")
        assert error["context"]["model"] == "Drive"


def test_marc_sees_only_his_drive(emulator: Emulator) -> None:
    marc = kdrive(emulator, MARC_ID)
    items = success(marc.get(DRIVES))["data"]
    assert [i["drive_id"] for i in items] == [MARC_DRIVE]
    failure(marc.get(f"/2/drive/{JANE_DRIVE}"), 404, "object_not_found")


def test_token_without_kdrive_scope_is_denied(emulator: Emulator) -> None:
    no_drive = kdrive(emulator, JANE_ID, scopes="user_info mail")
    failure(no_drive.get(DRIVES), 403, "access_denied")
    failure(no_drive.get(f"/3/drive/{JANE_DRIVE}/files/1"), 403, "access_denied")
    failure(no_drive.post(f"/3/drive/{JANE_DRIVE}/upload", params={"total_size": 1}, content=b"x"),
            403, "access_denied")


def test_missing_or_bad_token_is_not_authorized(emulator: Emulator) -> None:
    failure(KDrive(emulator, None).get(DRIVES), 401, "not_authorized")
    failure(KDrive(emulator, "not-a-token").get(f"/2/drive/{JANE_DRIVE}"), 401, "not_authorized")


def test_personal_token_with_drive_scope_works(emulator: Emulator) -> None:
    items = success(KDrive(emulator, JANE_PAT).get(DRIVES))["data"]
    assert len(items) == 2


def test_kdrive_drives_knob_empties_or_narrows_the_list(jane: KDrive, emulator: Emulator) -> None:
    emulator.knobs.merge({"kdrive_drives": []})
    assert success(jane.get(DRIVES))["data"] == []
    failure(jane.get(f"/2/drive/{JANE_DRIVE}"), 404, "object_not_found")
    emulator.knobs.merge({"kdrive_drives": [FAMILY_DRIVE]})
    assert [i["drive_id"] for i in success(jane.get(DRIVES))["data"]] == [FAMILY_DRIVE]
    failure(jane.get(f"/3/drive/{JANE_DRIVE}/files/1"), 404, "object_not_found")
    emulator.knobs.merge({"kdrive_drives": None})
    assert len(success(jane.get(DRIVES))["data"]) == 2


def test_quota_knob_shows_in_drive_info(jane: KDrive, emulator: Emulator) -> None:
    emulator.knobs.merge({"quota": {"size": 10_485_760, "used_size": 10_480_000}})
    only = success(jane.get(f"/2/drive/{FAMILY_DRIVE}", params={"only": "used_size,size"}))["data"]
    assert only == {"size": 10_485_760, "used_size": 10_480_000}
    emulator.knobs.merge({"quota": {"size": 5000, "drive_id": JANE_DRIVE}})
    assert success(jane.get(f"/2/drive/{JANE_DRIVE}"))["data"]["size"] == 5000
    assert success(jane.get(f"/2/drive/{FAMILY_DRIVE}"))["data"]["size"] == 100 << 30
