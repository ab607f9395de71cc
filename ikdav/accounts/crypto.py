"""Encryption of tokens at rest: Fernet keys under MultiFernet, so keys can be rotated.

The key comes from ``IKDAV_SECRET_KEY`` (one or more comma-separated Fernet keys, the first one
encrypts, all of them decrypt) or from a key file created on first start with mode 0600 (one key
per line, same rule). A stolen database without the key yields nothing.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

ENV_KEY = "IKDAV_SECRET_KEY"


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or does not open the stored tokens."""


class TokenCipher:
    """Encrypts and decrypts token strings; the first key encrypts, every key decrypts."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key configured")
        try:
            self._fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "the secret key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, text: str | None) -> bytes | None:
        if text is None:
            return None
        return self._multi.encrypt(text.encode("utf-8"))

    def decrypt(self, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        try:
            return self._multi.decrypt(bytes(blob)).decode("utf-8")
        except InvalidToken as exc:
            raise SecretKeyError(
                "the stored tokens were encrypted with another secret key; restore the old key "
                f"(key file or {ENV_KEY}) or reconnect the account"
            ) from exc

    def rotate(self, blob: bytes | None) -> bytes | None:
        """Re-encrypt ``blob`` under the first (newest) key."""
        if blob is None:
            return None
        try:
            return self._multi.rotate(bytes(blob))
        except InvalidToken as exc:
            raise SecretKeyError("a stored token cannot be opened with any configured key") from exc


def generate_key() -> bytes:
    return Fernet.generate_key()


def parse_keys(text: str) -> list[bytes]:
    """Keys from a comma- or newline-separated list, blank entries ignored."""
    parts = text.replace(",", "\n").splitlines()
    return [part.strip().encode("ascii") for part in parts if part.strip()]


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write the key file atomically with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"\n".join(keys) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_cipher(key_file: Path, env: Mapping[str, str] | None = None, *, create: bool = True) -> TokenCipher:
    """The cipher from ``IKDAV_SECRET_KEY`` or the key file, creating the file on first start."""
    env = os.environ if env is None else env
    from_env = env.get(ENV_KEY, "").strip()
    if from_env:
        return TokenCipher(parse_keys(from_env))
    if not key_file.exists():
        if not create:
            raise SecretKeyError(f"no secret key: {key_file} does not exist and {ENV_KEY} is not set")
        write_key_file(key_file, [generate_key()])
        log.info("created a new secret key file at %s (mode 0600)", key_file)
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        os.chmod(key_file, 0o600)
        log.warning("secret key file %s was readable by others (mode %o); set it to 0600", key_file, mode)
    return TokenCipher(parse_keys(key_file.read_text("ascii")))
