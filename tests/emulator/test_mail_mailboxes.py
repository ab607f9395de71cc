"""Mail host: mailbox list, ping, authentication failures and mailbox ownership (§5.2, §5.8, D34)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT, MARC_ID

MAILBOX_FIELDS = {"uuid", "email", "email_idn", "mailbox", "mailbox_id", "hosting_id", "access_id",
                  "is_primary", "is_locked", "unseen_messages", "aliases", "is_free", "owner_or_admin"}


def mail_client(emulator: Emulator, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emulator.mail_url, headers=headers, timeout=10, follow_redirects=False)


@pytest.fixture
def jane(emulator: Emulator) -> Iterator[httpx.Client]:
    with mail_client(emulator, emulator.issue_token(JANE_ID)) as client:
        yield client


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["result"] == "error"
    return body["error"]["code"]


def test_mailbox_list_shows_the_users_own_mailboxes_primary_first(jane: httpx.Client) -> None:
    response = jane.get("/api/mailbox", params={"with": "aliases,unseen"})
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "success"
    mailboxes = body["data"]
    assert [m["email"] for m in mailboxes] == ["jane@example.ch", "support@doe-consulting.ch"]
    for mailbox in mailboxes:
        assert MAILBOX_FIELDS <= set(mailbox)
        assert isinstance(mailbox["uuid"], str) and len(mailbox["uuid"]) == 36
        assert isinstance(mailbox["unseen_messages"], int)
        assert isinstance(mailbox["aliases"], list)
    assert [m["is_primary"] for m in mailboxes] == [True, False]
    assert mailboxes[0]["mailbox"] == "jane"


def test_unseen_messages_is_the_inbox_unread_count(emulator: Emulator, jane: httpx.Client) -> None:
    mailbox = jane.get("/api/mailbox", params={"with": "aliases,unseen"}).json()["data"][0]
    tree = jane.get(f"/api/mail/{mailbox['uuid']}/folder").json()["data"]
    inbox = next(folder for folder in tree if folder["role"] == "INBOX")
    store_inbox = emulator.state.mail.folder("jane@example.ch", "INBOX")
    assert mailbox["unseen_messages"] == inbox["unread_count"] == store_inbox.unread_count > 0


def test_aliases_and_unseen_only_when_asked_for(jane: httpx.Client) -> None:
    mailbox = jane.get("/api/mailbox").json()["data"][0]
    assert "aliases" not in mailbox and "unseen_messages" not in mailbox
    assert "uuid" in mailbox and "email" in mailbox


def test_marc_sees_only_his_mailbox(emulator: Emulator) -> None:
    with mail_client(emulator, emulator.issue_token(MARC_ID)) as marc:
        mailboxes = marc.get("/api/mailbox", params={"with": "aliases,unseen"}).json()["data"]
    assert [m["email"] for m in mailboxes] == ["marc@example.ch"]


def test_ping_with_auth_answers_a_string(jane: httpx.Client) -> None:
    response = jane.get("/api/ping-with-auth")
    assert response.status_code == 200
    assert isinstance(response.json()["data"], str)


@pytest.mark.parametrize("token", [None, "not-a-token"])
@pytest.mark.parametrize("path", ["/api/mailbox", "/api/ping-with-auth"])
def test_missing_or_invalid_token_is_401_not_authorized(emulator: Emulator, token: str | None,
                                                        path: str) -> None:
    with mail_client(emulator, token) as client:
        response = client.get(path)
    assert response.status_code == 401
    assert error_code(response) == "not_authorized"


def test_expired_token_is_401(emulator: Emulator) -> None:
    with mail_client(emulator, emulator.issue_token(JANE_ID, ttl=0)) as client:
        response = client.get("/api/mailbox")
    assert response.status_code == 401
    assert error_code(response) == "not_authorized"


def test_token_without_mail_scope_is_403_access_denied(emulator: Emulator) -> None:
    uuid = emulator.state.mail.mailbox("jane@example.ch").uuid
    with mail_client(emulator, emulator.issue_token(JANE_ID, scopes="user_info kdrive")) as client:
        for path in ("/api/mailbox", "/api/ping-with-auth", f"/api/mail/{uuid}/folder"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert error_code(response) == "access_denied"


def test_personal_token_with_workspace_mail_scope_works(emulator: Emulator) -> None:
    with mail_client(emulator, JANE_PAT) as client:
        response = client.get("/api/mailbox", params={"with": "aliases,unseen"})
    assert response.status_code == 200
    assert response.json()["data"][0]["email"] == "jane@example.ch"


def test_auth_redirect_knob_sends_a_bad_token_to_the_login_host(emulator: Emulator) -> None:
    emulator.knobs.merge({"mail_auth_redirect": True})
    with mail_client(emulator, "expired-or-bogus") as client:
        response = client.get("/api/mailbox")
    assert response.status_code == 302
    assert response.headers["location"].startswith(emulator.login_url + "/")
    with mail_client(emulator, emulator.issue_token(JANE_ID)) as client:
        assert client.get("/api/mailbox").status_code == 200


def test_another_users_mailbox_is_refused_like_an_unknown_one(emulator: Emulator, jane: httpx.Client) -> None:
    store = emulator.state.mail
    marc_box = store.mailbox("marc@example.ch")
    marc_inbox = store.folder(marc_box, "INBOX")
    uid = store.list_messages(marc_box, "INBOX")[0].uid
    base = f"/api/mail/{marc_box.uuid}"
    attempts = [
        ("GET", f"{base}/folder", None),
        ("GET", f"{base}/folder/{marc_inbox.id}/mobile/date-ordered-messages-uids", None),
        ("GET", f"{base}/folder/{marc_inbox.id}/mobile/messages?uids={uid}", None),
        ("GET", f"{base}/folder/{marc_inbox.id}/message/{uid}/download", None),
        ("POST", f"{base}/message/seen", {"uids": [f"{uid}@{marc_inbox.id}"]}),
        ("POST", f"{base}/folder", {"name": "Intruder", "path": None}),
        ("DELETE", f"{base}/folder/{store.folder(marc_box, 'INBOX/Projects').id}", None),
    ]
    for method, path, body in attempts:
        response = jane.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert error_code(response) == "access_denied"
    unknown = jane.get("/api/mail/00000000-0000-3000-8000-000000000000/folder")
    assert unknown.status_code == 403
    assert error_code(unknown) == "access_denied"
    # Nothing happened to Marc's mailbox.
    assert "INBOX/Projects" in marc_box.folders
    assert "Intruder" not in marc_box.folders
    assert store.message(marc_box, "INBOX", uid).seen == store.list_messages(marc_box, "INBOX")[0].seen


def test_shared_mailbox_is_reachable_by_its_owner(jane: httpx.Client, emulator: Emulator) -> None:
    support = emulator.state.mail.mailbox("support@doe-consulting.ch")
    response = jane.get(f"/api/mail/{support.uuid}/folder")
    assert response.status_code == 200
    assert {f["path"] for f in response.json()["data"]} >= {"INBOX", "Sent", "Trash"}


def test_locked_mailbox_answers_423(fresh_emulator: Emulator) -> None:
    store = fresh_emulator.state.mail
    store.set_locked("jane@example.ch")
    uuid = store.mailbox("jane@example.ch").uuid
    with mail_client(fresh_emulator, fresh_emulator.issue_token(JANE_ID)) as client:
        response = client.get(f"/api/mail/{uuid}/folder")
        assert response.status_code == 423
        assert error_code(response) == "mailbox_locked"
        listed = client.get("/api/mailbox").json()["data"]
    assert listed[0]["is_locked"] is True
