"""Assembly of the WebDAV share: WsgiDAV configured with ikdav's provider, auth and middleware."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from wsgidav.dir_browser import WsgiDavDirBrowser
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.lock_man.lock_storage import LockStorageShelve
from wsgidav.prop_man.property_manager import ShelvePropertyManager
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from ikdav.dav.auth import ENVIRON_SERVICES, AppPasswordDomainController
from ikdav.dav.errors import DavFailure
from ikdav.dav.middleware import LoginThrottle, PlainErrors, RequestGuard
from ikdav.dav.provider import IkdavProvider

if TYPE_CHECKING:
    from ikdav.services import Services

BLOCK_SIZE = 1 << 20  # GET and PUT move data in 1 MiB blocks
PROPERTIES_FILE = "properties.shelve"


def wsgidav_config(services: Services) -> dict[str, Any]:
    config = services.config
    return {
        "provider_mapping": {"/": IkdavProvider(services)},
        "mount_path": config.dav.mount_path.rstrip("/"),
        "http_authenticator": {
            "domain_controller": AppPasswordDomainController,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
            "trusted_auth_header": None,
        },
        "lock_storage": LockStorageShelve(str(config.lock_storage_path)),
        "property_manager": ShelvePropertyManager(str(config.data_path / PROPERTIES_FILE)),
        "mutable_live_props": ["{DAV:}getlastmodified"],
        # Path decoding is done (and checked) by PlainErrors, so WsgiDAV's own is off.
        "hotfixes": {"emulate_win32_lastmod": True, "re_encode_path_info": False, "unquote_path_info": False},
        "honor_mtime_header": True,
        "add_header_MS_Author_Via": True,
        "block_size": BLOCK_SIZE,
        "middleware_stack": [PlainErrors, LoginThrottle, HTTPAuthenticator, RequestGuard, WsgiDavDirBrowser,
                             RequestResolver],
        "dir_browser": {"enable": True, "response_trailer": "ikdav", "davmount": True,
                        "ms_sharepoint_support": False, "libre_office_support": False},
        "suppress_version_info": True,
        "verbose": 1,
        "logging": {"enable": False},
        ENVIRON_SERVICES: services,
    }


class ExpectedFailures(logging.Filter):
    """Drop WsgiDAV's tracebacks for PUTs that failed for a reason already answered in plain words.

    WsgiDAV logs every failed PUT body copy with a traceback at ERROR level; when the cause is an
    upstream refusal or a client that went away (a :class:`DavFailure`), the access log and the
    response already say what happened.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (record.getMessage().startswith("PUT: byte copy failed") and isinstance(error, DavFailure))


def build_dav_app(services: Services) -> WsgiDAVApp:
    request_log = logging.getLogger("wsgidav.request_server")
    if not any(isinstance(f, ExpectedFailures) for f in request_log.filters):
        request_log.addFilter(ExpectedFailures())
    return WsgiDAVApp(wsgidav_config(services))
