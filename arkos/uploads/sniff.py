"""Content sniffing: do a file's first bytes match its extension? The client's Content-Type is never used."""

from __future__ import annotations

import codecs
from collections.abc import Callable

SNIFF_BYTES = 4096  # enough for every signature below (tar's is at offset 257)

Check = Callable[[bytes], bool]


def _starts(*prefixes: bytes) -> Check:
    return lambda head: head.startswith(prefixes)


def _riff(kind: bytes) -> Check:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == kind


def _iso_media(*brands: bytes) -> Check:
    """ISO base media (mp4, mov, heic, avif, m4a): a `ftyp` box first, optionally with given major brands."""

    def check(head: bytes) -> bool:
        if head[4:8] != b"ftyp":
            return False
        return not brands or head[8:12] in brands or any(b in head[16:64] for b in brands)

    return check


def _quicktime(head: bytes) -> bool:
    return _iso_media()(head) or head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _mp3(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


_EBML = _starts(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
_OLE = _starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # legacy Office
_ZIP = _starts(b"PK\x03\x04", b"PK\x05\x06")  # zip and the zip-based Office / OpenDocument formats
_OGG = _starts(b"OggS")
_JPEG = _starts(b"\xff\xd8\xff")
_TIFF = _starts(b"II*\x00", b"MM\x00*")
_HEIF = _iso_media(b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis")
_MPEG = _starts(b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
_GZIP = _starts(b"\x1f\x8b")

SIGNATURES: dict[str, Check] = {
    "jpg": _JPEG,
    "jpeg": _JPEG,
    "png": _starts(b"\x89PNG\r\n\x1a\n"),
    "gif": _starts(b"GIF87a", b"GIF89a"),
    "webp": _riff(b"WEBP"),
    "avif": _iso_media(b"avif", b"avis"),
    "bmp": _starts(b"BM"),
    "ico": _starts(b"\x00\x00\x01\x00"),
    "tif": _TIFF,
    "tiff": _TIFF,
    "heic": _HEIF,
    "heif": _HEIF,
    "mp4": _iso_media(),
    "m4v": _iso_media(),
    "3gp": _iso_media(),
    "mov": _quicktime,
    "webm": _EBML,
    "mkv": _EBML,
    "weba": _EBML,
    "avi": _riff(b"AVI "),
    "mpeg": _MPEG,
    "mpg": _MPEG,
    "ogv": _OGG,
    "ogg": _OGG,
    "oga": _OGG,
    "opus": _OGG,
    "wmv": _starts(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),
    "flv": _starts(b"FLV"),
    "pdf": _starts(b"%PDF-"),
    "doc": _OLE,
    "xls": _OLE,
    "ppt": _OLE,
    "docx": _ZIP,
    "xlsx": _ZIP,
    "pptx": _ZIP,
    "odt": _ZIP,
    "ods": _ZIP,
    "odp": _ZIP,
    "zip": _ZIP,
    "rtf": _starts(b"{\\rtf"),
    "mp3": _mp3,
    "wav": _riff(b"WAVE"),
    "flac": _starts(b"fLaC"),
    "aac": lambda head: len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0,
    "m4a": _iso_media(),
    "gz": _GZIP,
    "tgz": _GZIP,
    "tar": _tar,
    "7z": _starts(b"7z\xbc\xaf\x27\x1c"),
    "bz2": _starts(b"BZh"),
    "xz": _starts(b"\xfd7zXZ\x00"),
}

TEXT_EXTENSIONS = frozenset({"txt", "csv", "md", "json"})
_CONTROL = frozenset(range(0, 32)) - {9, 10, 12, 13}


def is_text(head: bytes) -> bool:
    """UTF-8 without NUL or control characters (a truncated last character is fine: `head` is a prefix)."""
    if any(byte in _CONTROL for byte in head):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def matches(extension: str, head: bytes) -> bool:
    """True when `head` (the first SNIFF_BYTES of the file) is plausible for `extension`.

    Extensions with no known signature (added by the project's own allow-list) are accepted as they are;
    they are served as attachments with `nosniff`, so a browser never runs them.
    """
    check = SIGNATURES.get(extension)
    if check is not None:
        return check(head)
    if extension in TEXT_EXTENSIONS:
        return is_text(head)
    return True
