"""The SQLite read lane (arkos/readlane.py): the values SQLAlchemy returns, loop ⇄ thread pool moves, busy
files, `data_version`, errors without parameters, close/reopen, and when a Database has a lane."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import enum
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from arkos import readlane
from arkos.config import DatabaseConfig
from arkos.db import Database
from arkos.pglane import PgReadLane
from arkos.readlane import ReadLane, lane_for
from tests.conftest import sqlite_write_in_another_process


class Color(enum.Enum):
    red = "R"
    green = "G"


metadata = sa.MetaData()
things = sa.Table(
    "things", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("note", sa.String(50)),
    sa.Column("naive_at", sa.DateTime),
    sa.Column("aware_at", sa.DateTime(timezone=True)),
    sa.Column("day", sa.Date),
    sa.Column("flag", sa.Boolean),
    sa.Column("data", sa.JSON),
    sa.Column("color", sa.Enum(Color)),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("ratio", sa.Float),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("ref", sa.Uuid),
)

IDS = [uuid.UUID(int=i * 0x1111_1111_1111) for i in range(1, 6)]
ROWS: list[dict[str, Any]] = [
    {"id": IDS[0], "rank": 1, "name": "full", "note": "a note",
     "naive_at": dt.datetime(2024, 2, 29, 13, 45, 7, 123456),
     "aware_at": dt.datetime(2024, 3, 1, 8, 0, 1, 500, tzinfo=dt.UTC),
     "day": dt.date(2023, 12, 31), "flag": True, "data": {"k": [1, 2.5, None, "x"], "n": {"deep": True}},
     "color": Color.green, "price": decimal.Decimal("1234.50"), "ratio": 0.25, "blob": b"\x00\x01\xffbin",
     "ref": IDS[1]},
    {"id": IDS[1], "rank": 2, "name": "nulls", "note": None, "naive_at": None, "aware_at": None, "day": None,
     "flag": None, "data": None, "color": None, "price": None, "ratio": None, "blob": None, "ref": None},
    {"id": IDS[2], "rank": 3, "name": "falsy", "note": "", "naive_at": dt.datetime(1999, 1, 1),
     "aware_at": dt.datetime(2030, 6, 15, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "day": dt.date(1970, 1, 1), "flag": False, "data": [], "color": Color.red, "price": decimal.Decimal("0"),
     "ratio": 3.0, "blob": b"", "ref": IDS[0]},
    {"id": IDS[3], "rank": 4, "name": "json scalar", "note": "ünïcødé ✓", "naive_at": None,
     "aware_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "day": dt.date(2000, 2, 29), "flag": True,
     "data": "just a string", "color": Color.red, "price": decimal.Decimal("-0.01"), "ratio": -1e-9,
     "blob": bytes(range(256)), "ref": None},
    {"id": IDS[4], "rank": 5, "name": "number json", "note": None, "naive_at": dt.datetime(2024, 1, 1, 0, 0),
     "aware_at": None, "day": None, "flag": False, "data": 42, "color": None, "price": decimal.Decimal("7"),
     "ratio": 1e300, "blob": None, "ref": IDS[4]},
]

BY_ID = sa.select(things).where(things.c.id == sa.bindparam("id"))
BY_NAME = sa.select(things.c.id, things.c.name).where(things.c.name == sa.bindparam("name"))
PAGE = (sa.select(things, sa.select(sa.func.count()).select_from(things).scalar_subquery().label("total"))
        .order_by(things.c.rank).limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))
# LIMIT/OFFSET from plain ints: binds with default values
LITERAL_PAGE = sa.select(things).order_by(things.c.rank.desc()).limit(2).offset(1)
FILTERED = (sa.select(things.c.id, things.c.aware_at, things.c.color, things.c.price, things.c.blob)
            .where(things.c.day >= sa.bindparam("since"), things.c.flag == sa.bindparam("flag"),
                   things.c.color == sa.bindparam("color"), things.c.aware_at < sa.bindparam("before"),
                   things.c.ref == sa.bindparam("ref"), things.c.price > sa.bindparam("price"))
            .order_by(things.c.rank))
COUNT = sa.select(sa.func.count()).select_from(things)


@pytest.fixture(autouse=True)
def _generous_loop_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads stay in the event loop however loaded the machine is, unless a test sets its own budget."""
    monkeypatch.setattr(readlane, "LOOP_BUDGET_SECONDS", 10.0)


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, ReadLane]]:
    path = tmp_path / "lane.db"
    engine = create_async_engine(_url(path))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(sa.insert(things), ROWS)
    lane = lane_for(engine)
    assert isinstance(lane, ReadLane)
    try:
        yield engine, lane
    finally:
        lane.close()
        await engine.dispose()


