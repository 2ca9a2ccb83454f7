"""Wiring dynamic mode into an app: the decision service, its invalidation channel, and the guards that
stop a delegate from granting what it does not hold (DECISIONS 13)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from arkos.auth.dynamic import DynamicPermissions, PermissionCache
from arkos.auth.invalidation import (
    InvalidationChannel,
    LocalChannel,
    PostgresChannel,
    RedisChannel,
    asyncpg_dsn,
)
from arkos.auth.permission_models import Effect, PermissionModels
from arkos.context import RequestContext
from arkos.crud.repository import pk_condition
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.interceptors import Interceptors

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.config import ArkosConfig
    from arkos.db import Database

logger = logging.getLogger("arkos.permissions")
GRANTING_KINDS = frozenset({"user_role", "auth_role_permission", "user_permission"})
WRITE_OPERATIONS = frozenset({"create_one", "create_many", "update_one", "update_many", "delete_one",
                              "delete_many"})
# Bulk writes of grants would bypass the per-row escalation check: they are never mounted.
FORBIDDEN_BULK = frozenset({"create_many", "update_many"})
# Writes the escalation guard looks at (it decides per kind which of them can hand something out).
GUARDED_KINDS = GRANTING_KINDS | {"auth_permission"}
GUARDED_OPERATIONS = frozenset({"create_one", "update_one", "update_many", "delete_one", "delete_many"})


def build_dynamic(config: ArkosConfig, database: Database, models: PermissionModels,
                  redis: Any) -> tuple[DynamicPermissions, InvalidationChannel]:
    cache = PermissionCache()
    channel: InvalidationChannel
    if redis is not None:
        channel = RedisChannel(cache, redis, config.redis_prefix, config.redis_url)
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
        ctx.on_commit(lambda: _publish_after_commit(channel))


async def _publish_after_commit(channel: InvalidationChannel) -> None:
    # The write is committed: answering 500 would invite a retry. A Redis that cannot take the message
    # is down for the other processes' listeners too, and they stop caching until it is back.
    try:
        await channel.publish(None)
    except Exception:
        logger.warning("a permission change was saved but could not be announced", exc_info=True)


def _forbid(message: str) -> ArkosError:
    return ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, message)


async def _affected(ctx: RequestContext) -> list[dict[str, Any]]:
    """The rows the write touches, as they are now (nothing for a create)."""
    info = ctx.model
    assert info is not None
    if ctx.operation == "create_one":
        return []
    if ctx.operation in {"update_many", "delete_many"}:
        where = ctx.query.where()
    else:
        where = pk_condition(info, str(ctx.request.path_params["id"]))
    conn = await ctx.connection()
    return [dict(row) for row in (await conn.execute(sa.select(info.table).where(where))).mappings()]


def _is_deny(effect: Any) -> bool:
    return effect in (Effect.Deny, Effect.Deny.value)


async def guard_grant(ctx: RequestContext) -> None:
    """A delegate (not a super user) may only hand out roles and permissions it holds itself.

    Handing out covers: a UserRole row (the role must be one of the delegate's), an AuthRolePermission
    row or a UserPermission Allow (the delegate must hold the permission), lifting a UserPermission Deny
    (delete, or update away from the user/permission/effect it had), and changing what an AuthPermission
    row means (its new resource and action must be held). Revoking is never restricted here.
    """
    user = ctx.user
    info = ctx.model
    if user is None or user.is_super_user or info is None:
        return
    kind = getattr(info.model, "__arkos_kind__", None)
    if kind not in GUARDED_KINDS:
        return
    operation = ctx.operation
    if kind == "auth_permission" and operation not in {"update_one", "update_many"}:
        return
    deleting = operation in {"delete_one", "delete_many"}
    if deleting and kind != "user_permission":
        return
    before = await _affected(ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    after = [] if deleting else ([dict(body)] if operation == "create_one" else [{**row, **body} for row in before])
    permissions: DynamicPermissions = ctx.runtime.permissions
    conn = await ctx.connection()
    held = await permissions.load(user.id, conn)  # fresh, never a cached answer
    checks = _Checks(conn, permissions.models, held)
    if kind == "user_role":
        for values in after:
            if str(values.get("role_id")) not in held.role_ids:
                raise _forbid("You cannot grant a role you do not hold")
    elif kind == "auth_role_permission":
        for values in after:
            await checks.permission_id(values.get("permission_id"))
    elif kind == "user_permission":
        for old in before:  # a Deny that goes away (or moves) lifts a restriction
            new = None if deleting else {**old, **body}
            if _is_deny(old.get("effect")) and (new is None or any(new.get(k) != old.get(k) for k in
                                                                    ("user_id", "permission_id", "effect"))):
                await checks.permission_id(old.get("permission_id"), lifting=True)
        for values in after:
            if not _is_deny(values.get("effect", Effect.Allow)):
                await checks.permission_id(values.get("permission_id"))
    elif kind == "auth_permission" and ({"resource", "action"} & body.keys()):
        for values in after:
            checks.pair(values.get("resource"), values.get("action"))


class _Checks:
    def __init__(self, conn: Any, models: PermissionModels, held: Any) -> None:
        self.conn, self.models, self.held = conn, models, held

    def pair(self, resource: Any, action: Any, *, lifting: bool = False) -> None:
        if resource is None or not self.held.decide(str(resource), str(action))[0]:
            raise _forbid("You cannot lift a Deny on a permission you do not hold" if lifting
                          else "You cannot grant a permission you do not hold")

    async def permission_id(self, permission_id: Any, *, lifting: bool = False) -> None:
        table = self.models.AuthPermission.__table__  # type: ignore[attr-defined]
        row = (await self.conn.execute(sa.select(table.c.resource, table.c.action)
                                       .where(table.c.id == permission_id))).first()
        self.pair(row.resource if row else None, row.action if row else None, lifting=lifting)


def builtin_interceptors(runtime: Runtime, model: type, operation: str) -> Interceptors:
    kind = getattr(model, "__arkos_kind__", None)
    if runtime.permissions is None or kind is None or operation not in WRITE_OPERATIONS:
        return Interceptors()
    before = (guard_grant,) if kind in GUARDED_KINDS and operation in GUARDED_OPERATIONS else ()
    return Interceptors(before=before, after=(announce,))


def combine(first: Interceptors, second: Interceptors) -> Interceptors:
    return Interceptors(before=first.before + second.before, after=first.after + second.after,
                        on_error=first.on_error + second.on_error)
