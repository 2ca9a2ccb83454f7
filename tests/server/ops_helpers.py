"""Shared by the outage and shutdown tests: a database for tests.ops_sample, its admin, the server env."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import arkos
from arkos.users import create_user
from tests.conftest import JWT_SECRET, PASSWORD, PG_URL, pg_create_tables, pg_execute, service_unavailable
from tests.ops_sample.models import Base

REPO = Path(__file__).resolve().parents[2]
APP = "tests.ops_sample.server_app:app"


@contextmanager
def ops_database(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Tables of tests.ops_sample and a super user `admin`; yields {"url", "schema"} (schema "" on SQLite)."""
    if backend == "sqlite":
        database = {"url": f"sqlite+aiosqlite:///{tmp_path}/ops.db", "schema": ""}
        asyncio.run(_create_sqlite(database["url"]))
    else:
        database = {"url": PG_URL, "schema": f"ops_{uuid.uuid4().hex[:10]}"}
        try:
            asyncio.run(pg_execute([f'CREATE SCHEMA "{database["schema"]}"']))
        except Exception:  # noqa: BLE001 - any failure means the service is not there
            service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
        asyncio.run(pg_create_tables(database["schema"], Base.metadata, arkos.arkos_metadata))
    try:
        asyncio.run(_add_admin(database))
        yield database
    finally:
        if database["schema"]:
            asyncio.run(pg_execute([f'DROP SCHEMA IF EXISTS "{database["schema"]}" CASCADE']))


async def _create_sqlite(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(arkos.arkos_metadata.create_all)
    finally:
        await engine.dispose()


def _local_app(database: dict[str, str]) -> Any:
    return arkos.init(env_file=None, models=Base, package="tests.ops_sample", rate_limit={"enabled": False},
                      database={"url": database["url"], "schema_name": database["schema"] or None},
                      authentication={"mode": "static", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4})


async def _add_admin(database: dict[str, str]) -> None:
    app = _local_app(database)
    try:
        await create_user(app.state.arkos, username="admin", password=PASSWORD, is_super_user=True,
                          fields={"role": "Admin"})
    finally:
        await app.state.arkos.database.dispose()


def entry_parts(database: dict[str, str]) -> list[tuple[str, int]]:
    """Every (batch, part) row, read straight from the database (not through the server under test)."""

    async def read() -> list[tuple[str, int]]:
        app = _local_app(database)
        try:
            async with app.state.arkos.database.engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT batch, part FROM entries ORDER BY batch, part"))
                return [(str(batch), int(part)) for batch, part in rows]
        finally:
            await app.state.arkos.database.dispose()

    return asyncio.run(read())


def server_env(url: str, schema: str, tmp_path: Path) -> dict[str, str]:
    foreign = ("JWT_", "ARKOS_", "DATABASE_URL", "REDIS_URL")  # the developer's shell must not change the app
    env = {k: v for k, v in os.environ.items() if not k.startswith(foreign)}
    (tmp_path / "marks").mkdir(exist_ok=True)
    env.update(PYTHONPATH=str(REPO), OPS_DATABASE_URL=url, OPS_SCHEMA=schema, OPS_JWT_SECRET=JWT_SECRET,
               OPS_UPLOAD_DIR=str(tmp_path / "uploads"), OPS_MARK_DIR=str(tmp_path / "marks"))
    return env


def admin_headers(base_url: str) -> dict[str, str]:
    response = httpx.post(f"{base_url}/api/auth/login", json={"username": "admin", "password": PASSWORD},
                          timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def wait_for(condition: Callable[[], object], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.02)