def _shape(rows: list[Any]) -> list[tuple[tuple[Any, type], ...]]:
    """Values with their exact types: 1 == 1.0 == True and Decimal('1') == 1 must not pass for equal."""
    return [tuple((value, type(value)) for value in row) for row in rows]


async def _engine_all(engine: AsyncEngine, stmt: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(stmt, params)).all()]


async def _engine_first(engine: AsyncEngine, stmt: Any, params: dict[str, Any]) -> tuple[Any, ...] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(stmt, params)).first()
    return None if row is None else tuple(row)


# -- 1. the same values as AsyncConnection.execute -------------------------------------------------------


async def test_first_by_uuid_returns_exactly_what_sqlalchemy_returns(db) -> None:
    engine, lane = db
    for row_id in [*IDS, uuid.uuid4()]:
        expected = await _engine_first(engine, BY_ID, {"id": row_id})
        got = await lane.first(BY_ID, {"id": row_id})
        assert type(got) is tuple or got is None
        assert got == expected
        if expected is not None:
            assert _shape([got]) == _shape([expected])
            assert got[0] == row_id and isinstance(got[0], uuid.UUID)
    # The values really went through the processors (not raw SQLite storage).
    full = await lane.first(BY_ID, {"id": IDS[0]})
    assert full is not None
    assert full[-1] == IDS[1] and full[9] is Color.green and full[10] == decimal.Decimal("1234.50")
    assert full[8] == ROWS[0]["data"] and full[12] == ROWS[0]["blob"] and isinstance(full[12], bytes)
    assert full[4] == ROWS[0]["naive_at"] and full[7] is True
    nulls = await lane.first(BY_ID, {"id": IDS[1]})
    assert nulls is not None and nulls[3:] == (None,) * 11


async def test_all_pages_with_limit_and_offset_binds_match_sqlalchemy(db) -> None:
    engine, lane = db
    for limit, offset in ((2, 0), (2, 2), (2, 4), (10, 0), (3, 1), (1, 9)):
        params = {"limit": limit, "offset": offset}
        expected = await _engine_all(engine, PAGE, params)
        got = await lane.all(PAGE, params)
        assert got == expected, params
        assert _shape(got) == _shape(expected), params
        assert len(got) == max(0, min(limit, len(ROWS) - offset))
        assert all(row[-1] == len(ROWS) for row in got)
    expected = await _engine_all(engine, LITERAL_PAGE, {})
    got = await lane.all(LITERAL_PAGE, {})
    assert [row[1] for row in got] == [4, 3]
    assert _shape(got) == _shape(expected)
    assert _shape(await lane.all(COUNT, {})) == _shape(await _engine_all(engine, COUNT, {})) == [((5, int),)]


async def test_typed_bindparams_go_through_the_bind_processors(db) -> None:
    engine, lane = db
    params = {"since": dt.date(1960, 1, 1), "flag": True, "color": Color.green,
              "before": dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "ref": IDS[1],
              "price": decimal.Decimal("100")}
    expected = await _engine_all(engine, FILTERED, params)
    got = await lane.all(FILTERED, params)
    assert [row[0] for row in got] == [IDS[0]]
    assert _shape(got) == _shape(expected)
    none = {**params, "flag": False}
    assert await lane.all(FILTERED, none) == await _engine_all(engine, FILTERED, none) == []
    # the same statement, other values: a prepared statement is reused with new parameters
    for name in ("full", "falsy", "ünïcødé", "json scalar"):
        assert _shape(await lane.all(BY_NAME, {"name": name})) == _shape(
            await _engine_all(engine, BY_NAME, {"name": name}))
    assert await lane.first(BY_ID, {"id": IDS[2]}) == await _engine_first(engine, BY_ID, {"id": IDS[2]})


