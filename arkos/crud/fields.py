"""What each model exposes: the single place that decides which fields are visible, writable and queryable.

A column is *sensitive* when it is marked `info={"sensitive": True}` (or listed in `__sensitive__`); the
user model's password always is. Sensitive columns are never selected, serialized, filtered, sorted,
searched or included, on any model and through any relation (DECISIONS 6). A column is *privileged*
(`info={"privileged": True}` or `__privileged__`) when clients may not set it through signup, `/users/me`
or bulk routes (DECISIONS 5).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapper, RelationshipDirection
from sqlalchemy.orm import class_mapper

from arkos.errors import ArkosError, ErrorCode
from arkos.naming import pluralize, to_camel, to_kebab

Coercer = Callable[[Any], Any]


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "false", "0"}:
        return value.lower() in {"true", "1"}
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("expected true or false")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("expected an integer")


def _int_bits(col_type: Any) -> int:
    if isinstance(col_type, sa.SmallInteger):
        return 16
    if isinstance(col_type, sa.BigInteger):
        return 64
    return 32


def _parse_bounded_int(bits: int) -> Coercer:
    """The column's range on PostgreSQL, on every backend: SQLite would raise OverflowError (a 500) instead."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def parse(value: Any) -> int:
        result = _parse_int(value)
        if not low <= result <= high:
            raise ValueError(f"must be between {low} and {high}")
        return result

    return parse


def _parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError("expected a number")


def _parse_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        result = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise ValueError("expected a number") from None
    if not result.is_finite():
        raise ValueError("expected a finite number")
    return result


def _parse_numeric(precision: int | None, scale: int | None) -> Coercer:
    """NUMERIC(p, s) holds at most p - s integer digits: PostgreSQL refuses more, SQLite would store them."""
    max_integer_digits = precision - (scale or 0) if precision is not None else None

    def parse(value: Any) -> decimal.Decimal:
        result = _parse_decimal(value)
        if max_integer_digits is not None and abs(result) >= decimal.Decimal(10) ** max_integer_digits:
            raise ValueError(f"must be less than 10^{max_integer_digits} in absolute value")
        return result

    return parse


def _parse_datetime(aware: bool) -> Coercer:
    def parse(value: Any) -> dt.datetime:
        parsed: dt.datetime | None = value if isinstance(value, dt.datetime) else None
        if isinstance(value, str):
            text = value.strip().replace("Z", "+00:00")
            if "T" in text and " " in text:  # an unencoded '+' in a query string arrives as a space
                text = text.replace(" ", "+")
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueError("expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z")
        # Naive values are taken as UTC: one clock for every backend.
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        parsed = parsed.astimezone(dt.UTC)
        return parsed if aware else parsed.replace(tzinfo=None)

    return parse


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ValueError("expected an ISO 8601 date such as 2024-05-01")


