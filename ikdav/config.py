"""ikdav's settings: ``config.yaml``, environment overrides, and errors that name the fix.

Where a value comes from, strongest first:

1. the environment: ``IKDAV_<SECTION>__<KEY>`` (``IKDAV_SERVER__PORT``), ``IKDAV_DATA_DIR``,
   ``IKDAV_SECRET_KEY_FILE``, ``IKDAV_ALLOWED_USERS`` (comma-separated), and the setup guide's
   ``Service_INFOMANIAK_DATA_CLIENT_ID`` / ``..._CLIENT_SECRET`` / ``Service_INFOMANIAK_OAUTH_REDIRECT_URI``;
2. the config file: ``--config PATH``, else ``$IKDAV_CONFIG``, else ``./config.yaml`` if present;
3. the defaults written in the dataclasses below (and, as comments, in ``config.yaml.example``).

A bad value never reaches the server: :func:`load_config` raises :class:`ConfigError`, whose text is
one line naming the key, the value (secrets masked) and what to change, because that line is all a
person sees when the service refuses to start.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = [
    "CALLBACK_PATH",
    "CacheConfig",
    "Config",
    "ConfigError",
    "DavConfig",
    "InfomaniakConfig",
    "LoggingConfig",
    "ServerConfig",
    "UploadConfig",
    "find_config_file",
    "load_config",
    "mask_secret",
]

CALLBACK_PATH = "/api/infomaniak/auth/connect/callback"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENV_PREFIX = "IKDAV_"
CONFIG_ENV = "IKDAV_CONFIG"
DEFAULT_CONFIG_FILE = "config.yaml"
# The setup guide's variable names, honoured next to IKDAV_INFOMANIAK__* (which win when both are set).
SETUP_GUIDE_ENV = {
    "Service_INFOMANIAK_DATA_CLIENT_ID": "infomaniak.client_id",
    "Service_INFOMANIAK_DATA_CLIENT_SECRET": "infomaniak.client_secret",
    "Service_INFOMANIAK_OAUTH_REDIRECT_URI": "infomaniak.redirect_uri",
}
# IKDAV_* variables that are not config keys (read elsewhere): never reported as unknown.
NON_CONFIG_ENV = frozenset({"IKDAV_CONFIG", "IKDAV_SECRET_KEY", "IKDAV_LIVE_TOKEN"})
_SENSITIVE_NAME = re.compile(r"secret|password|passwd|token|credential|private|key$", re.IGNORECASE)
_MIB = 1024 * 1024
_GIB = 1024 * _MIB


class ConfigError(Exception):
    """A setting that cannot work; ``str()`` is one line: key, value, problem and fix."""

    def __init__(self, key: str, problem: str, fix: str, origin: str = "") -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        self.origin = origin
        where = f" ({origin})" if origin else ""
        super().__init__(_one_line(f"{key}: {problem} — {fix}{where}"))


def mask_secret(value: object) -> str:
    """How a secret appears in an error: its first two characters and its length, or ``***``."""
    if isinstance(value, str) and len(value) >= 8:
        return f'"{value[:2]}…({len(value)} chars)"'
    return "***"


def _show(value: object, secret: bool = False) -> str:
    """A value as an error shows it: quoted, on one line, short; masked when it is a secret."""
    if secret:
        return mask_secret(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- the settings ----------------------------------------------------------------------------------------


def setting(default: Any, hint: str = "", *, minimum: float | None = None, maximum: float | None = None,
            secret: bool = False) -> Any:
    """A config key: its default, the example a fix suggests, its range, and whether it is secret."""
    return field(default=default, metadata={"hint": hint, "minimum": minimum, "maximum": maximum,
                                            "secret": secret})


@dataclass(frozen=True)
class ServerConfig:
    """Where and how the one HTTP server (WebDAV + connect pages) listens."""

    host: str = setting("127.0.0.1", "an address like 127.0.0.1 or 0.0.0.0")
    port: int = setting(8000, "a port number like 8000", minimum=0, maximum=65535)
    public_url: str = setting("", "the URL users reach ikdav at, like https://dav.example.com")
    tls_cert: str = setting("", "the path of a PEM certificate file")
    tls_key: str = setting("", "the path of the certificate's PEM private key file")
    threads: int = setting(32, "a thread count like 32", minimum=1, maximum=1024)
    request_queue_size: int = setting(128, "a listen backlog like 128", minimum=1, maximum=65535)
    request_timeout: float = setting(300.0, "a number of seconds like 300", minimum=1)


@dataclass(frozen=True)
class DavConfig:
    """The WebDAV share: where it is mounted in the URL space and where its locks live."""

    mount_path: str = setting("/dav", "a path like /dav")
    lock_storage: str = setting("", "a file path like ./data/locks.shelve, or empty for the default")
    max_xml_body: int = setting(1048576, "a byte count like 1048576", minimum=1024, maximum=64 * _MIB)
    max_locks_per_account: int = setting(1000, "a lock count like 1000", minimum=1, maximum=1_000_000)


@dataclass(frozen=True)
class InfomaniakConfig:
    """The OAuth application and the three Infomaniak hosts (the emulator can stand in for them)."""

    client_id: str = setting("", "the OAuth application's client id")
    client_secret: str = setting("", "the OAuth application's client secret", secret=True)
    redirect_uri: str = setting(f"http://localhost:8000{CALLBACK_PATH}",
                                f"the registered URI, like http://localhost:8000{CALLBACK_PATH}")
    scopes: str = setting("user_info kdrive mail", 'space-separated scopes like "user_info kdrive mail"')
    login_url: str = setting("https://login.infomaniak.com", "a URL like https://login.infomaniak.com")
    api_url: str = setting("https://api.infomaniak.com", "a URL like https://api.infomaniak.com")
    mail_url: str = setting("https://mail.infomaniak.com", "a URL like https://mail.infomaniak.com")
    timeout: float = setting(30.0, "a number of seconds like 30", minimum=0.1)
    connect_timeout: float = setting(10.0, "a number of seconds like 10", minimum=0.1)
    max_retry_wait: float = setting(20.0, "a number of seconds like 20", minimum=0)
    rate_limit_per_minute: int = setting(0, "requests per minute like 60, or 0 for no limit", minimum=0)


@dataclass(frozen=True)
class CacheConfig:
    """How long metadata read from Infomaniak is reused before it is asked for again."""

    listing_ttl: float = setting(30.0, "a number of seconds like 30", minimum=0)
    item_ttl: float = setting(30.0, "a number of seconds like 30", minimum=0)
    mail_ttl: float = setting(60.0, "a number of seconds like 60", minimum=0)
    quota_ttl: float = setting(60.0, "a number of seconds like 60", minimum=0)
    max_entries: int = setting(20000, "an entry count like 20000", minimum=1)


@dataclass(frozen=True)
class UploadConfig:
    """How file bodies go to kDrive: one direct request when small, parallel chunks when large."""

    direct_max_bytes: int = setting(20971520, "a byte count like 20971520 (20 MiB)", minimum=0,
                                    maximum=_GIB)
    chunk_size: int = setting(20971520, "a byte count like 20971520 (20 MiB)", minimum=_MIB, maximum=_GIB)
    parallel_chunks: int = setting(4, "a chunk count like 4", minimum=1, maximum=32)
    spool_dir: str = setting("", "an existing directory, or empty for the system temp directory")


@dataclass(frozen=True)
class LoggingConfig:
    """What reaches the log (secrets never do: see ``ikdav.logs``)."""

    level: str = setting("INFO", "one of " + ", ".join(LOG_LEVELS))
    access_log: bool = setting(True, "true or false")


@dataclass(frozen=True)
class Config:
    """All of ikdav's settings. Build it with :func:`load_config` or :meth:`with_overrides`.

    Relative paths are taken from the directory ikdav is started in.
    """

    server: ServerConfig = field(default_factory=ServerConfig)
    dav: DavConfig = field(default_factory=DavConfig)
    data_dir: str = setting("./data", "a directory like ./data")
    secret_key_file: str = setting("", "a file path like ./data/secret.key, or empty for the default")
    infomaniak: InfomaniakConfig = field(default_factory=InfomaniakConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    allowed_users: tuple[str, ...] = setting((), "a list of e-mails like [jane@example.ch]")

    # -- resolved values the rest of the code wants ------------------------------------------------
    @property
    def tls_enabled(self) -> bool:
        return bool(self.server.tls_cert)

    @property
    def public_url(self) -> str:
        """The base URL users reach ikdav at, without a trailing slash.

        Defaults to ``http(s)://host:port``; a loopback or wildcard address becomes ``localhost`` so
        the default matches the default redirect URI (browsers keep cookies per host name).
        """
        if self.server.public_url:
            return self.server.public_url
        scheme = "https" if self.tls_enabled else "http"
        host = self.server.host
        if host in ("", "0.0.0.0", "::", "127.0.0.1", "::1"):
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def share_url(self) -> str:
        """The WebDAV URL people mount: the public URL and the mount path, with a trailing slash."""
        return self.public_url.rstrip("/") + self.dav.mount_path.rstrip("/") + "/"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def secret_key_path(self) -> Path:
        if self.secret_key_file:
            return Path(self.secret_key_file).expanduser().resolve()
        return self.data_path / "secret.key"

    @property
    def lock_storage_path(self) -> Path:
        if self.dav.lock_storage:
            return Path(self.dav.lock_storage).expanduser().resolve()
        return self.data_path / "locks.shelve"

    @property
    def spool_path(self) -> Path | None:
        """Where unknown-length uploads are spooled; ``None`` means the system temp directory."""
        return Path(self.upload.spool_dir).expanduser().resolve() if self.upload.spool_dir else None

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.infomaniak.client_id)

    def allows_user(self, email: str) -> bool:
        """Whether this e-mail may connect an account (an empty ``allowed_users`` allows anyone)."""
        return not self.allowed_users or email.strip().lower() in self.allowed_users

    # -- building variants in code -----------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Nested plain values (lists, not tuples), as a config file would hold them."""
        def plain(value: Any) -> Any:
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            return list(value) if isinstance(value, tuple) else value

        return typing.cast(dict[str, Any], plain(dataclasses.asdict(self)))

    def with_overrides(self, values: Mapping[str, Any] | None = None, /, **sections: Any) -> Config:
        """A validated copy with some keys changed.

        ``values`` takes dotted keys (``{"infomaniak.api_url": url}``); keyword arguments take whole
        sections or top-level keys (``infomaniak={"api_url": url}, data_dir="demo-data"``). The
        result is checked exactly like a loaded file, so a bad value raises :class:`ConfigError`.
        """
        flat = {spec.dotted: getattr_dotted(self, spec.dotted) for spec in SCHEMA.values()}
        changes: list[tuple[str, Any]] = list((values or {}).items())
        for name, value in sections.items():
            if name not in _SECTIONS:
                changes.append((name, value))
                continue
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            if not isinstance(value, Mapping):
                raise ConfigError(name, f"{_show(value)} is not a mapping",
                                  f"pass the changed keys, like {name}={{...}}", "set in code")
            changes.extend((f"{name}.{key}", item) for key, item in value.items())
        origins: dict[str, str] = {}
        for key, value in changes:
            if key not in SCHEMA:
                raise _unknown_key(key, value, "set in code")
            flat[key] = value
            origins[key] = "set in code"
        return _build(flat, origins)


