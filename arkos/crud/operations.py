"""The eight generated operations as one table, and the handler of each (reference §6.1)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from arkos.auth.passwords import utcnow
from arkos.context import RequestContext
from arkos.crud import repository as repo
from arkos.crud.fields import ModelInfo
from arkos.crud.payload import clean_payload, require_fields
from arkos.crud.query import ListQuery, parse_list_query
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.validation import check_spec, validate_input
from arkos.naming import pluralize

Handler = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    method: str
    suffix: str
    action: str
    body: str | None = None  # "object" | "list"


# `/many` comes before `/{id}` so that it is never taken for an id.
OPERATIONS: tuple[Operation, ...] = (
    Operation("create_many", "POST", "/many", "Create", "list"),
    Operation("update_many", "PATCH", "/many", "Update", "object"),
    Operation("delete_many", "DELETE", "/many", "Delete"),
    Operation("find_many", "GET", "", "View"),
    Operation("create_one", "POST", "", "Create", "object"),
    Operation("find_one", "GET", "/{id}", "View"),
    Operation("update_one", "PATCH", "/{id}", "Update", "object"),
    Operation("delete_one", "DELETE", "/{id}", "Delete"),
)
OPERATION_NAMES = tuple(op.name for op in OPERATIONS)


async def read_json(request: Request, max_bytes: int) -> Any:
    """Parse the body as JSON, refusing oversized and malformed bodies with a 4xx."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise ArkosError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body is larger than {max_bytes} bytes")
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise ArkosError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body is larger than {max_bytes} bytes")
    except ClientDisconnect:  # nobody is left to answer; not a server error
        raise ArkosError(ErrorCode.INVALID_BODY, "The client disconnected before sending the whole body") from None
    if not raw:
        raise ArkosError(ErrorCode.INVALID_BODY, "The request body is empty; send JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ArkosError(ErrorCode.INVALID_BODY, "The request body is not valid JSON") from None


def _query(ctx: RequestContext, *, paginate: bool) -> ListQuery:
    info = ctx.model
    assert info is not None
    runtime = ctx.runtime
    return parse_list_query(info, ctx.request.query_params.multi_items(), runtime.config.query,
                            runtime.registry, paginate=paginate)


def _writes_fields(q: ListQuery) -> ListQuery:
    if q.includes:
        raise ArkosError(ErrorCode.INVALID_QUERY, "Including relations (+name) is only available on read routes",
                         meta={"parameter": "fields"})
    return q


async def _validate(ctx: RequestContext, op: Operation) -> None:
    info = ctx.model
    assert info is not None
    max_bytes = ctx.runtime.config.max_body_bytes
    if op.name in {"update_many", "delete_many"}:
        ctx.query = _query(ctx, paginate=False)
        if not ctx.query.has_filter:
            verb = "update" if op.name == "update_many" else "delete"
            raise ArkosError(ErrorCode.MISSING_FILTER, f"Filter criteria not provided for bulk {verb}.")
        if ctx.query.filter_mode == "OR":
            raise ArkosError(ErrorCode.INVALID_QUERY, f"filterMode=OR is not valid for {op.name}",
                             meta={"parameter": "filterMode"})
    else:
        ctx.query = _query(ctx, paginate=op.name == "find_many")
        if op.body is not None:
            _writes_fields(ctx.query)
    if op.body == "object":
        body = await _body(ctx, max_bytes)
        ctx.body = clean_payload(
            info, body, creating=op.name == "create_one",
            allow_privileged=op.name in {"create_one", "update_one"}, where="body",
        )
    elif op.body == "list":
        body = await _body(ctx, max_bytes)
        if not isinstance(body, list):
            raise ArkosError(ErrorCode.INVALID_BODY, "The request body must be a JSON array")
        if not body:
            raise ArkosError(ErrorCode.MISSING_ARRAY_BODY)
        ctx.body = [
            clean_payload(info, item, creating=True, allow_privileged=False, where=f"item {index}")
            for index, item in enumerate(body)
        ]


async def _body(ctx: RequestContext, max_bytes: int) -> Any:
    """The body, already parsed and checked when a `validation` model ran first."""
    if "validated_body" in ctx.additional:
        return ctx.additional.pop("validated_body")
    return await read_json(ctx.request, max_bytes)


def make_validator(op: Operation, spec: Mapping[str, Any] | None = None) -> Handler:
    """The validate stage; a hook's `validation` models run first, then the column rules."""
    if not spec:
        async def validate(ctx: RequestContext) -> None:
            await _validate(ctx, op)

        return validate
    checked = check_spec(spec, f"{op.name}.validation")

    async def validate_with_models(ctx: RequestContext) -> None:
        query = dict(ctx.request.query_params)
        validate_input(checked, "query", query, present=bool(query))
        params = dict(ctx.request.path_params)
        validate_input(checked, "params", params, present=bool(params))
        if op.body is not None and "body" in checked:
            body = await read_json(ctx.request, ctx.runtime.config.max_body_bytes)
            ctx.additional["validated_body"] = _checked_body(checked, body)
        await _validate(ctx, op)

    return validate_with_models


def _checked_body(spec: Mapping[str, Any], body: Any) -> Any:
    if isinstance(body, list):
        return [_dump(validate_input(spec, "body", item, present=True)) for item in body]
    return _dump(validate_input(spec, "body", body, present=True))


def _dump(value: Any) -> Any:
    # JSON mode: the column rules then see what a client would have sent (a date as "2024-05-01")
    return value.model_dump(mode="json", exclude_unset=True) if hasattr(value, "model_dump") else value


async def _prepared(ctx: RequestContext, values: dict[str, Any], *, updating: bool) -> dict[str, Any]:
    """Hash password fields off the event loop; a new password on a user kills its older tokens."""
    info = ctx.model
    assert info is not None
    return await ctx.runtime.passwords.prepare_values(info, values, updating=updating)


async def _update_values(ctx: RequestContext, info: ModelInfo, where: Any) -> dict[str, Any]:
    """The body with passwords hashed. A new password's `passwordChangedAt` is taken only once the rows
    are locked by this transaction: a racing login has then either written `lastLoginAt` already (its
    token is older than the stamp) or waits for the lock and fails (arkos/auth/routes.py)."""
    values = await _prepared(ctx, ctx.body, updating=True)
    changed = info.fields.get("passwordChangedAt")
    if changed is not None and changed.key in values:
        await repo.update_where(await ctx.connection(), info, where, {changed.key: changed.column})
        values[changed.key] = utcnow()
    return values


async def find_many(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    if repo.is_plain_page(info, q):  # a prebuilt statement (repository._plain_statement)
        total, rows = await repo.find_plain_page(await ctx.reader(), info, q)
    else:
        total, rows = await repo.find_page(await ctx.connection(), info, q, ctx.runtime.registry)
    limit = q.limit if q.limit is not None else total  # limit=all: one page holding everything
    pages = math.ceil(total / limit) if limit else 0
    ctx.data = {
        "total": total,
        "results": len(rows),
        "page": q.page,
        "pages": pages,
        "limit": limit,
        "hasNextPage": q.page < pages,
        "hasPrevPage": q.page > 1,
        "data": rows,
    }


def _id(ctx: RequestContext) -> str:
    return str(ctx.request.path_params["id"])


def _one_where(ctx: RequestContext, info: ModelInfo, q: ListQuery) -> Any:
    """The id, narrowed by the query's filters (reference §6.4: findOne, updateOne and deleteOne filter)."""
    where = repo.pk_condition(info, _id(ctx))
    filters = q.where()
    return where if filters is None else where & filters


async def find_one(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    if repo.is_plain(info, q):  # no query: a prebuilt statement (repository._plain_statement)
        value = repo.pk_value(info, _id(ctx))
        row = await repo.find_by_pk(await ctx.reader(), info, value)
    else:
        where = _one_where(ctx, info, q)
        row = await repo.find_one(await ctx.connection(), info, where, q.fields, q.includes, ctx.runtime.registry)
    if row is None:
        raise ArkosError(ErrorCode.NOT_FOUND, _not_found(info, _id(ctx)))
    ctx.data = {"data": row}


def _not_found(info: ModelInfo, raw_id: str) -> str:
    return f"{info.name} not found" if raw_id == "me" else f"{info.name} with ID {raw_id} not found"


async def create_one(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    require_fields(info, ctx.body, where="body")
    values = await _prepared(ctx, ctx.body, updating=False)
    ctx.data = {"data": await repo.insert_one(await ctx.connection(), info, values, q.fields)}
    ctx.status = 201


async def create_many(ctx: RequestContext) -> None:
    info = ctx.model
    assert info is not None
    for index, item in enumerate(ctx.body):
        require_fields(info, item, where=f"item {index}")
    items = [await _prepared(ctx, item, updating=False) for item in ctx.body]
    count = await repo.insert_many(await ctx.connection(), info, items)
    ctx.data = {"results": count, "data": {"count": count}}
    ctx.status = 201


async def update_one(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    where = _one_where(ctx, info, q)
    values = await _update_values(ctx, info, where)
    row = await repo.update_one(await ctx.connection(), info, where, values, q.fields)
    if row is None:
        raise ArkosError(ErrorCode.RECORD_NOT_FOUND, _not_found(info, _id(ctx)))
    ctx.data = {"data": row}


async def delete_one(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    if not await repo.delete_where(await ctx.connection(), info, _one_where(ctx, info, q)):
        raise ArkosError(ErrorCode.RECORD_NOT_FOUND, _not_found(info, _id(ctx)))
    ctx.status = 204


async def update_many(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    where = q.where()
    assert where is not None
    values = await _update_values(ctx, info, where)
    count = await repo.update_where(await ctx.connection(), info, where, values)
    if not count:
        raise ArkosError(ErrorCode.NOT_FOUND, f"{pluralize(info.name)} not found")
    ctx.data = {"results": count, "data": {"count": count}}


async def delete_many(ctx: RequestContext) -> None:
    info, q = ctx.model, ctx.query
    assert info is not None and isinstance(q, ListQuery)
    where = q.where()
    assert where is not None
    count = await repo.delete_where(await ctx.connection(), info, where)
    if not count:
        raise ArkosError(ErrorCode.NOT_FOUND, "No records found to delete")
    ctx.data = {"results": count, "data": {"count": count}}


HANDLERS: dict[str, Handler] = {
    "find_many": find_many,
    "find_one": find_one,
    "create_one": create_one,
    "create_many": create_many,
    "update_one": update_one,
    "update_many": update_many,
    "delete_one": delete_one,
    "delete_many": delete_many,
}
