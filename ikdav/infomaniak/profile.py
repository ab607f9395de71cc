"""The profile of the person behind a token (§2).

A 401 here usually means "no ``user_info`` scope" rather than "dead token" (D9): when the
refusal survives a successful refresh, or ``/token/check`` says the token is fine, the caller
gets :class:`~.errors.ScopeMissing` and carries on without a profile instead of logging out.
"""

from __future__ import annotations

import httpx

from ikdav.infomaniak.errors import NotFound, ReconnectRequired, ScopeMissing, Unauthorized
from ikdav.infomaniak.http import Transport
from ikdav.infomaniak.models import Profile


def get_profile(transport: Transport) -> Profile:
    """``/2/profile``, falling back to ``/1/profile`` on a 404; either name spelling is accepted.

    Raises :class:`~.errors.ScopeMissing` (scope ``user_info``) when the token works but may not
    read the profile, and :class:`~.errors.ReconnectRequired` when the token itself is dead.
    """
    try:
        try:
            envelope = transport.get("api", "/2/profile")
        except NotFound:
            envelope = transport.get("api", "/1/profile")
    except Unauthorized as exc:
        if isinstance(exc, ReconnectRequired) and exc.refreshed:
            raise ScopeMissing("user_info", status=exc.status, code=exc.code) from exc
        if token_is_valid(transport):
            raise ScopeMissing("user_info", status=exc.status, code=exc.code) from exc
        raise
    if not isinstance(envelope.data, dict):
        raise NotFound("the profile reply holds no profile")
    return Profile.from_json(envelope.data)


def token_is_valid(transport: Transport) -> bool:
    """``GET {login_url}/token/check`` with the current token; only the status counts (D11).

    Any failure to ask (no connection, 5xx, no token at all) counts as "not known to be valid".
    """
    try:
        token = transport.current_token()
    except ReconnectRequired:
        return False
    try:
        response = transport.client.get(transport.url("login", "/token/check"),
                                        headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return False
    return response.status_code < 300
