"""`arkos users create`: add a user (a first admin, say) from the command line, validated and hashed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from arkos.auth.passwords import check_strength
from arkos.cli._common import console, ensure_cwd_on_path, fail
from arkos.errors import ArkosError, ErrorCode

if TYPE_CHECKING:
    from arkos.app import Runtime

app = typer.Typer(help="Manage users.", no_args_is_help=True)


class MissingTable(Exception):
    """The user table is not there yet: the fix is a command, not a traceback."""


def parse_fields(pairs: list[str] | None) -> dict[str, str]:
    """`--field key=value` pairs; values stay strings and are coerced by the column type like query values."""
    fields: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--field")
        fields[key.strip()] = value
    return fields


async def _create(runtime: Runtime, **kwargs: Any) -> dict[str, Any]:
    """Checks the table first: a missing table would otherwise surface as 'database unavailable'."""
    import sqlalchemy as sa

    from arkos.db_errors import is_db_error, translate_db_error
    from arkos.users import create_user

    info = runtime.auth.user_info
    assert info is not None
    table = info.table
    try:
        async with runtime.database.engine.connect() as conn:
            exists = await conn.run_sync(lambda c: sa.inspect(c).has_table(table.name, schema=table.schema))
        if not exists:
            raise MissingTable(repr(table.name))
        return await create_user(runtime, **kwargs)
    except Exception as exc:
        if is_db_error(exc):
            raise translate_db_error(exc) from exc
        raise
    finally:
        await runtime.database.dispose()
        if runtime.redis is not None:
            await runtime.redis.aclose()


def _runtime() -> Runtime:
    import arkos

    ensure_cwd_on_path()
    runtime: Runtime = arkos.init().state.arkos
    if runtime.auth.user_info is None:
        name = runtime.config.authentication.user_model
        fail(f"No user model named {name!r} in this project "
             "(set authentication.user_model in the arkos config)")
    return runtime


def _explain(error: ArkosError, username: str) -> str:
    if error.code == ErrorCode.DUPLICATE_RECORDS:
        found = error.meta.get("fields")
        fields = [str(f) for f in found] if isinstance(found, list) else []
        if fields == ["username"]:
            return f"A user named {username!r} already exists"
        names = ", ".join(fields) or "values"
        return f"User not created: another user already has the same {names}"
    return f"User not created: {error.message}"


@app.command()
def create(
    username: Annotated[str | None, typer.Option(help="Login name (prompted if missing)")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted, hidden, if missing)")] = None,
    superuser: Annotated[bool, typer.Option("--superuser", help="Bypasses every permission check")] = False,
    role: Annotated[str | None, typer.Option(help="Role, for static mode (e.g. Admin)")] = None,
    email: Annotated[str | None, typer.Option(help="Email, if the user model has one")] = None,
    field: Annotated[
        list[str] | None, typer.Option("--field", "-f", help="Other column: key=value (repeat)")
    ] = None,
    allow_weak_password: Annotated[bool, typer.Option(
        "--allow-weak-password", help="Skip authentication.password_regex (test accounts only)")] = False,
) -> None:
    """Create a user; run `arkos db push` (or `arkos db upgrade`) first so the table exists."""
    fields: dict[str, Any] = parse_fields(field)
    if role is not None:
        fields["role"] = role
    if email is not None:
        fields["email"] = email
    runtime = _runtime()
    username = username or typer.prompt("Username")
    password = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not allow_weak_password:
        auth = runtime.config.authentication
        try:
            check_strength(password, auth.password_regex, auth.password_message, field="password")
        except ArkosError as exc:
            fail(f"User not created: {exc.message} (--allow-weak-password skips this check)")
    try:
        user = asyncio.run(_create(runtime, username=username, password=password, is_super_user=superuser,
                                   fields=fields))
    except MissingTable as exc:
        fail(f"The table {exc} does not exist yet: run `arkos db push` (or `arkos db upgrade`) first")
    except ArkosError as exc:
        fail(_explain(exc, username))
    shown = {"id": user.get("id"), "role": user.get("role"), "superuser": superuser or None}
    details = ", ".join(f"{k} {getattr(v, 'value', v)}" for k, v in shown.items() if v is not None)
    console().print(f"[green]Created user[/green] {escape(username)} ({escape(details)})")
