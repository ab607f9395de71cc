"""MIME types and kDrive ``extension_type`` categories from file names.

A fixed table first, so replies do not depend on the host's ``/etc/mime.types``; the standard
library's guess only fills the gaps.
"""

from __future__ import annotations

import mimetypes

OCTET_STREAM = "application/octet-stream"

_MIME_BY_EXTENSION: dict[str, str] = {
    "txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "html": "text/html",
    "htm": "text/html", "css": "text/css", "js": "text/javascript", "json": "application/json",
    "xml": "application/xml", "py": "text/x-python", "sh": "application/x-sh",
    "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip",
    "tar": "application/x-tar", "7z": "application/x-7z-compressed",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "svg": "image/svg+xml", "heic": "image/heic",
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "ogg": "audio/ogg",
    "mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska",
    "eml": "message/rfc822", "ics": "text/calendar", "vcf": "text/vcard",
}

_CATEGORY_BY_EXTENSION: dict[str, str] = {
    "pdf": "pdf", "zip": "archive", "gz": "archive", "tar": "archive", "7z": "archive",
    "doc": "text", "docx": "text", "odt": "text", "txt": "text", "md": "text",
    "xls": "spreadsheet", "xlsx": "spreadsheet", "ods": "spreadsheet", "csv": "spreadsheet",
    "ppt": "presentation", "pptx": "presentation",
    "py": "code", "js": "code", "css": "code", "html": "code", "json": "code", "xml": "code",
    "sh": "code", "eml": "text", "ics": "text", "vcf": "text",
}


def extension_of(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def mime_type_for(name: str) -> str:
    ext = extension_of(name)
    known = _MIME_BY_EXTENSION.get(ext)
    if known:
        return known
    guessed, _ = mimetypes.guess_type("x." + ext) if ext else (None, None)
    return guessed or OCTET_STREAM


def extension_type_for(name: str, mime_type: str) -> str:
    ext = extension_of(name)
    if ext in _CATEGORY_BY_EXTENSION:
        return _CATEGORY_BY_EXTENSION[ext]
    major = mime_type.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    if major == "text":
        return "text"
    return "unknown"
