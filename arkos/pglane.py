"""PostgreSQL read lane: arkos's prebuilt hot reads on asyncpg directly, in autocommit, outside SQLAlchemy.

Through SQLAlchemy asyncio an authenticated get-one on PostgreSQL was seven round trips: the pool's
pre-ping (BEGIN; `;`; ROLLBACK, the adapter wraps it in a transaction for pgbouncer; arkos/db.py now
checks with one SELECT 1), BEGIN, the user lookup, the row, COMMIT; each round trip costs ~25 µs of kernel CPU on loopback plus the greenlet
bridge. The lane runs the same prebuilt statements (the user + revocation lookup, one row by primary
key, the plain page, the login lookup) as one round trip each: compiled once by SQLAlchemy for the
asyncpg dialect (its SQL, bind casts and positional order), prepared by asyncpg's statement cache, read
with SQLAlchemy's own bind and result processors (given the column type OIDs, as SQLAlchemy's cursor
does), so callers get exactly the values `AsyncConnection.execute` returns.

Its connections come from an asyncpg pool of their own (`database.read_lane_connections`, opened on
first use), set up like the engine's (timeouts, `statement_timeout`, `search_path`, SQLAlchemy's JSON
codecs) and read-only. Each read holds one only for its round trip, in autocommit: a read needs no transaction and
leaves no state, so there is nothing to reset on release and no pre-ping: a read whose connection turns
out to be dead (the server restarted) is retried once, after every connection of the pool has been
marked for replacement. Like the SQLite lane it is used only while the request has opened no
connection of its own (read-your-writes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from arkos.readlane import Prepared, memoised

log = logging.getLogger("arkos.readlane")

# Errors that mean "this connection is gone", not "this statement failed": the read is retried once.
# (TimeoutError is an OSError too, but a timeout is handled before these: it is not a dead connection.)
_DEAD = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, asyncpg.InternalClientError,
         asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, asyncpg.CannotConnectNowError,
         ConnectionError, OSError)


# Longest a lane read may take without statement_timeout_ms: the lane's reads are by key or a page.
READ_TIMEOUT_SECONDS = 30.0


class PgReadLane:
    """Prebuilt reads on a PostgreSQL database, one round trip each."""

    def __init__(self, dialect: Dialect, connect_kwargs: Mapping[str, Any], *, max_size: int,
                 acquire_timeout: float, json_deserializer: Any = None) -> None:
        self.dialect = dialect
        self._connect_kwargs = dict(connect_kwargs)
        self._max_size = max_size
        self._acquire_timeout = acquire_timeout
        self._json_loads = json_deserializer or json.loads
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Future[asyncpg.Pool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the pool's connections belong to
        # One permit per connection, taken before the pool is asked: asyncio.Semaphore serves waiters in
        # order, while asyncpg's pool lets a newcomer take a released connection before a waiter wakes up
        # (under load some reads waited ~0.5 s while most took 2 ms), and a read with a permit finds a
        # connection at once, so only a wait for a permit needs a timer.
        self._gate = asyncio.Semaphore(max_size)
        # statement identity → (statement, Prepared; its readers once the column OIDs are known)
        self._prepared: dict[int, tuple[Any, Prepared]] = {}

    def data_version(self) -> None:
        """No cheap "nothing changed" signal on PostgreSQL: every authenticated request reads its user."""
        return None

    async def first(self, statement: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = await self._read(statement, values)
        return rows[0] if rows else None

    async def all(self, statement: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return await self._read(statement, values)

    async def _read(self, statement: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        # Readers come later, from the column type OIDs of the first execution (_learn_readers).
        prepared = memoised(self._prepared, statement, self.dialect, with_readers=False)
        params = prepared.parameters(values)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(prepared.sql)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._move_to(loop)
        gate = self._gate
        try:
            if gate.locked():
                await asyncio.wait_for(gate.acquire(), self._acquire_timeout)
            else:
                await gate.acquire()
        except TimeoutError as exc:  # every lane connection stayed busy for the pool timeout
            raise sa_exc.TimeoutError("read lane: no database connection within the timeout") from exc
        try:
            return await self._run(statement, prepared, params)
        finally:
            gate.release()

    async def _run(self, statement: Any, prepared: Prepared, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            try:
                pool = self._pool or await self._open()
                async with pool.acquire() as conn:
                    try:
                        if not prepared.readers_known:
                            ps = await conn.prepare(prepared.sql)
                            self._learn_readers(statement, prepared, ps)
                            raws = await ps.fetch(*params)
                        else:
                            raws = await conn.fetch(prepared.sql, *params)
                    except Exception as exc:
                        # The server answered this statement with an error: the connection is fine. Anything
                        # else (it died, timed out, the protocol is in an unknown state) and it is never used
                        # again: with no reset query on release, nothing else would notice.
                        if not isinstance(exc, asyncpg.PostgresError) or isinstance(exc, _DEAD):
                            conn.terminate()
                        raise
                return [prepared.row(raw) for raw in raws]
            except TimeoutError as exc:  # connecting or the read itself took too long (see pg_lane_for)
                raise sa_exc.TimeoutError("read lane: no database connection within the timeout") from exc
            except _DEAD as exc:
                if attempt == 2 or self._pool is None:
                    raise _wrap(exc, prepared.sql) from exc
                # The server went away (restart, failover, a proxy cut): every idle connection of the pool
                # is as dead as this one, so all are replaced, and the read is tried once more.
                await self._pool.expire_connections()
            except asyncpg.PostgresError as exc:
                raise _wrap(exc, prepared.sql) from exc
        raise AssertionError("unreachable")

    def _learn_readers(self, statement: Any, prepared: Prepared, prepared_statement: Any) -> None:
        oids = [attribute.type.oid for attribute in prepared_statement.get_attributes()]
        prepared.readers = tuple(
            column.type.dialect_impl(self.dialect).result_processor(self.dialect, oid)
            for column, oid in zip(statement.selected_columns, oids))
        prepared.readers_known = True

    def _move_to(self, loop: asyncio.AbstractEventLoop) -> None:
        """The lane is now used from another event loop (the first one, or Starlette's TestClient without
        `with`, which runs each request in a loop of its own): asyncpg connections and the semaphore
        belong to one loop, so those of the previous loop are dropped."""
        pool, self._pool, self._opening = self._pool, None, None
        self._gate = asyncio.Semaphore(self._max_size)
        self._loop = loop
        if pool is not None:
            try:
                pool.terminate()
            except RuntimeError:  # that loop is closed already: its sockets went with it
                pass

    async def _open(self) -> asyncpg.Pool:
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.ensure_future(self._create_pool())
        try:
            pool = await asyncio.shield(opening)
        except BaseException:
            if opening.done() and self._opening is opening:  # failed: the next read tries again
                self._opening = None
            raise
        if self._opening is opening:  # not replaced meanwhile by a move to another loop
            self._pool = pool
        return pool

    async def _create_pool(self) -> asyncpg.Pool:
        # No inactivity timer (it costs a timer per read): an idle connection the server has closed is
        # found dead on its next read and replaced then.
        return await asyncpg.create_pool(min_size=0, max_size=self._max_size, init=self._init_connection,
                                         reset=_nothing_to_reset, max_inactive_connection_lifetime=0,
                                         **self._connect_kwargs)

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        # The codecs SQLAlchemy's asyncpg dialect installs on its connections (json and jsonb as text,
        # decoded by the engine's deserializer), so a JSON column reads the same on both paths.
        loads = self._json_loads
        await conn.set_type_codec("json", encoder=str.encode, decoder=lambda b: loads(b.decode()),
                                  schema="pg_catalog", format="binary")
        await conn.set_type_codec("jsonb", encoder=lambda s: b"\x01" + s.encode(),
                                  decoder=lambda b: loads(b[1:].decode()), schema="pg_catalog", format="binary")
        # Read-only at the server, as SQLite's lane is with `query_only`: the lane can never write. A SET
        # once per connection, not a startup parameter, which PgBouncer would refuse.
        await conn.execute("SET default_transaction_read_only = on")

    async def aclose(self) -> None:
        """Close every connection (at shutdown, once requests are done); the lane reopens on its next read."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._move_to(loop)
            return
        pool, self._pool, self._opening = self._pool, None, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except (asyncio.TimeoutError, OSError, asyncpg.PostgresError):
                pool.terminate()


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """Lane connections only ever run single autocommit SELECTs: no session state to reset (asyncpg's
    default reset would cost a round trip per read)."""


