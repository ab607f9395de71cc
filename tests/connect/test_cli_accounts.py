"""``ikdav connect``, ``accounts``, ``passwords`` and ``rotate-key`` on a real store and emulator."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from harness import restored_logging

from ikdav.accounts.crypto import ENV_KEY, SecretKeyError, TokenCipher, generate_key, load_cipher, parse_keys
from ikdav.accounts.store import AccountStore
from ikdav.cli import main
from ikdav.config import load_config
from ikdav.emulator.app import Emulator
from ikdav.emulator.sample_data import JANE_ID, JANE_PAT
from ikdav.server import RunningServer
from ikdav.services import build_services

from .conftest import StartServer

JANE = "jane@example.ch"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No IKDAV_* from the outside, and no log handler left pointing at a closed capture."""
    for name in [n for n in os.environ if n.startswith("IKDAV_") or n.startswith("Service_")]:
        monkeypatch.delenv(name)
    with restored_logging():
        yield


def write_config(path: Path, emulator: Emulator, data_dir: Path, **infomaniak: str) -> Path:
    path.write_text(yaml.safe_dump({
        "data_dir": str(data_dir),
        "server": {"public_url": "http://127.0.0.1:8000"},
        "infomaniak": {"login_url": emulator.login_url, "api_url": emulator.api_url,
                       "mail_url": emulator.mail_url, **infomaniak},
        "logging": {"level": "WARNING", "access_log": False},
    }))
    return path


