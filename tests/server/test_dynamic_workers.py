"""Freshness across real processes (DECISIONS 13): two uvicorn processes share one PostgreSQL schema; a
revocation made through one is enforced by the other within one second, over PostgreSQL NOTIFY and over
Redis pub/sub; with Redis taken away the other process stops caching, and caches again once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import arkos
from tests.conftest import JWT_SECRET, PASSWORD, PG_URL, service_unavailable
from tests.http.dynamic_helpers import (
    PrivateRedis,
    add_user,
    assign,
    free_port,
    grant,
    ids,
    pg_create_schema,
    pg_drop_schema,
    pg_run,
)

pytestmark = [pytest.mark.server, pytest.mark.postgresql]
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@dataclass
class Seeded:
    schema: str
    amy_id: str
    amy_role_row: str


def seed(schema: str) -> Seeded:
    """amy holds Reader (View on note); root is a super user. Written with an app of the test process."""

    async def run() -> Seeded:
        await pg_create_schema(schema)
        app = arkos.init(env_file=None, models="tests.dynamic_sample.models", package="tests.dynamic_sample",
                         database={"url": PG_URL, "schema_name": schema}, rate_limit={"enabled": False},
                         authentication={"mode": "dynamic", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4})
        try:
            amy = await add_user(app, "amy")
            await add_user(app, "root", super_user=True)
            await grant(app, "Reader", "note", "View")
            await assign(app, "amy", "Reader")
            [row] = await ids(app, "UserRole", "user_id", amy["id"])
        finally:
            await app.state.arkos.database.dispose()
        return Seeded(schema, amy["id"], row)

    return asyncio.run(run())


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"dynsrv_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(pg_run(["SELECT 1"]))
    except Exception:  # noqa: BLE001
        service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
    try:
        yield name
    finally:
        asyncio.run(pg_drop_schema(name))


@contextlib.contextmanager
def servers(tmp_path: Path, schema: str, count: int = 2, **env: str) -> Iterator[list[Server]]:
    """`count` uvicorn processes on the same schema; always terminated (then killed) on the way out."""
    started: list[Server] = []
    base = {**os.environ, "PYTHONPATH": str(REPO), "DYN_DATABASE_URL": PG_URL, "DYN_SCHEMA": schema,
            "DYN_JWT_SECRET": JWT_SECRET, **env}
    for name in ("ARKOS_ENV", "DATABASE_URL", "JWT_SECRET", "ARKOS_CONFIG", *(() if "REDIS_URL" in env
                                                                              else ("REDIS_URL",))):
        base.pop(name, None)
    try:
        for index in range(count):
            port = free_port()
            log = tmp_path / f"server-{index}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "tests.dynamic_sample.server_app:app", "--host", "127.0.0.1",
                     "--port", str(port), "--log-level", "warning"],
                    cwd=REPO, env=base, stdout=sink, stderr=subprocess.STDOUT)
            started.append(Server(port, process, log))
        for server in started:
            # Generous: under a loaded CI machine, importing the app alone can take seconds.
            wait_for(lambda s=server: ready(s), 45, f"uvicorn on {server.port} did not start", server)
            wait_for(lambda s=server: cache_enabled(s), 10, "the permission cache never got enabled", server)
        yield started
    finally:
        for server in started:
            server.process.terminate()
        for server in started:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def ready(server: Server) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"uvicorn exited: {server.output()}")
    try:
        return httpx.get(f"{server.url}/api", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def cache_enabled(server: Server) -> bool:
    return bool(httpx.get(f"{server.url}/_test/cache", timeout=2).json()["enabled"])


def wait_for(condition: Callable[[], bool], timeout: float, message: str, server: Server | None = None) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{message} (after {timeout} s)\n{server.output() if server else ''}")
        time.sleep(0.02)
    return time.monotonic() - start


def token(server: Server, username: str) -> dict[str, str]:
    response = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": PASSWORD},
                          timeout=5)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def decide(server: Server, user_id: str) -> dict[str, Any]:
    return httpx.get(f"{server.url}/_test/decide", params={"user": user_id, "resource": "note", "action": "View"},
                     timeout=5).json()


def notes(server: Server, headers: dict[str, str]) -> int:
    return httpx.get(f"{server.url}/api/notes", headers=headers, timeout=5).status_code


def warm(server: Server, user_id: str) -> None:
    """Until a decision for the user is served from the cache (a loaded machine may flap the listener)."""
    wait_for(lambda: decide(server, user_id)["statements"] == 0, 5, "the decision never got cached", server)


def revoke_through_one_and_poll_the_other(seeded: Seeded, first: Server, second: Server) -> float:
    amy = token(first, "amy")
    assert notes(first, amy) == 200 and notes(second, amy) == 200
    warm(second, seeded.amy_id)
    assert decide(second, seeded.amy_id)["allowed"] is True
    root = token(first, "root")
    deleted = httpx.delete(f"{first.url}/api/user-roles/{seeded.amy_role_row}", headers=root, timeout=5)
    assert deleted.status_code == 204, deleted.text
    start = time.monotonic()
    while True:
        sent = time.monotonic() - start  # a request sent after 1 s must be refused, however slow the answer
        status = notes(second, amy)
        if status == 403:
            return sent
        assert status == 200, status
        assert sent < 1.0, "the other process still allows after 1 s"
        time.sleep(0.02)


def test_revocation_reaches_the_other_process_over_postgres_notify(schema: str, tmp_path: Path) -> None:
    seeded = seed(schema)
    with servers(tmp_path, schema) as (first, second):
        assert first.process.pid != second.process.pid
        elapsed = revoke_through_one_and_poll_the_other(seeded, first, second)
        assert elapsed < 1.0


@pytest.mark.redis
def test_revocation_reaches_the_other_process_over_redis(schema: str, tmp_path: Path,
                                                         redis_url: tuple[str, str]) -> None:
    url, prefix = redis_url
    seeded = seed(schema)
    with servers(tmp_path, schema, REDIS_URL=url, DYN_REDIS_PREFIX=prefix) as (first, second):
        elapsed = revoke_through_one_and_poll_the_other(seeded, first, second)
        assert elapsed < 1.0


@pytest.mark.redis
def test_redis_going_away_mid_run(schema: str, tmp_path: Path) -> None:
    seeded = seed(schema)
    with PrivateRedis() as redis_server, servers(tmp_path, schema, count=1, REDIS_URL=redis_server.url) as [one]:
        amy = token(one, "amy")
        assert notes(one, amy) == 200
        warm(one, seeded.amy_id)  # served from the cache

        redis_server.stop()
        wait_for(lambda: not cache_enabled(one), 3, "the cache stayed on without Redis", one)
        asyncio.run(pg_run(["DELETE FROM user_role"], schema))  # revoked while nobody can announce it
        answer = decide(one, seeded.amy_id)
        assert answer["allowed"] is False and answer["statements"] == 1  # read from the database
        assert decide(one, seeded.amy_id)["statements"] == 1  # and again: nothing is cached
        # A real request is refused too (the token deny-list lives in Redis as well: 503, fail closed).
        assert notes(one, amy) in (403, 503)

        redis_server.start()
        wait_for(lambda: cache_enabled(one), 6, "caching did not resume once Redis was back", one)
        assert decide(one, seeded.amy_id) == {"allowed": False, "statements": 1,
                                              "why": "no role or user permission grants View:note"}
        assert decide(one, seeded.amy_id)["statements"] == 0  # cached again
        assert notes(one, amy) == 403
