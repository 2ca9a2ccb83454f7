"""Principal: the authenticated user of a request, without the password hash."""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: id, flags, roles and the user's visible fields (wire names)."""

    id: Any
    is_super_user: bool = False
    is_staff: bool = False
    roles: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    decider: Any = field(default=None, repr=False, compare=False)

    async def can(self, requirement: Any) -> bool:
        """Whether this user may do what `requirement` asks (used by `policy.can_*`)."""
        if self.is_super_user:
            return True
        if self.decider is None:
            return False
        allowed, _why = await self.decider(self, requirement)
        return allowed

    def copy(self) -> Principal:
        """The same user with fields of its own (a request may change them; the next must not see it)."""
        fields = {name: deepcopy(value) if isinstance(value, dict | list | set) else value
                  for name, value in self.fields.items()}
        return Principal(self.id, self.is_super_user, self.is_staff, self.roles, fields, self.decider)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def role_names(value: object) -> tuple[str, ...]:
    """`role` (one enum) or `roles` (a list) → role names; enum members count by value."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple | set | frozenset) else (value,)
    return tuple(str(getattr(item, "value", item)) for item in items)
