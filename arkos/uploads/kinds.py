"""The four file types (images, videos, documents, files): safe defaults, MIME types, what is inline."""

from __future__ import annotations

from dataclasses import dataclass

from arkos.config import FileUploadConfig, UploadRestriction

MIB = 1024 * 1024
FILE_TYPES = ("images", "videos", "documents", "files")

# Anchored allow-lists: an extension is accepted only if it is one of these exact strings (DECISIONS 11).
# No svg, html, xhtml or xml anywhere: they run script when opened from the API's origin.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "webp", "avif", "bmp", "ico", "tif", "tiff", "heic", "heif")
VIDEO_EXTENSIONS = ("mp4", "m4v", "mov", "webm", "mkv", "avi", "mpeg", "mpg", "ogv", "3gp", "wmv", "flv")
DOCUMENT_EXTENSIONS = (
    "pdf",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "odp",
    "rtf",
    "txt",
    "csv",
    "md",
    "json",
)
AUDIO_EXTENSIONS = ("mp3", "wav", "ogg", "oga", "opus", "flac", "aac", "m4a", "weba")
ARCHIVE_EXTENSIONS = ("zip", "gz", "tgz", "tar", "7z", "bz2", "xz")
FILE_EXTENSIONS = (
    IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + DOCUMENT_EXTENSIONS + AUDIO_EXTENSIONS + ARCHIVE_EXTENSIONS
)

# Reference defaults for sizes and counts (§7.2).
_DEFAULTS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "images": (15 * MIB, 30, IMAGE_EXTENSIONS),
    "videos": (5096 * MIB, 10, VIDEO_EXTENSIONS),
    "documents": (50 * MIB, 30, DOCUMENT_EXTENSIONS),
    "files": (5096 * MIB, 10, FILE_EXTENSIONS),
}

MIME_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "svg": "image/svg+xml",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "ogv": "video/ogg",
    "3gp": "video/3gpp",
    "wmv": "video/x-ms-wmv",
    "flv": "video/x-flv",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "rtf": "application/rtf",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "weba": "audio/webm",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
    "tar": "application/x-tar",
    "7z": "application/x-7z-compressed",
    "bz2": "application/x-bzip2",
    "xz": "application/x-xz",
}

# Served inline; everything else (svg, html, xml, office files, archives, unknown) leaves as an attachment.
INLINE_EXTENSIONS = frozenset(
    {
        "jpg",
        "jpeg",
        "png",
        "gif",
        "webp",
        "avif",
        "bmp",
        "ico",
        "mp4",
        "m4v",
        "webm",
        "ogv",
        "mov",
        "mp3",
        "wav",
        "ogg",
        "oga",
        "opus",
        "flac",
        "aac",
        "m4a",
        "weba",
        "pdf",
        "txt",
    }
)


@dataclass(frozen=True, slots=True)
class FileKind:
    """One file type with its limits resolved: where its files live and what it accepts."""

    name: str
    directory: str
    max_size_bytes: int
    max_count: int
    extensions: frozenset[str]


def resolve_kind(name: str, restriction: UploadRestriction) -> FileKind:
    size, count, extensions = _DEFAULTS[name]
    return FileKind(
        name=name,
        directory=restriction.directory or name,
        max_size_bytes=restriction.max_size_bytes or size,
        max_count=restriction.max_count or count,
        extensions=frozenset(restriction.allowed_extensions or extensions),
    )


def resolve_kinds(config: FileUploadConfig) -> dict[str, FileKind]:
    return {name: resolve_kind(name, getattr(config.restrictions, name)) for name in FILE_TYPES}


def mime_type(extension: str) -> str:
    return MIME_TYPES.get(extension, "application/octet-stream")


def is_inline(extension: str) -> bool:
    return extension in INLINE_EXTENSIONS


def extension_of(filename: str) -> str:
    """The lower-cased last extension of a client file name (any directory part is ignored), or ''."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem.strip(".") else ""
