"""The `file_upload.base_route` routes: find, upload, update and delete files (reference §7, DECISIONS 9, 11).

Each is a CompiledRoute, so authentication and authorization run before the body is touched; the
handler streams it afterwards. Deny by default: View/Create/Update/Delete on `file-upload` need a rule
(from `modules/file_upload/policy.py` or the route hook), else only super users pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from arkos.context import RequestContext
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.interceptors import Interceptors, load_interceptors
from arkos.routing.options import Requirement, RouteOptions, merge_options
from arkos.routing.pipeline import CompiledRoute
from arkos.uploads.images import ImageOptions, parse_image_options
from arkos.uploads.kinds import FILE_TYPES, FileKind
from arkos.uploads.multipart import multipart_boundary
from arkos.uploads.receive import MAX_FIELD_BYTES, MAX_FORM_FIELDS, FileRule, UploadedFile, delete_files
from arkos.uploads.serve import file_response
from arkos.uploads.storage import is_valid_key

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.discovery import ProjectModule
    from arkos.uploads.service import UploadService

logger = logging.getLogger("arkos")

UPLOAD_RESOURCE = "file-upload"
_STORED = "arkos_stored_files"


@dataclass(frozen=True, slots=True)
class UploadOperation:
    name: str
    method: str
    suffix: str
    action: str


UPLOAD_OPERATIONS = (
    UploadOperation("find_file", "GET", "/{file_type}/{file_name}", "View"),
    UploadOperation("upload_file", "POST", "/{file_type}", "Create"),
    UploadOperation("update_file", "PATCH", "/{file_type}/{file_name}", "Update"),
    UploadOperation("delete_file", "DELETE", "/{file_type}/{file_name}", "Delete"),
)
UPLOAD_OPERATION_NAMES = tuple(op.name for op in UPLOAD_OPERATIONS)
_IMAGE_PARAMETERS = ("width", "height", "format")


@dataclass(frozen=True, slots=True)
class Target:
    """What the validate stage found in the path and query; the handler acts on it."""

    kind: FileKind
    key: str | None = None
    image_options: ImageOptions | None = None


class UploadRoutes:
    def __init__(self, service: UploadService) -> None:
        self.service = service

    # -- validate (after authorization, before the body) -----------------------------------------------

    async def validate(self, ctx: RequestContext) -> None:
        params = ctx.request.path_params
        file_type = str(params["file_type"])
        kind = self.service.kinds.get(file_type)
        if kind is None:
            raise ArkosError(
                ErrorCode.INVALID_FILE_TYPE,
                f"Invalid file type {file_type!r}: use {', '.join(FILE_TYPES)}",
                meta={"fileType": file_type},
            )
        key = None
        if "file_name" in params:
            key = self.service.key(file_type, str(params["file_name"]))
            if not is_valid_key(key) or (
                ctx.operation == "update_file" and not await self.service.storage.exists(key)
            ):
                raise _not_found(file_type, str(params["file_name"]))
        image_options = None
        if ctx.operation in ("upload_file", "update_file"):
            self._check_body(ctx.request, kind, ctx.operation)
            image_options = self._image_options(ctx.request, kind)
        ctx.additional["upload_target"] = Target(kind, key, image_options)

    def _check_body(self, request: Request, kind: FileKind, operation: str) -> None:
        if multipart_boundary(request) is None:
            raise _missing(kind, operation)
        declared = request.headers.get("content-length", "")
        ceiling = kind.max_count * (kind.max_size_bytes + MAX_FIELD_BYTES) + MAX_FORM_FIELDS * MAX_FIELD_BYTES
        if declared.isascii() and declared.isdigit() and int(declared) > ceiling:  # refused before a byte is read
            raise ArkosError(
                ErrorCode.FILE_TOO_LARGE,
                f"File too large: the limit is {kind.max_size_bytes} bytes "
                f"for each of at most {kind.max_count} files",
                meta={"maxSizeBytes": kind.max_size_bytes},
            )

    def _image_options(self, request: Request, kind: FileKind) -> ImageOptions | None:
        query = request.query_params
        if kind.name != "images":
            given = [name for name in _IMAGE_PARAMETERS if name in query]
            if given:
                raise ArkosError(
                    ErrorCode.INVALID_QUERY,
                    f"{given[0]} applies to images only",
                    meta={"parameter": given[0]},
                )
            return None
        return parse_image_options(query, max_dimension=self.service.config.max_image_dimension)

    # -- handlers --------------------------------------------------------------------------------------

    async def find_file(self, ctx: RequestContext) -> None:
        target: Target = ctx.additional["upload_target"]
        assert target.key is not None
        stored = await self.service.storage.open(target.key)
        if stored is None:
            raise _not_found(target.kind.name, target.key.rsplit("/", 1)[1])
        ctx.additional["file"] = stored
        # a file behind a token must not sit in shared caches; a public route's file may
        ctx.data = file_response(stored, is_private=ctx.user is not None, headers=ctx.headers)

    async def upload_file(self, ctx: RequestContext) -> None:
        files = await self._receive(ctx)
        ctx.data = {
            "success": True,
            "data": [f.url for f in files],
            "message": f"{len(files)} files uploaded successfully",
        }

    async def update_file(self, ctx: RequestContext) -> None:
        files = await self._receive(ctx)
        old_key = ctx.additional["upload_target"].key
        ctx.on_commit(lambda: self._delete_replaced(old_key))  # only once everything else succeeded
        ctx.data = {
            "success": True,
            "data": [f.url for f in files],
            "message": f"File updated successfully. {len(files)} new files uploaded",
        }

    async def delete_file(self, ctx: RequestContext) -> None:
        target: Target = ctx.additional["upload_target"]
        assert target.key is not None
        if not await self.service.storage.delete(target.key):
            raise _not_found(target.kind.name, target.key.rsplit("/", 1)[1])
        ctx.status = 204

    async def _receive(self, ctx: RequestContext) -> list[UploadedFile]:
        target: Target = ctx.additional["upload_target"]
        receiver = self.service.receiver(
            {target.kind.name: FileRule.of(target.kind)}, image_options=target.image_options
        )
        received = await receiver.receive(ctx.request)
        ctx.additional[_STORED] = received.files
        if not received.files:
            raise _missing(target.kind, ctx.operation)
        ctx.additional["uploads"] = received.files
        ctx.body = received.form
        return received.files

    async def _delete_replaced(self, key: str) -> None:
        try:
            await self.service.storage.delete(key)
        except Exception:  # the new file is in place; a stale old file is only worth a log line (reference)
            logger.warning("Could not delete the replaced upload %s", key, exc_info=True)

    async def discard_stored(self, ctx: RequestContext) -> None:
        """First error interceptor: a request that fails after storing files leaves none behind."""
        files = ctx.additional.pop(_STORED, None)
        if files:
            await delete_files(self.service.storage, files)


def _not_found(file_type: str, name: str) -> ArkosError:
    path = f"{file_type}/{name}"
    return ArkosError(ErrorCode.FILE_NOT_FOUND, f"File {path} was not found", meta={"filepath": path})


def _missing(kind: FileKind, operation: str) -> ArkosError:
    if operation == "update_file":
        return ArkosError(
            ErrorCode.MISSING_NEW_FILE,
            f"No new file was attached on field {kind.name} to replace the old one",
            meta={"field": kind.name},
        )
    return ArkosError(
        ErrorCode.NO_FILE_ATTACHED,
        f"No file or files were attached on field {kind.name} on the request body as form data.",
        meta={"field": kind.name},
    )


def default_requirement(runtime: Runtime, module: ProjectModule | None, action: str) -> Requirement | None:
    """Deny by default: the module's policy, else its (deprecated) auth.py, else super users only."""
    if not runtime.config.authentication.is_active:
        return None
    from arkos.auth.auth_config import legacy_requirement
    from arkos.auth.policy import module_policies

    for policy in module_policies(module):
        if policy.resource == UPLOAD_RESOURCE and action in policy.rules:
            return policy.requirement(action)
    legacy = legacy_requirement(module, UPLOAD_RESOURCE, action)
    if legacy is not False:
        return legacy  # type: ignore[return-value]
    return Requirement(resource=UPLOAD_RESOURCE, action=action)


