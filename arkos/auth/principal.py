"""Principal: the authenticated user of a request, without the password hash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from copy import deepcopy
from decimal import Decimal
from enum import Enum
from uuid import UUID
from dataclasses import dataclass, field
from typing import Any, NoReturn


class UserFields(dict[str, Any]):
    """A user's visible fields (wire names), read-only: one Principal serves every request of a token
    until its user row changes, so no request may change what the next one sees. `dict(user.fields)`
    (or `copy`, `pickle`) gives a plain, writable dict."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a Principal's fields are read-only; copy them with dict(user.fields)")

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return dict, (dict(self),)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: id, flags, roles and the user's visible fields (wire names). Immutable."""

    id: Any
    is_super_user: bool = False
    is_staff: bool = False
    roles: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=UserFields)
    decider: Any = field(default=None, repr=False, compare=False)
    # The fields whose value a request could change in place (a JSON column, a list of roles, a custom
    # type): read-only `fields` cannot stop that, so each request gets its own copies (see for_request).
    _mutable: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.fields, UserFields):
            object.__setattr__(self, "fields", UserFields(self.fields))
        mutable = tuple(name for name, value in self.fields.items() if not _immutable(value))
        object.__setattr__(self, "_mutable", mutable)

    async def can(self, requirement: Any) -> bool:
        """Whether this user may do what `requirement` asks (used by `policy.can_*`)."""
        if self.is_super_user:
            return True
        if self.decider is None:
            return False
        allowed, _why = await self.decider(self, requirement)
        return allowed

    def for_request(self) -> Principal:
        """This Principal for one more request: itself when nothing in it can be changed in place (the
        common case, free), else a copy with its own copies of the changeable values."""
        if not self._mutable:
            return self
        fields = dict(self.fields)
        for name in self._mutable:
            fields[name] = deepcopy(fields[name])
        return Principal(self.id, self.is_super_user, self.is_staff, self.roles, UserFields(fields), self.decider)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


_IMMUTABLE = (str, int, float, bytes, Decimal, dt.date, dt.time, dt.timedelta, UUID, Enum, type(None))


def _immutable(value: object) -> bool:
    """Known to be unchangeable (so shareable between requests): scalars, and tuples/frozensets of them.
    Anything else (dict, list, bytearray, a custom object) is copied for each request."""
    if isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, tuple | frozenset):
        return all(_immutable(item) for item in value)
    return False


def role_names(value: object) -> tuple[str, ...]:
    """`role` (one enum) or `roles` (a list) → role names; enum members count by value."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple | set | frozenset) else (value,)
    return tuple(str(getattr(item, "value", item)) for item in items)
