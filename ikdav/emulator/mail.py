"""Mail on the mail host (infomaniak-api.md §5): wiring of the store, routes and sample data.

Module map:

- ``mail_ids``: folder ids, long uids, uid sets, RFC 3339 dates (§5.1);
- ``mail_model``: mailboxes, folders and messages as data;
- ``mail_store``: :class:`~ikdav.emulator.mail_store.MailStore`, the rules and the Python API
  that tests use (``emulator.state.mail``; see that module's docstring);
- ``mail_changes``: per-folder change logs and sync signatures (§5.4);
- ``mail_parse`` / ``mail_json``: the message, folder and mailbox objects of §5.2–5.5;
- ``mail_http`` and ``mail_routes_*``: the HTTP routes;
- ``mail_sample``: the seeded mailboxes.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.mail_http import MailHost
from ikdav.emulator.mail_routes_actions import install_action_routes
from ikdav.emulator.mail_routes_folders import install_folder_routes
from ikdav.emulator.mail_routes_sync import install_sync_routes
from ikdav.emulator.mail_sample import seed_mail
from ikdav.emulator.mail_store import MailStore
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Router


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    """Create the mail store as ``state.mail`` and register its routes on ``routers["mail"]``."""
    store = MailStore()
    state.mail = store
    host = MailHost(state, store)
    router = routers["mail"]
    install_folder_routes(router, host)
    install_sync_routes(router, host)
    install_action_routes(router, host)


def seed(state: EmulatorState, sample: Any) -> None:
    """Create the sample mailboxes, folders and messages (deterministic from ``sample.seed``)."""
    seed_mail(state.mail, sample)
