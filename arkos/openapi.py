"""OpenAPI for generated, auth and custom routes, merged into FastAPI's own schema.

Generated and auth routes are plain Starlette routes described from `runtime.routes`. ArkosRouter routes
are FastAPI routes: FastAPI describes their parameters, and this module adds what it cannot see (the
`validation=` models, which are read by a dependency, the 401/403 of `authentication=`, the 429 of
`rate_limit=`), and replaces FastAPI's 422 with the 400 arkos really answers.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

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
_FIELDS_PARAMETER = {"name": "fields", "in": "query", "schema": {"type": "string"},
                     "description": "e.g. id,title,+author,-content"}
_PATH_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


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


def _write_schema(fields: list[FieldInfo], *, required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.wire: ({"type": "string", "format": "password"} if f.is_password else field_schema(f))
                       for f in fields},
        "additionalProperties": False,  # unknown fields get 400 UnknownField
    }
    if required:
        schema["required"] = [f.wire for f in fields if f.is_required]
    else:
        schema["minProperties"] = 1  # an update with nothing to change gets 400
    return schema


def _writable(info: ModelInfo, *, privileged: bool, password: bool = True) -> list[FieldInfo]:
    return [f for f in info.fields.values()
            if (not f.is_sensitive or (f.is_password and password))
            and not (f.is_primary_key and f.is_generated_pk)
            and (privileged or not f.is_privileged)]


def _model_schemas(info: ModelInfo) -> dict[str, Any]:
    """`Name` (what responses hold), `NameCreate`/`NameUpdate` (single-record writes, privileged fields
    allowed) and, when the model has privileged fields, `NameBulkCreate`/`NameBulkUpdate` without them."""
    read = {"type": "object", "properties": {f.wire: field_schema(f) for f in info.visible}}
    schemas = {
        info.name: read,
        f"{info.name}Create": _write_schema(_writable(info, privileged=True), required=True),
        f"{info.name}Update": _write_schema([f for f in _writable(info, privileged=True) if not f.is_primary_key],
                                            required=False),
    }
    if any(f.is_privileged for f in info.fields.values()):
        schemas[f"{info.name}BulkCreate"] = _write_schema(_writable(info, privileged=False), required=True)
        schemas[f"{info.name}BulkUpdate"] = _write_schema(
            [f for f in _writable(info, privileged=False) if not f.is_primary_key], required=False)
    return schemas


def _user_schemas(info: ModelInfo) -> dict[str, Any]:
    """Signup and `PATCH /users/me` never take privileged fields; `/users/me` never takes a password."""
    signup = _write_schema(_writable(info, privileged=False), required=True)
    me = _write_schema([f for f in _writable(info, privileged=False, password=False) if not f.is_primary_key],
                       required=False)
    return {f"{info.name}Signup": signup, f"{info.name}UpdateMe": me}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _one(info: ModelInfo) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": _ref(info.name)}}


def _bulk_ref(info: ModelInfo, kind: str) -> dict[str, str]:
    privileged = any(f.is_privileged for f in info.fields.values())
    return _ref(f"{info.name}Bulk{kind}" if privileged else f"{info.name}{kind}")


def _auth_operation(op: dict[str, Any], route: CompiledRoute, runtime: Runtime) -> None:
    """The built-in auth routes (reference §5.1)."""
    name = route.operation
    responses = op["responses"]
    op["tags"] = ["auth"]
    user = runtime.auth.user_info
    if name == "login":
        identifiers = runtime.config.authentication.login.allowed_usernames
        fields = sorted({i.split(".")[-1] for i in identifiers})
        op["parameters"] = [{"name": "usernameField", "in": "query", "required": False,
                             "schema": {"type": "string", "enum": list(identifiers)},
                             "description": f"Which field identifies the user; default {identifiers[0]}"}]
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {**{f: {"type": "string"} for f in fields},
                           "password": {"type": "string", "format": "password"}},
            "required": ["password"],
        }}}}
        responses["200"] = _json({"type": "object", "properties": {"accessToken": {"type": "string"}}},
                                 "Logged in (the token in the body and/or the cookie)")
        responses["401"] = _error("IncorrectCredentials")
    elif name == "signup" and user is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(f"{user.name}Signup")}}}
        responses["201"] = _json(_one(user), "Signed up")
        responses["409"] = _error("DuplicateRecords")
    elif name == "logout":
        responses["204"] = {"description": "Logged out: the token is revoked and the cookie cleared"}
    elif name == "update_password":
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"currentPassword": {"type": "string", "format": "password"},
                           "newPassword": {"type": "string", "format": "password"}},
            "required": ["currentPassword", "newPassword"],
        }}}}
        responses["200"] = _json({"type": "object", "properties": {
            "status": {"type": "string"}, "message": {"type": "string"}, "accessToken": {"type": "string"}}},
            "Password changed; a new token")
    elif name == "get_me" and user is not None:
        responses["200"] = _json(_one(user), "The logged-in user")
    elif name == "update_me" and user is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(f"{user.name}UpdateMe")}}}
        responses["200"] = _json(_one(user), "The updated user")
    elif name == "delete_me":
        responses["200"] = _json({"type": "object", "properties": {"message": {"type": "string"}}},
                                 "Account deleted")
    else:
        responses["200"] = {"description": "OK"}


AUTH_ROUTE_OPERATIONS = frozenset({"login", "signup", "logout", "update_password", "get_me", "update_me",
                                   "delete_me"})


def _operation(path: str, method: str, route: CompiledRoute, runtime: Runtime) -> dict[str, Any]:
    info = route.model
    op: dict[str, Any] = {"operationId": f"{route.operation}_{path}_{method}".replace("/", "_").replace("{", "")
                          .replace("}", "").replace("-", "_"),
                          "summary": route.operation.replace("_", " "),
                          "responses": {"400": _error("Bad request")}}
    requirement = route.options.authentication
    if requirement is not None:
        op["security"] = _SECURITY
        op["responses"]["401"] = _error("Not authenticated")
        if requirement.authorizes:
            op["responses"]["403"] = _error(f"Needs {requirement.action} on {requirement.resource}")
    if route.rate_limit is not None:
        op["responses"]["429"] = _error("TooManyRequests")
    for name in _PATH_PARAMETER.findall(path):
        op.setdefault("parameters", []).append({"name": name, "in": "path", "required": True,
                                                "schema": {"type": "string"}})
    if route.operation in AUTH_ROUTE_OPERATIONS:
        _auth_operation(op, route, runtime)
        return op
    if info is None:
        op["tags"] = ["auth"]
        op["responses"]["200"] = {"description": "OK"}
        return op
    op["tags"] = [info.route]
    if "{id}" in path:
        op["parameters"] = [{"name": "id", "in": "path", "required": True,
                             "schema": field_schema(info.primary_key)}, _FIELDS_PARAMETER]
    one = _one(info)
    count = {"type": "object", "properties": {"results": {"type": "integer"},
                                               "data": {"type": "object", "properties": {"count": {"type": "integer"}}}}}
    name = route.operation
    if name == "find_many":
        op["parameters"] = _LIST_PARAMETERS
        page = {"type": "object", "properties": {
            **{k: {"type": "integer"} for k in ("total", "results", "page", "pages", "limit")},
            "hasNextPage": {"type": "boolean"}, "hasPrevPage": {"type": "boolean"},
            "data": {"type": "array", "items": _ref(info.name)}}}
        op["responses"]["200"] = _json(page, "A page")
    elif name in {"find_one", "update_one"}:
        op["responses"]["200"] = _json(one, "One record")
        op["responses"]["404"] = _error("Not found")
    elif name == "create_one":
        op["parameters"] = [_FIELDS_PARAMETER]
        op["responses"]["201"] = _json(one, "Created")
    elif name == "delete_one":
        op["responses"]["204"] = {"description": "Deleted"}
        op["responses"]["404"] = _error("Not found")
    elif name == "create_many":
        op["responses"]["201"] = _json(count, "Created")
    else:
        op["responses"]["200"] = _json(count, "Count")
        op["responses"]["404"] = _error("No record matched the filter")
    if name in {"update_many", "delete_many"}:
        op["description"] = "Needs at least one filter in the query string (e.g. ?published=false)."
    body = {"create_one": _ref(f"{info.name}Create"), "update_one": _ref(f"{info.name}Update"),
            "update_many": _bulk_ref(info, "Update"),
            "create_many": {"type": "array", "items": _bulk_ref(info, "Create"), "minItems": 1}}.get(name)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


# -- ArkosRouter routes ----------------------------------------------------------------------------------


def _dependency_marks(route: APIRoute) -> dict[str, Any]:
    marks: dict[str, Any] = {}
    for depends in route.dependencies:
        function = getattr(depends, "dependency", None)
        for attribute in ("arkos_requirement", "arkos_rate_limit", "arkos_validation"):
            if hasattr(function, attribute):
                marks[attribute] = getattr(function, attribute)
    return marks


def _register_model(schemas: dict[str, Any], model: type) -> dict[str, Any]:
    """Put a pydantic model (and the models it nests) into components; returns its $ref."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    name = model.__name__
    if name in schemas and schemas[name] != schema:
        name = f"{model.__module__.replace('.', '_')}_{name}"
    schemas[name] = schema
    return _ref(name)


