"""Target selection for the contract suite: the emulator by default, the real Infomaniak on demand.

The same read-only checks run against either target; they assert the contract's shapes, status
codes and pagination, never sample values.

- **Default:** a session-scoped emulator with a small sample, and a token for Jane from
  ``emulator.issue_token(JANE_ID)``. This runs in the normal test run.
- **Live:** when ``IKDAV_LIVE_TOKEN`` is set, the checks go to the real services instead, so a
  person can see in one command whether ikdav still matches them::

      IKDAV_LIVE_TOKEN=... .venv/bin/python -m pytest tests/contract

  The token is a personal API token (scopes ``user_info drive workspace:mail``) or an OAuth access
  token. The base URLs default to production and can be overridden with
  ``IKDAV_LIVE_LOGIN_URL``, ``IKDAV_LIVE_API_URL`` and ``IKDAV_LIVE_MAIL_URL`` (for a proxy).

Nothing on the target is ever written, moved or deleted: every request is a GET (or HEAD), the
HTTP clients refuse any other method, and the only login-host call is ``/token/check``. Checks
that need data a real account may lack (a mailbox, a Common documents folder, a non-empty INBOX)
skip with the reason; against the emulator the same absence fails. The token never appears in
output: :class:`~.support.Target` hides it from its repr.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import JANE_ID
from ikdav.infomaniak import ClientSettings, Endpoints, InfomaniakClient, StaticTokenProvider

from .samples import (
    UID_BATCH,
    UID_LIST_LENGTH,
    Download,
    DriveSample,
    download_reply,
    drive_list_reply,
    explore_drive,
)
from .shapes import walk_folders
from .support import ReadOnlyHttp, Target, missing, refuse_writes, success

LIVE_TOKEN = "IKDAV_LIVE_TOKEN"
PRODUCTION = Endpoints()  # the production base URLs of contract §0


def live_target() -> Target | None:
    """The real services, when ``IKDAV_LIVE_TOKEN`` holds a token."""
    token = os.environ.get(LIVE_TOKEN, "").strip()
    if not token:
        return None
    return Target(
        login_url=os.environ.get("IKDAV_LIVE_LOGIN_URL") or PRODUCTION.login_url,
        api_url=os.environ.get("IKDAV_LIVE_API_URL") or PRODUCTION.api_url,
        mail_url=os.environ.get("IKDAV_LIVE_MAIL_URL") or PRODUCTION.mail_url,
        token=token,
        live=True,
    )


@pytest.fixture(scope="session")
def contract_emulator() -> Iterator[Emulator]:
    """The emulator the suite checks by default; small, since only shapes are asserted."""
    emulator = Emulator(sample=SampleOptions(big_folder_files=0, mail_messages=12))
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """Base URLs, bearer token and ``live`` flag of what the suite checks."""
    live = live_target()
    if live is not None:
        return live
    emulator: Emulator = request.getfixturevalue("contract_emulator")
    return Target(login_url=emulator.login_url, api_url=emulator.api_url, mail_url=emulator.mail_url,
                  token=emulator.issue_token(JANE_ID), live=False)


@pytest.fixture(scope="session")
def http(target: Target) -> Iterator[ReadOnlyHttp]:
    client = ReadOnlyHttp(target)
    yield client
    client.close()


@pytest.fixture(scope="session")
def library(target: Target) -> Iterator[InfomaniakClient]:
    """ikdav's own client library on the target, held to GET and HEAD like the raw checks."""
    client = InfomaniakClient(target.endpoints, StaticTokenProvider(target.token),
                              ClientSettings(max_retry_wait=120.0))
    for http_client in (client.transport.client, client.transport.content_client):
        http_client.event_hooks = {"request": [refuse_writes]}
    yield client
    client.close()


# -- kDrive samples ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def drives(http: ReadOnlyHttp, target: Target) -> list[dict[str, Any]]:
    response = drive_list_reply(http)
    if response.status_code == 403:
        missing(target, "the drive list answers 403: the token lacks the kDrive scope (drive or kdrive)")
    data = success(response)["data"]
    assert isinstance(data, list), "the drive list's data is not a list"
    return data


