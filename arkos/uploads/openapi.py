"""OpenAPI for the upload routes: path parameters, the multipart body and the response shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from arkos.uploads.kinds import FILE_TYPES

if TYPE_CHECKING:
    from arkos.app import Runtime

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ArkosError"}}}
_FILE_TYPE = {
    "name": "file_type",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": list(FILE_TYPES)},
}
_FILE_NAME = {"name": "file_name", "in": "path", "required": True, "schema": {"type": "string"}}
_IMAGE_QUERY = [
    {
        "name": "width",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1},
        "description": "images only",
    },
    {
        "name": "height",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1},
        "description": "images only",
    },
    {
        "name": "format",
        "in": "query",
        "schema": {"type": "string", "enum": ["webp", "jpeg", "png"]},
        "description": "images only",
    },
]
_URLS = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "data": {"type": "array", "items": {"type": "string", "format": "uri"}},
                "message": {"type": "string"},
            },
        }
    }
}
_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "description": "The files go in the field named after file_type",
                "properties": {
                    name: {"type": "array", "items": {"type": "string", "format": "binary"}}
                    for name in FILE_TYPES
                },
            }
        }
    },
}


def _describe(operation: dict[str, Any], name: str) -> None:
    operation["tags"] = ["file-upload"]
    responses = operation.setdefault("responses", {})
    responses.pop("200", None)
    if name == "find_file":
        operation["parameters"] = [_FILE_TYPE, _FILE_NAME]
        responses["200"] = {
            "description": "The file",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
        responses["404"] = {"description": "FileNotFound", "content": _ERROR}
    elif name == "delete_file":
        operation["parameters"] = [_FILE_TYPE, _FILE_NAME]
        responses["204"] = {"description": "Deleted"}
        responses["404"] = {"description": "FileNotFound", "content": _ERROR}
    else:
        operation["parameters"] = (
            [_FILE_TYPE] if name == "upload_file" else [_FILE_TYPE, _FILE_NAME]
        ) + _IMAGE_QUERY
        operation["requestBody"] = _BODY
        responses["200"] = {"description": "URLs of the stored files", "content": _URLS}
        responses["413"] = {"description": "FileTooLarge", "content": _ERROR}


def install_upload_openapi(app: FastAPI, runtime: Runtime) -> None:
    """Refine the generic entries `install_openapi` made from `runtime.routes` for the upload routes."""
    base = app.openapi
    names = ("find_file", "upload_file", "update_file", "delete_file")
    upload_routes = [
        (path, method, route.operation) for path, method, route in runtime.routes if route.operation in names
    ]

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = base()
        if fresh:
            for path, method, name in upload_routes:
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if operation is not None:
                    _describe(operation, name)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
