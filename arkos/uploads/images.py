"""Optional image resizing and conversion (`?width=&height=&format=`) with Pillow, bounded against bombs.

Pillow is imported only when a request asks for processing; without it such a request gets a clear 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from arkos.errors import ArkosError, ErrorCode

FORMATS = {"webp": ("WEBP", "webp"), "jpeg": ("JPEG", "jpg"), "jpg": ("JPEG", "jpg"), "png": ("PNG", "png")}
_SAVE_FORMATS = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tif": "TIFF",
    "tiff": "TIFF",
}


@dataclass(frozen=True, slots=True)
class ImageOptions:
    width: int | None = None
    height: int | None = None
    format: str | None = None  # a key of FORMATS


def _dimension(query: Mapping[str, str], name: str, maximum: int) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:  # int() refuses "²"
        raise ArkosError(
            ErrorCode.INVALID_QUERY,
            f"{name} must be a whole number from 1 to {maximum}",
            meta={"parameter": name},
        )
    return int(raw)


def parse_image_options(query: Mapping[str, str], *, max_dimension: int) -> ImageOptions | None:
    """`?width`, `?height` and `?format` → ImageOptions, or None when none is given (400 on bad values)."""
    width = _dimension(query, "width", max_dimension)
    height = _dimension(query, "height", max_dimension)
    fmt = (query.get("format") or "").lower() or None
    if fmt is not None and fmt not in FORMATS:
        raise ArkosError(
            ErrorCode.INVALID_QUERY, "format must be webp, jpeg or png", meta={"parameter": "format"}
        )
    if width is None and height is None and fmt is None:
        return None
    require_pillow()
    return ImageOptions(width, height, fmt)


def require_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ArkosError(ErrorCode.IMAGE_PROCESSING_UNAVAILABLE) from None
    return Image


def process_image(
    source: IO[bytes], target: IO[bytes], extension: str, options: ImageOptions, *, max_pixels: int
) -> str:
    """Resize (keeping the aspect ratio, to fit the box) and/or convert; return the new extension.

    Runs in a worker thread. The pixel count is checked from the header, before any pixel is decoded.
    """
    Image = require_pillow()
    from PIL import ImageOps, UnidentifiedImageError

    try:
        image = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ArkosError(ErrorCode.IMAGE_TOO_LARGE) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ArkosError(ErrorCode.INVALID_IMAGE) from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ArkosError(
                ErrorCode.IMAGE_TOO_LARGE, meta={"pixels": width * height, "maxPixels": max_pixels}
            )
        save_format, new_extension = FORMATS.get(
            options.format or "", (_SAVE_FORMATS.get(extension), extension)
        )
        if save_format is None:
            raise ArkosError(
                ErrorCode.INVALID_QUERY,
                f"{extension} images can only be converted: add ?format=webp",
                meta={"parameter": "format"},
            )
        try:
            result = ImageOps.exif_transpose(image)
            if options.width or options.height:
                box = (
                    options.width or round(width * options.height / height),  # type: ignore[operator]
                    options.height or round(height * options.width / width),
                )  # type: ignore[operator]
                result = ImageOps.contain(result, (max(box[0], 1), max(box[1], 1)))
            if save_format == "JPEG" and result.mode not in ("RGB", "L"):
                result = result.convert("RGB")
            result.save(target, format=save_format)
        except (OSError, ValueError, SyntaxError):
            raise ArkosError(ErrorCode.INVALID_IMAGE) from None
    return new_extension