def build_upload_routes(
    runtime: Runtime,
    module: ProjectModule | None,
    hook: Mapping[str, Any],
    *,
    limit_of: Callable[[RouteOptions, str], Any],
) -> list[tuple[str, str, CompiledRoute]]:
    """(path, method, route) for each enabled operation; `limit_of` reads a hook's `rate_limit`."""
    routes = UploadRoutes(runtime.uploads)
    base = runtime.config.file_upload.base_route
    result = []
    for op in UPLOAD_OPERATIONS:
        options = merge_options(
            RouteOptions(authentication=default_requirement(runtime, module, op.action)),
            hook.get(op.name),
            where=f"file_upload.{op.name}",
            resource=UPLOAD_RESOURCE,
            action=op.action,
        )
        if options.disabled:
            continue
        found = load_interceptors(
            module.interceptors if module else None, op.name, "modules/file_upload/interceptors.py"
        )
        interceptors = Interceptors(found.before, found.after, (routes.discard_stored, *found.on_error))
        route = CompiledRoute(
            operation=op.name,
            options=options,
            handler=getattr(routes, op.name),
            validate=routes.validate,
            interceptors=interceptors,
            rate_limit=limit_of(options, f"{UPLOAD_RESOURCE}.{op.name}"),
        )
        result.append((f"{base}{op.suffix}", op.method, route))
    return result
