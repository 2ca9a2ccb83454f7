"""Dynamic mode from the command line: `arkos permissions sync`, `arkos roles create|grant|assign`,
`arkos migrate-to-dynamic`. Every command writes in one transaction, then tells running servers
(Redis pub/sub or PostgreSQL NOTIFY) so that their permission caches drop the old answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from arkos.cli._common import console, ensure_cwd_on_path, err_console, fail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from arkos.app import Runtime
    from arkos.auth.permission_models import PermissionModels

T = TypeVar("T")

app = typer.Typer(help="Manage dynamic-mode roles: create, grant permissions, assign to users.",
                  no_args_is_help=True)
permissions_app = typer.Typer(help="Manage dynamic-mode permissions.", no_args_is_help=True)


def _runtime() -> Runtime:
    import arkos

    ensure_cwd_on_path()
    runtime: Runtime = arkos.init().state.arkos
    return runtime


def _execute(work: Callable[[Runtime, PermissionModels], Awaitable[T]], *, needs_users: bool = False) -> T:
    """Run `work`, announce the change to running servers, and turn known failures into messages."""
    from arkos.auth.dynamic_admin import permission_models, publish_change
    from arkos.db_errors import is_db_error, translate_db_error

    runtime = _runtime()
    models = permission_models(runtime)  # ConfigError (no permission tables): exit 2 with the fix
    if needs_users and runtime.auth.user_info is None:
        fail(f"No user model named {runtime.config.authentication.user_model!r} in this project "
             "(set authentication.user_model in the arkos config)")

    async def main() -> tuple[T, str | None]:
        try:
            result = await work(runtime, models)
            try:
                await publish_change(runtime)
            except Exception as exc:  # noqa: BLE001 - the change is saved; only the servers' caches lag
                return result, f"{type(exc).__name__}: {exc}"
            return result, None
        finally:
            await runtime.database.dispose()
            if runtime.redis is not None:
                await runtime.redis.aclose()

    try:
        result, warning = asyncio.run(main())
    except LookupError as exc:
        fail(str(exc.args[0]) if exc.args else str(exc))
    except Exception as exc:
        if is_db_error(exc):
            error = translate_db_error(exc)
            fail(f"{error.message}. Do the permission tables exist? Run `arkos db push` (or `arkos db migrate` "
                 "then `arkos db upgrade`) first.")
        raise
    if warning is not None:
        err_console().print(f"Saved, but running servers could not be told ({warning}); their cached "
                            "permissions expire within 60 s.", style="yellow", markup=False)
    return result


def _declared(runtime: Runtime) -> set[tuple[str, str]]:
    from arkos.auth.dynamic_admin import declared_actions

    return {(resource, action) for resource, action, _roles in declared_actions(runtime)}


@permissions_app.command("sync")
def sync() -> None:
    """Create an AuthPermission row for every (resource, action) the app declares (routes and policies)."""
    from arkos.auth.dynamic_admin import declared_actions, sync_permissions

    declared: list[Any] = []

    async def work(runtime: Runtime, _models: PermissionModels) -> int:
        declared.extend(declared_actions(runtime))
        return await sync_permissions(runtime, publish=False)

    created = _execute(work)
    console().print(f"[green]{created} permission(s) created[/green] ({len(declared)} declared, "
                    f"{len(declared) - created} already there)")


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Role name, e.g. Editor (case-sensitive)")],
    description: Annotated[str | None, typer.Option(help="What the role is for")] = None,
) -> None:
    """Create a role (nothing happens if it already exists)."""
    from arkos.auth.dynamic_admin import ensure_role

    async def work(runtime: Runtime, models: PermissionModels) -> bool:
        async with runtime.database.engine.begin() as conn:
            return (await ensure_role(conn, models, name, description))[1]

    if _execute(work):
        console().print(f"[green]Created role[/green] {escape(name)}")
    else:
        console().print(f"Role {escape(name)} already exists: nothing to do.")


@app.command("grant")
def grant(
    role: Annotated[str, typer.Argument(help="An existing role (see `arkos roles create`)")],
    resource: Annotated[str, typer.Argument(help="Kebab-case resource, e.g. post or blog-post")],
    action: Annotated[str, typer.Argument(help="Action, e.g. View, Create, Update, Delete")],
) -> None:
    """Let every holder of ROLE perform ACTION on RESOURCE."""
    from arkos.auth.dynamic_admin import find_role
    from arkos.auth.dynamic_admin import grant as grant_permission

    undeclared: list[bool] = []

    async def work(runtime: Runtime, models: PermissionModels) -> bool:
        undeclared.append((resource, action) not in _declared(runtime))
        async with runtime.database.engine.begin() as conn:
            await _require_role(conn, models, role, find_role)
            return await grant_permission(conn, models, role, resource, action)

    created = _execute(work)
    if undeclared and undeclared[0]:
        err_console().print(f"Warning: the app declares no action {action!r} on resource {resource!r} "
                            "(a typo? names are case-sensitive; see GET /api/auth-actions)",
                            style="yellow", markup=False)
    what = f"{escape(action)} on {escape(resource)}"
    if created:
        console().print(f"[green]Granted[/green] {what} to role {escape(role)}")
    else:
        console().print(f"Role {escape(role)} already has {what}: nothing to do.")


async def _require_role(conn: AsyncConnection, models: PermissionModels, role: str, find: Any) -> None:
    if await find(conn, models, role) is None:
        raise LookupError(f"No role named {role!r}: create it with `arkos roles create {role}`")


@app.command("assign")
def assign(
    user: Annotated[str, typer.Argument(help="Username (or id) of the user")],
    role: Annotated[str, typer.Argument(help="An existing role")],
) -> None:
    """Give USER the role ROLE."""
    from arkos.auth.dynamic_admin import assign as assign_role

    async def work(runtime: Runtime, models: PermissionModels) -> bool:
        async with runtime.database.engine.begin() as conn:
            return await assign_role(conn, runtime, models, user, role)

    if _execute(work, needs_users=True):
        console().print(f"[green]Assigned[/green] role {escape(role)} to {escape(user)}")
    else:
        console().print(f"{escape(user)} already has role {escape(role)}: nothing to do.")


def migrate_to_dynamic() -> None:
    """Copy static roles and rules into the permission tables (safe to run again).

    Roles from the role enum, grants from the rules, user-role rows from each user's role(s); then set
    authentication.mode = "dynamic".
    """
    from arkos.auth.dynamic_admin import migrate_to_dynamic as migrate

    modes: list[str | None] = []

    async def work(runtime: Runtime, _models: PermissionModels) -> dict[str, int]:
        modes.append(runtime.config.authentication.mode)
        return await migrate(runtime, publish=False)

    counts = _execute(work, needs_users=True)
    console().print(f"[green]Migrated[/green]: {counts['roles']} role(s), {counts['grants']} grant(s) and "
                    f"{counts['assignments']} user-role assignment(s) created")
    if modes and modes[0] != "dynamic":
        console().print('Next: set authentication.mode = "dynamic" in the arkos config. Rules written as "*" '
                        "keep allowing any logged-in user; every other permission comes from the database.")
