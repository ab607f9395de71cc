"""Conformance of the emulator's login host with infomaniak-api.md §1 (real HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URIS,
    JANE_ID,
    JANE_PAT,
    MARC_ID,
)

REDIRECT = DEMO_REDIRECT_URIS[0]


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_params(verifier: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT,
        "scope": "user_info kdrive mail", "state": "st-" + secrets.token_urlsafe(16),
        "code_challenge": challenge_for(verifier), "code_challenge_method": "S256",
        "access_type": "offline",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def get_code(emulator: Emulator, verifier: str, **overrides: str) -> str:
    emulator.knobs.merge({"consent": "approve"})
    response = httpx.get(emulator.login_url + "/authorize", params=authorize_params(verifier, **overrides))
    return redirect_query(response)["code"]


def token_request(emulator: Emulator, **fields: str) -> httpx.Response:
    body = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, **fields}
    return httpx.post(emulator.login_url + "/token", data={k: v for k, v in body.items() if v is not None})


def exchange(emulator: Emulator, verifier: str, **overrides: str) -> dict:
    code = get_code(emulator, verifier, **overrides)
    response = token_request(emulator, grant_type="authorization_code", code=code,
                             code_verifier=verifier, redirect_uri=REDIRECT)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def verifier() -> str:
    return secrets.token_urlsafe(48)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- /authorize ----------------------------------------------------------------------------------

def test_unknown_client_gets_an_error_page_and_no_redirect(emulator: Emulator, verifier: str) -> None:
    response = httpx.get(emulator.login_url + "/authorize",
                         params=authorize_params(verifier, client_id="nobody"))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_unregistered_redirect_uri_gets_an_error_page_and_no_redirect(emulator: Emulator,
                                                                      verifier: str) -> None:
    response = httpx.get(emulator.login_url + "/authorize",
                         params=authorize_params(verifier, redirect_uri="http://evil.example/cb"))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_redirect_uri" in response.text


@pytest.mark.parametrize(("override", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "user_info everything"}, "invalid_scope"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
])
def test_authorize_errors_redirect_with_state(emulator: Emulator, verifier: str, override: dict,
                                              error: str) -> None:
    params = authorize_params(verifier, **override)
    query = redirect_query(httpx.get(emulator.login_url + "/authorize", params=params))
    assert query["error"] == error
    assert query["state"] == params["state"]


def test_consent_knob_deny_redirects_access_denied(emulator: Emulator, verifier: str) -> None:
    emulator.knobs.merge({"consent": "deny"})
    params = authorize_params(verifier)
    query = redirect_query(httpx.get(emulator.login_url + "/authorize", params=params))
    assert query == {"error": "access_denied", "state": params["state"]}


def test_scope_aliases_are_accepted(emulator: Emulator, verifier: str) -> None:
    tokens = exchange(emulator, verifier, scope="user_info drive workspace:mail")
    assert tokens["scope"] == "user_info drive workspace:mail"


def test_manual_consent_form_lets_the_user_untick_a_scope(emulator: Emulator, verifier: str) -> None:
    params = authorize_params(verifier)
    page = httpx.get(emulator.login_url + "/authorize", params=params)
    assert page.status_code == 200
    assert 'name="scope" value="user_info"' in page.text
    consent_id = re.search(r"name='consent_id' value='([^']+)'", page.text).group(1)
    form = [("consent_id", consent_id), ("user_id", str(MARC_ID)), ("decision", "approve"),
            ("scope", "kdrive"), ("scope", "mail")]
    query = redirect_query(httpx.post(emulator.login_url + "/authorize", content=urlencode(form),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert query["state"] == params["state"]
    reply = token_request(emulator, grant_type="authorization_code", code=query["code"],
                          code_verifier=verifier, redirect_uri=REDIRECT).json()
    assert reply["user_id"] == str(MARC_ID)
    assert reply["scope"] == "kdrive mail"
    profile = httpx.get(emulator.api_url + "/2/profile", headers=bearer(reply["access_token"]))
    assert profile.status_code == 401  # no user_info: the profile is refused (§2)


def test_manual_consent_deny_and_replay_of_the_form(emulator: Emulator, verifier: str) -> None:
    page = httpx.get(emulator.login_url + "/authorize", params=authorize_params(verifier))
    consent_id = re.search(r"name='consent_id' value='([^']+)'", page.text).group(1)
    denied = httpx.post(emulator.login_url + "/authorize",
                        data={"consent_id": consent_id, "decision": "deny"})
    assert redirect_query(denied)["error"] == "access_denied"
    replay = httpx.post(emulator.login_url + "/authorize",
                        data={"consent_id": consent_id, "decision": "approve"})
    assert replay.status_code == 400


# -- /token: code exchange -------------------------------------------------------------------------

def test_code_exchange_returns_plain_json_with_offline_tokens(emulator: Emulator, verifier: str) -> None:
    reply = exchange(emulator, verifier)
    assert "result" not in reply  # not wrapped in the API envelope
    assert reply["token_type"] == "Bearer"
    assert reply["expires_in"] == 7200
    assert reply["refresh_token"]
    assert reply["user_id"] == str(JANE_ID)  # a numeric string (D8)
    profile = httpx.get(emulator.api_url + "/2/profile", headers=bearer(reply["access_token"]))
    assert profile.json()["data"]["id"] == JANE_ID


def test_without_access_type_offline_the_token_does_not_expire(emulator: Emulator, verifier: str) -> None:
    reply = exchange(emulator, verifier, access_type=None)
    assert "expires_in" not in reply
    assert "refresh_token" not in reply


def test_multipart_body_is_accepted(emulator: Emulator, verifier: str) -> None:
    code = get_code(emulator, verifier)
    fields = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
              "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
              "redirect_uri": REDIRECT}
    response = httpx.post(emulator.login_url + "/token",
                          files={k: (None, v) for k, v in fields.items()})
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def test_code_is_single_use_and_a_replay_revokes_its_tokens(emulator: Emulator, verifier: str) -> None:
    code = get_code(emulator, verifier)
    fields = dict(grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=REDIRECT)
    first = token_request(emulator, **fields)
    assert first.status_code == 200
    second = token_request(emulator, **fields)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    check = httpx.get(emulator.login_url + "/token/check", headers=bearer(first.json()["access_token"]))
    assert check.status_code == 401


def test_expired_code_is_refused(emulator: Emulator, verifier: str) -> None:
    code = get_code(emulator, verifier)
    emulator.state.identity.codes[code].expires_at = time.time() - 1
    response = token_request(emulator, grant_type="authorization_code", code=code,
                             code_verifier=verifier, redirect_uri=REDIRECT)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("field", ["code_verifier", "redirect_uri"])
def test_code_bound_to_verifier_and_redirect_uri(emulator: Emulator, verifier: str, field: str) -> None:
    code = get_code(emulator, verifier)
    fields = dict(grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=REDIRECT)
    fields[field] = secrets.token_urlsafe(48) if field == "code_verifier" else DEMO_REDIRECT_URIS[1]
    response = token_request(emulator, **fields)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_fields_are_invalid_request(emulator: Emulator) -> None:
    response = token_request(emulator, grant_type="authorization_code", code="x")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert token_request(emulator).json()["error"] == "invalid_request"


def test_client_authentication(emulator: Emulator) -> None:
    wrong = token_request(emulator, client_secret="wrong", grant_type="refresh_token", refresh_token="x")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    basic = httpx.post(emulator.login_url + "/token", auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
                       data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"


def test_unknown_grant_type(emulator: Emulator) -> None:
    response = token_request(emulator, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


# -- refresh -------------------------------------------------------------------------------------------

def test_refresh_rotates_and_the_old_refresh_token_dies(emulator: Emulator, verifier: str) -> None:
    first = exchange(emulator, verifier)
    second = token_request(emulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    again = token_request(emulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400
    body = again.json()
    assert body == {"error": "invalid_grant", "error_description": body["error_description"],
                    "reason": "refresh_token_revoked"}
    assert token_request(emulator, grant_type="refresh_token",
                         refresh_token=rotated["refresh_token"]).status_code == 200


def test_revoke_refresh_knob(emulator: Emulator, verifier: str) -> None:
    tokens = exchange(emulator, verifier)
    emulator.knobs.merge({"revoke_refresh": {"user": JANE_ID}})
    response = token_request(emulator, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["reason"] == "refresh_token_revoked"


def test_access_token_ttl_knob_expires_tokens(emulator: Emulator, verifier: str) -> None:
    emulator.knobs.merge({"access_token_ttl": 1})
    tokens = exchange(emulator, verifier)
    assert tokens["expires_in"] == 1
    fresh = httpx.get(emulator.api_url + "/2/profile", headers=bearer(tokens["access_token"]))
    assert fresh.status_code == 200
    time.sleep(1.2)
    expired = httpx.get(emulator.api_url + "/2/profile", headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "not_authorized"


def test_user_id_as_int_knob(emulator: Emulator, verifier: str) -> None:
    emulator.knobs.merge({"user_id_as": "int"})
    assert exchange(emulator, verifier)["user_id"] == JANE_ID


def test_deny_scopes_knob_leaves_user_info_out(emulator: Emulator, verifier: str) -> None:
    emulator.knobs.merge({"deny_scopes": ["user_info"]})
    tokens = exchange(emulator, verifier)
    assert "user_info" not in tokens["scope"].split()
    for version in (1, 2):
        profile = httpx.get(f"{emulator.api_url}/{version}/profile", headers=bearer(tokens["access_token"]))
        assert profile.status_code == 401
        assert profile.json()["error"]["code"] == "not_authorized"


# -- revocation, check, userinfo, profile ----------------------------------------------------------------

def test_revocation_kills_the_whole_grant(emulator: Emulator, verifier: str) -> None:
    tokens = exchange(emulator, verifier)
    revoked = httpx.delete(emulator.login_url + "/token", headers=bearer(tokens["access_token"]))
    assert revoked.json() == {"result": "success", "data": True}
    assert httpx.get(emulator.login_url + "/token/check",
                     headers=bearer(tokens["access_token"])).status_code == 401
    refresh = token_request(emulator, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"
    again = httpx.delete(emulator.login_url + "/token", headers=bearer(tokens["access_token"]))
    assert again.status_code == 401
    assert again.json() == {"result": "error", "error": "not_authorized"}  # a plain string (D10)


def test_token_check_accepts_personal_tokens(emulator: Emulator) -> None:
    ok = httpx.get(emulator.login_url + "/token/check", headers=bearer(JANE_PAT))
    assert ok.status_code == 200
    assert ok.json() == {"result": "success", "data": True}
    assert httpx.get(emulator.login_url + "/token/check", headers=bearer("nope")).status_code == 401


def test_userinfo(emulator: Emulator, jane_token: str) -> None:
    info = httpx.get(emulator.login_url + "/oauth2/userinfo", headers=bearer(jane_token)).json()
    assert info["email"] == "jane@example.ch"
    assert info["sub"] == str(JANE_ID)


def test_profile_v1_and_v2_spellings(emulator: Emulator, jane_token: str) -> None:
    v2 = httpx.get(emulator.api_url + "/2/profile", headers=bearer(jane_token)).json()["data"]
    v1 = httpx.get(emulator.api_url + "/1/profile", headers=bearer(jane_token)).json()["data"]
    assert (v2["first_name"], v2["last_name"]) == ("Jane", "Doe")
    assert (v1["firstname"], v1["lastname"]) == ("Jane", "Doe")
    assert "first_name" not in v1
    assert v1["id"] == v2["id"] == JANE_ID


def test_forced_429_on_the_login_host(emulator: Emulator, verifier: str) -> None:
    emulator.knobs.merge({"force_429": {"retry_after": 3, "count": 1, "match": "login"}})
    response = token_request(emulator, grant_type="refresh_token", refresh_token="x")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
    assert response.json()["error"]["code"] == "too_many_request"
    assert token_request(emulator, grant_type="refresh_token", refresh_token="x").status_code == 400

