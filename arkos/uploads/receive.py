"""Receiving files: stream each part through the limits and the content check into storage, all or nothing.

Shared by the `/api/uploads` routes and by `uploads=` on ArkosRouter routes. A request either stores every
file it carries or none: on any failure (limit, content, malformed body, client abort, cancellation) the
files already stored for it are deleted and the error propagates.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import IO

import anyio
import anyio.to_thread
from starlette.requests import Request

from arkos.errors import ArkosError, ErrorCode
from arkos.uploads.images import ImageOptions, process_image
from arkos.uploads.kinds import FileKind, extension_of, mime_type
from arkos.uploads.multipart import MultipartReader, is_urlencoded, multipart_boundary, read_urlencoded
from arkos.uploads.sniff import SNIFF_BYTES, matches
from arkos.uploads.storage import Storage

MAX_FORM_FIELDS = 100
MAX_FIELD_BYTES = 64 * 1024
_SPOOL_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileRule:
    """What one form field accepts."""

    kind: FileKind
    max_size_bytes: int
    max_count: int
    extensions: frozenset[str]

    @classmethod
    def of(cls, kind: FileKind) -> FileRule:
        return cls(kind, kind.max_size_bytes, kind.max_count, kind.extensions)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A stored file. `original_name` is the client's and only for display; `name` is generated."""

    field: str
    file_type: str
    key: str
    name: str
    extension: str
    size: int
    content_type: str
    original_name: str
    url_path: str
    url: str


@dataclass(slots=True)
class Received:
    files: list[UploadedFile] = field(default_factory=list)
    form: dict[str, str | list[str]] = field(default_factory=dict)

    def add_field(self, name: str, value: str) -> None:
        current = self.form.get(name)
        if current is None:
            self.form[name] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            self.form[name] = [current, value]


async def delete_files(storage: Storage, files: list[UploadedFile]) -> None:
    """Delete stored files even while the task is being cancelled (a client abort must leave nothing)."""
    with anyio.CancelScope(shield=True):
        for item in files:
            await storage.delete(item.key)


async def _guarded(
    chunks: AsyncIterable[bytes], extension: str, limit: int, filename: str
) -> AsyncIterator[bytes]:
    """Pass chunks through, failing past `limit` bytes or when the first bytes do not match `extension`."""
    head = bytearray()
    size = 0
    sniffed = False
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ArkosError(
                ErrorCode.FILE_TOO_LARGE,
                f"File too large: the limit is {limit} bytes",
                meta={"filename": filename, "maxSizeBytes": limit},
            )
        if sniffed:
            yield chunk
            continue
        head += chunk
        if len(head) >= SNIFF_BYTES:
            _sniff(extension, bytes(head[:SNIFF_BYTES]), filename)
            sniffed = True
            yield bytes(head)
            head = bytearray()
    if not sniffed:
        _sniff(extension, bytes(head), filename)
        if head:
            yield bytes(head)


def _sniff(extension: str, head: bytes, filename: str) -> None:
    if not matches(extension, head):
        raise ArkosError(
            ErrorCode.FILE_CONTENT_MISMATCH,
            f"The content of {filename!r} is not a .{extension} file",
            meta={"filename": filename, "extension": extension},
        )


async def _read_small(reader: MultipartReader, name: str) -> str:
    value = bytearray()
    async for chunk in reader.chunks():
        value += chunk
        if len(value) > MAX_FIELD_BYTES:
            raise ArkosError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"Form field {name!r} is larger than {MAX_FIELD_BYTES} bytes",
                meta={"field": name},
            )
    return value.decode("utf-8", errors="replace")


async def _file_chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    file.seek(0)
    while chunk := await anyio.to_thread.run_sync(file.read, _SPOOL_BYTES):
        yield chunk