def _parse_uuid(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValueError("expected a UUID") from None


def _parse_str(max_length: int | None) -> Coercer:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return parse


def _parse_enum(enum_class: type[enum.Enum] | None, choices: Iterable[str]) -> Coercer:
    allowed = list(choices)

    def parse(value: Any) -> Any:
        if enum_class is not None:
            if isinstance(value, enum_class):
                return value
            for member in enum_class:
                if value == member.name or value == member.value:
                    return member
        elif value in allowed:
            return value
        raise ValueError(f"expected one of {', '.join(map(str, allowed))}")

    return parse


def _parse_enum_list(enum_class: type[enum.Enum]) -> Coercer:
    """`roles_column`: a list of enum values, checked alike on SQLite (JSON) and PostgreSQL (enum ARRAY)."""
    item = _parse_enum(enum_class, [str(m.value) for m in enum_class])

    def parse(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of {', '.join(str(m.value) for m in enum_class)}")
        return [item(v).value for v in value]

    return parse


def _parse_json(value: Any) -> Any:
    return value


def coercer_for(column: sa.Column[Any]) -> Coercer:
    col_type = column.type
    if isinstance(col_type, sa.Enum):
        return _parse_enum(col_type.enum_class, col_type.enums)
    enum_class = column.info.get("enum")
    is_list = isinstance(col_type, sa.JSON | sa.ARRAY)
    if is_list and isinstance(enum_class, type) and issubclass(enum_class, enum.Enum):
        return _parse_enum_list(enum_class)
    if isinstance(col_type, sa.JSON | sa.ARRAY):
        return _parse_json
    python_type = _python_type(column)
    if python_type is bool:
        return _parse_bool
    if python_type is int:
        return _parse_bounded_int(_int_bits(col_type))
    if python_type is float:
        return _parse_float
    if python_type is decimal.Decimal:
        if getattr(col_type, "asdecimal", True) is False:
            return _parse_float
        return _parse_numeric(getattr(col_type, "precision", None), getattr(col_type, "scale", None))
    if python_type is dt.datetime:
        return _parse_datetime(bool(getattr(col_type, "timezone", False)))
    if python_type is dt.date:
        return _parse_date
    if python_type is uuid.UUID:
        return _parse_uuid
    if python_type is str:
        return _parse_str(getattr(col_type, "length", None))
    return _parse_json


@dataclass(slots=True)
class FieldInfo:
    key: str  # Python attribute
    wire: str  # camelCase name on the wire
    column: sa.Column[Any]
    coerce: Coercer
    is_sensitive: bool
    is_privileged: bool
    is_primary_key: bool
    is_foreign_key: bool
    is_required: bool  # must be given on create
    is_generated_pk: bool
    is_password: bool
    is_string: bool


@dataclass(slots=True)
class RelationInfo:
    key: str
    wire: str
    target: type
    direction: RelationshipDirection
    attribute: Any  # the mapped attribute, for has()/any()
    pairs: tuple[tuple[sa.Column[Any], sa.Column[Any]], ...]  # (local, remote)
    is_privileged: bool
    is_list: bool  # one-to-many and many-to-many, unless uselist=False (one-to-one)


@dataclass(slots=True)
class ModelInfo:
    """Precomputed facts about one mapped model, built once at startup."""

    model: type
    name: str
    resource: str  # kebab singular: `blog-post`
    route: str  # kebab plural: `blog-posts`
    table: sa.Table
    fields: dict[str, FieldInfo]  # by wire name, sensitive ones included (use the views below)
    relations: dict[str, RelationInfo]
    primary_key: FieldInfo
    lookup: dict[str, FieldInfo] = field(default_factory=dict)  # wire and snake spellings, not sensitive
    relation_lookup: dict[str, RelationInfo] = field(default_factory=dict)
    visible: tuple[FieldInfo, ...] = ()
    visible_columns: tuple[sa.Column[Any], ...] = ()
    visible_keys: tuple[str, ...] = ()
    searchable: tuple[FieldInfo, ...] = ()
    write_lookup: dict[str, FieldInfo] = field(default_factory=dict)  # includes password-like fields
    default_order: Any = None  # `primary key ASC`, built once: every list ends with it (stable pages)

    def field(self, name: str) -> FieldInfo | None:
        return self.lookup.get(name)

    def relation(self, name: str) -> RelationInfo | None:
        return self.relation_lookup.get(name)

    def describe(self, name: str) -> str:
        return f"'{name}' is not a field of {self.name}"


def _marked(model: type, column_key: str, column: sa.Column[Any], flag: str) -> bool:
    if column.info.get(flag):
        return True
    return column_key in set(getattr(model, f"__{flag}__", ()))


def build_model_info(model: type) -> ModelInfo:
    mapper: Mapper[Any] = class_mapper(model)
    table = mapper.local_table
    assert isinstance(table, sa.Table)
    fields: dict[str, FieldInfo] = {}
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if not isinstance(column, sa.Column):
            continue
        is_password = bool(column.info.get("password"))
        is_pk = column.primary_key
        generated_pk = is_pk and (
            column.default is not None
            or column.server_default is not None
            or (column.autoincrement is True or (column.autoincrement == "auto" and _python_type(column) is int))
        )
        info = FieldInfo(
            key=attr.key,
            wire=to_camel(attr.key),
            column=column,
            coerce=coercer_for(column),
            is_sensitive=is_password or _marked(model, attr.key, column, "sensitive"),
            is_privileged=_marked(model, attr.key, column, "privileged"),
            is_primary_key=is_pk,
            is_foreign_key=bool(column.foreign_keys),
            is_required=not column.nullable
            and column.default is None
            and column.server_default is None
            and not generated_pk,
            is_generated_pk=generated_pk,
            is_password=is_password,
            is_string=_python_type(column) is str and not isinstance(column.type, sa.Enum),
        )
        fields[info.wire] = info
    # Primary key first on the wire, then the model's own order.
    fields = dict(sorted(fields.items(), key=lambda item: not item[1].is_primary_key))
    pks = [f for f in fields.values() if f.is_primary_key]
    if len(pks) != 1:
        raise ValueError(f"{model.__name__}: arkos needs exactly one primary-key column, found {len(pks)}")
    relations: dict[str, RelationInfo] = {}
    privileged_relations = set(getattr(model, "__privileged__", ()))
    for rel in mapper.relationships:
        pairs = tuple((local, remote) for local, remote in rel.local_remote_pairs or ())
        relations[to_camel(rel.key)] = RelationInfo(
            key=rel.key,
            wire=to_camel(rel.key),
            target=rel.mapper.class_,
            direction=rel.direction,
            attribute=getattr(model, rel.key),
            pairs=pairs,
            is_privileged=rel.key in privileged_relations or bool(rel.info.get("privileged")),
            is_list=bool(rel.uselist),
        )
    info = ModelInfo(
        model=model,
        name=model.__name__,
        resource=to_kebab(model.__name__),
        route=pluralize(to_kebab(model.__name__)),
        table=table,
        fields=fields,
        relations=relations,
        primary_key=pks[0],
    )
    visible = tuple(f for f in fields.values() if not f.is_sensitive)
    info.visible = visible
    info.visible_columns = tuple(f.column for f in visible)
    info.visible_keys = tuple(f.wire for f in visible)
    info.default_order = info.primary_key.column.asc()
    info.lookup = {name: f for f in visible for name in (f.wire, f.key)}
    info.write_lookup = {
        name: f for f in fields.values() if not f.is_sensitive or f.is_password for name in (f.wire, f.key)
    }
    info.relation_lookup = {name: r for r in relations.values() for name in (r.wire, r.key)}
    info.searchable = tuple(f for f in visible if f.is_string and not f.is_primary_key and not f.is_foreign_key)
    return info


def coerce_value(info: ModelInfo, f: FieldInfo, value: Any, *, where: str) -> Any:
    """Coerce one client value by the column's type, or answer 400 naming the field."""
    if value is None:
        if f.column.nullable:
            return None
        raise ArkosError(ErrorCode.VALIDATION, f"{where}: '{f.wire}' cannot be null", meta={"field": f.wire})
    try:
        return f.coerce(value)
    except ValueError as exc:
        raise ArkosError(
            ErrorCode.VALIDATION, f"{where}: '{f.wire}' {exc}", meta={"field": f.wire}
        ) from None
