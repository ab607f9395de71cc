"""The connect app (browser side). Placeholder until the OAuth pages land."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def build_connect_app(services: Any) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b"ikdav\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app