# -- schema: one entry per dotted key, derived from the dataclasses --------------------------------------


@dataclass(frozen=True)
class KeySpec:
    dotted: str
    section: str | None
    name: str
    type: Any
    default: Any
    hint: str
    minimum: float | None
    maximum: float | None
    secret: bool

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + (f"{self.section}__{self.name}" if self.section else self.name).upper()


def _schema() -> tuple[dict[str, KeySpec], dict[str, type]]:
    specs: dict[str, KeySpec] = {}
    sections: dict[str, type] = {}
    root_hints = typing.get_type_hints(Config)
    for root_field in dataclasses.fields(Config):
        kind = root_hints[root_field.name]
        if dataclasses.is_dataclass(kind):
            sections[root_field.name] = kind
            hints = typing.get_type_hints(kind)
            for sub in dataclasses.fields(kind):
                specs[f"{root_field.name}.{sub.name}"] = _spec(root_field.name, sub, hints[sub.name])
        else:
            specs[root_field.name] = _spec(None, root_field, kind)
    return specs, sections


def _spec(section: str | None, item: dataclasses.Field[Any], kind: Any) -> KeySpec:
    meta = item.metadata
    dotted = f"{section}.{item.name}" if section else item.name
    return KeySpec(dotted, section, item.name, kind, item.default, meta.get("hint", ""),
                   meta.get("minimum"), meta.get("maximum"), bool(meta.get("secret")))


