"""Configuration: file, environment, defaults, and the one-line errors a person sees at start."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ikdav.config import (
    CALLBACK_PATH,
    SCHEMA,
    Config,
    ConfigError,
    find_config_file,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.yaml.example"
SECRET = "s3cr3t-client-secret-value"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs where no ./config.yaml exists unless it writes one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_from(tmp_path: Path, text: str | None = None, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text) if text is not None else None
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return message


# -- defaults and resolved values ------------------------------------------------------------------------


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.server.port == 8000
    assert config.dav.mount_path == "/dav"
    assert config.infomaniak.redirect_uri == f"http://localhost:8000{CALLBACK_PATH}"
    assert config.public_url == "http://localhost:8000"
    assert config.data_path == tmp_path.resolve() / "data"
    assert config.secret_key_path == tmp_path.resolve() / "data" / "secret.key"
    assert config.lock_storage_path == tmp_path.resolve() / "data" / "locks.shelve"
    assert config.spool_path is None
    assert not config.oauth_enabled
    assert config.allows_user("anyone@example.ch")


@pytest.mark.parametrize(("server", "expected"), [
    ({"host": "127.0.0.1", "port": 8000}, "http://localhost:8000"),
    ({"host": "0.0.0.0", "port": 9000}, "http://localhost:9000"),
    ({"host": "dav.lan", "port": 8080}, "http://dav.lan:8080"),
    ({"host": "fd00::5", "port": 8080}, "http://[fd00::5]:8080"),
    ({"public_url": "https://dav.example.com/"}, "https://dav.example.com"),
])
def test_public_url(server: dict[str, Any], expected: str) -> None:
    assert Config().with_overrides(server=server).public_url == expected


def test_public_url_is_https_when_tls_is_configured(tmp_path: Path) -> None:
    cert, key = write(tmp_path, "cert", "cert.pem"), write(tmp_path, "key", "key.pem")
    config = load_config(env={"IKDAV_SERVER__TLS_CERT": str(cert), "IKDAV_SERVER__TLS_KEY": str(key),
                              "IKDAV_SERVER__HOST": "dav.lan"})
    assert config.public_url == "https://dav.lan:8000"


def test_explicit_paths_and_allowed_users(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"""
data_dir: state
secret_key_file: /run/keys/ikdav.key
dav:
  lock_storage: locks/dav.shelve
upload:
  spool_dir: {tmp_path}
allowed_users: [Jane@Example.ch, marc@example.ch]
"""), env={})
    assert config.data_path == tmp_path.resolve() / "state"
    assert config.secret_key_path == Path("/run/keys/ikdav.key")
    assert config.lock_storage_path == tmp_path.resolve() / "locks" / "dav.shelve"
    assert config.spool_path == tmp_path.resolve()
    assert config.allowed_users == ("jane@example.ch", "marc@example.ch")
    assert config.allows_user("JANE@example.ch")
    assert not config.allows_user("eve@example.ch")


def test_values_are_normalised(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
dav:
  mount_path: /files/
infomaniak:
  api_url: http://127.0.0.1:8766/
  scopes: "  user_info   kdrive "
logging:
  level: debug
"""), env={})
    assert config.dav.mount_path == "/files"
    assert config.infomaniak.api_url == "http://127.0.0.1:8766"
    assert config.infomaniak.scopes == "user_info kdrive"
    assert config.logging.level == "DEBUG"


def test_empty_file_and_empty_sections_mean_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}) == Config()
    assert load_config(write(tmp_path, "server:\ninfomaniak:\n  client_id:\n"), env={}) == Config()


# -- errors: one line naming key, value and fix ----------------------------------------------------------


def test_wrong_type_names_key_value_and_fix(tmp_path: Path) -> None:
    message = error_from(tmp_path, "server:\n  port: abc\n")
    assert message.startswith('server.port: "abc" is not an integer — set a port number like 8000')
    assert "settings.yaml line 2" in message


