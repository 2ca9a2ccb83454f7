"""`uploads=` on ArkosRouter routes: the same streaming intake, run as a dependency after the route's guard.

@router.post("/api/profile/avatar", authentication=True,
             uploads={"type": "single", "field": "avatar", "file_type": "images"})
async def set_avatar(uploads: UploadedFiles) -> dict:
    return {"avatar": uploads.body["avatar"]}   # "/api/uploads/images/<generated>.png"
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from arkos.config import ConfigError
from arkos.errors import ArkosError, ErrorCode
from arkos.uploads.kinds import FILE_TYPES
from arkos.uploads.receive import FileRule, Received, UploadedFile, delete_files

if TYPE_CHECKING:
    from arkos.uploads.service import UploadService

UPLOADS_STATE = "arkos_uploads"
_KEYS = frozenset(
    {
        "type",
        "field",
        "fields",
        "file_type",
        "max_size",
        "max_size_bytes",
        "max_count",
        "allowed_types",
        "required",
    }
)
_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")


@dataclass(frozen=True, slots=True)
class UploadSpec:
    """A route's upload declaration, checked at startup. A count of None means the file type's max_count."""

    type: str
    fields: tuple[tuple[str, int | None], ...]
    file_type: str = "files"
    max_size_bytes: int | None = None
    allowed_types: frozenset[str] | None = None
    is_required: bool = True

    def rules(self, service: UploadService) -> dict[str, FileRule]:
        kind = service.kinds[self.file_type]
        return {
            name: FileRule(
                kind,
                self.max_size_bytes or kind.max_size_bytes,
                count or kind.max_count,
                self.allowed_types or kind.extensions,
            )
            for name, count in self.fields
        }


def _positive(value: object, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: uploads.{key} must be a positive whole number; got {value!r}")
    return value


def _fields(options: Mapping[str, Any], kind: str, where: str) -> tuple[tuple[str, int | None], ...]:
    if kind == "fields":
        fields = options.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigError(f"{where}: uploads type 'fields' needs fields={{'avatar': 1, 'gallery': 5}}")
        return tuple((str(name), _positive(count, f"fields.{name}", where)) for name, count in fields.items())
    name = options.get("field")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: uploads type {kind!r} needs field='<form field name>'")
    if kind == "single":
        return ((name, 1),)
    count = options.get("max_count")
    return ((name, None if count is None else _positive(count, "max_count", where)),)


def _allowed(value: object, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ConfigError(
            f"{where}: uploads.allowed_types must be a list of extensions such as ['png', 'jpg']"
        )
    extensions = frozenset(str(ext).strip().lower().lstrip(".") for ext in value)
    bad = sorted(ext for ext in extensions if not _EXTENSION.match(ext))
    if bad or not extensions:
        raise ConfigError(
            f"{where}: uploads.allowed_types takes plain extensions (letters and digits); got {bad}"
        )
    return extensions


def parse_upload_spec(
    value: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None, where: str
) -> UploadSpec:
    """`uploads={...}` (over the router's `uploads` defaults) → UploadSpec; mistakes fail at startup."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: uploads must be a dict such as {{'type': 'single', 'field': 'avatar'}}")
    options = {**(defaults or {}), **value}
    unknown = set(options) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown uploads key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}"
        )
    kind = options.get("type", "single")
    if kind not in ("single", "array", "fields"):
        raise ConfigError(f"{where}: uploads.type must be 'single', 'array' or 'fields'; got {kind!r}")
    file_type = options.get("file_type", "files")
    if file_type not in FILE_TYPES:
        raise ConfigError(
            f"{where}: uploads.file_type must be one of {', '.join(FILE_TYPES)}; got {file_type!r}"
        )
    size = options.get("max_size_bytes", options.get("max_size"))
    return UploadSpec(
        type=kind,
        fields=_fields(options, kind, where),
        file_type=file_type,
        max_size_bytes=None if size is None else _positive(size, "max_size_bytes", where),
        allowed_types=_allowed(options.get("allowed_types"), where),
        is_required=bool(options.get("required", True)),
    )


