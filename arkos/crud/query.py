"""Query strings of list routes → SQL conditions, order, page and field selection (reference §6.4).

Only visible fields (crud/fields.py) can be named, so a sensitive column can never act as a filter,
sort key, search target or selected field, even through a relation (DECISIONS 6).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from arkos.config import QueryConfig
from arkos.crud.fields import FieldInfo, ModelInfo, RelationInfo
from arkos.errors import ArkosError, ErrorCode

Registry = Mapping[type, ModelInfo]
_KEY_SPLIT = re.compile(r"\]\[|\[|\]|__|\.")

CONTROL_KEYS = frozenset({"page", "limit", "sort", "fields", "search", "filterMode", "filter_mode"})
UNSUPPORTED_KEYS = frozenset(
    {"include", "select", "omit", "where", "orderBy", "prismaQueryOptions", "addFields", "removeFields",
     "filters", "ignoredFields"}
)


def _op_equals(col: Any, value: Any) -> ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _op_not(col: Any, value: Any) -> ColumnElement[bool]:
    return col.is_not(None) if value is None else col != value


_STRING_OPS: dict[str, Callable[[Any, str], ColumnElement[bool]]] = {
    "contains": lambda c, v: c.contains(v, autoescape=True),
    "icontains": lambda c, v: c.icontains(v, autoescape=True),
    "startsWith": lambda c, v: c.startswith(v, autoescape=True),
    "endsWith": lambda c, v: c.endswith(v, autoescape=True),
}
_COMPARE_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "equals": _op_equals,
    "not": _op_not,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}
OPERATORS = ("equals", "not", "in", "notIn", "gt", "gte", "lt", "lte", "contains", "icontains",
             "startsWith", "endsWith", "isNull")
# Accept the spellings a Django or Python user would type in `__` syntax as well.
_OPERATOR_ALIASES = {op.lower(): op for op in OPERATORS} | {
    "not_in": "notIn", "starts_with": "startsWith", "ends_with": "endsWith", "is_null": "isNull",
    "exact": "equals", "ne": "not",
}


@dataclass(slots=True)
class ListQuery:
    """A parsed query string: every part a value, applied by the repository."""

    conditions: list[ColumnElement[bool]]
    search: ColumnElement[bool] | None
    filter_mode: str
    order_by: list[Any]
    page: int
    limit: int | None
    fields: tuple[FieldInfo, ...]
    includes: tuple[RelationInfo, ...]

    @property
    def has_filter(self) -> bool:
        return bool(self.conditions) or self.search is not None

    def where(self) -> ColumnElement[bool] | None:
        parts: list[ColumnElement[bool]] = []
        if self.conditions:
            combine = sa.or_ if self.filter_mode == "OR" else sa.and_
            parts.append(combine(*self.conditions) if len(self.conditions) > 1 else self.conditions[0])
        if self.search is not None:
            parts.append(self.search)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit if self.limit else 0


def _bad(message: str, **meta: object) -> ArkosError:
    return ArkosError(ErrorCode.INVALID_QUERY, message, meta=meta)


def split_key(key: str) -> list[str]:
    return [part for part in _KEY_SPLIT.split(key) if part]


def _resolve_operator(name: str, key: str) -> str:
    op = _OPERATOR_ALIASES.get(name.lower()) if name not in OPERATORS else name
    if op is None:
        raise _bad(
            f"Unknown operator '{name}' in '{key}'; allowed: {', '.join(OPERATORS)}", parameter=key
        )
    return op


def _is_structured(f: FieldInfo) -> bool:
    """JSON and array columns have no portable comparison or ordering (PostgreSQL's `json` has neither)."""
    return isinstance(f.column.type, sa.JSON | sa.ARRAY)


def _condition(info: ModelInfo, f: FieldInfo, op: str, raw: str, key: str) -> ColumnElement[bool]:
    col = f.column
    if _is_structured(f):
        raise _bad(f"'{f.wire}' is a JSON or list field and cannot be filtered", parameter=key)
    if op == "isNull":
        lowered = raw.lower()
        if lowered not in {"true", "false", "1", "0"}:
            raise _bad(f"'{key}' expects true or false", parameter=key)
        return col.is_(None) if lowered in {"true", "1"} else col.is_not(None)
    if op in _STRING_OPS:
        if not f.is_string:
            raise _bad(f"Operator '{op}' needs a text field; '{f.wire}' is not one", parameter=key)
        if "\x00" in raw:  # PostgreSQL rejects NUL in text; SQLite would just match nothing
            raise _bad(f"Invalid value for '{key}': must not contain NUL characters", parameter=key)
        return _STRING_OPS[op](col, raw)
    if op in {"in", "notIn"}:
        values = [_coerce(f, item, key) for item in raw.split(",") if item != ""]
        if not values:
            raise _bad(f"'{key}' expects a comma-separated list of values", parameter=key)
        return col.in_(values) if op == "in" else col.not_in(values)
    value = None if raw == "null" and op in {"equals", "not"} else _coerce(f, raw, key)
    return _COMPARE_OPS[op](col, value)


def _coerce(f: FieldInfo, raw: str, key: str) -> Any:
    try:
        return f.coerce(raw)
    except ValueError as exc:
        raise _bad(f"Invalid value for '{key}': {exc}", parameter=key) from None


def parse_filter(
    info: ModelInfo, key: str, raw: str, registry: Registry, parts: Sequence[str] | None = None
) -> ColumnElement[bool]:
    """One `key=value` pair → one condition; relations nest as EXISTS (has/any)."""
    parts = split_key(key) if parts is None else parts
    if not parts:
        raise _bad(f"Invalid query parameter '{key}'", parameter=key)
    head, rest = parts[0], parts[1:]
    f = info.field(head)
    if f is not None:
        if len(rest) > 1:
            raise _bad(f"Invalid filter '{key}': '{head}' takes one operator", parameter=key)
        op = _resolve_operator(rest[0], key) if rest else "equals"
        return _condition(info, f, op, raw, key)
    rel = info.relation(head)
    if rel is not None and rest:
        target = registry.get(rel.target)
        if target is None:
            raise _bad(f"Unknown field '{head}' in '{key}'", parameter=key)
        inner = parse_filter(target, key, raw, registry, rest)
        return rel.attribute.any(inner) if rel.is_list else rel.attribute.has(inner)
    raise _bad(f"Unknown field '{head}' in '{key}' for {info.name}", parameter=key)


def _parse_sort(info: ModelInfo, raw: str) -> list[Any]:
    order: list[Any] = []
    for token in (t.strip() for t in raw.split(",")):
        if not token:
            continue
        descending = token.startswith("-")
        name = token.lstrip("-+")
        f = info.field(name)
        if f is None:
            raise _bad(f"Unknown sort field '{name}' for {info.name}", parameter="sort")
        if _is_structured(f):
            raise _bad(f"'{f.wire}' is a JSON or list field and cannot be sorted on", parameter="sort")
        order.append(f.column.desc() if descending else f.column.asc())
    return order


def _parse_fields(info: ModelInfo, raw: str) -> tuple[tuple[FieldInfo, ...], tuple[RelationInfo, ...]]:
    chosen: list[FieldInfo] = []
    omitted: set[str] = set()
    includes: list[RelationInfo] = []
    for part in raw.split(","):
        # An unencoded `+` in a query string arrives as a space: ` author` means `+author`.
        token = "+" + part.strip() if part.startswith(" ") and part.strip() else part.strip()
        if not token:
            continue
        if token.startswith("+"):
            rel = info.relation(token[1:])
            if rel is None:
                raise _bad(f"Unknown relation '{token[1:]}' in fields for {info.name}", parameter="fields")
            includes.append(rel)
            continue
        name = token[1:] if token.startswith("-") else token
        f = info.field(name)
        if f is None:
            raise _bad(f"Unknown field '{name}' in fields for {info.name}", parameter="fields")
        if token.startswith("-"):
            omitted.add(f.wire)
        else:
            chosen.append(f)
    base = chosen or list(info.visible)
    unique = {rel.wire: rel for rel in includes}  # RelationInfo is not hashable
    return tuple(f for f in base if f.wire not in omitted), tuple(unique.values())


_MAX_PAGE_OR_LIMIT = 2**31 - 1  # keeps OFFSET inside a 64-bit integer (SQLite raises OverflowError beyond)


def _parse_positive(raw: str, name: str) -> int:
    # isascii: str.isdigit() is also true for '²', which int() refuses
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_PAGE_OR_LIMIT:
        raise _bad(f"'{name}' must be a positive integer up to {_MAX_PAGE_OR_LIMIT}; got '{raw}'", parameter=name)
    return int(raw)


def parse_list_query(
    info: ModelInfo,
    items: Sequence[tuple[str, str]],
    config: QueryConfig,
    registry: Registry,
    *,
    paginate: bool = True,
) -> ListQuery:
    conditions: list[ColumnElement[bool]] = []
    search: ColumnElement[bool] | None = None
    filter_mode = "AND"
    order_by: list[Any] = []
    page, limit = 1, config.default_limit if paginate else None
    fields, includes = info.visible, ()
    for key, raw in items:
        if key in UNSUPPORTED_KEYS:
            raise _bad(f"Query parameter '{key}' is not supported; use filters, sort and fields", parameter=key)
        if key not in CONTROL_KEYS:
            conditions.append(parse_filter(info, key, raw, registry))
        elif key == "page":
            page = _parse_positive(raw, "page")
        elif key == "limit":
            limit = _parse_limit(raw, config)
        elif key == "sort":
            order_by.extend(_parse_sort(info, raw))
        elif key == "fields":
            fields, includes = _parse_fields(info, raw)
        elif key == "search":
            search = _search(info, raw)
        else:
            filter_mode = raw.upper()
            if filter_mode not in {"AND", "OR"}:
                raise _bad("filterMode must be AND or OR", parameter="filterMode")
    order_by.append(info.default_order)  # stable pages
    return ListQuery(conditions, search, filter_mode, order_by, page, limit, fields, includes)


def _parse_limit(raw: str, config: QueryConfig) -> int | None:
    if raw == "all":
        if not config.allow_limit_all:
            raise _bad("limit=all is not allowed by this server", parameter="limit")
        return None
    limit = _parse_positive(raw, "limit")
    if limit > config.max_limit:
        raise _bad(f"limit must be at most {config.max_limit}", parameter="limit")
    return limit


def _search(info: ModelInfo, term: str) -> ColumnElement[bool] | None:
    if not term:
        return None
    if not info.searchable:
        raise _bad(f"{info.name} has no searchable text fields", parameter="search")
    if "\x00" in term:  # PostgreSQL rejects NUL in text; SQLite would just match nothing
        raise _bad("Invalid value for 'search': must not contain NUL characters", parameter="search")
    return sa.or_(*(f.column.icontains(term, autoescape=True) for f in info.searchable))
