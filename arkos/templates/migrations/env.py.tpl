"""Alembic environment of an arkos project: the URL and the metadata come from the arkos config."""

import asyncio
import sys
from pathlib import Path

from alembic import context
from sqlalchemy.engine import Connection

from arkos.app import build_config
from arkos.auth.models import arkos_metadata
from arkos.db import Database
from arkos.discovery import metadata_of, resolve_models

# `arkos db ...` hands over its validated config; plain `alembic` builds it from arkos_config.py and .env.
if str(Path.cwd()) not in sys.path:
    sys.path.insert(0, str(Path.cwd()))
settings = context.config.attributes.get("arkos_config") or build_config(None, {}, ".env")

# The project's models and arkos's own tables (revoked tokens): both are migrated.
target_metadata = [*metadata_of(resolve_models(settings)), arkos_metadata]


def _configure(**options: object) -> None:
    is_sqlite = settings.database.url.startswith("sqlite")
    # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
    context.configure(target_metadata=target_metadata, render_as_batch=is_sqlite, **options)


def run_migrations_offline() -> None:
    """`--sql` mode: print the SQL instead of running it."""
    _configure(url=settings.database.url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """arkos's Database: the same engine options as the app (SQLite pragmas, PostgreSQL schema)."""
    database = Database(settings.database)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
