"""Shared by the kDrive conformance tests: an HTTP client on the API host and envelope checks.

Holds no tests itself; the ``test_kdrive_*`` modules import from it.
"""

from __future__ import annotations

from typing import Any

import httpx

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID

JANE_DRIVE = 140946
FAMILY_DRIVE = 140947
MARC_DRIVE = 150001

FILE_FIELDS = {"id", "parent_id", "drive_id", "name", "type", "status", "visibility", "created_at",
               "added_at", "last_modified_at", "revised_at", "updated_at"}


class KDrive:
    """An authenticated client of the emulator's API host, as a kDrive client would hold one."""

    def __init__(self, emulator: Emulator, token: str | None) -> None:
        self.emulator = emulator
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.token = token
        self.http = httpx.Client(base_url=emulator.api_url, headers=headers, timeout=30,
                                 follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def id_of(self, path: str, drive: int = JANE_DRIVE) -> int:
        node = self.emulator.state.kdrive.find(drive, path)
        assert node is not None, f"sample data lacks {path}"
        return int(node.id)

    def list_all(self, dir_id: int, drive: int = JANE_DRIVE, limit: int = 1000,
                 **params: Any) -> list[dict[str, Any]]:
        """Every child of ``dir_id``, following cursors."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": limit, **params}
        while True:
            body = success(self.get(f"/3/drive/{drive}/files/{dir_id}/files", params=query))
            items.extend(body["data"])
            if not body["has_more"]:
                return items
            query["cursor"] = body["cursor"]

    def upload(self, content: bytes, drive: int = JANE_DRIVE, **params: Any) -> httpx.Response:
        query = {"total_size": len(content), **params}
        return self.post(f"/3/drive/{drive}/upload", params=query, content=content)

    def close(self) -> None:
        self.http.close()


def kdrive(emulator: Emulator, user_id: int = JANE_ID, scopes: str = "user_info kdrive mail") -> KDrive:
    return KDrive(emulator, emulator.issue_token(user_id, scopes))


def success(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The parsed success envelope; kDrive replies always carry ``response_at`` (§3.1)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] == "success", body
    assert "data" in body
    assert isinstance(body["response_at"], int)
    return body


def failure(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The parsed error envelope, checked for HTTP status and ``error.code`` (§3.2)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] == "error", body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["description"], str)
    return body["error"]