def _model_parameters(schemas: dict[str, Any], model: type, location: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    required = set(schema.get("required", ()))
    return [{"name": name, "in": location, "required": location == "path" or name in required,
             "schema": {k: v for k, v in prop.items() if k != "title"}}
            for name, prop in schema.get("properties", {}).items()]


def _describe_custom(op: dict[str, Any], path: str, marks: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    if "422" in responses:  # arkos answers request validation errors with 400 ValidationError
        responses.pop("422")
        responses.setdefault("400", _error("ValidationError"))
    requirement = marks.get("arkos_requirement")
    if requirement is not None:
        op.setdefault("security", _SECURITY)
        responses.setdefault("401", _error("Not authenticated"))
        if requirement.authorizes:
            responses.setdefault("403", _error(f"Needs {requirement.action} on {requirement.resource}"))
    if marks.get("arkos_rate_limit") is not None:
        responses.setdefault("429", _error("TooManyRequests"))
    spec = marks.get("arkos_validation") or {}
    parameters: list[dict[str, Any]] = op.setdefault("parameters", [])
    if spec:
        responses.setdefault("400", _error("ValidationError"))
    if spec.get("body") is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _register_model(schemas, spec["body"])}}}
    for key, location in (("query", "query"), ("params", "path")):
        model = spec.get(key)
        if model is None:
            continue
        known = {(p["name"], p["in"]): i for i, p in enumerate(parameters)}
        for parameter in _model_parameters(schemas, model, location):
            index = known.get((parameter["name"], location))
            if index is None:
                parameters.append(parameter)
            else:
                parameters[index] = parameter
    # Path parameters the endpoint does not declare still have to be in the document.
    declared = {p["name"] for p in parameters if p.get("in") == "path"}
    for name in _PATH_PARAMETER.findall(path):
        if name not in declared:
            parameters.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    if not parameters:
        op.pop("parameters")


def _api_routes(app: FastAPI) -> list[Any]:
    """Every APIRoute with its effective path and dependencies (newer FastAPI includes routers lazily)."""
    from fastapi import routing

    iterate = getattr(routing, "iter_route_contexts", None)
    if iterate is None:
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return [ctx for ctx in iterate(app.routes) if isinstance(ctx.original_route, APIRoute)]


def build_openapi(app: FastAPI, runtime: Runtime) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["ArkosError"] = _ERROR_SCHEMA
    paths = schema.setdefault("paths", {})
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        marks = _dependency_marks(route)
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _describe_custom(operation, route.path_format, marks, schemas)
    for info in runtime.registry.values():
        schemas.update(_model_schemas(info))
    if runtime.auth.user_info is not None:
        schemas.update(_user_schemas(runtime.auth.user_info))
    for path, method, route in runtime.routes:
        # A custom route with the same method and path wins at runtime (it is mounted first): keep its entry.
        if method.lower() not in paths.get(path, {}):
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, route, runtime)
    return schema


def install_openapi(app: FastAPI, runtime: Runtime) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, runtime)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