@dataclass(slots=True)
class Uploads:
    """What a route with `uploads=` received: the stored files by field, the other form fields, and
    `body`: the form fields merged with each file's URL path (a string for single fields, else a list)."""

    files: dict[str, list[UploadedFile]] = field(default_factory=dict)
    form: dict[str, str | list[str]] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> UploadedFile | None:
        """The first stored file (handy for `single`)."""
        return next((f for files in self.files.values() for f in files), None)

    @classmethod
    def build(cls, spec: UploadSpec, received: Received) -> Uploads:
        files: dict[str, list[UploadedFile]] = {}
        for item in received.files:
            files.setdefault(item.field, []).append(item)
        body: dict[str, Any] = dict(received.form)
        for name, count in spec.fields:
            paths = [f.url_path for f in files.get(name, [])]
            if count == 1:
                if paths:
                    body[name] = paths[0]
            elif paths or name not in body:
                body[name] = paths
        return cls(files=files, form=received.form, body=body)


def upload_dependency(spec: UploadSpec) -> Callable[..., AsyncIterator[Uploads]]:
    """The dependency that streams the body; placed right after the route's guard (auth comes first)."""

    async def receive_uploads(request: Request) -> AsyncIterator[Uploads]:
        service: UploadService = request.app.state.arkos.uploads
        received = await service.receiver(spec.rules(service)).receive(request)
        if spec.is_required and not received.files:
            names = ", ".join(name for name, _ in spec.fields)
            raise ArkosError(
                ErrorCode.NO_FILE_ATTACHED,
                f"No file or files were attached on field {names} on the request body as form data.",
                meta={"field": names},
            )
        uploads = Uploads.build(spec, received)
        setattr(request.state, UPLOADS_STATE, uploads)
        try:
            yield uploads
        except (
            BaseException
        ):  # the endpoint failed: its files go too (reference deleteOnError, on by default)
            await delete_files(service.storage, received.files)
            raise

    return receive_uploads


def get_uploads(request: Request) -> Uploads:
    """FastAPI dependency: what this route's `uploads=` received."""
    uploads = getattr(request.state, UPLOADS_STATE, None)
    if uploads is None:
        raise RuntimeError("UploadedFiles is only available on ArkosRouter routes declared with uploads=...")
    return uploads


UploadedFiles = Annotated[Uploads, Depends(get_uploads)]


def require_streamable(endpoint: Callable[..., Any], path: str) -> None:
    """FastAPI would read Form/File/Body parameters before any dependency (so before authentication)."""
    from fastapi.dependencies.utils import get_dependant

    body: list[Any] = []
    pending = [get_dependant(path=path, call=endpoint)]
    while pending:  # the endpoint and its sub-dependencies (FastAPI's own flattening helper is private)
        dependant = pending.pop()
        body.extend(dependant.body_params)
        pending.extend(dependant.dependencies)
    if body:
        names = ", ".join(p.name for p in body)
        raise ConfigError(
            f"route {path}: uploads= streams the request body itself, after authentication; "
            f"remove the body parameter(s) {names} and read form fields from UploadedFiles.form"
        )


def openapi_body(spec: UploadSpec) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    properties = {
        name: binary if count == 1 else {"type": "array", "items": binary} for name, count in spec.fields
    }
    schema = {"type": "object", "properties": properties, "additionalProperties": {"type": "string"}}
    if spec.is_required:
        schema["required"] = [name for name, _ in spec.fields][:1] if spec.type != "fields" else []
    return {"required": spec.is_required, "content": {"multipart/form-data": {"schema": schema}}}


def with_uploads(
    path: str,
    endpoint: Callable[..., Any],
    uploads: Mapping[str, Any],
    defaults: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """ArkosRouter.add_api_route's keyword arguments with the upload dependency first (the guard, inserted
    afterwards in front of it, still runs before it) and the multipart body in OpenAPI."""
    spec = parse_upload_spec(uploads, defaults=defaults, where=f"route {path}")
    require_streamable(endpoint, path)
    dependencies: list[Any] = list(kwargs.pop("dependencies", None) or [])
    dependencies.insert(0, Depends(upload_dependency(spec)))
    openapi_extra = dict(kwargs.pop("openapi_extra", None) or {})
    openapi_extra.setdefault("requestBody", openapi_body(spec))
    return {**kwargs, "dependencies": dependencies, "openapi_extra": openapi_extra}
