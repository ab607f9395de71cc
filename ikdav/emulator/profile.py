"""Profile routes on the API host (infomaniak-api.md §2, D12)."""

from __future__ import annotations

from typing import Any

from ikdav.emulator.faults import ROLES
from ikdav.emulator.state import EmulatorState, User
from ikdav.emulator.web import ApiError, Request, Response, Router, ok


def profile_v2(user: User) -> dict[str, Any]:
    return {"id": user.id, "display_name": user.display_name, "first_name": user.first_name,
            "last_name": user.last_name, "email": user.email, "login": user.email,
            "avatar": None, "is_staff": False, "preferences": {}}


def profile_v1(user: User) -> dict[str, Any]:
    data = profile_v2(user)
    data["firstname"] = data.pop("first_name")
    data["lastname"] = data.pop("last_name")
    return data


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    assert set(routers) == set(ROLES)
    api = routers["api"]

    def current_user(request: Request) -> User:
        access = state.authenticate(request, "user_info")
        user = state.identity.users.get(access.user_id)
        if user is None:
            raise ApiError(401, "not_authorized", "Unknown user")
        return user

    @api.route("GET", "/2/profile")
    def get_profile_v2(request: Request) -> Response:
        return ok(profile_v2(current_user(request)))

    @api.route("GET", "/1/profile")
    def get_profile_v1(request: Request) -> Response:
        return ok(profile_v1(current_user(request)))
