"""Telling every process that permissions changed: Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or in-process.

A listener that is not connected means the cache cannot be trusted: it is disabled until the listener
is back (and then starts empty), so a revocation is never served stale from a cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from arkos.auth.dynamic import PermissionCache

logger = logging.getLogger("arkos.permissions")
CHANNEL = "arkos_permissions"
HEARTBEAT_SECONDS = 0.5
DEAD_AFTER_SECONDS = 2.0


class InvalidationChannel(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, conn: AsyncConnection | None) -> None:
        """Announce a change; with a connection, inside its transaction where the channel allows it."""


class LocalChannel:
    """One process (SQLite): invalidating the local cache is all there is to do."""

    def __init__(self, cache: PermissionCache) -> None:
        self.cache = cache

    async def start(self) -> None:
        self.cache.enable()

    async def stop(self) -> None:
        return None

    async def publish(self, conn: AsyncConnection | None) -> None:
        self.cache.invalidate()


class _ListeningChannel:
    """A background task keeps a listener connected; while it is not, the cache stays off."""

    def __init__(self, cache: PermissionCache) -> None:
        self.cache = cache
        self._task: asyncio.Task[None] | None = None
        self._delay = 0.1
        self._outage_logged = False
        self.cache.enabled = False  # nothing is trusted until the listener runs

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"arkos-{type(self).__name__}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.cache.enabled = False  # a normal shutdown: nothing to log
        self.cache.invalidate()

    def _connected(self) -> None:
        """Called by `_listen` once it hears every change: the cache may be used again (starting empty)."""
        self.cache.enable()
        self._delay = 0.1
        self._outage_logged = False

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
                raise ConnectionError("listener stopped")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: stop trusting the cache, then retry
                reason = f"{type(self).__name__} listener failed: {type(exc).__name__}: {exc}"
                if self.cache.enabled:
                    self.cache.disable(reason)  # logs it
                elif not self._outage_logged:  # never connected since startup (or since the last log)
                    logger.error("permission cache off (decisions read the database): %s", reason)
                self.cache.invalidate()
                self._outage_logged = True
                await asyncio.sleep(self._delay)
                self._delay = min(self._delay * 2, 2.0)

    async def _listen(self) -> None:
        raise NotImplementedError


class RedisChannel(_ListeningChannel):
    """Pub/sub on `<prefix>arkos_permissions`.

    The subscription has a connection of its own, built from `url` without redis-py's automatic
    reconnection: a reconnect would silently resubscribe and lose what was published in between, so
    any connection error must reach `_run` (cache off, then back on, empty). Pings every
    HEARTBEAT_SECONDS while idle; no answer for DEAD_AFTER_SECONDS counts as an outage.
    """

    def __init__(self, cache: PermissionCache, client: Any, prefix: str, url: str | None = None) -> None:
        super().__init__(cache)
        self.client = client
        self.url = url
        self.name = f"{prefix}{CHANNEL}"

    def _listener_client(self) -> tuple[Any, bool]:
        if self.url is None:
            return self.client, False
        import redis.asyncio as redis_asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return redis_asyncio.from_url(self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2), True

    async def _listen(self) -> None:
        client, owned = self._listener_client()
        pubsub = client.pubsub()
        loop = asyncio.get_running_loop()
        try:
            await pubsub.subscribe(self.name)
            confirmation = await pubsub.get_message(timeout=2.0)
            if confirmation is None or confirmation.get("type") != "subscribe":
                raise ConnectionError(f"no confirmation of the subscription to {self.name}")
            self._connected()
            last_heard = loop.time()
            while True:
                message = await pubsub.get_message(timeout=HEARTBEAT_SECONDS)
                now = loop.time()
                if message is None:
                    if now - last_heard > DEAD_AFTER_SECONDS:
                        raise ConnectionError(f"Redis answered no ping for {now - last_heard:.1f} s")
                    await pubsub.ping()
                    continue
                last_heard = now
                if message.get("type") == "message":  # not the answers to our pings
                    self.cache.invalidate()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            if owned:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def publish(self, conn: AsyncConnection | None) -> None:
        self.cache.invalidate()
        # When this fails, Redis is down for the other processes' listeners too: they stop caching.
        await self.client.publish(self.name, b"1")


class PostgresChannel(_ListeningChannel):
    def __init__(self, cache: PermissionCache, dsn: str, schema: str | None) -> None:
        super().__init__(cache)
        self.dsn = dsn
        self.name = f"{CHANNEL}_{schema}" if schema else CHANNEL

    async def _listen(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=5)
        lost = asyncio.Event()
        try:
            await conn.add_listener(self.name, lambda *_args: self.cache.invalidate())
            conn.add_termination_listener(lambda *_args: lost.set())
            self._connected()
            while not lost.is_set():
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=2.0)  # heartbeat
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=HEARTBEAT_SECONDS)
            raise ConnectionError("PostgreSQL listener connection lost")
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    async def publish(self, conn: AsyncConnection | None) -> None:
        # NOTIFY inside the writing transaction is delivered on commit, never for a rolled-back write.
        if conn is not None:
            await conn.execute(sa.select(sa.func.pg_notify(self.name, "")))
        else:
            import asyncpg

            raw = await asyncpg.connect(self.dsn, timeout=5)
            try:
                await raw.execute("SELECT pg_notify($1, '')", self.name)
            finally:
                await raw.close()
        self.cache.invalidate()


def asyncpg_dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
