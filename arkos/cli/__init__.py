"""The `arkos` command line: dev/start servers, database tables and migrations, new projects, users."""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from arkos.cli import db, new, permissions, roles, run, users
from arkos.cli._common import EXIT_CONFIG, fail
from arkos.config import ConfigError


class _ArkosGroup(TyperGroup):
    """Wraps every subcommand: a bad config or env value is a message and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)


app = typer.Typer(
    name="arkos",
    cls=_ArkosGroup,
    help="arkos: SQLAlchemy models → a secured REST API on FastAPI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secrets (JWT_SECRET, database passwords)
)
app.command()(run.dev)
app.command()(run.start)
app.command()(new.new)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(roles.app, name="roles")
app.add_typer(roles.permissions_app, name="permissions")
app.command("migrate-to-dynamic")(roles.migrate_to_dynamic)
permissions.register(app)  # export auth-actions, generate policy|auth-configs, can


def main() -> None:
    """Console-script entry point (`arkos = "arkos.cli:main"`)."""
    app(prog_name="arkos")


__all__ = ["app", "main"]