# -- 2. slow statements move to the thread pool, and come back -------------------------------------------


async def test_a_slow_statement_moves_to_the_thread_pool_and_back(db,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    engine, lane = db
    threads: list[str] = []
    real_execute = readlane._execute

    def recording(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_execute(*args)

    monkeypatch.setattr(readlane, "_execute", recording)
    params = {"limit": 3, "offset": 1}
    expected = _shape(await _engine_all(engine, PAGE, params))
    prepared = lane.prepared(PAGE)
    assert prepared.threaded is False

    assert _shape(await lane.all(PAGE, params)) == expected
    assert threads[-1] == threading.current_thread().name  # a fast read: in the event loop
    assert prepared.threaded is False

    monkeypatch.setattr(readlane, "LOOP_BUDGET_SECONDS", 1e-12)
    assert _shape(await lane.all(PAGE, params)) == expected  # ran in the loop, over budget
    assert threads[-1] == threading.current_thread().name
    assert prepared.threaded is True
    assert _shape(await lane.all(PAGE, params)) == expected  # now in the pool, still slow: stays there
    assert threads[-1].startswith("arkos-sqlite-read")
    assert prepared.threaded is True
    assert lane.prepared(BY_ID).threaded is False  # per statement

    monkeypatch.setattr(readlane, "LOOP_BUDGET_SECONDS", 10.0)
    assert _shape(await lane.all(PAGE, params)) == expected  # in the pool, fast: back to the loop
    assert threads[-1].startswith("arkos-sqlite-read")
    assert prepared.threaded is False
    assert _shape(await lane.all(PAGE, params)) == expected
    assert threads[-1] == threading.current_thread().name
    first = await lane.first(BY_ID, {"id": IDS[0]})
    prepared_one = lane.prepared(BY_ID)
    prepared_one.threaded = True
    assert await lane.first(BY_ID, {"id": IDS[0]}) == first  # `first` in the pool: the same row
    assert threads[-1].startswith("arkos-sqlite-read")


# -- 3. a busy file: the read waits in a thread, not in the event loop -----------------------------------


def _rollback_journal_db(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        conn.execute("INSERT INTO items VALUES (1, 'before')")
    finally:
        conn.close()


items = sa.Table("items", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(20), nullable=False))
ITEM = sa.select(items.c.id, items.c.name).where(items.c.id == sa.bindparam("id"))


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_a_busy_file_does_not_block_the_event_loop(tmp_path: Path, warm: bool) -> None:
    path = tmp_path / "journal.db"
    _rollback_journal_db(path)
    lane = ReadLane(str(path), create_async_engine(_url(path)).dialect)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        if warm:  # the loop connection is open already (and a different statement was read)
            assert await lane.all(sa.select(items.c.name), {}) == [("before",)]
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE items SET name = 'after' WHERE id = 1")
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        releaser = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
        started = time.perf_counter()
        releaser.start()
        try:
            row = await asyncio.wait_for(lane.first(ITEM, {"id": 1}), 4)
        finally:
            elapsed = time.perf_counter() - started
            ticking.cancel()
            releaser.join()
        assert row == (1, "after")
        assert elapsed >= 0.25  # it did wait for the writer
        during = [t for t in ticks if t >= started]
        assert len(during) >= 5, during  # the loop kept running meanwhile (~25 ticks when idle)
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        assert max(gaps) < 0.25, max(gaps)  # never held for the writer's 0.3 s
        assert await lane.first(ITEM, {"id": 1}) == (1, "after")  # and the loop lane still works
        assert lane.prepared(ITEM).threaded is False
    finally:
        writer.close()
        lane.close()


# -- 4. data_version: unchanged while nothing is committed; any commit (any process) changes it ---------


def _set_journal_mode(path: Path, mode: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0] == mode.lower()
    finally:
        conn.close()


@pytest.mark.parametrize("journal_mode", ["WAL", "DELETE"])
async def test_data_version_changes_with_every_commit_from_anywhere(db, journal_mode: str) -> None:
    engine, lane = db
    path = Path(lane.path)
    await engine.dispose()
    _set_journal_mode(path, journal_mode)
    first = lane.data_version()
    assert first is not None and lane.data_version() == first  # nothing committed since
    assert await lane.first(BY_NAME, {"name": "full"}) is not None
    assert lane.data_version() == first  # reads change nothing

    sqlite_write_in_another_process(path, "UPDATE things SET name = 'renamed' WHERE name = 'full'")
    second = lane.data_version()
    assert second is not None and second != first
    assert lane.data_version() == second

    async with engine.begin() as conn:  # another connection of this process (the engine)
        await conn.execute(sa.update(things).where(things.c.id == IDS[3]).values(name="engine"))
    third = lane.data_version()
    assert third not in (first, second)
    async with engine.connect() as conn:  # a rolled-back write changes nothing
        await conn.execute(sa.update(things).where(things.c.id == IDS[3]).values(name="rolled back"))
        await conn.rollback()
    assert lane.data_version() == third

    lane.close()  # a reopened connection counts from scratch: the epoch tells the values apart
    reopened = lane.data_version()
    assert reopened is not None and third is not None and reopened[0] == third[0] + 1


# -- 5. errors: the engine's exception types, never the parameters ---------------------------------------

missing = sa.Table("missing", sa.MetaData(), sa.Column("secret", sa.String))
SECRET = "s3cret-value-$2b$12$never-in-messages"


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "pool"])
@pytest.mark.parametrize("case", ["missing table", "bad function"])
async def test_errors_are_operational_errors_without_parameters(db, threaded: bool, case: str) -> None:
    _engine, lane = db
    if case == "missing table":
        stmt = sa.select(missing.c.secret).where(missing.c.secret == sa.bindparam("s"))
    else:
        stmt = sa.select(sa.func.no_such_function(things.c.name)).where(things.c.name == sa.bindparam("s"))
    lane.prepared(stmt).threaded = threaded
    for read in (lane.first, lane.all):
        with pytest.raises(sa_exc.OperationalError) as caught:
            await read(stmt, {"s": SECRET})
        assert isinstance(caught.value, sa_exc.DBAPIError)
        assert isinstance(caught.value.orig, sqlite3.OperationalError)
        text = str(caught.value)
        assert SECRET not in text and "s3cret" not in text
        assert ("no such table" in text) if case == "missing table" else ("no such function" in text)
        assert caught.value.params is None or SECRET not in repr(caught.value.params)
    # the lane keeps working after an error
    assert (await lane.first(BY_ID, {"id": IDS[0]}))[2] == "full"