@pytest.mark.parametrize(("text", "fragments"), [
    ("logging:\n  access_log: maybe\n", ["logging.access_log", '"maybe"', "is not true or false",
                                          "true or false"]),
    ("infomaniak:\n  timeout: soon\n", ["infomaniak.timeout", '"soon"', "is not a number", "like 30"]),
    ("allowed_users: {jane: x}\n", ["allowed_users", "is not a list", "jane@example.ch"]),
    ("server:\n  host: [a, b]\n", ["server.host", "is not a text value", "127.0.0.1"]),
    ("server:\n  threads: 2.5\n", ["server.threads", "2.5", "is not an integer", "like 32"]),
])
def test_wrong_types(tmp_path: Path, text: str, fragments: list[str]) -> None:
    message = error_from(tmp_path, text)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range(tmp_path: Path, port: str) -> None:
    message = error_from(tmp_path, env={"IKDAV_SERVER__PORT": port})
    assert message.startswith(f'server.port: "{port}" is out of range (0–65535) — set a port number')
    assert message.endswith("(from IKDAV_SERVER__PORT)")


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    message = error_from(tmp_path, "server:\n  host: 127.0.0.1\n  prot: 8000\n")
    assert message.startswith("server.prot: unknown key (value 8000)")
    assert "did you mean server.port?" in message
    assert "settings.yaml line 3" in message


def test_key_in_the_wrong_section_is_found(tmp_path: Path) -> None:
    assert "did you mean server.port?" in error_from(tmp_path, "port: 8000\n")
    assert "did you mean infomaniak.client_id?" in error_from(tmp_path, "server:\n  client_id: x\n")


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    message = error_from(tmp_path, "cache:\n  zzz: 1\n")
    assert "cache.zzz: unknown key" in message
    assert "known keys in cache: listing_ttl, item_ttl" in message


def test_unknown_key_that_looks_secret_is_masked(tmp_path: Path) -> None:
    message = error_from(tmp_path, f"infomaniak:\n  client_secert: {SECRET}\n")
    assert "infomaniak.client_secert" in message
    assert f'"s3…({len(SECRET)} chars)"' in message
    assert SECRET not in message
    assert "did you mean infomaniak.client_secret?" in message


def test_unknown_environment_key_suggests_the_variable(tmp_path: Path) -> None:
    message = error_from(tmp_path, env={"IKDAV_SERVER__PROT": "8000"})
    assert "server.prot: unknown key" in message
    assert "did you mean IKDAV_SERVER__PORT?" in message
    assert "(from IKDAV_SERVER__PROT)" in message


def test_variables_that_are_not_settings_are_left_alone() -> None:
    env = {"IKDAV_SECRET_KEY": "k" * 44, "IKDAV_LIVE_TOKEN": "t", "IKDAV_SOMETHING": "x", "PATH": "/bin"}
    assert load_config(env=env) == Config()


@pytest.mark.parametrize(("uri", "fragments"), [
    ("/api/infomaniak/auth/connect/callback", ["is not an absolute http(s) URL"]),
    ("ftp://localhost/api/infomaniak/auth/connect/callback", ["is not an absolute http(s) URL"]),
    ("http://localhost:8000/callback", ['has the path "/callback"',
                                        f"http://localhost:8000{CALLBACK_PATH}"]),
    (f"http://localhost:8000{CALLBACK_PATH}?x=1", ["ikdav answers the OAuth callback only at"]),
])
def test_bad_redirect_uri(tmp_path: Path, uri: str, fragments: list[str]) -> None:
    message = error_from(tmp_path, env={"Service_INFOMANIAK_OAUTH_REDIRECT_URI": uri})
    assert message.startswith(f'infomaniak.redirect_uri: "{uri}"')
    assert "(from Service_INFOMANIAK_OAUTH_REDIRECT_URI)" in message
    for fragment in fragments:
        assert fragment in message


def test_client_id_without_secret(tmp_path: Path) -> None:
    message = error_from(tmp_path, "infomaniak:\n  client_id: my-app\n")
    assert message.startswith("infomaniak.client_secret: missing client secret when OAuth is used")
    assert '"my-app"' in message
    assert "set infomaniak.client_secret" in message


def test_secret_without_client_id_is_masked(tmp_path: Path) -> None:
    message = error_from(tmp_path, env={"IKDAV_INFOMANIAK__CLIENT_SECRET": SECRET})
    assert message.startswith("infomaniak.client_id: missing client id")
    assert f'"s3…({len(SECRET)} chars)"' in message
    assert SECRET not in message


