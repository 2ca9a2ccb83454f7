"""Wiring dynamic mode into an app: the decision service, its invalidation channel, and the guards that
stop a delegate from granting what it does not hold (DECISIONS 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from arkos.auth.dynamic import DynamicPermissions, PermissionCache
from arkos.auth.invalidation import InvalidationChannel, LocalChannel, PostgresChannel, RedisChannel, asyncpg_dsn
from arkos.auth.permission_models import Effect, PermissionModels
from arkos.context import RequestContext
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.interceptors import Interceptors

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.config import ArkosConfig
    from arkos.db import Database

GRANTING_KINDS = frozenset({"user_role", "auth_role_permission", "user_permission"})
WRITE_OPERATIONS = frozenset({"create_one", "create_many", "update_one", "update_many", "delete_one",
                              "delete_many"})
# Bulk writes of grants would bypass the per-row escalation check: they are never mounted.
FORBIDDEN_BULK = frozenset({"create_many", "update_many"})


def build_dynamic(config: ArkosConfig, database: Database, models: PermissionModels,
                  redis: Any) -> tuple[DynamicPermissions, InvalidationChannel]:
    cache = PermissionCache()
    channel: InvalidationChannel
    if redis is not None:
        channel = RedisChannel(cache, redis, config.redis_prefix)
    elif database.is_postgresql:
        channel = PostgresChannel(cache, asyncpg_dsn(database.url), database.config.schema_name)
    else:
        channel = LocalChannel(cache)
    return DynamicPermissions(models, database.engine, cache), channel


async def announce(ctx: RequestContext) -> None:
    """After any write to the permission tables: every process drops its cached decisions."""
    channel = ctx.runtime.permission_channel
    if isinstance(channel, PostgresChannel):
        await channel.publish(await ctx.connection())  # NOTIFY rides the transaction: sent on commit
    else:
        ctx.on_commit(lambda: channel.publish(None))


def _forbid(message: str) -> ArkosError:
    return ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, message)


async def _existing(ctx: RequestContext) -> dict[str, Any]:
    info = ctx.model
    assert info is not None
    if "id" not in ctx.request.path_params:
        return {}
    conn = await ctx.connection()
    row = (await conn.execute(sa.select(info.table).where(
        info.primary_key.column == ctx.request.path_params["id"]))).mappings().first()
    return dict(row) if row else {}


async def guard_grant(ctx: RequestContext) -> None:
    """A delegate (not a super user) may only hand out roles and permissions it holds itself."""
    user = ctx.user
    info = ctx.model
    if user is None or user.is_super_user or info is None:
        return
    kind = getattr(info.model, "__arkos_kind__", None)
    if kind not in GRANTING_KINDS:
        return
    permissions: DynamicPermissions = ctx.runtime.permissions
    values = {**(await _existing(ctx)), **ctx.body}
    conn = await ctx.connection()
    held = await permissions.load(user.id, conn)
    models = permissions.models
    if kind == "user_role":
        role_table = models.AuthRole.__table__  # type: ignore[attr-defined]
        name = (await conn.execute(sa.select(role_table.c.name).where(role_table.c.id == values.get("role_id"))
                                   )).scalar_one_or_none()
        if name is None or name not in held.role_names:
            raise _forbid("You cannot grant a role you do not hold")
        return
    effect = values.get("effect", Effect.Allow)
    if kind == "user_permission" and effect in (Effect.Deny, "Deny"):
        return
    perm_table = models.AuthPermission.__table__  # type: ignore[attr-defined]
    row = (await conn.execute(sa.select(perm_table.c.resource, perm_table.c.action)
                              .where(perm_table.c.id == values.get("permission_id")))).first()
    if row is None or not held.decide(row.resource, row.action)[0]:
        raise _forbid("You cannot grant a permission you do not hold")


def builtin_interceptors(runtime: Runtime, model: type, operation: str) -> Interceptors:
    kind = getattr(model, "__arkos_kind__", None)
    if runtime.permissions is None or kind is None or operation not in WRITE_OPERATIONS:
        return Interceptors()
    before = (guard_grant,) if operation in {"create_one", "update_one"} else ()
    return Interceptors(before=before, after=(announce,))


def combine(first: Interceptors, second: Interceptors) -> Interceptors:
    return Interceptors(before=first.before + second.before, after=first.after + second.after,
                        on_error=first.on_error + second.on_error)
