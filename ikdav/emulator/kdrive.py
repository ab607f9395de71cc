"""kDrive on the API, content and upload hosts (infomaniak-api.md §4, §6 D14–D28, §7).

The pieces:

- ``kdrive_model``, ``kdrive_tree``: drives, nodes, names, the tree operations;
- ``kdrive_store``: the store (``state.kdrive``), access rules, knobs, and the Python API that
  tests use to look at and shape data directly (its docstring lists it);
- ``kdrive_blobs``: content on disk under ``state.blob_dir / "kdrive"``, streamed in and out;
- ``kdrive_cursors``, ``kdrive_changes``: server-side cursors and the per-drive change log;
- ``kdrive_routes_read``, ``kdrive_routes_write``, ``kdrive_routes_feed``: the API host's routes;
- ``kdrive_content``: ``/download`` and the content host's pre-signed URLs;
- ``kdrive_upload`` (+ ``kdrive_upload_plan``, ``kdrive_sessions``): direct uploads on the API
  host, upload sessions with their chunks on the upload host only;
- ``kdrive_sample``: the sample drives.

Knobs read here: ``kdrive_drives``, ``special_folders``, ``lock_file``, ``quota`` (model-wide,
their ``match``/``count`` are not consulted), and per request ``download_mode``,
``content_range``, ``content_bytes_per_s``, ``expire_cursors``.
"""

from __future__ import annotations

from typing import Any

from ikdav.emulator.kdrive_content import install_content
from ikdav.emulator.kdrive_routes_feed import install_feed
from ikdav.emulator.kdrive_routes_read import install_read
from ikdav.emulator.kdrive_routes_write import install_write
from ikdav.emulator.kdrive_sample import seed_sample
from ikdav.emulator.kdrive_store import KDriveStore
from ikdav.emulator.kdrive_upload import install_uploads
from ikdav.emulator.state import EmulatorState
from ikdav.emulator.web import Router


def install(routers: dict[str, Router], state: EmulatorState) -> None:
    """Create ``state.kdrive`` and register the routes on the api, content and upload hosts."""
    store = KDriveStore(state.knobs, state.blob_dir / "kdrive")
    state.kdrive = store
    install_read(routers, state, store)
    install_feed(routers, state, store)
    install_write(routers, state, store)
    install_content(routers, state, store)
    install_uploads(routers, state, store)


def seed(state: EmulatorState, sample: Any) -> None:
    """Create the sample drives, folders and files (see ``kdrive_sample``)."""
    seed_sample(state.kdrive, sample)