@pytest.mark.parametrize("threaded", [False, True], ids=["loop", "pool"])
async def test_a_file_that_is_not_a_database_raises_a_dbapi_error(tmp_path: Path, threaded: bool) -> None:
    """The engine raises sqlalchemy.exc.DatabaseError here; the lane must raise a DBAPIError too (not a
    bare sqlite3 exception, which arkos/db_errors.py does not recognise as a database error)."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database " * 200)
    engine = create_async_engine(_url(path))
    lane = ReadLane(str(path), engine.dialect)
    stmt = sa.select(items.c.name).where(items.c.name == sa.bindparam("n"))
    try:
        with pytest.raises(sa_exc.DBAPIError):
            async with engine.connect() as conn:
                await conn.execute(stmt, {"n": SECRET})
        lane.prepared(stmt).threaded = threaded
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await lane.first(stmt, {"n": SECRET})
        assert SECRET not in str(caught.value)
    finally:
        lane.close()
        await engine.dispose()


# -- 6. close: every connection closed, the next read reopens ---------------------------------------------


async def test_close_closes_every_connection_and_the_lane_reopens(db) -> None:
    engine, lane = db
    expected = await _engine_first(engine, BY_ID, {"id": IDS[0]})
    for _ in range(50):
        assert await lane.first(BY_ID, {"id": IDS[0]}) == expected
        assert await lane.all(PAGE, {"limit": 2, "offset": 0})
    assert len(lane._opened) == 1  # one loop connection, reused
    lane.prepared(PAGE).threaded = True
    for _ in range(10):
        assert len(await lane.all(PAGE, {"limit": 5, "offset": 0})) == 5
    assert 2 <= len(lane._opened) <= 1 + readlane._THREADS
    opened = list(lane._opened)

    lane.close()
    assert lane._opened == []
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError):  # really closed
            conn.execute("SELECT 1")
    lane.close()  # twice is fine

    assert await lane.first(BY_ID, {"id": IDS[0]}) == expected  # reopens (loop)
    assert await lane.first(BY_ID, {"id": IDS[0]}) == expected
    lane.prepared(PAGE).threaded = True
    assert len(await lane.all(PAGE, {"limit": 5, "offset": 0})) == 5  # reopens (pool)
    assert 2 <= len(lane._opened) <= 1 + readlane._THREADS
    lane.close()
    assert lane._opened == []


async def test_the_lane_never_writes(db) -> None:
    _engine, lane = db
    stmt = sa.select(things.c.name).where(things.c.id == sa.bindparam("id"))
    await lane.first(stmt, {"id": IDS[0]})
    assert lane._opened
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only|attempt to write"):
        lane._opened[0].execute("DELETE FROM things")


# -- 8. which databases have a lane ----------------------------------------------------------------------


async def test_a_sqlite_file_database_has_a_lane_unless_switched_off(tmp_path: Path) -> None:
    """SQLite files get the SQLite lane (sqlite_read_lane), PostgreSQL the asyncpg lane (postgresql_read_lane,
    each switch acting on its own backend only); `echo` switches both off. No connection is opened."""
    url = _url(tmp_path / "app.db")
    pg_url = "postgresql+asyncpg://user@127.0.0.1:5432/db"
    cases: list[tuple[dict[str, Any], type | None]] = [
        ({"url": url}, ReadLane),
        ({"url": url, "sqlite_read_lane": True}, ReadLane),
        ({"url": url, "postgresql_read_lane": False}, ReadLane),
        ({"url": url, "sqlite_read_lane": False}, None),
        ({"url": url, "echo": True}, None),
        ({"url": "sqlite+aiosqlite:///:memory:"}, None),
        ({"url": "sqlite+aiosqlite://"}, None),
        ({"url": "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true"}, None),  # shared in-memory
        ({"url": pg_url}, PgReadLane),
        ({"url": pg_url, "sqlite_read_lane": True}, PgReadLane),
        ({"url": pg_url, "sqlite_read_lane": False}, PgReadLane),
        ({"url": pg_url, "postgresql_read_lane": False}, None),
        ({"url": pg_url, "echo": True}, None),
    ]
    for options, lane_type in cases:
        database = Database(DatabaseConfig(**options))
        try:
            if lane_type is None:
                assert database.read_lane is None, options
            else:
                assert type(database.read_lane) is lane_type, options
            if lane_type is ReadLane:
                assert Path(database.read_lane.path) == tmp_path / "app.db"
        finally:
            await database.dispose()


async def test_a_uri_filename_keeps_its_options(tmp_path: Path) -> None:
    """`file:` URIs reach sqlite3 as URIs: the lane opens the same file, with the same options."""
    path = tmp_path / "uri.db"
    plain = create_async_engine(_url(path))
    async with plain.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(sa.insert(things), ROWS)
    await plain.dispose()
    engine = create_async_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    lane = lane_for(engine)
    try:
        assert lane is not None and lane.uri and lane.path == f"file:{path}?mode=ro"
        assert await lane.first(BY_ID, {"id": IDS[0]}) == await _engine_first(engine, BY_ID, {"id": IDS[0]})
    finally:
        if lane is not None:
            lane.close()
        await engine.dispose()