class Receiver:
    """One request's intake: `await Receiver(...).receive(request)` → Received (or an ArkosError)."""

    def __init__(
        self,
        storage: Storage,
        rules: Mapping[str, FileRule],
        *,
        base_route: str,
        image_options: ImageOptions | None = None,
        max_image_pixels: int = 0,
    ) -> None:
        self.storage = storage
        self.rules = rules
        self.base_route = base_route
        self.image_options = image_options
        self.max_image_pixels = max_image_pixels
        self.counts: dict[str, int] = {}

    async def receive(self, request: Request) -> Received:
        boundary = multipart_boundary(request)
        received = Received()
        if boundary is None:
            if is_urlencoded(request):  # a form without files, for a route whose files are optional
                pairs = await read_urlencoded(request, MAX_FORM_FIELDS * MAX_FIELD_BYTES)
                if len(pairs) > MAX_FORM_FIELDS:
                    raise ArkosError(
                        ErrorCode.INVALID_BODY, f"At most {MAX_FORM_FIELDS} form fields are accepted"
                    )
                for name, value in pairs:
                    received.add_field(name, value)
            return received
        try:
            reader = MultipartReader(request, boundary)
            fields = 0
            async for part in reader.parts():
                if part.filename:
                    received.files.append(await self._store(request, reader, part.name, part.filename))
                    continue
                fields += 1
                if fields > MAX_FORM_FIELDS:
                    raise ArkosError(
                        ErrorCode.INVALID_BODY, f"At most {MAX_FORM_FIELDS} form fields are accepted"
                    )
                value = await _read_small(reader, part.name)
                if part.filename is None:
                    received.add_field(part.name, value)
                # else an empty <input type=file>: browsers send filename="" and no data; ignored
        except BaseException:
            await delete_files(self.storage, received.files)
            raise
        return received

    def _rule(self, field_name: str) -> FileRule:
        rule = self.rules.get(field_name)
        if rule is None:
            raise ArkosError(
                ErrorCode.UNEXPECTED_FILE_FIELD,
                f"Unexpected file field {field_name!r}; files are "
                f"accepted on {', '.join(sorted(self.rules))}",
                meta={"field": field_name},
            )
        count = self.counts[field_name] = self.counts.get(field_name, 0) + 1
        if count > rule.max_count:
            raise ArkosError(
                ErrorCode.TOO_MANY_FILES,
                f"Too many files on field {field_name!r}: at most {rule.max_count}",
                meta={"field": field_name, "maxCount": rule.max_count},
            )
        return rule

    async def _store(
        self, request: Request, reader: MultipartReader, field_name: str, filename: str
    ) -> UploadedFile:
        rule = self._rule(field_name)
        extension = extension_of(filename)
        if extension not in rule.extensions:
            raise ArkosError(
                ErrorCode.FILE_TYPE_NOT_ALLOWED,
                f"File type not allowed, allowed files are {', '.join(sorted(rule.extensions))}",
                meta={"filename": filename},
            )
        chunks = _guarded(reader.chunks(), extension, rule.max_size_bytes, filename)
        if self.image_options is not None and rule.kind.name == "images":
            return await self._store_processed(request, rule, field_name, filename, extension, chunks)
        key = f"{rule.kind.directory}/{uuid.uuid4().hex}.{extension}"
        size = await self.storage.save(key, chunks)
        return self._describe(request, rule, field_name, filename, key, extension, size)

    async def _store_processed(
        self,
        request: Request,
        rule: FileRule,
        field_name: str,
        filename: str,
        extension: str,
        chunks: AsyncIterator[bytes],
    ) -> UploadedFile:
        assert self.image_options is not None
        # Spooled temp files are anonymous (unlinked at once): nothing is visible in the upload directory.
        with (
            tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as source,
            tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as target,
        ):
            async for chunk in chunks:
                await anyio.to_thread.run_sync(source.write, chunk)
            source.seek(0)
            new_extension = await anyio.to_thread.run_sync(
                lambda: process_image(
                    source,
                    target,
                    extension,
                    self.image_options,  # type: ignore[arg-type]
                    max_pixels=self.max_image_pixels,
                )
            )
            key = f"{rule.kind.directory}/{uuid.uuid4().hex}.{new_extension}"
            size = await self.storage.save(key, _file_chunks(target))
        return self._describe(request, rule, field_name, filename, key, new_extension, size)

    def _describe(
        self,
        request: Request,
        rule: FileRule,
        field_name: str,
        filename: str,
        key: str,
        extension: str,
        size: int,
    ) -> UploadedFile:
        name = key.rsplit("/", 1)[1]
        url_path = f"{self.base_route}/{rule.kind.name}/{name}"
        url = self.storage.url(key) or f"{str(request.base_url).rstrip('/')}{url_path}"
        return UploadedFile(
            field=field_name,
            file_type=rule.kind.name,
            key=key,
            name=name,
            extension=extension,
            size=size,
            content_type=mime_type(extension),
            original_name=filename,
            url_path=url_path,
            url=url,
        )

