"""A streaming multipart/form-data reader over `request.stream()`: one part at a time, bodies as chunks.

Nothing is buffered beyond the chunk the server just handed over, so memory stays flat however large the
file is; the body is read only when a caller asks for the next part (after authorization, STYLE P3).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from arkos.errors import ArkosError, ErrorCode


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None  # None: a plain form field; the client's name is only ever used for its extension
    content_type: str


def multipart_boundary(request: Request) -> bytes | None:
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    return boundary if kind == b"multipart/form-data" and boundary else None


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class MultipartReader:
    """`async for part in reader.parts()`, and `reader.chunks()` for the current part's data."""

    def __init__(self, request: Request, boundary: bytes) -> None:
        self._stream = request.stream().__aiter__()
        self._events: deque[tuple[str, object]] = deque()
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._eof = False
        self._in_part = False
        self._parser = python_multipart.MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_end": lambda: self._events.append(("finish", None)),
            },
        )

    # -- parser callbacks (synchronous: they only queue events) ---------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise ArkosError(
                ErrorCode.INVALID_BODY, 'Every multipart part needs a Content-Disposition "name"'
            )
        filename = options.get(b"filename")
        content_type = _decode(self._headers.get(b"content-type", b"application/octet-stream"))
        part = Part(_decode(options[b"name"]), None if filename is None else _decode(filename), content_type)
        self._events.append(("part", part))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end]))

    # -- reading ---------------------------------------------------------------------------------------

    async def _next_event(self) -> tuple[str, object]:
        while not self._events:
            if self._eof:
                raise ArkosError(ErrorCode.INVALID_BODY, "Invalid multipart data: the body ended early")
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._eof = True
                chunk = b""
            except ClientDisconnect:
                raise ArkosError(ErrorCode.UPLOAD_ABORTED) from None
            try:
                if chunk:
                    self._parser.write(chunk)
                elif self._eof:
                    self._parser.finalize()
            except FormParserError as exc:
                raise ArkosError(ErrorCode.INVALID_BODY, "Invalid multipart data") from exc
        return self._events.popleft()

    async def parts(self) -> AsyncIterator[Part]:
        """The parts in order; a part whose data the caller did not read is skipped over."""
        while True:
            if self._in_part:
                async for _ in self.chunks():
                    pass
            kind, value = await self._next_event()
            if kind == "finish":
                return
            if kind == "part":
                self._in_part = True
                assert isinstance(value, Part)
                yield value

    async def chunks(self) -> AsyncIterator[bytes]:
        """The current part's data, chunk by chunk, as it arrives."""
        while self._in_part:
            kind, value = await self._next_event()
            if kind == "data":
                assert isinstance(value, bytes)
                if value:
                    yield value
            elif kind == "end":
                self._in_part = False


def is_urlencoded(request: Request) -> bool:
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    return kind == b"application/x-www-form-urlencoded"


async def read_urlencoded(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    """A small url-encoded form (an upload route whose files are optional may get one), bounded."""
    from urllib.parse import parse_qsl

    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise ArkosError(ErrorCode.PAYLOAD_TOO_LARGE, f"The form is larger than {max_bytes} bytes")
    except ClientDisconnect:
        raise ArkosError(ErrorCode.UPLOAD_ABORTED) from None
    return parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