SCHEMA, _SECTIONS = _schema()


def getattr_dotted(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


# -- loading --------------------------------------------------------------------------------------------


def find_config_file(path: str | os.PathLike[str] | None = None,
                     env: Mapping[str, str] | None = None) -> tuple[Path | None, str]:
    """Which file to read and how it was chosen (``--config``, ``IKDAV_CONFIG``, ``./config.yaml``).

    Returns ``(None, "defaults")`` when there is none. A file named explicitly must exist.
    """
    env = os.environ if env is None else env
    if path:
        return _existing(Path(path), "--config"), "--config"
    if env.get(CONFIG_ENV):
        return _existing(Path(env[CONFIG_ENV]), CONFIG_ENV), CONFIG_ENV
    local = Path(DEFAULT_CONFIG_FILE)
    if local.is_file():
        return local.resolve(), "./config.yaml"
    return None, "defaults"


def _existing(path: Path, key: str) -> Path:
    resolved = path.expanduser()
    if not resolved.exists():
        raise ConfigError(key, f"{_show(str(path))} does not exist",
                          "fix the path, or copy config.yaml.example there")
    if not resolved.is_file():
        raise ConfigError(key, f"{_show(str(path))} is not a file", "point it at a YAML config file")
    return resolved.resolve()


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and the environment, check everything, return a :class:`Config`.

    ``env`` defaults to ``os.environ``; pass a mapping to isolate from it.
    """
    env = os.environ if env is None else env
    config_file, _ = find_config_file(path, env)
    flat: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if config_file is not None:
        for dotted, value, origin in _read_file(config_file):
            flat[dotted] = value
            origins[dotted] = origin
    for dotted, value, origin in _read_env(env):
        flat[dotted] = value
        origins[dotted] = origin
    return _build(flat, origins)


def _read_file(config_file: Path) -> Iterator[tuple[str, Any, str]]:
    """The file's keys as ``(dotted key, raw value, "config.yaml line N")``; unknown keys fail."""
    label = config_file.name
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(config_file), f"cannot be read ({exc.__class__.__name__}: {exc})",
                          "make it a readable UTF-8 text file") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ConfigError(str(config_file), f"YAML does not parse{where} ({problem})",
                          'fix the syntax there: indent with spaces, put a space after ":", '
                          "quote values that contain \": \" or start with a special character") from None
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise ConfigError(str(config_file), f"the top level is a {_yaml_kind(data)}, not a mapping",
                          'write "section:" lines with indented keys, as in config.yaml.example')
    lines = _key_lines(root, "", label)
    for key, value in data.items():
        key = str(key)
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(key, f"{_show(value)} is not a mapping",
                                  f'write its keys indented below "{key}:", as in config.yaml.example',
                                  lines.get(key, label))
            for sub_key, sub_value in value.items():
                dotted = f"{key}.{sub_key}"
                origin = lines.get(dotted, label)
                if dotted not in SCHEMA:
                    raise _unknown_key(dotted, sub_value, origin)
                yield dotted, sub_value, origin
        elif key in SCHEMA:
            yield key, value, lines.get(key, label)
        else:
            raise _unknown_key(key, value, lines.get(key, label))