@pytest.fixture
def config_file(tmp_path: Path, emulator: Emulator) -> Path:
    return write_config(tmp_path / "config.yaml", emulator, tmp_path / "data")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fields(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def propfind_works(config_file: Path, user: str, password: str) -> bool:
    config = load_config(config_file, env={}).with_overrides({"server.port": 0, "server.public_url": ""})
    server = RunningServer(config, build_services(config, env={}))
    try:
        answer = requests.request("PROPFIND", server.dav_url + "kDrive/", auth=(user, password),
                                  headers={"Depth": "1"}, timeout=30)
        return answer.status_code == 207 and "My kDrive" in answer.text
    finally:
        server.stop()


def test_connect_with_a_personal_token_prints_working_credentials(
        capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, out, _ = run(capsys, "connect", "--token", JANE_PAT, "--config", str(config_file))
    assert code == 0
    printed = fields(out)
    assert printed["WebDAV URL"] == "http://127.0.0.1:8000/dav/"
    assert printed["User"] == JANE
    assert JANE_PAT not in out
    assert propfind_works(config_file, printed["User"], printed["Password"])


def test_connect_reads_the_token_from_standard_input(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(JANE_PAT + "\n"))
    code, out, _ = run(capsys, "--config", str(config_file), "connect", "--token", "-")
    assert code == 0 and fields(out)["User"] == JANE


@pytest.mark.parametrize(("argv", "phrase"), [
    (["connect", "--token", "pat-nobody-has-this-token"], "does not accept this token"),
    (["accounts", "remove", "nobody@example.ch"], "no account 'nobody@example.ch'"),
    (["passwords", "new", "nobody@example.ch"], "no account 'nobody@example.ch'"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str], config_file: Path,
                                               argv: list[str], phrase: str) -> None:
    code, out, err = run(capsys, *argv, "--config", str(config_file))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and phrase in err


def test_accounts_list_passwords_new_and_remove(capsys: pytest.CaptureFixture[str],
                                                config_file: Path) -> None:
    config = ["--config", str(config_file)]
    code, out, _ = run(capsys, "accounts", "list", *config)
    assert code == 0 and "No account is connected" in out
    run(capsys, "connect", "--token", JANE_PAT, *config)

    code, out, _ = run(capsys, "accounts", "list", *config)
    header, row = out.splitlines()
    assert header.split() == ["EMAIL", "STATUS", "KIND", "LAST", "USED", "PASSWORDS"]
    assert row.split()[:3] == [JANE, "connected", "token"] and row.split()[-1] == "1"
    assert JANE_PAT not in out

    code, out, _ = run(capsys, "passwords", "new", JANE, "--label", "laptop", *config)
    assert code == 0
    password = fields(out)["Password"]
    assert fields(out)["User"] == JANE
    assert propfind_works(config_file, JANE, password)
    assert run(capsys, "accounts", "list", *config)[1].splitlines()[1].split()[-1] == "2"

    code, out, _ = run(capsys, "accounts", "remove", JANE, *config)
    assert code == 0 and f"Removed {JANE}" in out and "stays valid at Infomaniak" in out
    assert "No account is connected" in run(capsys, "accounts", "list", *config)[1]
    assert not propfind_works(config_file, JANE, password)


def test_accounts_remove_revokes_an_oauth_account_at_infomaniak(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: Emulator,
        start_server: StartServer) -> None:
    server = start_server(emulator)
    emulator.knobs.merge({"consent": "approve", "consent_user": JANE_ID})
    assert server.visitor().connect_oauth().url.endswith("/connected")
    server.stop()
    granted = server.grant_tokens()
    infomaniak = server.config.infomaniak
    config_file = write_config(tmp_path / "oauth.yaml", emulator, server.data_dir,
                               client_id=infomaniak.client_id, client_secret=infomaniak.client_secret,
                               redirect_uri=infomaniak.redirect_uri)
    code, out, err = run(capsys, "accounts", "remove", JANE, "--config", str(config_file))
    assert code == 0 and "Infomaniak revoked the authorisation" in out and err == ""
    assert all(emulator.state.identity.lookup(token) is None for token in granted)


def open_tokens(data_dir: Path, cipher: TokenCipher) -> list[str | None]:
    store = AccountStore(data_dir / "ikdav.sqlite3", cipher)
    try:
        return [store.read_tokens(account.id).access_token for account in store.list()]
    finally:
        store.close()


def test_rotate_key_with_the_key_file(capsys: pytest.CaptureFixture[str], config_file: Path,
                                      tmp_path: Path) -> None:
    run(capsys, "connect", "--token", JANE_PAT, "--config", str(config_file))
    key_file = tmp_path / "data" / "secret.key"
    old_keys = parse_keys(key_file.read_text())
    assert open_tokens(tmp_path / "data", TokenCipher(old_keys)) == [JANE_PAT]

    code, out, _ = run(capsys, "rotate-key", "--config", str(config_file))
    assert code == 0 and "1 account(s)" in out
    new_keys = parse_keys(key_file.read_text())
    assert len(new_keys) == 1 and new_keys != old_keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert open_tokens(tmp_path / "data", load_cipher(key_file, env={})) == [JANE_PAT]
    with pytest.raises(SecretKeyError):
        open_tokens(tmp_path / "data", TokenCipher(old_keys))


def test_rotate_key_with_the_environment_variable(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_key = generate_key().decode()
    monkeypatch.setenv(ENV_KEY, old_key)
    run(capsys, "connect", "--token", JANE_PAT, "--config", str(config_file))
    assert not (tmp_path / "data" / "secret.key").exists()

    code, _, err = run(capsys, "rotate-key", "--config", str(config_file))
    assert code == 2 and f'{ENV_KEY}="NEW,OLD"' in err and old_key not in err

    new_key = generate_key().decode()
    monkeypatch.setenv(ENV_KEY, f"{new_key},{old_key}")
    code, out, _ = run(capsys, "rotate-key", "--config", str(config_file))
    assert code == 0 and "first key" in out and "Next:" in out
    assert new_key not in out and old_key not in out
    assert open_tokens(tmp_path / "data", TokenCipher([new_key.encode()])) == [JANE_PAT]
    with pytest.raises(SecretKeyError):
        open_tokens(tmp_path / "data", TokenCipher([old_key.encode()]))

