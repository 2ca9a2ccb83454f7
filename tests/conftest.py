"""Fixtures: each test gets a fresh app on SQLite and on PostgreSQL, users, logins and Redis.

PostgreSQL and Redis URLs can be overridden (ARKOS_TEST_PG_URL, ARKOS_TEST_REDIS_URL). An unreachable
service skips its tests, unless ARKOS_REQUIRE_SERVICES=1 (CI), which turns the skip into a failure.
Each test session gets its own PostgreSQL schema and Redis key prefix, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

import arkos
from arkos.config import deep_merge
from arkos.users import create_user
from tests.sample.models import Base

PG_URL = os.environ.get("ARKOS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ARKOS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("ARKOS_REQUIRE_SERVICES") == "1"
PASSWORD = "Passw0rd-Test"
JWT_SECRET = "test-secret-" + "x" * 40
ENV_VARS = ("ARKOS_ENV", "DATABASE_URL", "JWT_SECRET", "JWT_EXPIRES_IN", "JWT_COOKIE_SECURE",
            "JWT_COOKIE_HTTP_ONLY", "JWT_COOKIE_SAME_SITE", "JWT_COOKIE_DOMAIN", "REDIS_URL", "HOST", "PORT",
            "ARKOS_CONFIG")


def service_unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ARKOS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's shell or .env must never change what a test sees."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


# -- PostgreSQL: one schema per test session (per xdist worker) ---------------------------------------


async def pg_execute(statements: list[str], schema: str | None = None) -> None:
    """Run SQL on the test PostgreSQL, inside `schema` when given (shared by every module that needs its own)."""
    args = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    engine = create_async_engine(PG_URL, **args)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def pg_create_tables(schema: str, *metadatas: sa.MetaData) -> None:
    engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.begin() as conn:
            for metadata in metadatas:
                await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str | None]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(pg_execute([f'CREATE SCHEMA "{schema}"']))
    except Exception as exc:  # noqa: BLE001 - any failure means the service is not there
        yield None
        _ = exc
        return
    try:
        asyncio.run(pg_create_tables(schema, Base.metadata, arkos.arkos_metadata))
        yield schema
    finally:
        asyncio.run(pg_execute([f'DROP SCHEMA IF EXISTS "{schema}" CASCADE']))


def _all_tables() -> list[str]:
    tables = [t.name for t in Base.metadata.sorted_tables] + [t.name for t in arkos.arkos_metadata.sorted_tables]
    return tables


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_options(backend: str, tmp_path: Any, pg_schema: str | None) -> dict[str, Any]:
    if backend == "sqlite":
        return {"url": f"sqlite+aiosqlite:///{tmp_path}/test.db"}
    if pg_schema is None:
        service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
    return {"url": PG_URL, "schema_name": pg_schema}


async def _reset_database(app: FastAPI, backend: str) -> None:
    runtime = app.state.arkos
    async with runtime.database.engine.begin() as conn:
        if backend == "sqlite":
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(arkos.arkos_metadata.create_all)
        else:
            names = ", ".join(f'"{name}"' for name in _all_tables())
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


AppFactory = Callable[..., Awaitable[FastAPI]]


def base_options(database: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": Base,
        "package": "tests.sample",
        "database": database,
        "authentication": {"mode": "static", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4},
        # Tests log in far more often than a person would; the rate-limit tests switch limits back on.
        "rate_limit": {"enabled": False},
    }


@pytest.fixture
async def app_factory(backend: str, database_options: dict[str, Any]) -> AsyncIterator[AppFactory]:
    """`await app_factory(**overrides)`: a fresh app with empty tables; overrides deep-merge over the defaults."""
    apps: list[FastAPI] = []

    async def make(**overrides: Any) -> FastAPI:
        options = deep_merge(base_options(database_options), overrides)
        app = arkos.init(env_file=None, **options)
        if not apps:
            await _reset_database(app, backend)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.state.arkos.database.dispose()


@pytest.fixture
async def app(app_factory: AppFactory) -> FastAPI:
    return await app_factory()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def make_user(
    app: FastAPI,
    username: str,
    *,
    role: str | None = "User",
    is_super_user: bool = False,
    password: str = PASSWORD,
    **fields: Any,
) -> dict[str, Any]:
    """Insert a user directly (the operator's path), returning its wire dict."""
    runtime = app.state.arkos
    extra = dict(fields)
    if role is not None and "role" in runtime.auth.user_info.fields:
        extra["role"] = role
    return await create_user(runtime, username=username, password=password, is_super_user=is_super_user,
                             fields=extra)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in and return the Authorization header for the token."""
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    # Tests authenticate with the header; a cookie left in the shared client would make later requests
    # cookie-authenticated (and subject to the CSRF check) without the test saying so.
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


@pytest.fixture
async def users(app: FastAPI, client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """admin (super user), editor (Editor), reader (User), norole (no role): each with `user` and `headers`."""
    result: dict[str, dict[str, Any]] = {}
    for name, role, su in (("admin", "Admin", True), ("editor", "Editor", False), ("reader", "User", False),
                           ("norole", None, False)):
        user = await make_user(app, name, role=role, is_super_user=su, email=f"{name}@example.com")
        result[name] = {"user": user, "headers": await login(client, name)}
    return result


# -- Redis ----------------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[tuple[str, str]]:
    """(url, prefix): a reachable Redis and a key prefix of this test's own, flushed afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception:  # noqa: BLE001
        client.close()
        service_unavailable(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"arkos-test:{uuid.uuid4().hex[:10]}:"
    try:
        yield REDIS_URL, prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def sqlite_write_in_another_process(path: Path, sql: str) -> None:
    """Run one statement that changes exactly one row of a SQLite file, from a separate Python process."""
    script = ("import sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)\n"
              "n = c.execute(sys.argv[2]).rowcount\n"
              "c.close()\n"
              "assert n == 1, n\n")
    subprocess.run([sys.executable, "-c", script, str(path), sql], check=True, timeout=30)