def _key_lines(node: yaml.MappingNode, prefix: str, label: str) -> dict[str, str]:
    """``dotted key -> "config.yaml line N"``, failing on a key written twice (YAML keeps the last)."""
    lines: dict[str, str] = {}
    for key_node, value_node in node.value:
        dotted = prefix + str(key_node.value)
        where = f"{label} line {key_node.start_mark.line + 1}"
        if dotted in lines:
            raise ConfigError(dotted, f"is set twice ({lines[dotted]} and line {where.rsplit(' ', 1)[-1]})",
                              "keep only one of them")
        lines[dotted] = where
        if not prefix and isinstance(value_node, yaml.MappingNode):
            lines.update(_key_lines(value_node, dotted + ".", label))
    return lines


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "plain string"
    return type(value).__name__


def _read_env(env: Mapping[str, str]) -> Iterator[tuple[str, Any, str]]:
    """Environment overrides as ``(dotted key, text, "from NAME")``; IKDAV_* names win over Service_*."""
    for name, dotted in SETUP_GUIDE_ENV.items():
        if name in env:
            yield dotted, env[name], f"from {name}"
    by_env_name = {spec.env_name: spec for spec in SCHEMA.values()}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_CONFIG_ENV:
            continue
        spec = by_env_name.get(upper)
        if spec is not None:
            yield spec.dotted, value, f"from {name}"
        elif "__" in upper:
            section, _, key = upper[len(ENV_PREFIX):].partition("__")
            raise _unknown_key(f"{section.lower()}.{key.lower()}", value, f"from {name}", env_style=True)


