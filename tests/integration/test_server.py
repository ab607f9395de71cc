"""The server process: ikdav demo and serve as a person starts them, /healthz, HTTPS, clean shutdown."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from harness import DavServer, start_dav

from ikdav.emulator.app import Emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_key_values(process: subprocess.Popen[str], last: str, timeout: float = 60) -> dict[str, str]:
    assert process.stdout is not None
    lines: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        key, _, value = line.strip().partition(": ")
        lines[key] = value
        if key == last:
            return lines
    raise AssertionError(f"no {last!r} line; got {lines}")


def test_demo_prints_working_credentials_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "ikdav", "demo", "--port", str(port), "--password", "demo-pass-123",
         "--data-dir", str(tmp_path / "demo-data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_key_values(demo, "Emulator knobs")
        assert lines["WebDAV URL"] == f"http://localhost:{port}/dav/"
        assert lines["User"] == "jane@example.ch"
        assert lines["Password"] == "demo-pass-123"
        assert lines["Connect page"] == f"http://localhost:{port}/"
        url = f"http://127.0.0.1:{port}/dav/kDrive/My%20kDrive/Private/"
        listing = requests.request("PROPFIND", url, auth=(lines["User"], lines["Password"]),
                                   headers={"Depth": "1"}, timeout=30)
        assert listing.status_code == 207 and "todo.txt" in listing.text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"status": "ok"}
        assert "Infomaniak" in requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=30)
    assert code == 0
    assert stat_mode(tmp_path / "demo-data" / "secret.key") == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_second_demo_start_keeps_the_account_and_takes_the_new_password(tmp_path: Path) -> None:
    for password in ("first-password-1", "second-password-2"):
        port = free_port()
        demo = subprocess.Popen(
            [sys.executable, "-m", "ikdav", "demo", "--port", str(port), "--password", password,
             "--data-dir", str(tmp_path / "demo-data")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        try:
            read_key_values(demo, "Emulator knobs")
            ok = requests.request("PROPFIND", f"http://127.0.0.1:{port}/dav/",
                                  auth=("jane@example.ch", password), headers={"Depth": "0"}, timeout=30)
            assert ok.status_code == 207
            if password.startswith("second"):
                old = requests.request("PROPFIND", f"http://127.0.0.1:{port}/dav/",
                                       auth=("jane@example.ch", "first-password-1"), headers={"Depth": "0"},
                                       timeout=30)
                assert old.status_code == 401
        finally:
            demo.send_signal(signal.SIGINT)
            assert demo.wait(timeout=30) == 0


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_file, 0o600)
    return cert_file, key_file


def test_https_with_a_configured_certificate(fresh_emulator: Emulator, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    dav: DavServer = start_dav(fresh_emulator, tmp_path / "data", **{"server.tls_cert": str(cert),
                                                                      "server.tls_key": str(key)})
    try:
        assert dav.url.startswith("https://")
        url = dav.url.replace("127.0.0.1", "localhost")
        reply = requests.request("PROPFIND", url, auth=dav.auth, headers={"Depth": "1"}, verify=str(cert),
                                 timeout=30)
        assert reply.status_code == 207 and "kDrive" in reply.text
    finally:
        dav.stop()


def test_stopping_the_server_is_quick_even_with_idle_keep_alive_connections(fresh_emulator: Emulator,
                                                                          tmp_path: Path) -> None:
    dav = start_dav(fresh_emulator, tmp_path / "data")
    session = requests.Session()
    assert session.request("PROPFIND", dav.url, auth=dav.auth, headers={"Depth": "0"}).status_code == 207
    started = time.monotonic()
    dav.stop()
    assert time.monotonic() - started < 4
    session.close()
