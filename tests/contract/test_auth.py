"""Tokens and the profile (§1.4, §2): what ikdav asks to know who connected, and how refusals look."""

from __future__ import annotations

from typing import Any

import pytest

from .shapes import assert_profile
from .support import TOKEN_CHECK, ReadOnlyHttp, Target, failure, missing, success

NOT_A_TOKEN = "ikdav-contract-check-not-a-valid-token"
UNAUTHORIZED_CODES = ("not_authorized", "invalid_credentials")


@pytest.fixture(scope="module")
def profile_v2(http: ReadOnlyHttp, target: Target) -> dict[str, Any]:
    response = http.get("api", "/2/profile")
    if response.status_code == 401:
        missing(target, "the profile answers 401: the token lacks the user_info scope")
    return success(response)["data"]


def test_token_check_accepts_the_token(http: ReadOnlyHttp) -> None:
    response = http.get("login", TOKEN_CHECK)
    assert 200 <= response.status_code < 300, f"/token/check answered {response.status_code}"


def test_token_check_refuses_a_bad_token(http: ReadOnlyHttp) -> None:
    response = http.get("login", TOKEN_CHECK, bearer=NOT_A_TOKEN)
    assert response.status_code == 401


def test_profile_v2_has_the_fields_ikdav_reads(profile_v2: dict[str, Any]) -> None:
    assert_profile(profile_v2, version=2)


def test_profile_v1_spells_the_names_the_old_way(http: ReadOnlyHttp, profile_v2: dict[str, Any]) -> None:
    data = success(http.get("api", "/1/profile"))["data"]
    assert_profile(data, version=1)
    assert data["id"] == profile_v2["id"], "v1 and v2 describe different users"


@pytest.mark.parametrize("path", ["/2/profile", "/2/drive/users/current/drives"])
def test_api_host_refuses_a_bad_token_with_401(http: ReadOnlyHttp, path: str) -> None:
    failure(http.get("api", path, bearer=NOT_A_TOKEN), 401, *UNAUTHORIZED_CODES)


def test_mail_host_refuses_a_bad_token(http: ReadOnlyHttp) -> None:
    """A 401 envelope, or a redirect to the login page (D34); never data."""
    response = http.get("mail", "/api/mailbox", bearer=NOT_A_TOKEN)
    if 300 <= response.status_code < 400:
        assert response.headers.get("Location"), "a mail-host redirect without Location"
        return
    failure(response, 401, *UNAUTHORIZED_CODES)
