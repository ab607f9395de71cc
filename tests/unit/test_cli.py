"""The ``ikdav`` command as a person runs it: a real process, real output, real exit codes."""

from __future__ import annotations

import io
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import ikdav
from ikdav.config import CALLBACK_PATH, Config, load_config
from ikdav.emulator.app import Emulator, SampleOptions
from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, JANE_PAT
from ikdav.logs import ACCESS_LOGGER, setup_logging

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ["serve", "demo", "emulator", "check"]
EMULATOR_KEYS = ["Login URL", "API URL", "Mail URL", "Content URL", "Upload URL", "Token",
                 "Personal token", "Demo client id", "Demo client secret"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ikdav setting of the machine running the tests."""
    env = {key: value for key, value in os.environ.items()
           if not key.upper().startswith("IKDAV_") and not key.startswith("Service_INFOMANIAK")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def ikdav_cmd(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ikdav", *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def emulator_config(tmp_path: Path, emulator: Emulator, **infomaniak: str) -> Path:
    settings = {"login_url": emulator.login_url, "api_url": emulator.api_url,
                "mail_url": emulator.mail_url, "timeout": "5", "connect_timeout": "2", **infomaniak}
    path = tmp_path / "config.yaml"
    path.write_text("infomaniak:\n" + "".join(f"  {key}: {value}\n" for key, value in settings.items()))
    return path


# -- version and help ------------------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    result = ikdav_cmd("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"ikdav {ikdav.__version__}"


def test_top_level_help_lists_every_command(tmp_path: Path) -> None:
    result = ikdav_cmd("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "Infomaniak kDrive and Mail as one WebDAV share" in result.stdout
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_a_description_and_examples(tmp_path: Path, command: str) -> None:
    result = ikdav_cmd(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    usage, description = result.stdout.split("\n\n")[:2]
    assert usage.startswith(f"usage: ikdav {command}")
    assert len(description.split()) >= 10
    examples = result.stdout.split("examples:\n", 1)[1]
    assert f"  ikdav {command}" in examples


def test_emulator_help_states_the_real_sample_defaults(tmp_path: Path) -> None:
    text = " ".join(ikdav_cmd("emulator", "--help", cwd=tmp_path).stdout.split())
    defaults = SampleOptions()
    assert f"files in the sample's big folder (default: {defaults.big_folder_files})" in text
    assert f"sample mail messages (default: {defaults.mail_messages})" in text


# -- bad arguments and bad config: one line, exit 2 ------------------------------------------------------


@pytest.mark.parametrize(("args", "fragment"), [
    ((), "the following arguments are required: COMMAND"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("emulator", "--port", "http"), "'http' is not a port number"),
    (("emulator", "--mail-messages", "-3"), "'-3' is not a count"),
    (("emulator", "--knobs", "{oops"), "--knobs: not valid JSON"),
    (("emulator", "--knobs", "[1]"), "must be a JSON object"),
    (("emulator", "--knobs", '{"no_such_knob": 1}'), "unknown knob 'no_such_knob'"),
    (("demo", "--port", "99999"), "'99999' is not a port number"),
])
def test_bad_arguments(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(ikdav_cmd(*args, cwd=tmp_path), fragment)


def test_bad_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server:\n  port: abc\n")
    for command in ("check", "serve"):
        assert_one_line_error(ikdav_cmd(command, cwd=tmp_path),
                              'server.port: "abc" is not an integer — set a port number like 8000',
                              "config.yaml line 2")


def test_bad_environment_value(tmp_path: Path) -> None:
    result = ikdav_cmd("serve", cwd=tmp_path, IKDAV_INFOMANIAK__CLIENT_ID="my-app")
    assert_one_line_error(result, "missing client secret when OAuth is used", "IKDAV_INFOMANIAK__CLIENT_ID")


def test_yaml_error_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("server:\n  port: 8000\n   host: x\n")
    assert_one_line_error(ikdav_cmd("--config", "broken.yaml", "check", cwd=tmp_path),
                          "YAML does not parse at line 3")
    assert_one_line_error(ikdav_cmd("check", "--config", "missing.yaml", cwd=tmp_path),
                          '--config: "missing.yaml" does not exist')


def test_secret_is_masked_in_the_error(tmp_path: Path) -> None:
    secret = "very-secret-client-value"
    result = ikdav_cmd("check", cwd=tmp_path, Service_INFOMANIAK_DATA_CLIENT_SECRET=secret)
    assert_one_line_error(result, "missing client id", f'"ve…({len(secret)} chars)"')
    assert secret not in result.stderr


# -- check -----------------------------------------------------------------------------------------------


def test_check_against_the_emulator(tmp_path: Path, emulator: Emulator) -> None:
    config = emulator_config(tmp_path, emulator, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    result = ikdav_cmd("check", cwd=tmp_path)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok    config  {config} (valid)"
    for line, (name, url) in zip(lines[1:], [("login", emulator.login_url), ("api", emulator.api_url),
                                            ("mail", emulator.mail_url)], strict=True):
        assert line.startswith(f"ok    {name:<5}  {url} (HTTP ")
        assert line.endswith(" ms)")
    assert DEMO_CLIENT_SECRET not in result.stdout + result.stderr


def test_check_warns_when_oauth_is_not_configured(tmp_path: Path, emulator: Emulator) -> None:
    config = emulator_config(tmp_path, emulator)
    result = ikdav_cmd("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warn")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warn  oauth  not configured")
    assert "personal API token" in warnings[0]


def test_check_warns_when_redirect_uri_and_public_url_differ(tmp_path: Path, emulator: Emulator) -> None:
    emulator_config(tmp_path, emulator, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
                    redirect_uri=f"http://127.0.0.1:8000{CALLBACK_PATH}")
    result = ikdav_cmd("check", cwd=tmp_path, IKDAV_SERVER__PORT="9000")
    assert result.returncode == 0, result
    warning = result.stdout.splitlines()[-1]
    assert warning.startswith(f"warn  oauth  http://127.0.0.1:8000{CALLBACK_PATH} (")
    assert "public URL http://localhost:9000" in warning


def test_check_reports_an_unreachable_host(tmp_path: Path, emulator: Emulator) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    emulator_config(tmp_path, emulator, api_url=closed)
    result = ikdav_cmd("check", cwd=tmp_path)
    assert result.returncode == 1, result
    lines = result.stdout.splitlines()
    assert f"FAIL  api    {closed} (connection refused)" in lines
    assert sum(line.startswith("ok    login") or line.startswith("ok    mail") for line in lines) == 2


# -- emulator --------------------------------------------------------------------------------------------


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ikdav", "emulator", "--port", "0", "--big-folder-files", "5",
         "--mail-messages", "5"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    yield process, lines
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def read_until(lines: queue.Queue[str], last: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != last:
        seen.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
    return seen


def test_emulator_prints_its_urls_and_serves_until_terminated(
        emulator_process: tuple[subprocess.Popen[str], queue.Queue[str]]) -> None:
    process, lines = emulator_process
    printed = read_until(lines, "Emulator running; press Ctrl-C to stop.")
    values = dict(line.split(": ", 1) for line in printed if ": " in line)
    for key in EMULATOR_KEYS:
        assert values.get(key), f"missing '{key}: …' line"
    assert len({values[key] for key in EMULATOR_KEYS[:5]}) == 5, "each host has its own base URL"
    assert values["Personal token"] == JANE_PAT
    assert (values["Demo client id"], values["Demo client secret"]) == (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)

    for token in (values["Token"], values["Personal token"]):
        reply = httpx.get(values["API URL"] + "/2/profile", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200
        assert reply.json()["data"]["email"] == "jane@example.ch"
    assert httpx.get(values["API URL"] + "/2/profile").status_code == 401

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert read_until(lines, "Emulator stopped.", timeout=5)[-1] == "Emulator stopped."
    with pytest.raises(httpx.ConnectError):
        httpx.get(values["API URL"] + "/2/profile")


def test_emulator_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = ikdav_cmd("emulator", "--single-port", "--port", str(port), "--big-folder-files", "1",
                           "--mail-messages", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr


# -- logging ---------------------------------------------------------------------------------------------


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    quieted = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in quieted.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger(ACCESS_LOGGER).disabled = False


def test_logs_never_show_secrets(log_stream: io.StringIO) -> None:
    setup_logging(Config(), stream=log_stream)
    log = logging.getLogger("ikdav.test")
    log.info("GET /2/profile Authorization: Bearer %s", "at-abcdef123456")
    log.info("callback %s", "/api/infomaniak/auth/connect/callback?code=c0de1234&state=xyz")
    log.warning("token reply %s", {"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 7200})
    log.info("form client_secret=%s&password=%s", "cs-3", "pw-4")
    try:
        raise ValueError("refused: token=tk-5")
    except ValueError:
        log.exception("upstream failed")
    text = log_stream.getvalue()
    for secret in ("at-abcdef123456", "c0de1234", "at-1", "rt-2", "cs-3", "pw-4", "tk-5"):
        assert secret not in text
    assert "Bearer ***" in text and "'refresh_token': '***'" in text and "token=***" in text
    assert "'expires_in': 7200" in text and "state=xyz" in text
    assert "ValueError" in text


def test_log_level_and_access_log_follow_the_config(log_stream: io.StringIO) -> None:
    config = load_config(env={"IKDAV_LOGGING__LEVEL": "warning", "IKDAV_LOGGING__ACCESS_LOG": "false"})
    setup_logging(config, stream=log_stream)
    setup_logging(config, stream=log_stream)  # a second call must not double the lines
    logging.getLogger("ikdav.test").info("hidden")
    logging.getLogger("ikdav.test").warning("shown")
    logging.getLogger(ACCESS_LOGGER).warning("GET /dav/ 200")
    assert log_stream.getvalue().count("shown") == 1
    assert "hidden" not in log_stream.getvalue()
    assert "GET /dav/" not in log_stream.getvalue()
