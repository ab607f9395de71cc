"""One cheroot process serving the connect app, the WebDAV share and ``/healthz``.

``serve(config)`` runs until SIGTERM or SIGINT and then shuts down gracefully (requests in
flight may finish). :class:`RunningServer` starts the same thing in a background thread, for
``ikdav demo`` and the tests.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any
from urllib.parse import unquote_to_bytes

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from ikdav.config import Config
from ikdav.connect.app import build_connect_app
from ikdav.dav.app import build_dav_app
from ikdav.logs import setup_logging
from ikdav.memory import tune_allocator
from ikdav.services import Services, build_services

log = logging.getLogger("ikdav.server")
access_log = logging.getLogger("ikdav.access")

MAX_HEADER_BYTES = 64 * 1024  # request line and headers together; more is answered 413
REQUEST_NOTES = "ikdav.request_notes"  # a dict the layers below fill in for the access log
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def health(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b'{"status": "ok"}\n'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]


def with_decoded_options_path(app: WSGIApp) -> WSGIApp:
    """Percent-decode PATH_INFO of OPTIONS requests, as cheroot does for every other method.

    Cheroot leaves an OPTIONS request's path quoted (``/My%20kDrive``), so WsgiDAV would look
    for a folder literally called ``My%20kDrive``. Quoted slashes stay quoted, as elsewhere.
    """

    def decoded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "OPTIONS" and "%" in environ.get("PATH_INFO", ""):
            raw = environ["PATH_INFO"].encode("latin-1")
            parts = re.split(rb"(?i)%2F", raw)
            environ["PATH_INFO"] = b"%2F".join(unquote_to_bytes(part) for part in parts).decode("latin-1")
        return app(environ, start_response)

    return decoded


def with_access_log(app: WSGIApp) -> WSGIApp:
    """One line per request: method, path, status, bytes, duration, user. Never headers or queries."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        seen: dict[str, str] = {}
        environ[REQUEST_NOTES] = seen  # shared with copies of environ made further down

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        sent = 0
        try:
            for chunk in app(environ, recording_start):
                sent += len(chunk)
                yield chunk
        finally:
            access_log.info("%s %s %s %s %d %.0fms %s", environ.get("REMOTE_ADDR", "-"),
                            environ.get("REQUEST_METHOD"),
                            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                            seen.get("status", "-"), sent, (time.monotonic() - started) * 1000,
                            seen.get("user", "-"))

    return logged


def build_app(services: Services) -> WSGIApp:
    mount = services.config.dav.mount_path.rstrip("/")
    routes = {"/healthz": health, mount: build_dav_app(services), "/": build_connect_app(services)}
    app: WSGIApp = wsgi.PathInfoDispatcher(routes)
    if services.config.logging.access_log:
        app = with_access_log(app)
    return with_decoded_options_path(app)


def make_server(config: Config, app: WSGIApp) -> wsgi.Server:
    server = wsgi.Server((config.server.host, config.server.port), app, numthreads=config.server.threads,
                         request_queue_size=config.server.request_queue_size,
                         timeout=int(config.server.request_timeout), shutdown_timeout=10,
                         server_name="ikdav")
    server.expiration_interval = 0.1
    # Finder and Explorer keep many connections open; cheroot keeps only 10 idle ones by default
    # and makes the others reconnect for every request.
    server.keep_alive_conn_limit = max(64, 2 * config.server.threads)
    server.max_request_header_size = MAX_HEADER_BYTES  # cheroot's default, 0, reads headers without limit
    if config.server.tls_cert and config.server.tls_key:
        server.ssl_adapter = BuiltinSSLAdapter(config.server.tls_cert, config.server.tls_key)
    return server


class RunningServer:
    """ikdav serving in a background thread; ``url`` is where it listens."""

    def __init__(self, config: Config, services: Services | None = None) -> None:
        self.config = config
        self.services = services or build_services(config)
        self.server = make_server(config, build_app(self.services))
        self.server.prepare()
        host, port = self.server.bind_addr[:2]
        scheme = "https" if self.server.ssl_adapter else "http"
        self.url = f"{scheme}://{host}:{port}"
        self.port = int(port)
        self._thread = threading.Thread(target=self.server.serve, name="ikdav-server", daemon=True)
        self._thread.start()

    @property
    def dav_url(self) -> str:
        return self.url + self.config.dav.mount_path.rstrip("/") + "/"

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(timeout=15)
        self.services.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: Config, services: Services | None = None,
          announce: Callable[[str], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code.

    ``announce(url)`` is called once the socket listens (``ikdav demo`` prints its lines there).
    """
    setup_logging(config)
    tune_allocator()
    services = services or build_services(config)
    server = make_server(config, build_app(services))
    stopping = threading.Event()

    def shutdown(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("received %s: finishing requests in flight and stopping", signal.Signals(signum).name)
        threading.Thread(target=server.stop, name="ikdav-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.prepare()
    host, port = server.bind_addr[:2]
    log.info("ikdav listening on %s:%s; WebDAV at %s, connect page at %s/", host, port,
             config.share_url, config.public_url)
    if announce is not None:
        announce(f"http://{host}:{port}")
    try:
        server.serve()
    finally:
        services.close()
        log.info("ikdav stopped")
    return 0
