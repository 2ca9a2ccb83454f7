"""`arkos db push|migrate|upgrade|downgrade`: tables from the models, or Alembic migrations."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arkos.cli._common import console, fail, project_config, show_logs
from arkos.config import ArkosConfig

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

app = typer.Typer(help="Create tables, or generate and apply Alembic migrations.", no_args_is_help=True)

MIGRATIONS_DIR = "migrations"
FolderOption = Annotated[Path, typer.Option("--dir", help="Alembic folder of the project")]


def project_metadata(config: ArkosConfig) -> list[Any]:
    """The models' metadata plus arkos's own tables (revoked tokens): what the app expects to exist."""
    from arkos.auth.models import arkos_metadata
    from arkos.discovery import metadata_of, resolve_models

    return [*metadata_of(resolve_models(config)), arkos_metadata]


async def _push(config: ArkosConfig, metadata: list[Any]) -> list[str]:
    from sqlalchemy import inspect

    from arkos.db import Database

    database = Database(config.database)
    try:
        async with database.engine.begin() as conn:
            before = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            for meta in metadata:
                await conn.run_sync(meta.create_all)
            after = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await database.dispose()
    return sorted(set(after) - before)


def _database_label(config: ArkosConfig) -> str:
    return config.database.url.split("@")[-1]  # never echo a password


@app.command()
def push() -> None:
    """Create every missing table of the models and of arkos (no migrations; existing tables are kept)."""
    from arkos.db_errors import is_db_error

    config = project_config()
    metadata = project_metadata(config)
    if len(metadata) == 1:
        console().print("[yellow]No models found[/yellow] (arkos_config.py names no package or models): "
                        "only arkos's own tables are created.")
    try:
        created = asyncio.run(_push(config, metadata))
    except Exception as exc:
        if is_db_error(exc):
            fail(f"Could not create the tables in {_database_label(config)}: {exc}")
        raise
    out = console()
    if created:
        out.print(f"[green]Created[/green] {len(created)} table(s): {', '.join(created)}")
    else:
        out.print("Every table already exists: nothing to do.")


def create_migrations_folder(folder: Path) -> None:
    """Copy the async Alembic env (URL and metadata from the arkos config) into the project."""
    template = resources.files("arkos") / "templates" / "migrations"
    folder.mkdir(parents=True)
    (folder / "versions").mkdir()
    for item in template.iterdir():
        if item.is_file() and not item.name.startswith((".", "__")):
            (folder / item.name.removesuffix(".tpl")).write_text(item.read_text("utf-8"), "utf-8")


def alembic_config(folder: Path, config: ArkosConfig) -> AlembicConfig:
    """No alembic.ini needed: the folder and the already-validated arkos config are handed to env.py."""
    from alembic.config import Config

    if not (folder / "env.py").is_file():
        fail(f"{folder} is not an Alembic folder (no env.py): "
             "run `arkos db migrate -m \"init\"` to create it")
    cfg = Config()
    cfg.set_main_option("script_location", str(folder.resolve()).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["arkos_config"] = config
    return cfg


def _run(action: str, call: Any, *args: Any, **kwargs: Any) -> None:
    from alembic.util.exc import CommandError

    show_logs("alembic")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin: noise
    try:
        call(*args, **kwargs)
    except CommandError as exc:
        fail(f"{action} failed: {exc}")


@app.command()
def migrate(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")],
    folder: FolderOption = Path(MIGRATIONS_DIR),
    empty: Annotated[bool, typer.Option("--empty", help="Write an empty revision (no autogenerate)")] = False,
) -> None:
    """Write a new revision comparing the models with the database (creates `migrations/` the first time)."""
    from alembic import command

    config = project_config()
    if not folder.exists():
        create_migrations_folder(folder)
        console().print(f"[green]Created[/green] {folder}/ (Alembic, async env reading the arkos config)")
    _run("migrate", command.revision, alembic_config(folder, config), message=message, autogenerate=not empty)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    folder: FolderOption = Path(MIGRATIONS_DIR),
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command

    _run("upgrade", command.upgrade, alembic_config(folder, project_config()), revision)


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base")],
    folder: FolderOption = Path(MIGRATIONS_DIR),
) -> None:
    """Revert migrations down to REVISION."""
    from alembic import command

    _run("downgrade", command.downgrade, alembic_config(folder, project_config()), revision)