def test_secret_of_the_wrong_type_is_masked(tmp_path: Path) -> None:
    message = error_from(tmp_path, f"infomaniak:\n  client_id: x\n  client_secret: [{SECRET}]\n")
    assert message.startswith("infomaniak.client_secret: *** is not a text value")
    assert SECRET not in message


@pytest.mark.parametrize(("key", "value"), [
    ("infomaniak.api_url", "api.infomaniak.com"),
    ("infomaniak.login_url", "ftp://login.infomaniak.com"),
    ("infomaniak.mail_url", "http://"),
    ("server.public_url", "dav.example.com"),
])
def test_urls_must_be_absolute_http(tmp_path: Path, key: str, value: str) -> None:
    section, name = key.split(".")
    message = error_from(tmp_path, f"{section}:\n  {name}: {value}\n")
    assert message.startswith(f'{key}: "{value}" is not an absolute http(s) URL — ')
    assert "http" in message.split(" — ", 1)[1]


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert = write(tmp_path, "cert", "cert.pem")
    message = error_from(tmp_path, f"server:\n  tls_cert: {cert}\n")
    assert message.startswith('server.tls_key: "" is missing while server.tls_cert is set')
    assert "private key" in message
    message = error_from(tmp_path, f"server:\n  tls_key: {cert}\n")
    assert message.startswith('server.tls_cert: "" is missing while server.tls_key is set')


def test_tls_files_must_exist(tmp_path: Path) -> None:
    key = write(tmp_path, "key", "key.pem")
    message = error_from(tmp_path, f"server:\n  tls_cert: {tmp_path}/missing.pem\n  tls_key: {key}\n")
    assert message.startswith(f'server.tls_cert: "{tmp_path}/missing.pem" is not an existing file')
    assert "certificate" in message


@pytest.mark.parametrize("mount", ["dav", "/", "//"])
def test_mount_path_must_name_a_path_below_root(tmp_path: Path, mount: str) -> None:
    message = error_from(tmp_path, env={"IKDAV_DAV__MOUNT_PATH": mount})
    assert message.startswith(f'dav.mount_path: "{mount}" must start with /')
    assert "like /dav" in message


def test_unknown_log_level(tmp_path: Path) -> None:
    message = error_from(tmp_path, "logging:\n  level: LOUD\n")
    assert message.startswith('logging.level: "LOUD" is not a log level — '
                              "set one of DEBUG, INFO, WARNING, ERROR")


def test_allowed_users_must_be_emails(tmp_path: Path) -> None:
    message = error_from(tmp_path, env={"IKDAV_ALLOWED_USERS": "jane@example.ch, marc"})
    assert message.startswith('allowed_users: "marc" is not an e-mail address')


def test_yaml_that_does_not_parse_gives_the_line(tmp_path: Path) -> None:
    message = error_from(tmp_path, "server:\n  port: 8000\n   host: x\n")
    assert "settings.yaml: YAML does not parse at line 3" in message
    assert "fix the syntax" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message = error_from(tmp_path, "- server\n- port\n")
    assert "the top level is a list, not a mapping" in message
    assert "config.yaml.example" in message


def test_section_must_be_a_mapping(tmp_path: Path) -> None:
    message = error_from(tmp_path, "server: 8000\n")
    assert message.startswith("server: 8000 is not a mapping")
    assert "settings.yaml line 1" in message


def test_key_written_twice(tmp_path: Path) -> None:
    message = error_from(tmp_path, "server:\n  port: 8000\n  port: 8001\n")
    assert message.startswith("server.port: is set twice (settings.yaml line 2 and line 3)")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", env={})
    assert str(caught.value).startswith('--config: "')
    assert "does not exist" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_config(env={"IKDAV_CONFIG": str(tmp_path / "nope.yaml")})
    assert str(caught.value).startswith('IKDAV_CONFIG: "')


# -- environment overrides -------------------------------------------------------------------------------


