"""The Infomaniak client library: kDrive, Mail, profile and OAuth as typed Python calls.

No WebDAV here. The layers above use this surface only::

    from ikdav.infomaniak import Endpoints, InfomaniakClient, StaticTokenProvider

    with InfomaniakClient(Endpoints(), StaticTokenProvider(token)) as client:
        for drive in client.kdrive.drives():
            top = client.kdrive.top_folders(drive.id)
            for child in client.kdrive.list_dir(drive.id, top.private.id):
                ...

Errors are the classes of :mod:`ikdav.infomaniak.errors` (tree in its docstring).
"""

from ikdav.infomaniak.client import InfomaniakClient
from ikdav.infomaniak.download import DownloadStream
from ikdav.infomaniak.errors import (
    NO_KDRIVE_MESSAGE,
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    InfomaniakError,
    Invalid,
    InvalidCursor,
    InvalidGrant,
    LimitExceeded,
    Locked,
    Maintenance,
    NoAccess,
    NotFound,
    NoTrashFolder,
    OAuthError,
    QuotaExceeded,
    RangeNotSatisfiable,
    RateLimited,
    ReconnectRequired,
    Refused,
    ScopeMissing,
    StillUploading,
    Unauthorized,
    UnexpectedResponse,
    UploadFailed,
    UploadNotTerminated,
    UploadSessionGone,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ikdav.infomaniak.http import Body, ClientSettings, Endpoints, Envelope, Transport
from ikdav.infomaniak.kdrive import ROOT_ID, KDrive
from ikdav.infomaniak.mail import Mail, find_folder, long_uid
from ikdav.infomaniak.models import (
    Activities,
    Address,
    Cancellable,
    Changes,
    Drive,
    File,
    FileAction,
    FlagUpdate,
    Mailbox,
    MailFolder,
    Message,
    Profile,
    TokenSet,
    TopFolders,
    UidList,
    UploadSession,
    apply_changes,
)
from ikdav.infomaniak.oauth import DEFAULT_SCOPES, OAuthClient
from ikdav.infomaniak.profile import get_profile
from ikdav.infomaniak.tokens import MemoryTokenProvider, StaticTokenProvider, TokenProvider

__all__ = [
    "DEFAULT_SCOPES",
    "NO_KDRIVE_MESSAGE",
    "ROOT_ID",
    "Activities",
    "Address",
    "AlreadyExists",
    "ApiError",
    "Body",
    "Cancellable",
    "Changes",
    "ClientSettings",
    "Conflict",
    "DownloadStream",
    "Drive",
    "Endpoints",
    "Envelope",
    "File",
    "FileAction",
    "FlagUpdate",
    "Forbidden",
    "InfomaniakClient",
    "InfomaniakError",
    "Invalid",
    "InvalidCursor",
    "InvalidGrant",
    "KDrive",
    "LimitExceeded",
    "Locked",
    "Mail",
    "MailFolder",
    "Mailbox",
    "Maintenance",
    "MemoryTokenProvider",
    "Message",
    "NoAccess",
    "NoTrashFolder",
    "NotFound",
    "OAuthClient",
    "OAuthError",
    "Profile",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RateLimited",
    "ReconnectRequired",
    "Refused",
    "ScopeMissing",
    "StaticTokenProvider",
    "StillUploading",
    "TokenProvider",
    "TokenSet",
    "TopFolders",
    "Transport",
    "UidList",
    "Unauthorized",
    "UnexpectedResponse",
    "UploadFailed",
    "UploadNotTerminated",
    "UploadSession",
    "UploadSessionGone",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "apply_changes",
    "find_folder",
    "get_profile",
    "long_uid",
]