def _unknown_key(dotted: str, value: object, origin: str, env_style: bool = False) -> ConfigError:
    """'Unknown key' with the closest known key as the fix (a leaf known in another section counts)."""
    leaf = dotted.rsplit(".", 1)[-1]
    candidates = list(SCHEMA)
    guesses = [key for key in candidates if key.rsplit(".", 1)[-1] == leaf][:1]
    if not guesses:
        guesses = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
    if not guesses:
        by_leaf = {key.rsplit(".", 1)[-1]: key for key in candidates}
        guesses = [by_leaf[g] for g in difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)]
    secret = bool(_SENSITIVE_NAME.search(leaf)) or any(SCHEMA[g].secret for g in guesses)
    problem = f"unknown key (value {_show(value, secret)})"
    if guesses:
        guess = SCHEMA[guesses[0]].env_name if env_style else guesses[0]
        fix = f"did you mean {guess}?"
    else:
        section = dotted.split(".", 1)[0] if "." in dotted else None
        if section in _SECTIONS:
            known = ", ".join(spec.name for spec in SCHEMA.values() if spec.section == section)
            fix = f"known keys in {section}: {known}"
        else:
            fix = "known sections and keys: " + ", ".join(
                dict.fromkeys(key.split(".", 1)[0] for key in SCHEMA))
    return ConfigError(dotted, problem, fix, origin)