def override_table(tmp_path: Path) -> dict[str, tuple[str, Any]]:
    """A non-default value for every key: the text to put in the environment and the parsed result."""
    cert, key = write(tmp_path, "cert", "cert.pem"), write(tmp_path, "key", "key.pem")
    return {
        "server.host": ("0.0.0.0", "0.0.0.0"),
        "server.port": ("8080", 8080),
        "server.public_url": ("https://dav.example.com", "https://dav.example.com"),
        "server.tls_cert": (str(cert), str(cert)),
        "server.tls_key": (str(key), str(key)),
        "server.threads": ("8", 8),
        "server.request_queue_size": ("64", 64),
        "server.request_timeout": ("60.5", 60.5),
        "dav.mount_path": ("/files", "/files"),
        "dav.lock_storage": ("/var/lib/ikdav/locks", "/var/lib/ikdav/locks"),
        "dav.max_xml_body": ("2048", 2048),
        "dav.max_locks_per_account": ("50", 50),
        "data_dir": ("/srv/ikdav", "/srv/ikdav"),
        "secret_key_file": ("/run/ikdav.key", "/run/ikdav.key"),
        "infomaniak.client_id": ("my-app", "my-app"),
        "infomaniak.client_secret": (SECRET, SECRET),
        "infomaniak.redirect_uri": (f"https://dav.example.com{CALLBACK_PATH}",
                                    f"https://dav.example.com{CALLBACK_PATH}"),
        "infomaniak.scopes": ("user_info kdrive", "user_info kdrive"),
        "infomaniak.login_url": ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        "infomaniak.api_url": ("http://127.0.0.1:8766", "http://127.0.0.1:8766"),
        "infomaniak.mail_url": ("http://127.0.0.1:8767/_mail", "http://127.0.0.1:8767/_mail"),
        "infomaniak.timeout": ("2.5", 2.5),
        "infomaniak.connect_timeout": ("1", 1.0),
        "infomaniak.max_retry_wait": ("0", 0.0),
        "infomaniak.rate_limit_per_minute": ("60", 60),
        "cache.listing_ttl": ("5", 5.0),
        "cache.item_ttl": ("6", 6.0),
        "cache.mail_ttl": ("7", 7.0),
        "cache.quota_ttl": ("0", 0.0),
        "cache.max_entries": ("100", 100),
        "upload.direct_max_bytes": ("0", 0),
        "upload.chunk_size": ("1048576", 1048576),
        "upload.parallel_chunks": ("2", 2),
        "upload.spool_dir": (str(tmp_path), str(tmp_path)),
        "logging.level": ("warning", "WARNING"),
        "logging.access_log": ("off", False),
        "allowed_users": ("jane@example.ch, Marc@Example.ch", ("jane@example.ch", "marc@example.ch")),
    }


def env_name(dotted: str) -> str:
    return "IKDAV_" + dotted.replace(".", "__").upper()


