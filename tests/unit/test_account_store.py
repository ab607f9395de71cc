"""The account store on a real SQLite file: encryption at rest, app passwords, states, migrations."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ikdav.accounts.crypto import SecretKeyError, TokenCipher, generate_key, load_cipher, write_key_file
from ikdav.accounts.store import STATUS_CONNECTED, STATUS_RECONNECT, AccountStore, StoreError

ACCESS = "at-very-secret-access-token-value-0123456789"
REFRESH = "rt-very-secret-refresh-token-value-9876543210"


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    cipher = load_cipher(tmp_path / "secret.key", env={})
    return AccountStore(tmp_path / "ikdav.sqlite3", cipher)


def save_jane(store: AccountStore, **overrides: object) -> int:
    values = dict(email="jane@example.ch", infomaniak_user_id=112233, display_name="Jane Doe",
                  auth_kind="oauth", scopes="user_info kdrive mail", access_token=ACCESS,
                  refresh_token=REFRESH, expires_at=time.time() + 7200)
    values.update(overrides)
    return store.save_account(**values).id  # type: ignore[arg-type]


def test_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    load_cipher(key_file, env={})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_key_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    write_key_file(key_file, [generate_key()])
    os.chmod(key_file, 0o644)
    load_cipher(key_file, env={})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_environment_key_wins_and_bad_keys_are_explained(tmp_path: Path) -> None:
    key = generate_key().decode()
    cipher = load_cipher(tmp_path / "absent.key", env={"IKDAV_SECRET_KEY": key})
    assert not (tmp_path / "absent.key").exists()
    assert cipher.decrypt(cipher.encrypt("x")) == "x"
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        load_cipher(tmp_path / "absent.key", env={"IKDAV_SECRET_KEY": "short"})


def test_tokens_never_appear_in_clear_in_the_database(store: AccountStore) -> None:
    save_jane(store)
    store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("ikdav.sqlite3*"))
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert b"jane@example.ch" in raw  # the e-mail is not a secret: proves we read the right file


def test_a_stolen_database_without_the_key_yields_nothing(store: AccountStore, tmp_path: Path) -> None:
    account_id = save_jane(store)
    thief = AccountStore(store.path, TokenCipher([generate_key()]))
    with pytest.raises(SecretKeyError, match="another secret key"):
        thief.read_tokens(account_id)


def test_tokens_round_trip_and_restart_keeps_accounts(store: AccountStore, tmp_path: Path) -> None:
    account_id = save_jane(store)
    reopened = AccountStore(store.path, load_cipher(tmp_path / "secret.key", env={}))
    tokens = reopened.read_tokens(account_id)
    assert (tokens.access_token, tokens.refresh_token) == (ACCESS, REFRESH)
    account = reopened.by_email("JANE@example.ch")
    assert account is not None and account.status == STATUS_CONNECTED
    assert account.has_refresh_token


def test_reconnecting_updates_the_same_account(store: AccountStore) -> None:
    first = save_jane(store)
    store.mark_reconnect_required(first, "invalid_grant")
    assert store.get(first).status == STATUS_RECONNECT  # type: ignore[union-attr]
    second = save_jane(store, access_token="at-new", refresh_token="rt-new")
    assert second == first
    account = store.get(first)
    assert account is not None and account.status == STATUS_CONNECTED
    assert store.read_tokens(first).access_token == "at-new"


def test_key_rotation_reencrypts_everything(store: AccountStore, tmp_path: Path) -> None:
    account_id = save_jane(store)
    old_keys = (tmp_path / "secret.key").read_text().split()
    new_key = generate_key()
    rotated = store.rotate_key(TokenCipher([new_key, *(k.encode() for k in old_keys)]))
    assert rotated == 1
    only_new = AccountStore(store.path, TokenCipher([new_key]))
    assert only_new.read_tokens(account_id).access_token == ACCESS


def test_app_passwords_are_hashed_checked_and_revocable(store: AccountStore) -> None:
    account_id = save_jane(store)
    entry, plain = store.create_app_password(account_id, "laptop")
    assert len(plain) >= 20
    store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("ikdav.sqlite3*"))
    assert plain.encode() not in raw
    assert store.check_app_password("jane@example.ch", plain).id == account_id  # type: ignore[union-attr]
    assert store.check_app_password("jane@example.ch", plain + "x") is None
    assert store.check_app_password("marc@example.ch", plain) is None
    assert [p.label for p in store.app_passwords(account_id)] == ["laptop"]
    assert store.revoke_app_password(account_id, entry.id)
    assert store.check_app_password("jane@example.ch", plain) is None


def test_app_password_for_unknown_account_is_refused(store: AccountStore) -> None:
    with pytest.raises(StoreError):
        store.create_app_password(999, "x")


def test_oauth_state_is_single_use_and_bound_to_the_browser(store: AccountStore) -> None:
    store.put_state("state-1", "v" * 43, "browser-a")
    assert store.pop_state("state-1", "browser-b") is None  # another browser
    assert store.pop_state("state-1", "browser-a") is None  # consumed by the failed attempt
    store.put_state("state-2", "v" * 43, "browser-a")
    pending = store.pop_state("state-2", "browser-a")
    assert pending is not None and pending.verifier == "v" * 43
    assert store.pop_state("state-2", "browser-a") is None  # replay


def test_oauth_state_expires(store: AccountStore) -> None:
    store.put_state("state-3", "v" * 43, "browser-a")
    assert store.pop_state("state-3", "browser-a", max_age=-1) is None


def test_removing_an_account_removes_its_passwords(store: AccountStore) -> None:
    account_id = save_jane(store)
    _, plain = store.create_app_password(account_id, "x")
    assert store.remove(account_id)
    assert store.check_app_password("jane@example.ch", plain) is None
    assert store.list() == []


def test_schema_is_versioned(store: AccountStore) -> None:
    assert store.schema_version >= 1
