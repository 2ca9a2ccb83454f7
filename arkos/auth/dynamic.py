"""Dynamic mode: decisions from the permission tables, cached per process, invalidated across processes.

Resolution (reference §3.4): a UserPermission row for (user, resource, action) wins outright (Deny
beats any role, Allow grants without one); otherwise any of the user's roles granting it; super users
bypass. A user's grants are loaded with one query and cached; every write to the permission tables
through arkos invalidates every process's cache (invalidation.py). When invalidation cannot be trusted
the cache is off and every decision reads the database (fail closed, DECISIONS 13).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arkos.auth.permission_models import Effect, PermissionModels
from arkos.routing.options import Requirement

if TYPE_CHECKING:
    from arkos.auth.principal import Principal

logger = logging.getLogger("arkos.permissions")
Key = tuple[str, str]
Connectable = AsyncConnection | Callable[[], Awaitable[AsyncConnection]] | None


@dataclass(frozen=True, slots=True)
class Grants:
    """What one user holds: per-user overrides and what their roles grant."""

    overrides: dict[Key, bool]
    from_roles: frozenset[Key]
    role_names: tuple[str, ...]
    role_ids: frozenset[Any] = frozenset()

    def decide(self, resource: str, action: str) -> tuple[bool, str]:
        key = (resource, action)
        if key in self.overrides:
            allowed = self.overrides[key]
            return allowed, f"user permission {'Allow' if allowed else 'Deny'} on {action}:{resource}"
        if key in self.from_roles:
            return True, f"a role grants {action}:{resource}"
        return False, f"no role or user permission grants {action}:{resource}"


class PermissionCache:
    """A bounded per-process cache with a generation counter, so a load that raced an invalidation
    is never stored."""

    def __init__(self, *, max_users: int = 10_000, max_age_seconds: float = 60.0, enabled: bool = True) -> None:
        self._entries: OrderedDict[Any, tuple[float, Grants]] = OrderedDict()
        self.max_users = max_users
        self.max_age = max_age_seconds
        self.generation = 0
        self.enabled = enabled

    def get(self, user_id: Any) -> Grants | None:
        if not self.enabled:
            return None
        found = self._entries.get(user_id)
        if found is None or time.monotonic() - found[0] > self.max_age:
            return None
        return found[1]

    def put(self, user_id: Any, grants: Grants, generation: int) -> None:
        if not self.enabled or generation != self.generation:
            return
        self._entries[user_id] = (time.monotonic(), grants)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_users:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    def disable(self, reason: str) -> None:
        if self.enabled:
            logger.error("permission cache disabled (decisions read the database): %s", reason)
        self.enabled = False
        self.invalidate()

    def enable(self) -> None:
        self.invalidate()
        if not self.enabled:
            logger.info("permission cache enabled")
        self.enabled = True


class DynamicPermissions:
    def __init__(self, models: PermissionModels, engine: AsyncEngine, cache: PermissionCache) -> None:
        self.models = models
        self.engine = engine
        self.cache = cache
        self.kinds = {m: m.__arkos_kind__ for m in models.all()}
        perm = models.AuthPermission.__table__  # type: ignore[attr-defined]
        role_perm = models.AuthRolePermission.__table__  # type: ignore[attr-defined]
        user_role = models.UserRole.__table__  # type: ignore[attr-defined]
        user_perm = models.UserPermission.__table__  # type: ignore[attr-defined]
        role = models.AuthRole.__table__  # type: ignore[attr-defined]
        uid = sa.bindparam("uid")
        by_role = (
            sa.select(perm.c.resource, perm.c.action, sa.literal("role").label("source"), role.c.name,
                      sa.cast(role.c.id, sa.String).label("role_id"))
            .select_from(user_role.join(role, role.c.id == user_role.c.role_id)
                         .outerjoin(role_perm, role_perm.c.role_id == user_role.c.role_id)
                         .outerjoin(perm, perm.c.id == role_perm.c.permission_id))
            .where(user_role.c.user_id == uid)
        )
        by_user = (
            sa.select(perm.c.resource, perm.c.action, sa.cast(user_perm.c.effect, sa.String).label("source"),
                      sa.literal(None, sa.String).label("name"), sa.literal(None, sa.String).label("role_id"))
            .select_from(user_perm.join(perm, perm.c.id == user_perm.c.permission_id))
            .where(user_perm.c.user_id == uid)
        )
        # One query per cache fill: both sources together.
        self._statement = sa.union_all(by_role, by_user)

    async def load(self, user_id: Any, conn: Connectable = None) -> Grants:
        """Read one user's grants (one statement) and cache them unless an invalidation raced the read.

        `conn` is a connection, a coroutine function giving one (a request's `ctx.connection`, opened
        only on a cache miss), or None for a connection of its own. A given connection must not hold an
        older snapshot than the generation read here: PostgreSQL's READ COMMITTED takes one per statement,
        and SQLite's driver opens no transaction for reads."""
        generation = self.cache.generation
        if callable(conn):
            conn = await conn()
        if conn is None:
            async with self.engine.connect() as own:
                rows = (await own.execute(self._statement, {"uid": user_id})).all()
        else:
            rows = (await conn.execute(self._statement, {"uid": user_id})).all()
        overrides: dict[Key, bool] = {}
        from_roles: set[Key] = set()
        names: set[str] = set()
        role_ids: set[Any] = set()
        for resource, action, source, role_name, role_id in rows:
            if source == "role":
                names.add(role_name)
                role_ids.add(role_id)
                if resource is not None:
                    from_roles.add((resource, action))
            else:
                overrides[(resource, action)] = source == Effect.Allow.value or source == "Allow"
        grants = Grants(overrides, frozenset(from_roles), tuple(sorted(names)), frozenset(role_ids))
        self.cache.put(user_id, grants, generation)
        return grants

    async def grants(self, user_id: Any, conn: Connectable = None) -> Grants:
        return self.cache.get(user_id) or await self.load(user_id, conn)

    async def decide(self, user: Principal, requirement: Requirement, conn: Connectable = None) -> tuple[bool, str]:
        if user.is_super_user:
            return True, "super user"
        if requirement.rule.allows_anyone:  # "*" in code still means any authenticated user
            return True, "rule allows any authenticated user (*)"
        grants = await self.grants(user.id, conn)
        return grants.decide(requirement.resource or "", requirement.action or "")
