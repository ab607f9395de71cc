"""The suite's own promise: nothing but GET and HEAD can reach the target.

The refused requests are aimed at a closed loopback port, never at the target, so even a broken
guard could not change anything there: it would show up as a connection error instead.
"""

from __future__ import annotations

import httpx
import pytest

from ikdav.infomaniak import InfomaniakClient

from .support import ReadOnlyHttp

NOWHERE = "http://127.0.0.1:9/ikdav-contract-check"  # the discard port: nothing listens


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "MOVE"])
def test_raw_client_refuses_to_send_a_write(http: ReadOnlyHttp, method: str) -> None:
    with pytest.raises(AssertionError, match="read-only"), http.stream_url(NOWHERE, method=method):
        pass


def test_library_clients_refuse_to_send_a_write(library: InfomaniakClient) -> None:
    for client in (library.transport.client, library.transport.content_client):
        with pytest.raises(AssertionError, match="read-only"):
            client.post(NOWHERE, json={"name": "x"})
        with pytest.raises(AssertionError, match="read-only"):
            client.delete(NOWHERE)
        with pytest.raises(httpx.ConnectError):
            client.get(NOWHERE)  # reads pass the guard (and find nothing listening)
