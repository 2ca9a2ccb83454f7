"""Managing dynamic-mode data outside HTTP: roles, grants, assignments, sync and migration from static."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from arkos.auth.permission_models import PermissionModels, find_permission_models
from arkos.auth.principal import role_names
from arkos.config import ConfigError

if TYPE_CHECKING:
    from arkos.app import Runtime


def permission_models(runtime: Runtime) -> PermissionModels:
    found = find_permission_models([info.model for info in runtime.registry.values()])
    if found is None:
        raise ConfigError("the permission tables are not among the models: add "
                          "arkos.define_permission_models(Base, user_model=User) to your models module")
    return found


def _table(model: type) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


async def _get_or_create(conn: AsyncConnection, table: sa.Table, where: dict[str, Any],
                         extra: dict[str, Any] | None = None) -> tuple[Any, bool]:
    condition = sa.and_(*(table.c[k] == v for k, v in where.items()))
    found = (await conn.execute(sa.select(table.c.id).where(condition))).scalar_one_or_none()
    if found is not None:
        return found, False
    inserted = await conn.execute(sa.insert(table).values({**where, **(extra or {})}).returning(table.c.id))
    return inserted.scalar_one(), True


async def ensure_role(conn: AsyncConnection, models: PermissionModels, name: str,
                      description: str | None = None) -> tuple[Any, bool]:
    return await _get_or_create(conn, _table(models.AuthRole), {"name": name}, {"description": description})


async def ensure_permission(conn: AsyncConnection, models: PermissionModels, resource: str,
                            action: str) -> tuple[Any, bool]:
    return await _get_or_create(conn, _table(models.AuthPermission), {"resource": resource, "action": action})


async def grant(conn: AsyncConnection, models: PermissionModels, role: str, resource: str, action: str) -> bool:
    role_id, _ = await ensure_role(conn, models, role)
    permission_id, _ = await ensure_permission(conn, models, resource, action)
    _, created = await _get_or_create(conn, _table(models.AuthRolePermission),
                                      {"role_id": role_id, "permission_id": permission_id})
    return created


async def find_role(conn: AsyncConnection, models: PermissionModels, name: str) -> Any:
    """The id of the role called `name`, or None."""
    table = _table(models.AuthRole)
    return (await conn.execute(sa.select(table.c.id).where(table.c.name == name))).scalar_one_or_none()


async def find_user(conn: AsyncConnection, runtime: Runtime, user: str) -> Any:
    """The id of the user whose username (else id) is `user`, or None."""
    info = runtime.auth.user_info
    if info is None:
        raise ConfigError("no user model")
    pk = info.primary_key.column
    found = (await conn.execute(sa.select(pk).where(info.fields["username"].column == user))).scalar_one_or_none()
    if found is None:
        try:
            user_id = info.primary_key.coerce(user)
        except ValueError:
            return None
        found = (await conn.execute(sa.select(pk).where(pk == user_id))).scalar_one_or_none()
    return found


async def assign(conn: AsyncConnection, runtime: Runtime, models: PermissionModels, username: str,
                 role: str) -> bool:
    """Give the user (username, or id) the role; False when it already had it."""
    user_id = await find_user(conn, runtime, username)
    if user_id is None:
        raise LookupError(f"No user named {username!r}")
    role_id = await find_role(conn, models, role)
    if role_id is None:
        raise LookupError(f"No role named {role!r}: create it with `arkos roles create {role}`")
    _, created = await _get_or_create(conn, _table(models.UserRole), {"user_id": user_id, "role_id": role_id})
    return created


def declared_actions(runtime: Runtime) -> list[tuple[str, str, tuple[str, ...]]]:
    """(resource, action, roles in code) for every action the app declares."""
    from arkos.auth.actions import declared_requirements

    seen: dict[tuple[str, str], tuple[str, ...]] = {}
    for requirement in declared_requirements(runtime):
        if requirement.resource and requirement.action:
            key = (requirement.resource, requirement.action)
            seen[key] = tuple(dict.fromkeys(seen.get(key, ()) + requirement.rule.roles))
    return [(resource, action, roles) for (resource, action), roles in sorted(seen.items())]


async def sync_permissions(runtime: Runtime, *, publish: bool = True) -> int:
    """An AuthPermission row for every (resource, action) the app declares; returns how many were new."""
    models = permission_models(runtime)
    created = 0
    async with runtime.database.engine.begin() as conn:
        for resource, action, _roles in declared_actions(runtime):
            created += (await ensure_permission(conn, models, resource, action))[1]
    if publish:
        await publish_change(runtime)
    return created


async def migrate_to_dynamic(runtime: Runtime, *, publish: bool = True) -> dict[str, int]:
    """Roles from the static enum, grants from the static rules, user-role rows from each user's role(s).

    Idempotent: what already exists is kept, so it can run again after adding users or rules. "*" rules
    need no rows (they still allow any authenticated user in dynamic mode)."""
    models = permission_models(runtime)
    info = runtime.auth.user_info
    if info is None:
        raise ConfigError("no user model")
    role_field = info.fields.get("roles") or info.fields.get("role")
    if role_field is None:
        raise ConfigError(f"{info.name} has no role or roles column to migrate from")
    counts = {"roles": 0, "grants": 0, "assignments": 0}
    async with runtime.database.engine.begin() as conn:
        for name in _enum_values(role_field.column):
            counts["roles"] += (await ensure_role(conn, models, name))[1]
        for resource, action, roles in declared_actions(runtime):
            await ensure_permission(conn, models, resource, action)
            for role in roles:
                if role != "*":
                    counts["grants"] += await grant(conn, models, role, resource, action)
        rows = (await conn.execute(sa.select(info.fields["username"].column, role_field.column))).all()
        for username, value in rows:
            for role in role_names(value):
                await ensure_role(conn, models, role)
                counts["assignments"] += await assign(conn, runtime, models, username, role)
    if publish:
        await publish_change(runtime)
    return counts


def _enum_values(column: sa.Column[Any]) -> Iterable[str]:
    enum_class = column.info.get("enum")
    if enum_class is not None:
        return [str(m.value) for m in enum_class]
    if isinstance(column.type, sa.Enum):
        return list(column.type.enums)
    return []


async def publish_change(runtime: Runtime) -> None:
    """Tell every running process that permissions changed; call it after writing the permission tables
    with raw SQL (writes through arkos routes and commands already do).

    Redis pub/sub when the config has a REDIS_URL, else PostgreSQL NOTIFY; on SQLite only the caches of
    this process can be told (other processes see the change when their entries expire, within 60 s).
    Raises when the channel cannot be reached.
    """
    from arkos.auth.dynamic_setup import build_dynamic

    channel = runtime.permission_channel
    if channel is None:
        _permissions, channel = build_dynamic(runtime.config, runtime.database, permission_models(runtime),
                                              runtime.redis)
    await channel.publish(None)
