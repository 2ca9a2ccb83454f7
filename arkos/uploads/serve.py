"""Serving a stored file: a safe Content-Type, inline only for the safe list, always `nosniff`."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import FileResponse, Response, StreamingResponse

from arkos.uploads.kinds import is_inline, mime_type
from arkos.uploads.storage import StoredFile

ONE_YEAR_SECONDS = 31_536_000


def file_response(
    stored: StoredFile, *, is_private: bool, headers: Mapping[str, str] | None = None
) -> Response:
    """The file with headers that keep a browser from running it on the API's origin.

    Stored names are generated and immutable, so they cache for a year (`private` when the route needs a
    token). Anything off the inline list (svg, html, xml, office files, archives ...) is an attachment
    under a sandboxing CSP.
    """
    name = stored.key.rsplit("/", 1)[1]
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    inline = is_inline(extension)
    headers = {
        **(headers or {}),  # the pipeline's own (rate-limit) headers
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": f"{'private' if is_private else 'public'}, max-age={ONE_YEAR_SECONDS}",
    }
    if not inline or extension == "txt":
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    disposition = "inline" if inline else "attachment"
    media_type = mime_type(extension)
    if stored.path is not None:
        return FileResponse(
            stored.path,
            media_type=media_type,
            filename=name,
            headers=headers,
            content_disposition_type=disposition,
        )
    assert stored.chunks is not None
    headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks(), media_type=media_type, headers=headers)
