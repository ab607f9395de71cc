"""Finder side files as WebDAV resources, served from the account's :class:`SidecarStore`."""

from __future__ import annotations

import io
from typing import Any

from wsgidav import util
from wsgidav.dav_provider import DAVNonCollection

from ikdav.dav.base import ScopedResource
from ikdav.dav.errors import Created, DavFailure
from ikdav.dav.names import is_finder_metadata
from ikdav.dav.sidecar import MAX_SIDECAR_BYTES


class _Collector(io.BytesIO):
    """Collects a side file's body; stops keeping bytes past the size limit."""

    def __init__(self) -> None:
        super().__init__()
        self.overflow = False

    def write(self, data: Any) -> int:
        if self.overflow or self.tell() + len(data) > MAX_SIDECAR_BYTES:
            self.overflow = True
            return len(data)
        return super().write(data)

    def close(self) -> None:
        """Kept open until ``end_write`` has read it."""


class SidecarFile(ScopedResource, DAVNonCollection):
    """``._name`` or ``.DS_Store``: accepted, readable back for a while, never sent to Infomaniak."""

    def __init__(self, path: str, environ: dict[str, Any]) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self._body: _Collector | None = None

    @classmethod
    def existing(cls, path: str, environ: dict[str, Any]) -> SidecarFile | None:
        resource = cls(path, environ)
        return resource if resource.stored() is not None else None

    def stored(self) -> Any:
        return self.session.sidecar.get(self.path)

    def get_content_length(self) -> int:
        item = self.stored()
        return item.size if item else 0

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def get_last_modified(self) -> float | None:
        item = self.stored()
        return item.modified if item else None

    def get_etag(self) -> str | None:
        item = self.stored()
        return f"sidecar-{int(item.modified * 1000)}-{item.size}" if item else None

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> io.BytesIO:
        item = self.stored()
        return io.BytesIO(item.data if item else b"")

    def begin_write(self, *, content_type: str | None = None) -> _Collector:
        self._body = _Collector()
        return self._body

    def end_write(self, *, with_errors: bool) -> None:
        body, self._body = self._body, None
        if body is None or with_errors:
            return
        self.session.sidecar.put(self.path, b"" if body.overflow else body.getvalue())

    def delete(self) -> None:
        self.session.sidecar.remove(self.path)
        self.forget_dead_state(recursive=False)

    def handle_delete(self) -> bool:
        self.delete()
        return True

    def handle_move(self, dest_path: str) -> bool | list[tuple[str, DavFailure]]:
        return self._transfer(dest_path, move=True)

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool | list[tuple[str, DavFailure]]:
        return self._transfer(dest_path, move=False)

    def _transfer(self, dest_path: str, *, move: bool) -> bool | list[tuple[str, DavFailure]]:
        if not is_finder_metadata(util.get_uri_name(dest_path)):
            raise DavFailure(403, "Finder metadata files can only be renamed to Finder metadata names.")
        store = self.session.sidecar
        existed = store.get(dest_path) is not None
        item = store.get(self.path)
        if item is not None:
            store.put(dest_path, item.data)
            if move:
                store.remove(self.path)
        return True if existed else [(self.get_href(), Created())]

    def set_last_modified(self, dest_path: str, time_stamp: Any, *, dry_run: bool) -> bool:
        return True
