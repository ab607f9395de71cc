"""What the bench scripts share: the emulator and ikdav as separate processes, and small tools."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ikdav.accounts.crypto import load_cipher  # noqa: E402
from ikdav.accounts.store import AccountStore  # noqa: E402

PASSWORD = "bench-password-0123456789"  # a throwaway local account


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **(env or {})})


def read_lines(process: subprocess.Popen[str], until: str) -> dict[str, str]:
    lines: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        key, _, value = line.partition(": ")
        lines[key.strip()] = value.strip()
        if line.startswith(until):
            return lines
    raise RuntimeError("the process ended before printing " + until)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Emulator:
    """``ikdav emulator`` in its own process; ``options`` are extra command-line flags."""

    def __init__(self, *options: str) -> None:
        self.process = start([sys.executable, "-m", "ikdav", "emulator", "--port", "0", *options])
        lines = read_lines(self.process, "Knobs URL")
        self.api_url, self.login_url, self.mail_url = lines["API URL"], lines["Login URL"], lines["Mail URL"]
        self.token = lines["Token"]

    def calls(self) -> list[dict[str, object]]:
        reply = httpx.get(self.api_url + "/_emulator/log", params={"records": "1"}).json()
        return reply["data"]["records"]

    def set_knobs(self, knobs: dict[str, object]) -> None:
        httpx.post(self.api_url + "/_emulator/knobs", json=knobs).raise_for_status()

    def clear_log(self) -> None:
        httpx.delete(self.api_url + "/_emulator/log")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Ikdav:
    """``ikdav serve`` in its own process, with Jane connected through the emulator's token."""

    def __init__(self, emulator: Emulator, data_dir: Path, settings: dict[str, str] | None = None) -> None:
        env = {"IKDAV_DATA_DIR": str(data_dir), "IKDAV_INFOMANIAK__API_URL": emulator.api_url,
               "IKDAV_INFOMANIAK__LOGIN_URL": emulator.login_url,
               "IKDAV_INFOMANIAK__MAIL_URL": emulator.mail_url, "IKDAV_LOGGING__ACCESS_LOG": "false",
               "IKDAV_LOGGING__LEVEL": "WARNING", **(settings or {})}
        store = AccountStore(data_dir / "ikdav.sqlite3", load_cipher(data_dir / "secret.key", env={}))
        account = store.save_account(email="jane@example.ch", infomaniak_user_id=112233, display_name="Jane",
                                     auth_kind="token", scopes="user_info kdrive mail",
                                     access_token=emulator.token, refresh_token=None, expires_at=None)
        store.create_app_password(account.id, "bench", PASSWORD)
        store.close()
        self.port = free_port()
        env["IKDAV_SERVER__PORT"] = str(self.port)
        self.process = start([sys.executable, "-m", "ikdav", "serve"], env)
        self.url = f"http://127.0.0.1:{self.port}/dav/"
        wait_http(f"http://127.0.0.1:{self.port}/healthz")
        self.session = requests.Session()
        self.session.auth = ("jane@example.ch", PASSWORD)

    def href(self, path: str) -> str:
        return self.url + quote(path)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