def _wrap(exc: BaseException, sql: str) -> sa_exc.DBAPIError:
    # The error types the engine raises, so arkos/db_errors.py maps them (503 when the database is down
    # or a statement times out, ...); parameters are never attached.
    kind = sa_exc.OperationalError if isinstance(exc, _DEAD) else sa_exc.DBAPIError
    return kind(sql, None, exc if isinstance(exc, Exception) else Exception(str(exc)), hide_parameters=True)


def pg_lane_for(engine: AsyncEngine, *, max_size: int, acquire_timeout: float,
                server_settings: Mapping[str, str], connect_timeout: float) -> PgReadLane | None:
    """A lane on the database the engine opens (the dialect's own reading of the URL)."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "asyncpg":
        return None
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    if "prepared_statement_cache_size" in kwargs:  # the URL's name for asyncpg's statement cache size
        kwargs["statement_cache_size"] = kwargs.pop("prepared_statement_cache_size")
    kwargs["timeout"] = connect_timeout
    # A read on a connection that stops answering (a host dropping packets) gives up after this, instead
    # of holding one of the lane's few connections until TCP does (~15 min): past any statement_timeout.
    statement_timeout = float(server_settings.get("statement_timeout", 0) or 0) / 1000
    kwargs["command_timeout"] = statement_timeout + connect_timeout if statement_timeout else READ_TIMEOUT_SECONDS
    if server_settings:
        kwargs["server_settings"] = {**kwargs.get("server_settings", {}), **server_settings}
    return PgReadLane(engine.dialect, kwargs, max_size=max_size, acquire_timeout=acquire_timeout,
                      json_deserializer=getattr(engine.dialect, "_json_deserializer", None))
