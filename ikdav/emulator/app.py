"""The emulator: five Infomaniak host roles served by cheroot on loopback.

``Emulator`` is the Python API tests and ``ikdav demo`` use::

    with Emulator() as emu:
        token = emu.issue_token(112233)
        emu.knobs.merge({"force_429": {"retry_after": 1, "count": 2}})
        httpx.get(emu.api_url + "/2/profile", headers={"Authorization": f"Bearer {token}"})

Each role (login, api, mail, content, upload) gets its own port by default, so a call sent to
the wrong host fails as it would for real; ``single_port=True`` serves them all from one port
under path prefixes (``/_login``, ``/_api``, ...) to exercise clients' prefix handling.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot import wsgi

from ikdav.emulator import kdrive, login, mail, profile, sample_data
from ikdav.emulator.faults import ROLES, KnobError, Knobs
from ikdav.emulator.state import EmulatorState, RequestRecord, ResponseError
from ikdav.emulator.web import ApiError, OAuthError, Request, Response, Router, json_response

log = logging.getLogger("ikdav.emulator")

ADMIN_PREFIX = "/_emulator/"
ROLE_PORT_OFFSET = {role: index for index, role in enumerate(ROLES)}


@dataclass
class SampleOptions:
    """How much sample data to create; the defaults feel like a real account."""

    big_folder_files: int = 2000
    mail_messages: int = 300
    big_mail_folder: int = 0  # messages in Jane's "Archive/Bulk" folder (0 = no such folder)
    seed: int = 20261127


class Emulator:
    """A faithful stand-in for login, API, mail, content and upload hosts (infomaniak-api.md)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        single_port: bool = False,
        knobs: dict[str, Any] | None = None,
        blob_dir: str | Path | None = None,
        sample: SampleOptions | None = None,
        threads: int = 24,
    ) -> None:
        self.host = host
        self.base_port = port
        self.single_port = single_port
        self.threads = threads
        self.knobs = Knobs(knobs)
        self.state = EmulatorState(self.knobs, Path(blob_dir) if blob_dir else None)
        self.routers: dict[str, Router] = {role: Router() for role in ROLES}
        self._servers: list[wsgi.Server] = []
        self._threads: list[threading.Thread] = []
        self._bound_ports: dict[str, int] = {}
        self.sample = sample or SampleOptions()
        for module in (login, profile, kdrive, mail):
            module.install(self.routers, self.state)
        sample_data.seed_identity(self.state)
        kdrive.seed(self.state, self.sample)
        mail.seed(self.state, self.sample)

    # -- URLs ----------------------------------------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        return dict(self.state.urls)

    @property
    def login_url(self) -> str:
        return self.state.urls["login"]

    @property
    def api_url(self) -> str:
        return self.state.urls["api"]

    @property
    def mail_url(self) -> str:
        return self.state.urls["mail"]

    @property
    def content_url(self) -> str:
        return self.state.urls["content"]

    @property
    def upload_url(self) -> str:
        return self.state.urls["upload"]

    # -- test helpers ----------------------------------------------------------------------------
    def issue_token(self, user_id: int = sample_data.JANE_ID, scopes: str = "user_info kdrive mail",
                    ttl: float | None = None) -> str:
        """A fresh access token, as if the user had connected (no refresh token)."""
        grant = self.state.identity.new_grant(user_id, scopes, kind="pat")
        return self.state.identity.issue_access(grant, ttl).token

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.state.identity.add_client(client_id, client_secret, redirect_uris)

    @property
    def log(self) -> Any:
        return self.state.log

    # -- WSGI ------------------------------------------------------------------------------------
    def wsgi_app(self, role: str, prefix: str = "") -> Callable[..., Iterable[bytes]]:
        router = self.routers[role]

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            started = time.monotonic()
            request = Request(environ, role, prefix)
            try:
                response = self._handle(request, router)
            except Exception:
                log.error("emulator %s %s %s failed:\n%s", role, request.method, request.path,
                          traceback.format_exc())
                response = ApiError(500, "unexpected_error", "Unexpected error").to_response()
            if request.path.startswith(ADMIN_PREFIX):
                return response(environ, start_response)
            self.state.log.add(RequestRecord(
                time.time(), role, request.method, request.path, request.query_string,
                response.status, request.header("Authorization") is not None,
                (time.monotonic() - started) * 1000,
            ))
            return response(environ, start_response)

        return application

    def _handle(self, request: Request, router: Router) -> Response:
        if request.role == "api" and request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        try:
            fault = self._fault(request)
            if fault is not None:
                return fault
            return router.dispatch(request)
        except (ApiError, OAuthError) as exc:
            return exc.to_response()
        except ResponseError as exc:
            return exc.response

    def _fault(self, request: Request) -> Response | None:
        """Apply the request-level knobs: latency, rate limit, forced 429, 5xx bursts."""
        role, method, path = request.role, request.method, request.path
        knobs = self.knobs
        latency = knobs.take("latency_ms", role, method, path)
        if latency:
            time.sleep(float(latency) / 1000.0)
        key = request.bearer or request.environ.get("REMOTE_ADDR", "anonymous")
        wait = knobs.rate_limited(key, role, method, path)
        if wait is not None:
            return too_many_requests(wait, reset_header=True)
        forced = knobs.take("force_429", role, method, path)
        if forced is not None:
            retry_after = forced.get("retry_after", 1)
            return too_many_requests(float(retry_after or 1),
                                     reset_header=bool(forced.get("reset_header", True)),
                                     send_retry_after=retry_after is not None)
        burst = knobs.take("server_errors", role, method, path)
        if burst is not None:
            status = int(burst.get("status", 503))
            if burst.get("html"):
                body = f"<html><body><h1>{status} Server Error</h1></body></html>".encode()
                return Response(status, [("Content-Type", "text/html")], body)
            code = "product_maintenance" if status == 503 else "unexpected_error"
            return ApiError(status, code, "Injected server error").to_response()
        return None

    def _admin(self, request: Request) -> Response:
        route = request.path[len(ADMIN_PREFIX):].strip("/")
        try:
            if route == "knobs":
                if request.method == "GET":
                    return json_response({"result": "success", "data": self.knobs.snapshot()})
                if request.method == "POST":
                    return json_response({"result": "success", "data": self.knobs.merge(request.json())})
                if request.method == "DELETE":
                    self.knobs.reset()
                    return json_response({"result": "success", "data": {}})
            if route == "log":
                if request.method == "GET":
                    summary = self.state.log.summary()
                    if request.arg("records"):
                        summary["records"] = [
                            {"role": r.role, "method": r.method, "path": r.path, "status": r.status,
                             "authorization": r.authorization} for r in self.state.log.find()]
                    return json_response({"result": "success", "data": summary})
                if request.method == "DELETE":
                    self.state.log.clear()
                    return json_response({"result": "success", "data": True})
            if route == "tokens" and request.method == "POST":
                body = request.json()
                token = self.issue_token(int(body.get("user_id", sample_data.JANE_ID)),
                                         str(body.get("scope", "user_info kdrive mail")),
                                         body.get("ttl"))
                return json_response({"result": "success", "data": {"access_token": token}})
            if route == "clients" and request.method == "POST":
                body = request.json()
                self.register_client(str(body["client_id"]), str(body["client_secret"]),
                                     [str(u) for u in body["redirect_uris"]])
                return json_response({"result": "success", "data": True})
        except (KnobError, KeyError, ValueError, TypeError) as exc:
            return ApiError(422, "validation_failed", str(exc)).to_response()
        except ApiError as exc:
            return exc.to_response()
        return ApiError(404, "route_not_found", "Unknown emulator admin route").to_response()

    # -- servers ---------------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._servers:
            return self
        if self.state.kdrive is not None:
            self.state.kdrive.blobs.cut.clear()
        if self.single_port:
            dispatch = wsgi.PathInfoDispatcher({f"/_{role}": self.wsgi_app(role) for role in ROLES})
            port = self._serve(dispatch, self._bound_ports.get("single", self.base_port))
            self._bound_ports["single"] = port
            for role in ROLES:
                self.state.urls[role] = f"http://{self.host}:{port}/_{role}"
        else:
            for role in ROLES:
                wanted = self._bound_ports.get(role)
                if wanted is None:
                    wanted = self.base_port + ROLE_PORT_OFFSET[role] if self.base_port else 0
                port = self._serve(self.wsgi_app(role), wanted)
                self._bound_ports[role] = port
                self.state.urls[role] = f"http://{self.host}:{port}"
        return self

    def _serve(self, app: Callable[..., Any], port: int) -> int:
        server = RestartableServer((self.host, port), app, numthreads=self.threads,
                                   request_queue_size=128, timeout=60, shutdown_timeout=2)
        server.expiration_interval = 0.05  # its select timeout: how long stop() waits (default 0.5 s)
        server.prepare()
        bound = server.bind_addr[1]
        thread = threading.Thread(target=server.serve, name=f"emulator:{bound}", daemon=True)
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        return int(bound)

    def stop(self) -> None:
        """Stop serving, like a host going down: content bodies in flight break off.

        State is kept, and :meth:`start` binds the same ports again.
        """
        if self.state.kdrive is not None:
            self.state.kdrive.blobs.cut.set()
        # Each cheroot server takes up to its select interval to wind down: stop them together.
        stoppers = [threading.Thread(target=server.stop, daemon=True) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def close(self) -> None:
        self.stop()
        if self.state._own_blob_dir:
            shutil.rmtree(self.state.blob_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RestartableServer(wsgi.Server):
    """A cheroot server whose port can be bound again right after a stop.

    Connections cut by a stop linger in FIN-WAIT for a while; Linux refuses to bind their port
    again unless every socket on it carries SO_REUSEPORT, so the listening socket (whose options
    accepted connections inherit) gets it from the start.
    """

    @classmethod
    def prepare_socket(cls, bind_addr: Any, family: Any, type: Any, proto: Any, nodelay: Any,
                       ssl_adapter: Any, reuse_port: bool = False) -> socket.socket:
        sock = super().prepare_socket(bind_addr, family, type, proto, nodelay, ssl_adapter, False)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        return sock


def too_many_requests(wait: float, *, reset_header: bool = True, send_retry_after: bool = True) -> Response:
    """The 429 of §3.4 / D13: envelope, ``Retry-After`` and ``X-RateLimit-Reset``."""
    seconds = max(1, int(wait + 0.999))
    headers: list[tuple[str, str]] = []
    if send_retry_after:
        headers.append(("Retry-After", str(seconds)))
    if reset_header:
        headers.append(("X-RateLimit-Reset", str(int(time.time()) + seconds)))
    return ApiError(429, "too_many_request", "Too many requests", headers=headers).to_response()


def describe(emulator: Emulator) -> str:
    """Human-readable summary of the base URLs (for ``ikdav emulator``)."""
    return json.dumps(emulator.urls, indent=2)
