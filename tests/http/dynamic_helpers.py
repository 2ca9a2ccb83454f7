"""Fixtures and helpers for the dynamic-mode tests: apps on tests.dynamic_sample (SQLite, or a PostgreSQL
schema of their own), users, grants written the operator's way, statement counting, a running lifespan.

Import the fixtures into a test module: `from tests.http.dynamic_helpers import dyn_app_factory, ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Self

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

import arkos
from arkos.auth import dynamic_admin
from arkos.auth.permission_models import Effect
from arkos.config import deep_merge
from arkos.users import create_user
from tests.conftest import (
    JWT_SECRET,
    PASSWORD,
    PG_URL,
    login,
    pg_create_tables,
    pg_execute,
    service_unavailable,
)
from tests.dynamic_sample.models import Base

PACKAGE = "tests.dynamic_sample"


# -- PostgreSQL: a schema of our own (per xdist worker), dropped at the end ----------------------------


pg_run = pg_execute  # the server tests import it under this name


async def pg_create_schema(schema: str) -> None:
    await pg_execute([f'CREATE SCHEMA "{schema}"'])
    await pg_create_tables(schema, Base.metadata, arkos.arkos_metadata)


async def pg_drop_schema(schema: str) -> None:
    await pg_run([f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'])


@pytest.fixture(scope="session")
def dyn_pg_schema() -> Iterator[str | None]:
    schema = f"dyn_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(pg_create_schema(schema))
    except Exception:  # noqa: BLE001 - the service is not there
        yield None
        return
    try:
        yield schema
    finally:
        asyncio.run(pg_drop_schema(schema))


@pytest.fixture
def dyn_database(backend: str, tmp_path: Any, dyn_pg_schema: str | None) -> dict[str, Any]:
    if backend == "sqlite":
        return {"url": f"sqlite+aiosqlite:///{tmp_path}/dyn.db"}
    if dyn_pg_schema is None:
        service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
    return {"url": PG_URL, "schema_name": dyn_pg_schema}


def dynamic_options(database: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": Base,
        "package": PACKAGE,
        "database": database,
        "authentication": {"mode": "dynamic", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4},
        "rate_limit": {"enabled": False},  # the tests log in far more often than people do
    }


async def reset_tables(app: FastAPI) -> None:
    runtime = app.state.arkos
    async with runtime.database.engine.begin() as conn:
        if runtime.database.is_sqlite:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(arkos.arkos_metadata.create_all)
        else:
            tables = [t.name for t in Base.metadata.sorted_tables] + [
                t.name for t in arkos.arkos_metadata.sorted_tables]
            await conn.execute(sa.text(f"TRUNCATE {', '.join(repr_ident(t) for t in tables)} CASCADE"))


def repr_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


DynAppFactory = Callable[..., Awaitable[FastAPI]]


@pytest.fixture
async def dyn_app_factory(dyn_database: dict[str, Any]) -> AsyncIterator[DynAppFactory]:
    """`await dyn_app_factory(**overrides)`: a dynamic-mode app; the first one empties the tables."""
    apps: list[FastAPI] = []

    async def make(**overrides: Any) -> FastAPI:
        app = arkos.init(env_file=None, **deep_merge(dynamic_options(dyn_database), overrides))
        if not apps:
            await reset_tables(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.state.arkos.database.dispose()
        if app.state.arkos.redis is not None:
            await app.state.arkos.redis.aclose()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@contextlib.asynccontextmanager
async def running(app: FastAPI, *, wait_for_cache: bool = True, timeout: float = 5.0) -> AsyncIterator[None]:
    """Run the app's lifespan (the invalidation listener) and wait until its permission cache is trusted."""
    async with app.router.lifespan_context(app):
        if wait_for_cache:
            await wait_until(lambda: app.state.arkos.permissions.cache.enabled, timeout,
                             "the permission cache never got enabled (listener not connected)")
        yield


async def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> float:
    """Poll `condition` every 10 ms; returns the seconds it took, fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{message} (after {timeout} s)")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


class StatementCounter(logging.Handler):
    """Counts the SQL statements an app sends: the engine's (SQLAlchemy `before_cursor_execute`) and
    the SQLite read lane's (logged on `arkos.readlane` at DEBUG)."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(logging.DEBUG)
        self.engine = app.state.arkos.database.engine.sync_engine
        self.statements: list[str] = []
        self._lane_log = logging.getLogger("arkos.readlane")
        self._lane_level = self._lane_log.level

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())

    def __enter__(self) -> Self:
        sa.event.listen(self.engine, "before_cursor_execute", self._on_execute)
        self._lane_log.addHandler(self)
        self._lane_log.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._on_execute)
        self._lane_log.removeHandler(self)
        self._lane_log.setLevel(self._lane_level)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


# -- users and grants, written the operator's way (arkos.auth.dynamic_admin) ----------------------------


async def add_user(app: FastAPI, username: str, *, super_user: bool = False, **fields: Any) -> dict[str, Any]:
    return await create_user(app.state.arkos, username=username, password=PASSWORD, is_super_user=super_user,
                             fields=fields)


async def user_with_login(app: FastAPI, client: httpx.AsyncClient, username: str, *,
                          super_user: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    user = await add_user(app, username, super_user=super_user)
    return user, await login(client, username)


async def admin_write(app: FastAPI, work: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """Run `work(conn, models)` in one transaction, then announce it the way arkos commands do."""
    runtime = app.state.arkos
    models = dynamic_admin.permission_models(runtime)
    async with runtime.database.engine.begin() as conn:
        result = await work(conn, models)
    await dynamic_admin.publish_change(runtime)
    return result


async def grant(app: FastAPI, role: str, resource: str, action: str) -> None:
    await admin_write(app, lambda conn, models: dynamic_admin.grant(conn, models, role, resource, action))


async def assign(app: FastAPI, username: str, role: str) -> None:
    runtime = app.state.arkos

    async def work(conn: Any, models: Any) -> None:
        await dynamic_admin.ensure_role(conn, models, role)
        await dynamic_admin.assign(conn, runtime, models, username, role)

    await admin_write(app, work)


async def user_permission(app: FastAPI, username: str, resource: str, action: str, effect: Effect) -> None:
    runtime = app.state.arkos

    async def work(conn: Any, models: Any) -> None:
        permission_id, _ = await dynamic_admin.ensure_permission(conn, models, resource, action)
        user_id = await dynamic_admin.find_user(conn, runtime, username)
        await conn.execute(sa.insert(models.UserPermission.__table__).values(
            id=str(uuid.uuid4()), user_id=user_id, permission_id=permission_id, effect=effect))

    await admin_write(app, work)


async def ids(app: FastAPI, table: str, column: str, value: Any) -> list[Any]:
    """Ids of the rows of a permission table whose `column` equals `value`."""
    runtime = app.state.arkos
    models = dynamic_admin.permission_models(runtime)
    model = getattr(models, table)
    t = model.__table__
    async with runtime.database.engine.connect() as conn:
        return list((await conn.execute(sa.select(t.c.id).where(t.c[column] == value))).scalars())


async def raw(app: FastAPI, statement: str, **params: Any) -> list[Any]:
    """Raw SQL, outside arkos (nothing is announced)."""
    async with app.state.arkos.database.engine.begin() as conn:
        result = await conn.execute(sa.text(statement), params)
        return list(result.all()) if result.returns_rows else []


# -- a private redis-server, to take away and bring back ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class PrivateRedis:
    """`redis-server` on a free port, no persistence; `stop()` kills it, `start()` brings it back on the
    same port. Use as a context manager so that it is always killed."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            service_unavailable("redis-server is not installed")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 5.0) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
