"""Speed and freshness (DECISIONS 13, issue item 5): warm decisions make no query; every write through arkos
invalidates every cache (in-process, PostgreSQL NOTIFY, Redis pub/sub); a channel that is down means no
caching at all (fail closed), and caching resumes when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from fastapi import FastAPI

from arkos.auth.dynamic_admin import publish_change
from arkos.auth.invalidation import LocalChannel, PostgresChannel, RedisChannel
from arkos.auth.permission_models import Effect
from arkos.auth.principal import Principal
from arkos.routing.options import Requirement
from tests.conftest import login
from tests.http.dynamic_helpers import (
    PrivateRedis,
    StatementCounter,
    add_user,
    assign,
    client_for,
    dyn_app_factory,
    dyn_database,
    dyn_pg_schema,
    grant,
    ids,
    raw,
    running,
    wait_until,
)

__all__ = ["dyn_app_factory", "dyn_database", "dyn_pg_schema"]

VIEW_NOTE = Requirement(resource="note", action="View")


async def reader_app(dyn_app_factory: Any, **overrides: Any) -> tuple[FastAPI, dict[str, Any]]:
    """An app where amy holds Reader (View on note), plus a super user root."""
    app = await dyn_app_factory(**overrides)
    amy = await add_user(app, "amy")
    await add_user(app, "root", super_user=True)
    await grant(app, "Reader", "note", "View")
    await assign(app, "amy", "Reader")
    return app, amy


async def decide(app: FastAPI, user: dict[str, Any], requirement: Requirement = VIEW_NOTE) -> tuple[bool, int]:
    """The decision for `user`, and how many SQL statements it took."""
    with StatementCounter(app) as counter:
        allowed, _why = await app.state.arkos.permissions.decide(Principal(id=user["id"]), requirement)
    return allowed, counter.count


def test_the_channel_follows_the_backend(backend: str, dyn_database: dict[str, Any]) -> None:
    import arkos
    from tests.http.dynamic_helpers import dynamic_options

    app = arkos.init(env_file=None, **dynamic_options(dyn_database))
    expected = LocalChannel if backend == "sqlite" else PostgresChannel
    assert type(app.state.arkos.permission_channel) is expected
    with_redis = arkos.init(env_file=None, redis_url="redis://127.0.0.1:1/0", **dynamic_options(dyn_database))
    assert type(with_redis.state.arkos.permission_channel) is RedisChannel


async def test_a_warm_decision_makes_no_query(dyn_app_factory: Any) -> None:
    app, amy = await reader_app(dyn_app_factory)
    async with running(app), client_for(app) as client:
        amy_headers, root_headers = await login(client, "amy"), await login(client, "root")
        # Each token's user row is read once; on SQLite, later requests reuse that check until a commit.
        for headers in (root_headers, amy_headers):
            assert (await client.get("/api/users/me", headers=headers)).status_code == 200
        with StatementCounter(app) as counter:
            assert (await client.get("/api/notes", headers=root_headers)).status_code == 200
            no_decision = counter.count  # a super user is never decided: authenticate + the listing
            counter.reset()
            assert (await client.get("/api/notes", headers=amy_headers)).status_code == 200
            cold = counter.count
            counter.reset()
            assert (await client.get("/api/notes", headers=amy_headers)).status_code == 200
            warm = counter.count
        assert cold == no_decision + 1, counter.statements  # one UNION query fills the cache
        assert warm == no_decision
        assert await decide(app, amy) == (True, 0)
        assert await decide(app, amy, Requirement(resource="note", action="Delete")) == (False, 0)


async def test_writes_through_the_api_invalidate(dyn_app_factory: Any) -> None:
    app, amy = await reader_app(dyn_app_factory)
    async with running(app), client_for(app) as client:
        amy_headers, root = await login(client, "amy"), await login(client, "root")
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 200  # cached now
        assert await decide(app, amy) == (True, 0)
        [row] = await ids(app, "UserRole", "user_id", amy["id"])
        assert (await client.delete(f"/api/user-roles/{row}", headers=root)).status_code == 204
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 403
        [permission] = await ids(app, "AuthPermission", "resource", "note")
        created = await client.post("/api/user-permissions", headers=root,
                                    json={"userId": amy["id"], "permissionId": permission, "effect": "Allow"})
        assert created.status_code == 201, created.text
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 200
        flipped = await client.patch(f"/api/user-permissions/{created.json()['data']['id']}", headers=root,
                                     json={"effect": "Deny"})
        assert flipped.status_code == 200, flipped.text
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 403
        # Renaming what a permission means is a change too.
        await client.delete(f"/api/user-permissions/{created.json()['data']['id']}", headers=root)
        await client.post("/api/user-roles", headers=root,
                          json={"userId": amy["id"], "roleId": (await ids(app, "AuthRole", "name", "Reader"))[0]})
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 200
        renamed = await client.patch(f"/api/auth-permissions/{permission}", headers=root, json={"action": "Read"})
        assert renamed.status_code == 200, renamed.text
        assert (await client.get("/api/notes", headers=amy_headers)).status_code == 403


async def test_a_failed_write_does_not_invalidate(dyn_app_factory: Any) -> None:
    app, amy = await reader_app(dyn_app_factory)
    async with running(app), client_for(app) as client:
        root = await login(client, "root")
        assert await decide(app, amy) == (True, 1)
        generation = app.state.arkos.permissions.cache.generation
        duplicate = await client.post("/api/auth-roles", headers=root, json={"name": "Reader"})
        assert duplicate.status_code == 409, duplicate.text
        await asyncio.sleep(0.2)  # a NOTIFY would have arrived by now
        assert app.state.arkos.permissions.cache.generation == generation
        assert await decide(app, amy) == (True, 0)


async def test_raw_sql_is_seen_after_publish_change(dyn_app_factory: Any) -> None:
    """The documented limit: writes made outside arkos are not announced; publish_change announces them."""
    app, amy = await reader_app(dyn_app_factory)
    async with running(app):
        assert await decide(app, amy) == (True, 1)
        await raw(app, "DELETE FROM user_role")
        assert await decide(app, amy) == (True, 0)  # still cached: nobody said anything
        await publish_change(app.state.arkos)
        await wait_until(lambda: app.state.arkos.permissions.cache.get(amy["id"]) is None, 1.0, "no invalidation")
        assert await decide(app, amy) == (False, 1)


async def test_entries_expire(dyn_app_factory: Any) -> None:
    app, amy = await reader_app(dyn_app_factory)
    async with running(app):
        cache = app.state.arkos.permissions.cache
        assert await decide(app, amy) == (True, 1)
        cache.max_age = 0.05
        await asyncio.sleep(0.1)
        assert await decide(app, amy) == (True, 1)


@pytest.mark.redis
async def test_fail_closed_when_the_redis_listener_is_not_running(dyn_app_factory: Any,
                                                                 redis_url: tuple[str, str]) -> None:
    url, prefix = redis_url
    app, amy = await reader_app(dyn_app_factory, redis_url=url, redis_prefix=prefix)
    runtime = app.state.arkos
    assert isinstance(runtime.permission_channel, RedisChannel)
    # No lifespan: the listener never started, so nothing is cached and every decision reads the database.
    assert runtime.permissions.cache.enabled is False
    assert await decide(app, amy) == (True, 1)
    assert await decide(app, amy) == (True, 1)
    await raw(app, "DELETE FROM user_role")  # not announced, and still seen at once
    assert await decide(app, amy) == (False, 1)


async def test_fail_closed_when_redis_is_unreachable(dyn_app_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    from tests.http.dynamic_helpers import free_port

    _setup, amy = await reader_app(dyn_app_factory)
    app = await dyn_app_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.ERROR, logger="arkos.permissions")
    async with running(app, wait_for_cache=False):
        await wait_until(lambda: "permission cache off" in caplog.text, 3.0, "the outage was not logged")
        assert app.state.arkos.permissions.cache.enabled is False
        assert await decide(app, amy) == (True, 1)
        assert await decide(app, amy) == (True, 1)
        await raw(app, "DELETE FROM user_role")
        assert await decide(app, amy) == (False, 1)


@pytest.mark.redis
async def test_redis_going_away_and_coming_back(dyn_app_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="arkos.permissions")
    with PrivateRedis() as redis_server:
        app, amy = await reader_app(dyn_app_factory, redis_url=redis_server.url)
        cache = app.state.arkos.permissions.cache
        async with running(app):
            assert await decide(app, amy) == (True, 1)
            assert await decide(app, amy) == (True, 0)
            redis_server.stop()
            await wait_until(lambda: not cache.enabled, 3.0, "the cache stayed on without Redis")
            assert "permission cache disabled" in caplog.text
            await raw(app, "DELETE FROM user_role")  # a revocation while nobody can announce anything
            assert await decide(app, amy) == (False, 1)  # not served from the cache: read from the database
            assert await decide(app, amy) == (False, 1)
            redis_server.start()
            await wait_until(lambda: cache.enabled, 5.0, "caching did not resume")
            assert await decide(app, amy) == (False, 1)
            assert await decide(app, amy) == (False, 0)  # cached again


async def fresh_within_a_second(writer: FastAPI, reader: FastAPI, amy: dict[str, Any]) -> float:
    """Revoke amy's role through `writer`'s API; returns how long `reader` took to deny her."""
    async with client_for(writer) as writing, client_for(reader) as reading:
        amy_headers = await login(reading, "amy")
        assert (await reading.get("/api/notes", headers=amy_headers)).status_code == 200
        assert await decide(reader, amy) == (True, 0)  # warm in the reader
        root = await login(writing, "root")
        [row] = await ids(writer, "UserRole", "user_id", amy["id"])
        assert (await writing.delete(f"/api/user-roles/{row}", headers=root)).status_code == 204
        start = time.monotonic()
        while True:
            sent = time.monotonic() - start  # a request sent after 1 s must be refused
            status = (await reading.get("/api/notes", headers=amy_headers)).status_code
            if status == 403:
                return sent
            assert status == 200 and sent < 1.0, f"the other app still answers {status} after {sent:.2f} s"
            await asyncio.sleep(0.01)


@pytest.mark.postgresql
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_apps_postgres_notify(dyn_app_factory: Any) -> None:
    writer, amy = await reader_app(dyn_app_factory)
    reader = await dyn_app_factory()
    assert isinstance(reader.state.arkos.permission_channel, PostgresChannel)
    async with running(writer), running(reader):
        await fresh_within_a_second(writer, reader, amy)


@pytest.mark.redis
async def test_two_apps_redis_pubsub(dyn_app_factory: Any, redis_url: tuple[str, str]) -> None:
    url, prefix = redis_url
    writer, amy = await reader_app(dyn_app_factory, redis_url=url, redis_prefix=prefix)
    reader = await dyn_app_factory(redis_url=url, redis_prefix=prefix)
    async with running(writer), running(reader):
        await fresh_within_a_second(writer, reader, amy)


async def test_grants_use_the_request_connection(dyn_app_factory: Any) -> None:
    """A cold decision inside a request reads on the request's connection: one checkout per request."""
    app, _amy = await reader_app(dyn_app_factory)
    checkouts: list[Any] = []
    engine = app.state.arkos.database.engine.sync_engine
    async with running(app), client_for(app) as client:
        headers = await login(client, "amy")
        app.state.arkos.permissions.cache.invalidate()

        def on_checkout(*_args: Any) -> None:
            checkouts.append(1)

        import sqlalchemy as sa

        sa.event.listen(engine, "checkout", on_checkout)
        try:
            assert (await client.get("/api/notes", headers=headers)).status_code == 200
        finally:
            sa.event.remove(engine, "checkout", on_checkout)
        assert len(checkouts) == 1


async def test_overrides_are_decided_without_a_role(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    bea = await add_user(app, "bea")
    from tests.http.dynamic_helpers import user_permission

    await user_permission(app, "bea", "note", "View", Effect.Allow)
    async with running(app):
        assert await decide(app, bea) == (True, 1)
        assert await decide(app, bea) == (True, 0)