# -- turning raw values into typed ones -------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _coerce(spec: KeySpec, raw: Any, origin: str) -> Any:
    """Parse ``raw`` (YAML value, environment text or Python value) to the key's type and range."""
    if raw is None:
        return spec.default
    kind = spec.type
    shown = _show(raw, spec.secret)

    def fail(problem: str) -> ConfigError:
        return ConfigError(spec.dotted, f"{shown} {problem}", f"set {spec.hint}", origin)

    value: Any
    if kind is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, (str, int)) and str(raw).strip().lower() in _TRUE | _FALSE:
            value = str(raw).strip().lower() in _TRUE
        else:
            raise fail("is not true or false")
    elif kind is int:
        if isinstance(raw, bool):
            raise fail("is not an integer")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
            value = int(raw)
        else:
            raise fail("is not an integer")
    elif kind is float:
        if isinstance(raw, bool):
            raise fail("is not a number")
        try:
            value = float(raw) if isinstance(raw, (int, float, str)) else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise fail("is not a number")
    elif kind is str:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise fail("is not a text value")
        value = str(raw).strip()
    else:  # tuple[str, ...]
        if isinstance(raw, str):
            items = raw.split(",")
        elif isinstance(raw, (list, tuple)) and all(isinstance(i, (str, int, float)) for i in raw):
            items = [str(i) for i in raw]
        else:
            raise fail("is not a list of text values")
        value = tuple(item.strip() for item in items if item.strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = spec.minimum, spec.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{_num(low)}–{_num(high)}" if high is not None else f"at least {_num(low)}"
            raise fail(f"is out of range ({span})")
    return value


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


def _build(flat: Mapping[str, Any], origins: Mapping[str, str]) -> Config:
    typed = {key: _coerce(SCHEMA[key], raw, origins.get(key, "")) for key, raw in flat.items()}
    sections = {name: cls(**{spec.name: typed[spec.dotted] for spec in SCHEMA.values()
                             if spec.section == name and spec.dotted in typed})
                for name, cls in _SECTIONS.items()}
    top = {spec.name: typed[spec.dotted] for spec in SCHEMA.values()
           if spec.section is None and spec.dotted in typed}
    config = Config(**sections, **top)
    return _normalised(config, origins)


# -- checks that span keys, and the normal form of values ------------------------------------------------


def _normalised(config: Config, origins: Mapping[str, str]) -> Config:
    """Check what types alone cannot, and return the config in normal form (no trailing slashes...)."""

    def origin(key: str) -> str:
        return origins.get(key, "")

    server = config.server
    if server.public_url:
        _require_http_url("server.public_url", server.public_url, origin("server.public_url"),
                          "write it like https://dav.example.com")
    for present, absent in (("tls_cert", "tls_key"), ("tls_key", "tls_cert")):
        if getattr(server, present) and not getattr(server, absent):
            raise ConfigError(f"server.{absent}", f'"" is missing while server.{present} is set',
                              f"set server.{absent} too ({SCHEMA['server.' + absent].hint}), "
                              f"or remove server.{present}", origin(f"server.{present}"))
    for name in ("tls_cert", "tls_key"):
        value = getattr(server, name)
        if value and not Path(value).expanduser().is_file():
            raise ConfigError(f"server.{name}", f"{_show(value)} is not an existing file",
                              f"set {SCHEMA['server.' + name].hint}", origin(f"server.{name}"))

    mount = config.dav.mount_path
    if not mount.startswith("/") or mount.strip("/") == "":
        raise ConfigError("dav.mount_path", f"{_show(mount)} must start with / and name a path below /",
                          "set a path like /dav", origin("dav.mount_path"))

    if not config.data_dir:
        raise ConfigError("data_dir", '"" is empty', "set a directory like ./data", origin("data_dir"))
    spool = config.upload.spool_dir
    if spool and not Path(spool).expanduser().is_dir():
        raise ConfigError("upload.spool_dir", f"{_show(spool)} is not an existing directory",
                          "create it, or leave it empty for the system temp directory",
                          origin("upload.spool_dir"))

    _check_infomaniak(config.infomaniak, origin)

    level = config.logging.level.upper()
    if level not in LOG_LEVELS:
        raise ConfigError("logging.level", f"{_show(config.logging.level)} is not a log level",
                          "set one of " + ", ".join(LOG_LEVELS), origin("logging.level"))

    users = tuple(dict.fromkeys(user.lower() for user in config.allowed_users))
    for user in users:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", user):
            raise ConfigError("allowed_users", f"{_show(user)} is not an e-mail address",
                              "list the e-mails allowed to connect, like [jane@example.ch]",
                              origin("allowed_users"))

    infomaniak = config.infomaniak
    return dataclasses.replace(
        config,
        server=dataclasses.replace(server, public_url=server.public_url.rstrip("/")),
        dav=dataclasses.replace(config.dav, mount_path="/" + mount.strip("/")),
        infomaniak=dataclasses.replace(
            infomaniak,
            login_url=infomaniak.login_url.rstrip("/"),
            api_url=infomaniak.api_url.rstrip("/"),
            mail_url=infomaniak.mail_url.rstrip("/"),
            scopes=" ".join(infomaniak.scopes.split()),
        ),
        logging=dataclasses.replace(config.logging, level=level),
        allowed_users=users,
    )


def _check_infomaniak(settings: InfomaniakConfig, origin: typing.Callable[[str], str]) -> None:
    for name in ("login_url", "api_url", "mail_url"):
        key = f"infomaniak.{name}"
        _require_http_url(key, getattr(settings, name), origin(key), f"set {SCHEMA[key].hint}")

    uri = settings.redirect_uri
    example = SCHEMA["infomaniak.redirect_uri"].default
    _require_http_url("infomaniak.redirect_uri", uri, origin("infomaniak.redirect_uri"),
                      f"set the URI registered for the OAuth application, like {example}")
    parts = urlsplit(uri)
    if parts.path != CALLBACK_PATH or parts.query or parts.fragment:
        raise ConfigError("infomaniak.redirect_uri", f"{_show(uri)} has the path {_show(parts.path)}",
                          f"ikdav answers the OAuth callback only at {CALLBACK_PATH}: set it (and register "
                          f"it at Infomaniak) like {parts.scheme}://{parts.netloc}{CALLBACK_PATH}",
                          origin("infomaniak.redirect_uri"))

    if settings.client_id and not settings.client_secret:
        raise ConfigError("infomaniak.client_secret",
                          f"missing client secret when OAuth is used (infomaniak.client_id is "
                          f"{_show(settings.client_id)})",
                          "set infomaniak.client_secret (or IKDAV_INFOMANIAK__CLIENT_SECRET, "
                          "Service_INFOMANIAK_DATA_CLIENT_SECRET), or remove the client id",
                          origin("infomaniak.client_id"))
    if settings.client_secret and not settings.client_id:
        raise ConfigError("infomaniak.client_id",
                          f"missing client id while a client secret ({mask_secret(settings.client_secret)}) "
                          "is set",
                          "set infomaniak.client_id (or IKDAV_INFOMANIAK__CLIENT_ID, "
                          "Service_INFOMANIAK_DATA_CLIENT_ID), or remove the secret",
                          origin("infomaniak.client_secret"))
    if not settings.scopes.split():
        raise ConfigError("infomaniak.scopes", '"" is empty', f"set {SCHEMA['infomaniak.scopes'].hint}",
                          origin("infomaniak.scopes"))


def _require_http_url(key: str, value: str, origin: str, fix: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, f"{_show(value)} is not an absolute http(s) URL", fix, origin)
    try:
        parts.port  # noqa: B018 - a port like ":99999" or ":abc" raises here
    except ValueError:
        raise ConfigError(key, f"{_show(value)} has an invalid port", fix, origin) from None
