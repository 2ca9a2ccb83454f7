"""SQLite read lane: arkos's few prebuilt hot reads on plain sqlite3, outside SQLAlchemy's async bridge.

Through SQLAlchemy asyncio + aiosqlite one small statement costs ~4 thread hand-offs and a greenlet
switch: ~0.6 ms of CPU for a lookup SQLite answers in 4 µs (bench/sqlite_layers.py). The lane runs
the statements arkos builds once (the user + revocation lookup of every authenticated request, one row
by primary key, the plain page) compiled once by SQLAlchemy for the same dialect, with SQLAlchemy's
own bind and result processors, so callers get exactly the values `AsyncConnection.execute` returns.

It only ever reads, and only for a request that has opened no connection (so nothing of the request's
own is uncommitted): in autocommit mode each read is its own snapshot, as the reads of a pysqlite
connection outside a write transaction already are. Reads run in the event loop (a thread hand-off
costs more than the read) on a connection that never waits for a lock (WAL readers need none; if the
file is busy anyway the read is retried in a thread); a statement that takes longer than
LOOP_BUDGET_SECONDS there (a page's `count(*)` on a large table) moves to a small thread pool, so the
loop is never held for long; lookups by key (`first`) are bounded and stay in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Processor = Callable[[Any], Any] | None

# The lane's statements bypass the engine (and its `echo` and events): they are logged here at DEBUG.
log = logging.getLogger("arkos.readlane")
_THREADS = 4
# A read that takes longer than this in the event loop moves to the thread pool, and comes back once it
# runs in under half of it there: a plain page's count(*) is ~0.1 ms at 1,000 rows but ~8 ms at 100,000.
LOOP_BUDGET_SECONDS = 0.001
_BUSY_TIMEOUT_MS = 5000  # as the engine's connections (arkos/db.py)


@dataclass(slots=True)
class Prepared:
    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binders: tuple[Processor, ...]
    readers: tuple[Processor, ...]
    threaded: bool = False  # run in the thread pool: it took longer than LOOP_BUDGET_SECONDS in the loop
    readers_known: bool = True  # PostgreSQL: the readers need the column type OIDs, known once prepared

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, bind in zip(self.names, self.binders):
            value = values[name] if name in values else self.defaults[name]
            out.append(value if bind is None or value is None else bind(value))
        return tuple(out)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(value if read is None or value is None else read(value)
                     for read, value in zip(self.readers, raw))


def prepare(statement: Any, dialect: Dialect, *, with_readers: bool = True) -> Prepared:
    """The statement as the engine would send it: SQL, positional parameter order, bind and result processors
    of the dialect (without readers when they depend on column types known only once prepared)."""
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = {compiled.bind_names[b]: b for b in compiled.binds.values()}
    defaults = {name: binds[name].value for name in names if not binds[name].required}
    binders = tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    if not with_readers:
        return Prepared(compiled.string, names, defaults, binders, (), readers_known=False)
    readers = tuple(col.type.dialect_impl(dialect).result_processor(dialect, None)
                    for col in statement.selected_columns)
    return Prepared(compiled.string, names, defaults, binders, readers)


def memoised(cache: dict[int, tuple[Any, Prepared]], statement: Any, dialect: Dialect, *,
             with_readers: bool = True) -> Prepared:
    """`prepare` once per statement object (arkos's prebuilt statements live as long as the app). Keyed
    by identity; the statement is kept with its entry, so a recycled id cannot match another statement."""
    entry = cache.get(id(statement))
    if entry is None or entry[0] is not statement:
        entry = cache[id(statement)] = (statement, prepare(statement, dialect, with_readers=with_readers))
    return entry[1]


def _connect(path: str, uri: bool, busy_timeout_ms: int) -> sqlite3.Connection:
    # Autocommit (no implicit BEGIN) and read-only: the lane can never hold a lock or write.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=uri,
                           timeout=busy_timeout_ms / 1000)
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA case_sensitive_like=ON")
    return conn


class ReadLane:
    """Prebuilt reads on one SQLite file. Statements must be long-lived objects (they are memoised by identity)."""

    def __init__(self, path: str, dialect: Dialect, *, uri: bool = False) -> None:
        self.path = path
        self.uri = uri  # `path` is a `file:` URI with its options (mode=ro, ...)
        self.dialect = dialect
        self._prepared: dict[int, tuple[Any, Prepared]] = {}
        self._loop_conn: sqlite3.Connection | None = None
        self._loop_lock = threading.Lock()  # two event loops in two threads (tests) never share a call
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None
        self._epoch = 0

    def prepared(self, statement: Any) -> Prepared:
        return memoised(self._prepared, statement, self.dialect)

    async def first(self, statement: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a bounded lookup (by key): it always runs in the loop, however busy the machine
        makes it look."""
        rows = await self._read(statement, values, one=True)
        return rows[0] if rows else None

    async def all(self, statement: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return await self._read(statement, values, one=False)

    async def _read(self, statement: Any, values: Mapping[str, Any], *, one: bool) -> list[tuple[Any, ...]]:
        prepared = self.prepared(statement)
        params = prepared.parameters(values)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(prepared.sql)
        if not prepared.threaded and self._loop_lock.acquire(blocking=False):
            try:
                rows, elapsed = _execute(self._loop_connection(), prepared, params, one)
                if not one and elapsed > LOOP_BUDGET_SECONDS:
                    prepared.threaded = True  # it got slow (a growing count(*)): the thread pool from now on
                return rows
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise _wrap(exc, prepared) from exc
            finally:
                self._loop_lock.release()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="arkos-sqlite-read")
        loop = asyncio.get_running_loop()
        rows, elapsed = await loop.run_in_executor(self._executor, self._run, prepared, params, one)
        if elapsed < LOOP_BUDGET_SECONDS / 2:
            prepared.threaded = False
        return rows

    def data_version(self) -> tuple[int, int] | None:
        """Changes whenever anything is committed to the file by another connection or process (`PRAGMA
        data_version` of the loop's connection, with a count of that connection's reopenings, since
        the values belong to one connection). None when the connection is in use by another thread."""
        if not self._loop_lock.acquire(blocking=False):
            return None
        try:
            conn = self._loop_connection()
            return self._epoch, conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return None
        finally:
            self._loop_lock.release()

    def _loop_connection(self) -> sqlite3.Connection:
        conn = self._loop_conn
        if conn is None:
            conn = self._loop_conn = self._open(busy_timeout_ms=0)
            self._epoch += 1  # data_version values belong to one connection
        return conn

    def _run(self, prepared: Prepared, params: tuple[Any, ...], one: bool) -> tuple[list[tuple[Any, ...]], float]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(busy_timeout_ms=_BUSY_TIMEOUT_MS)
        try:
            return _execute(conn, prepared, params, one)
        except sqlite3.Error as exc:
            raise _wrap(exc, prepared) from exc

    def _open(self, *, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = _connect(self.path, self.uri, busy_timeout_ms)
        self._opened.append(conn)
        return conn

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection; like `AsyncEngine.dispose()`, the lane reopens on its next read. Called
        at shutdown, once requests are done: waiting for the pool's threads is then immediate."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._loop_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            self._loop_conn = None
            self._local = threading.local()


def _execute(conn: sqlite3.Connection, prepared: Prepared, params: tuple[Any, ...],
             one: bool) -> tuple[list[tuple[Any, ...]], float]:
    # CPU time of this thread: being preempted on a busy host, or waiting for the GIL, is not the
    # statement's cost and must not push it out of the loop.
    started = time.thread_time()
    cursor = conn.execute(prepared.sql, params)
    raws = [raw for raw in (cursor.fetchone(),) if raw is not None] if one else cursor.fetchall()
    elapsed = time.thread_time() - started
    return [prepared.row(raw) for raw in raws], elapsed


def _is_busy(exc: sqlite3.Error) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc)
    return "locked" in text or "busy" in text


def _wrap(exc: sqlite3.Error, prepared: Prepared) -> sa_exc.DBAPIError:
    # The same error type the engine raises, so arkos/db_errors.py maps it (503 when busy, ...);
    # parameters are never attached (the engine runs with hide_parameters too).
    kind = sa_exc.OperationalError if isinstance(exc, sqlite3.OperationalError) else sa_exc.DatabaseError
    return kind(prepared.sql, None, exc, hide_parameters=True)


async def fetch_first(reader: Any, statement: Any, values: Mapping[str, Any]) -> Sequence[Any] | None:
    """A prebuilt statement's first row, on a lane (SQLite's or PostgreSQL's) or on a connection
    (`RequestContext.reader`)."""
    if isinstance(reader, AsyncConnection):
        return (await reader.execute(statement, values)).first()
    return await reader.first(statement, values)


async def fetch_all(reader: Any, statement: Any, values: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
    if isinstance(reader, AsyncConnection):
        return (await reader.execute(statement, values)).all()
    return await reader.all(statement, values)


def lane_for(engine: AsyncEngine) -> ReadLane | None:
    """A lane on the file the engine opens (the dialect's own reading of the URL, URI options included);
    none for in-memory databases, which a second connection cannot see."""
    if engine.dialect.name != "sqlite":
        return None
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    path = str(args[0]) if args else ""
    if not path or ":memory:" in path or "mode=memory" in path:
        return None
    return ReadLane(path, engine.dialect, uri=bool(kwargs.get("uri")))
