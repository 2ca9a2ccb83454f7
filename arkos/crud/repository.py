"""SQL for generated routes: Core statements over visible columns, rows returned as wire dicts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from arkos.crud.fields import FieldInfo, ModelInfo, RelationInfo
from arkos.crud.query import ListQuery
from arkos.errors import ArkosError, ErrorCode
from arkos.pglane import PgReadLane
from arkos.readlane import ReadLane, fetch_all, fetch_first

Row = dict[str, Any]
Reader = AsyncConnection | ReadLane | PgReadLane  # where the prebuilt reads run (RequestContext.reader)
Registry = Mapping[type, ModelInfo]
_TOTAL = "__arkos_total__"


def _columns(
    info: ModelInfo, fields: Sequence[FieldInfo], includes: Sequence[RelationInfo]
) -> tuple[list[Any], list[str], set[str]]:
    """Selected columns labelled by wire name, plus the hidden key columns that includes need."""
    columns = [f.column.label(f.wire) for f in fields]
    keys = [f.wire for f in fields]
    hidden: set[str] = set()
    for rel in includes:
        for local, _remote in rel.pairs:
            label = f"__key_{local.name}"
            if label not in keys:
                columns.append(local.label(label))
                keys.append(label)
                hidden.add(label)
    return columns, keys, hidden


# Prebuilt statements for the two commonest reads (a page with no filter, sort or field choice; one
# row by id with no query): building a fresh Select per request, then its cache key, was ~30 % of the
# CPU of such a request. Keyed by id(info) with the ModelInfo kept alive, so an id is never reused.
_PLAIN: dict[tuple[str, int], tuple[ModelInfo, Any]] = {}


def _plain_statement(kind: str, info: ModelInfo) -> Any:
    entry = _PLAIN.get((kind, id(info)))
    if entry is None or entry[0] is not info:
        columns, _keys, _hidden = _columns(info, info.visible, ())
        if kind == "count":
            stmt = sa.select(sa.func.count()).select_from(info.table)
        elif kind == "page":
            count = sa.select(sa.func.count()).select_from(info.table).correlate(None).scalar_subquery()
            stmt = (sa.select(*columns, count.label(_TOTAL)).select_from(info.table)
                    .order_by(info.default_order)
                    .limit(sa.bindparam("_arkos_limit")).offset(sa.bindparam("_arkos_offset")))
        else:
            stmt = sa.select(*columns).where(info.primary_key.column == sa.bindparam("_arkos_pk")).limit(1)
        entry = _PLAIN[(kind, id(info))] = (info, stmt)
    return entry[1]


def is_plain(info: ModelInfo, q: ListQuery) -> bool:
    """No filter, search, field choice or include."""
    return q.fields is info.visible and not q.includes and not q.conditions and q.search is None


def is_plain_page(info: ModelInfo, q: ListQuery) -> bool:
    """A plain query with a limit and the default order: `find_plain_page` answers it."""
    return (q.limit is not None and is_plain(info, q) and len(q.order_by) == 1
            and (q.order_by[0] is info.default_order or q.order_by[0].compare(info.default_order)))


async def find_plain_page(reader: Reader, info: ModelInfo, q: ListQuery) -> tuple[int, list[Row]]:
    result = await fetch_all(reader, _plain_statement("page", info),
                             {"_arkos_limit": q.limit, "_arkos_offset": q.offset})
    if result:
        total = result[0][-1]
    elif q.page > 1:
        total = (await fetch_all(reader, _plain_statement("count", info), {}))[0][0]
    else:
        total = 0
    keys = info.visible_keys
    return total, [dict(zip(keys, row)) for row in result]


async def find_page(conn: AsyncConnection, info: ModelInfo, q: ListQuery, registry: Registry) -> tuple[int, list[Row]]:
    columns, keys, hidden = _columns(info, q.fields, q.includes)
    where = q.where()
    count = sa.select(sa.func.count()).select_from(info.table)
    if where is not None:
        count = count.where(where)
    # One round trip, one snapshot: the total rides along each row as an uncorrelated scalar subquery,
    # which SQLite and PostgreSQL evaluate once. (A `count(*) OVER ()` window would make the database
    # materialize and sort every matching row before the LIMIT: 2.9 ms against 0.06 ms on SQLite for
    # 1,000 posts, 1.6 ms against 0.27 ms on PostgreSQL; see bench/README.md.)
    stmt = sa.select(*columns, count.correlate(None).scalar_subquery().label(_TOTAL)).select_from(info.table)
    if where is not None:
        stmt = stmt.where(where)
    stmt = stmt.order_by(*q.order_by)
    if q.limit is not None:
        stmt = stmt.limit(q.limit).offset(q.offset)
    result = (await conn.execute(stmt)).all()
    if result:
        total = result[0][-1]
    elif q.page > 1:
        total = (await conn.execute(count)).scalar_one()
    else:
        total = 0
    rows = [dict(zip(keys, row)) for row in result]
    await _finish_rows(conn, rows, q.includes, hidden, registry)
    return total, rows


async def _finish_rows(
    conn: AsyncConnection, rows: list[Row], includes: Sequence[RelationInfo], hidden: set[str], registry: Registry
) -> None:
    if rows and includes:
        for rel in includes:
            await _include(conn, rows, rel, registry)
    if hidden:
        for row in rows:
            for key in hidden:
                row.pop(key, None)


async def _include(conn: AsyncConnection, rows: list[Row], rel: RelationInfo, registry: Registry) -> None:
    """Attach a relation to each row with one extra query (like selectinload), visible fields only."""
    target = registry.get(rel.target)
    if target is None or len(rel.pairs) != 1:
        raise ArkosError(ErrorCode.INVALID_QUERY, f"Relation '{rel.wire}' cannot be included",
                         meta={"parameter": "fields"})
    local, remote = rel.pairs[0]
    if remote.table is not target.table:
        raise ArkosError(ErrorCode.INVALID_QUERY, f"Relation '{rel.wire}' cannot be included",
                         meta={"parameter": "fields"})
    key = f"__key_{local.name}"
    values = {row[key] for row in rows if row.get(key) is not None}
    grouped: dict[Any, list[Row]] = defaultdict(list)
    if values:
        columns = [f.column.label(f.wire) for f in target.visible]
        stmt = sa.select(*columns, remote.label("__remote__")).where(remote.in_(values))
        for record in (await conn.execute(stmt.order_by(target.primary_key.column))).all():
            item = dict(zip(target.visible_keys, record))
            grouped[record[-1]].append(item)
    for row in rows:
        found = grouped.get(row.get(key), [])
        row[rel.wire] = found if rel.is_list else (found[0] if found else None)


def pk_value(info: ModelInfo, raw_id: str) -> Any:
    try:
        return info.primary_key.coerce(raw_id)
    except ValueError as exc:
        raise ArkosError(ErrorCode.INVALID_PARAMETER, f"Invalid id '{raw_id}': {exc}", meta={"id": raw_id}) from None


def pk_condition(info: ModelInfo, raw_id: str) -> ColumnElement[bool]:
    return info.primary_key.column == pk_value(info, raw_id)


async def find_by_pk(reader: Reader, info: ModelInfo, value: Any) -> Row | None:
    """find_one with no query: visible fields of the row with this (coerced) primary key."""
    record = await fetch_first(reader, _plain_statement("one", info), {"_arkos_pk": value})
    return None if record is None else dict(zip(info.visible_keys, record))


async def find_one(
    conn: AsyncConnection,
    info: ModelInfo,
    where: ColumnElement[bool],
    fields: Sequence[FieldInfo],
    includes: Sequence[RelationInfo],
    registry: Registry,
) -> Row | None:
    columns, keys, hidden = _columns(info, fields, includes)
    record = (await conn.execute(sa.select(*columns).where(where).limit(1))).first()
    if record is None:
        return None
    rows = [dict(zip(keys, record))]
    await _finish_rows(conn, rows, includes, hidden, registry)
    return rows[0]


async def insert_one(conn: AsyncConnection, info: ModelInfo, values: Mapping[str, Any],
                     fields: Sequence[FieldInfo]) -> Row:
    stmt = sa.insert(info.table).values(dict(values)).returning(*(f.column for f in fields))
    record = (await conn.execute(stmt)).one()
    return dict(zip((f.wire for f in fields), record))


async def insert_many(conn: AsyncConnection, info: ModelInfo, items: Sequence[Mapping[str, Any]]) -> int:
    # Items with the same keys go together: executemany needs one parameter shape per statement.
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for item in items:
        groups[tuple(sorted(item))].append(item)
    for group in groups.values():
        await conn.execute(sa.insert(info.table), [dict(item) for item in group])
    return len(items)


async def update_one(conn: AsyncConnection, info: ModelInfo, where: ColumnElement[bool],
                     values: Mapping[str, Any], fields: Sequence[FieldInfo]) -> Row | None:
    stmt = sa.update(info.table).where(where).values(dict(values)).returning(*(f.column for f in fields))
    record = (await conn.execute(stmt)).first()
    return None if record is None else dict(zip((f.wire for f in fields), record))


async def delete_where(conn: AsyncConnection, info: ModelInfo, where: ColumnElement[bool]) -> int:
    result = await conn.execute(sa.delete(info.table).where(where))
    return int(result.rowcount or 0)


async def update_where(conn: AsyncConnection, info: ModelInfo, where: ColumnElement[bool],
                       values: Mapping[str, Any]) -> int:
    result = await conn.execute(sa.update(info.table).where(where).values(dict(values)))
    return int(result.rowcount or 0)
