"""OpenAPI for generated and auth routes (plain Starlette routes), merged into FastAPI's own schema."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from arkos.crud.fields import FieldInfo, ModelInfo

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.routing.pipeline import CompiledRoute

SECURITY_SCHEMES = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "CookieAuth": {"type": "apiKey", "in": "cookie", "name": "arkos_access_token"},
}
_SECURITY = [{"BearerAuth": []}, {"CookieAuth": []}]
_ERROR = {"$ref": "#/components/schemas/ArkosError"}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["fail", "error"]},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "meta": {"type": "object"},
    },
    "required": ["status", "code", "message", "meta"],
}
_LIST_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "sort", "in": "query", "schema": {"type": "string"}, "description": "e.g. -createdAt,title"},
    {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "e.g. id,title,+author,-content"},
    {"name": "search", "in": "query", "schema": {"type": "string"}},
    {"name": "filterMode", "in": "query", "schema": {"type": "string", "enum": ["AND", "OR"]}},
]


def field_schema(f: FieldInfo) -> dict[str, Any]:
    col_type = f.column.type
    schema: dict[str, Any]
    if isinstance(col_type, sa.Enum):
        schema = {"type": "string", "enum": list(col_type.enums)}
    else:
        try:
            python_type = col_type.python_type
        except NotImplementedError:
            python_type = None
        schema = {
            bool: {"type": "boolean"},
            int: {"type": "integer"},
            float: {"type": "number"},
            decimal.Decimal: {"type": "string", "format": "decimal"},
            dt.datetime: {"type": "string", "format": "date-time"},
            dt.date: {"type": "string", "format": "date"},
            uuid.UUID: {"type": "string", "format": "uuid"},
            str: {"type": "string"},
        }.get(python_type, {})  # type: ignore[arg-type]
        length = getattr(col_type, "length", None)
        if python_type is str and length:
            schema = {**schema, "maxLength": length}
    if f.column.nullable and schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _model_schemas(info: ModelInfo) -> dict[str, Any]:
    read = {"type": "object", "properties": {f.wire: field_schema(f) for f in info.visible}}
    writable = [f for f in info.fields.values()
                if (not f.is_sensitive or f.is_password) and not (f.is_primary_key and f.is_generated_pk)]
    create = {
        "type": "object",
        "properties": {f.wire: ({"type": "string", "format": "password"} if f.is_password else field_schema(f))
                       for f in writable},
        "required": [f.wire for f in writable if f.is_required],
    }
    update = {"type": "object", "properties": dict(create["properties"])}
    return {info.name: read, f"{info.name}Create": create, f"{info.name}Update": update}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(path: str, method: str, route: CompiledRoute) -> dict[str, Any]:
    info = route.model
    op: dict[str, Any] = {"operationId": f"{route.operation}_{path}_{method}".replace("/", "_").replace("{", "")
                          .replace("}", "").replace("-", "_"),
                          "summary": route.operation.replace("_", " "),
                          "responses": {"400": {"description": "Bad request", "content": {"application/json": {"schema": _ERROR}}}}}
    requirement = route.options.authentication
    if requirement is not None:
        op["security"] = _SECURITY
        op["responses"]["401"] = {"description": "Not authenticated",
                                  "content": {"application/json": {"schema": _ERROR}}}
        if requirement.authorizes:
            op["responses"]["403"] = {"description": f"Needs {requirement.action} on {requirement.resource}",
                                      "content": {"application/json": {"schema": _ERROR}}}
    if info is None:
        op["tags"] = ["auth"]
        op["responses"]["200"] = {"description": "OK"}
        if method in {"POST", "PATCH"}:
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        return op
    op["tags"] = [info.route]
    if "{id}" in path:
        op["parameters"] = [{"name": "id", "in": "path", "required": True,
                             "schema": field_schema(info.primary_key)}]
    one = {"type": "object", "properties": {"data": _ref(info.name)}}
    count = {"type": "object", "properties": {"results": {"type": "integer"},
                                               "data": {"type": "object", "properties": {"count": {"type": "integer"}}}}}
    name = route.operation
    if name == "find_many":
        op["parameters"] = _LIST_PARAMETERS
        page = {"type": "object", "properties": {
            **{k: {"type": "integer"} for k in ("total", "results", "page", "pages", "limit")},
            "hasNextPage": {"type": "boolean"}, "hasPrevPage": {"type": "boolean"},
            "data": {"type": "array", "items": _ref(info.name)}}}
        op["responses"]["200"] = {"description": "A page", "content": {"application/json": {"schema": page}}}
    elif name in {"find_one", "update_one"}:
        op["responses"]["200"] = {"description": "One record", "content": {"application/json": {"schema": one}}}
        op["responses"]["404"] = {"description": "Not found", "content": {"application/json": {"schema": _ERROR}}}
    elif name == "create_one":
        op["responses"]["201"] = {"description": "Created", "content": {"application/json": {"schema": one}}}
    elif name == "delete_one":
        op["responses"]["204"] = {"description": "Deleted"}
    elif name == "create_many":
        op["responses"]["201"] = {"description": "Created", "content": {"application/json": {"schema": count}}}
    else:
        op["responses"]["200"] = {"description": "Count", "content": {"application/json": {"schema": count}}}
    body = {"create_one": _ref(f"{info.name}Create"), "update_one": _ref(f"{info.name}Update"),
            "update_many": _ref(f"{info.name}Update"),
            "create_many": {"type": "array", "items": _ref(f"{info.name}Create"), "minItems": 1}}.get(name)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def build_openapi(app: FastAPI, runtime: Runtime) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["ArkosError"] = _ERROR_SCHEMA
    for info in runtime.registry.values():
        schemas.update(_model_schemas(info))
    paths = schema.setdefault("paths", {})
    for path, method, route in runtime.routes:
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, route)
    return schema


def install_openapi(app: FastAPI, runtime: Runtime) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, runtime)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
