"""ikdav: Infomaniak kDrive and Mail as one WebDAV share."""

__version__ = "0.1.0"
