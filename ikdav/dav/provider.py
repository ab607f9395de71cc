"""The WsgiDAV provider of the share: maps a request path to a resource of the caller's account.

Resolution walks the tree from the account's root, one ``get_member`` per segment; each level
answers from the account's cache when it can, so resolving a deep path costs no API call once
its folders have been listed. Every segment is validated first (:func:`split_path`): ``..``,
NUL, control characters, invalid UTF-8 and over-long names never reach a lower layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from wsgidav.dav_provider import DAVProvider, _DAVResource

from ikdav.dav.base import account_of
from ikdav.dav.errors import DavFailure
from ikdav.dav.names import InvalidName, split_path
from ikdav.dav.virtual import RootCollection

if TYPE_CHECKING:
    from ikdav.services import Services


class IkdavProvider(DAVProvider):
    """One provider for every account; the authenticated account picks the data (MUST)."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def is_readonly(self) -> bool:
        return False

    def ref_url_to_path(self, ref_url: str) -> str:
        """Invert :meth:`ScopedResource.get_ref_url`: drop the leading account segment."""
        rest = ref_url.lstrip("/").partition("/")[2]
        return "/" + unquote(rest)

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> _DAVResource | None:
        account_id = account_of(environ)
        environ["ikdav.services"] = self.services
        environ["ikdav.session"] = self.services.sessions.get(account_id)
        try:
            segments = split_path(path)
        except InvalidName as exc:
            raise DavFailure(400, f"Invalid path: {exc}.") from exc
        resource: _DAVResource | None = RootCollection("/", environ)
        for segment in segments:
            if resource is None or not resource.is_collection:
                return None
            resource = resource.get_member(segment)
        return resource