def dotted_value(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def test_every_key_has_an_environment_override_parsed_to_its_type(tmp_path: Path) -> None:
    table = override_table(tmp_path)
    assert set(table) == set(SCHEMA), "the override table must cover every key"
    config = load_config(env={env_name(key): text for key, (text, _) in table.items()})
    for key, (_, expected) in table.items():
        actual = dotted_value(config, key)
        assert actual == expected, key
        assert type(actual) is type(expected), key


@pytest.mark.parametrize(("text", "expected"), [
    ("true", True), ("yes", True), ("on", True), ("1", True),
    ("false", False), ("no", False), ("OFF", False), ("0", False),
])
def test_boolean_spellings(text: str, expected: bool) -> None:
    assert load_config(env={"IKDAV_LOGGING__ACCESS_LOG": text}).logging.access_log is expected


def test_empty_list_from_the_environment() -> None:
    assert load_config(env={"IKDAV_ALLOWED_USERS": ""}).allowed_users == ()


def test_setup_guide_names() -> None:
    config = load_config(env={
        "Service_INFOMANIAK_DATA_CLIENT_ID": "guide-id",
        "Service_INFOMANIAK_DATA_CLIENT_SECRET": SECRET,
        "Service_INFOMANIAK_OAUTH_REDIRECT_URI": f"https://dav.example.com{CALLBACK_PATH}",
    })
    assert config.infomaniak.client_id == "guide-id"
    assert config.infomaniak.client_secret == SECRET
    assert config.infomaniak.redirect_uri == f"https://dav.example.com{CALLBACK_PATH}"
    assert config.oauth_enabled


def test_ikdav_names_win_over_setup_guide_names() -> None:
    config = load_config(env={
        "IKDAV_INFOMANIAK__CLIENT_ID": "ikdav-id",
        "Service_INFOMANIAK_DATA_CLIENT_ID": "guide-id",
        "Service_INFOMANIAK_DATA_CLIENT_SECRET": SECRET,
    })
    assert config.infomaniak.client_id == "ikdav-id"


def test_precedence_environment_over_file_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8001\n  threads: 4\n")
    assert load_config(env={}).server.port == 8000
    from_file = load_config(path, env={})
    assert (from_file.server.port, from_file.server.threads) == (8001, 4)
    both = load_config(path, env={"IKDAV_SERVER__PORT": "8002"})
    assert (both.server.port, both.server.threads) == (8002, 4)


# -- which file is read ----------------------------------------------------------------------------------


def test_config_file_resolution(tmp_path: Path) -> None:
    local = write(tmp_path, "server:\n  port: 8001\n", "config.yaml")
    from_env = write(tmp_path, "server:\n  port: 8002\n", "env.yaml")
    explicit = write(tmp_path, "server:\n  port: 8003\n", "explicit.yaml")
    env = {"IKDAV_CONFIG": str(from_env)}
    assert load_config(explicit, env=env).server.port == 8003
    assert load_config(env=env).server.port == 8002
    assert load_config(env={}).server.port == 8001
    assert find_config_file(env={}) == (local.resolve(), "./config.yaml")
    local.unlink()
    assert load_config(env={}).server.port == 8000
    assert find_config_file(env={}) == (None, "defaults")


# -- the documented example ------------------------------------------------------------------------------

SETTING_LINE = re.compile(r"^(\s*)# ([a-z_]+):(.*)$")


def test_example_loads_as_the_defaults() -> None:
    assert load_config(EXAMPLE, env={}) == Config()


def test_example_documents_every_key_with_its_default(tmp_path: Path) -> None:
    """Uncommenting every setting line of the example gives every key, each with its default."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    uncommented = [SETTING_LINE.sub(r"\1\2:\3", line) for line in lines]
    data = yaml.safe_load("\n".join(uncommented))
    documented = {f"{section}.{key}" if isinstance(values, dict) else section
                  for section, values in data.items()
                  for key in (values if isinstance(values, dict) else [None])}
    assert documented == set(SCHEMA)
    assert load_config(write(tmp_path, "\n".join(uncommented)), env={}) == Config()
    for line in lines:
        if SETTING_LINE.match(line):
            assert SETTING_LINE.match(line).group(2) in {spec.name for spec in SCHEMA.values()}, line


# -- building a config in code ---------------------------------------------------------------------------


def test_with_overrides_builds_a_validated_copy() -> None:
    base = Config()
    demo = base.with_overrides({"infomaniak.api_url": "http://127.0.0.1:9001/"},
                               infomaniak={"login_url": "http://127.0.0.1:9000"},
                               data_dir="demo-data", server={"port": 0})
    assert demo.infomaniak.api_url == "http://127.0.0.1:9001"
    assert demo.infomaniak.login_url == "http://127.0.0.1:9000"
    assert demo.infomaniak.mail_url == base.infomaniak.mail_url
    assert (demo.data_dir, demo.server.port) == ("demo-data", 0)
    assert base == Config()
    with pytest.raises(ConfigError, match=r"^server\.port: 70000 is out of range"):
        base.with_overrides(server={"port": 70000})
    with pytest.raises(ConfigError, match=r"did you mean infomaniak\.api_url\?"):
        base.with_overrides({"infomaniak.apiurl": "http://x"})


def test_dataclasses_replace_works_on_every_section() -> None:
    config = dataclasses.replace(Config(), server=dataclasses.replace(Config().server, port=9999))
    assert config.server.port == 9999
    assert config.as_dict()["server"]["port"] == 9999
    assert config.as_dict()["allowed_users"] == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]