@pytest.fixture(scope="session")
def drive(http: ReadOnlyHttp, target: Target, drives: list[dict[str, Any]]) -> DriveSample:
    """The account's first drive, explored just enough for the checks."""
    if not drives:
        missing(target, "the account has no kDrive (the drive list is empty)")
    sample = explore_drive(http, int(drives[0]["drive_id"]))
    assert sample is not None, "root 1 of the first drive has no folder with visibility is_private_space"
    return sample


@pytest.fixture(scope="session")
def sample_file(drive: DriveSample, target: Target) -> dict[str, Any]:
    if drive.file is None:
        missing(target, "no file of 16 bytes to 1 MiB in the first folders of Private")
    return drive.file


@pytest.fixture(scope="session")
def download(http: ReadOnlyHttp, drive: DriveSample, sample_file: dict[str, Any]) -> Download:
    """The sample file's pre-signed URL and whole content, fetched without Authorization."""
    redirect = download_reply(http, drive.drive_id, sample_file["id"])
    assert redirect.status_code == 302, f"/download answered {redirect.status_code}, not 302"
    location = redirect.headers["Location"]
    response = http.get_url(location)
    assert response.status_code == 200, f"the content URL answered {response.status_code}"
    return Download(location, response.content)


# -- mail samples ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mailboxes(http: ReadOnlyHttp, target: Target) -> list[dict[str, Any]]:
    response = http.get("mail", "/api/mailbox", params={"with": "aliases,unseen"})
    status = response.status_code
    if status in (401, 403) or 300 <= status < 400:
        missing(target, f"the token does not reach the mail host (HTTP {status}); it needs the mail "
                        "scope (workspace:mail for a personal token)")
    data = success(response)["data"]
    assert isinstance(data, list), "the mailbox list's data is not a list"
    if not data:
        missing(target, "no mailbox is attached to the account")
    return data


@pytest.fixture(scope="session")
def mailbox(mailboxes: list[dict[str, Any]]) -> dict[str, Any]:
    """The primary mailbox, else the first."""
    return next((m for m in mailboxes if m.get("is_primary") is True), mailboxes[0])


@pytest.fixture(scope="session")
def folder_tree(http: ReadOnlyHttp, mailbox: dict[str, Any]) -> list[Any]:
    data = success(http.get("mail", f"/api/mail/{mailbox['uuid']}/folder"))["data"]
    assert isinstance(data, list), "the folder tree's data is not a list"
    return data


@pytest.fixture(scope="session")
def inbox(folder_tree: list[Any]) -> dict[str, Any]:
    found = [folder for folder, _ in walk_folders(folder_tree) if folder.get("role") == "INBOX"]
    assert len(found) == 1, f"{len(found)} folders have the role INBOX"
    return found[0]


@pytest.fixture(scope="session")
def inbox_path(mailbox: dict[str, Any], inbox: dict[str, Any]) -> str:
    return f"/api/mail/{mailbox['uuid']}/folder/{inbox['id']}"


@pytest.fixture(scope="session")
def inbox_uid_list(http: ReadOnlyHttp, inbox_path: str) -> dict[str, Any]:
    """``date-ordered-messages-uids`` of INBOX, newest first, the first few dozen."""
    params = {"messages": UID_LIST_LENGTH, "direction": "desc"}
    return success(http.get("mail", inbox_path + "/mobile/date-ordered-messages-uids", params=params))["data"]


@pytest.fixture(scope="session")
def inbox_uids(inbox_uid_list: dict[str, Any], target: Target) -> list[str]:
    uids = inbox_uid_list.get("messages_uids")
    assert isinstance(uids, list), "messages_uids is not a list"
    if not uids:
        missing(target, "INBOX is empty")
    return [str(uid) for uid in uids]


@pytest.fixture(scope="session")
def inbox_messages(http: ReadOnlyHttp, inbox_path: str, inbox_uids: list[str]) -> list[Any]:
    """The newest few messages of INBOX in their sync form."""
    body = success(http.get("mail", inbox_path + "/mobile/messages",
                            params={"uids": ",".join(inbox_uids[:UID_BATCH])}))
    data = body["data"]
    assert isinstance(data, dict) and isinstance(data.get("messages"), list), (
        "messages?uids= data is not an object with a messages list")
    return data["messages"]
