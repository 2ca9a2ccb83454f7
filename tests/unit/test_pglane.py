"""The PostgreSQL read lane (arkos/pglane.py) against a real PostgreSQL: the values SQLAlchemy returns, bind
processors, dead connections retried, errors as the engine's exception types without parameters,
timeouts, cancellation, close/reopen, autocommit, and when a Database has a lane.

Every test works in a schema of this module's own (dropped at the end); the lane's connections carry an
`application_name` of the test's own, so `pg_stat_activity` shows (and `pg_terminate_backend` kills)
only them, whatever else runs on the server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from arkos.config import DatabaseConfig
from arkos.db import Database
from arkos.db_errors import translate_db_error
from arkos.errors import ErrorCode
from arkos.pglane import PgReadLane, pg_lane_for
from tests.conftest import PG_URL, pg_execute, service_unavailable
from tests.server.tcp_proxy import tcp_proxy
from tests.unit.test_readlane import (
    BY_ID,
    BY_NAME,
    COUNT,
    FILTERED,
    IDS,
    LITERAL_PAGE,
    PAGE,
    ROWS,
    SECRET,
    Color,
    _engine_all,
    _engine_first,
    _shape,
    metadata,
    missing,
    things,
)

pytestmark = pytest.mark.postgresql


# -- PostgreSQL-only column types (and a TypeDecorator), next to `things` --------------------------------


class Shout(sa.TypeDecorator[str]):
    """Stored lower-case, read upper-case: its processors run only if the lane uses SQLAlchemy's."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper()


pg_metadata = sa.MetaData()
extras = sa.Table(
    "extras", pg_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("doc", postgresql.JSONB),
    sa.Column("nums", postgresql.ARRAY(sa.Integer)),
    sa.Column("tags", postgresql.ARRAY(sa.String)),
    sa.Column("span", sa.Interval),
    sa.Column("at", sa.Time),
    sa.Column("big", sa.BigInteger),
    sa.Column("small", sa.SmallInteger),
    sa.Column("text_id", sa.Uuid(as_uuid=False)),
    sa.Column("approx", sa.Numeric(10, 3, asdecimal=False)),
    sa.Column("exact", sa.Float(asdecimal=True)),
    sa.Column("level", sa.Enum("low", "high", name="level", native_enum=False)),
    sa.Column("addr", postgresql.INET),
    sa.Column("shout", Shout),
    sa.Column("body", sa.Text),
    sa.Column("dbl", sa.Double),
)
EXTRA_ROWS: list[dict[str, Any]] = [
    {"id": 1, "doc": {"a": [1, {"b": None}], "ü": "✓", "n": 2.5}, "nums": [1, -2, 3], "tags": ["x", "", "ü"],
     "span": dt.timedelta(days=2, seconds=5, microseconds=7), "at": dt.time(23, 59, 58, 999),
     "big": 2**62, "small": -32768, "text_id": str(IDS[0]), "approx": 12.345, "exact": 0.5, "level": "high",
     "addr": "10.1.2.3", "shout": "MiXeD", "body": "long " * 200, "dbl": 1.0000000001},
    {"id": 2, "doc": None, "nums": None, "tags": None, "span": None, "at": None, "big": None, "small": None,
     "text_id": None, "approx": None, "exact": None, "level": None, "addr": None, "shout": None, "body": None,
     "dbl": None},
    {"id": 3, "doc": [], "nums": [], "tags": [], "span": dt.timedelta(0), "at": dt.time(0), "big": 0,
     "small": 0, "text_id": str(IDS[4]), "approx": 0.0, "exact": -1e-5, "level": "low", "addr": "::1",
     "shout": "", "body": "", "dbl": -0.0},
    {"id": 4, "doc": "just a string", "nums": [7], "tags": ["only"], "span": dt.timedelta(microseconds=-1),
     "at": dt.time(12, 0, 0, 1), "big": -(2**63), "small": 32767, "text_id": str(IDS[2]), "approx": -1.5,
     "exact": 1e10, "level": "high", "addr": "192.168.0.0/16", "shout": "quiet", "body": "ünïcødé ✓",
     "dbl": 1e-300},
    {"id": 5, "doc": 42, "nums": [0, 0], "tags": ["a", "b"], "span": dt.timedelta(days=-3), "at": None,
     "big": 1, "small": 1, "text_id": None, "approx": 999.999, "exact": 0.0, "level": "low", "addr": None,
     "shout": "LOUD", "body": None, "dbl": 3.0},
]
EXTRAS = sa.select(extras).order_by(extras.c.id)
EXTRAS_FILTERED = (sa.select(extras.c.id, extras.c.shout, extras.c.doc, extras.c.span)
                   .where(extras.c.shout == sa.bindparam("shout"),
                          extras.c.nums.contains(sa.bindparam("nums")),
                          extras.c.doc.contains(sa.bindparam("doc")), extras.c.span > sa.bindparam("span"),
                          extras.c.text_id == sa.bindparam("text_id"), extras.c.exact < sa.bindparam("exact"))
                   .order_by(extras.c.id))
AGGREGATES = sa.select(
    sa.func.count(), sa.func.sum(things.c.price), sa.func.max(things.c.ratio), sa.func.max(things.c.aware_at),
    sa.func.min(things.c.day), sa.func.array_agg(postgresql.aggregate_order_by(things.c.name, things.c.rank)),
    sa.func.bool_or(things.c.flag), sa.cast(sa.func.sum(things.c.rank), sa.Float).label("rank_sum"),
    sa.func.avg(things.c.rank), sa.func.json_agg(postgresql.aggregate_order_by(things.c.data, things.c.rank)),
    sa.literal("text"), sa.func.now() > sa.bindparam("then", type_=sa.DateTime(timezone=True)),
)
SLEEP = sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)))
BACKEND_PID = sa.select(sa.func.pg_backend_pid(), sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)))


# -- fixtures: a schema of this module's own, and a lane whose connections carry a name of their own ----


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"pglane_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(pg_execute([f'CREATE SCHEMA "{name}"']))
    except Exception:  # noqa: BLE001 - any failure means the service is not there
        service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
    try:
        asyncio.run(_fill(name))
        yield name
    finally:
        asyncio.run(pg_execute([f'DROP SCHEMA IF EXISTS "{name}" CASCADE']))


async def _fill(name: str) -> None:
    engine = _engine(name)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(pg_metadata.create_all)
            await conn.execute(sa.insert(things), ROWS)
            await conn.execute(sa.insert(extras), EXTRA_ROWS)
    finally:
        await engine.dispose()


def _engine(name: str, url: str = PG_URL, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(url, connect_args={"server_settings": {"search_path": name}}, **kwargs)


@dataclass
class Lane:
    engine: AsyncEngine
    lane: PgReadLane
    name: str  # the application_name of the lane's connections


def _lane(engine: AsyncEngine, schema: str, *, max_size: int = 4, acquire_timeout: float = 5.0,
          connect_timeout: float = 5.0, **settings: str) -> tuple[PgReadLane, str]:
    name = f"arkos-pglane-test-{uuid.uuid4().hex[:10]}"
    lane = pg_lane_for(engine, max_size=max_size, acquire_timeout=acquire_timeout,
                       connect_timeout=connect_timeout,
                       server_settings={"search_path": schema, "application_name": name, **settings})
    assert isinstance(lane, PgReadLane)
    return lane, name


@pytest.fixture
async def make_lane(schema: str) -> AsyncIterator[Any]:
    """`make_lane(**options)`: an engine and a lane on the module's schema; both closed after the test."""
    made: list[Lane] = []

    def make(**options: Any) -> Lane:
        engine = _engine(schema)
        lane, name = _lane(engine, schema, **options)
        made.append(Lane(engine, lane, name))
        return made[-1]

    yield make
    for item in made:
        await item.lane.aclose()
        await item.engine.dispose()


@pytest.fixture
def db(make_lane: Any) -> Lane:
    return make_lane()


@pytest.fixture
async def admin() -> AsyncIterator[AsyncEngine]:
    """A separate engine, to look at (and kill) the lane's connections from outside."""
    engine = create_async_engine(PG_URL)
    try:
        yield engine
    finally:
        await engine.dispose()


async def backends(admin: AsyncEngine, name: str) -> list[tuple[int, str | None, Any, Any]]:
    """(pid, state, backend_xid, backend_xmin) of every connection named `name` (a fresh snapshot)."""
    async with admin.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT pid, state, backend_xid::text, backend_xmin::text FROM pg_stat_activity "
            "WHERE application_name = :name ORDER BY pid"), {"name": name})
        return [tuple(row) for row in rows]


async def wait_for_backends(admin: AsyncEngine, name: str, count: int, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = [row[0] for row in await backends(admin, name)]
        if len(pids) == count or time.monotonic() > deadline:
            assert len(pids) == count, pids
            return pids
        await asyncio.sleep(0.02)


async def terminate(name: str) -> int:
    """Kill every connection named `name` (its own engine: usable from another thread's event loop), and
    wait until the server has really let them go."""
    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            killed = (await conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = :name"),
                {"name": name})).scalar_one()
        for _ in range(500):
            async with engine.connect() as conn:
                left = (await conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"), {"name": name})
                ).scalar_one()
            if not left:
                return int(killed)
            await asyncio.sleep(0.01)
        raise AssertionError(f"the connections named {name} were not terminated")
    finally:
        await engine.dispose()


@pytest.fixture
def expirations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every `Pool.expire_connections()` call: the lane's "this connection was dead, replace them all"."""
    calls: list[int] = []
    real = asyncpg.Pool.expire_connections

    async def recording(self: asyncpg.Pool) -> None:
        calls.append(1)
        await real(self)

    monkeypatch.setattr(asyncpg.Pool, "expire_connections", recording)
    return calls


def _deep_shape(value: Any) -> Any:
    """Like _shape, inside JSON documents and arrays too (a JSON 1.0 read back as 1 must not pass)."""
    if isinstance(value, dict):
        return {key: _deep_shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return (type(value), [_deep_shape(item) for item in value])
    return (value, type(value))


def _deep_rows(rows: list[Any]) -> list[list[Any]]:
    return [[_deep_shape(value) for value in row] for row in rows]


def _at(url: Any) -> str:
    """The test database's URL, pointed elsewhere (a proxy, a closed port, a silent server)."""
    return str(url.render_as_string(hide_password=False))


async def _engine_error(engine: AsyncEngine, stmt: Any, params: dict[str, Any]) -> sa_exc.DBAPIError:
    with pytest.raises(sa_exc.DBAPIError) as caught:
        async with engine.connect() as conn:
            await conn.execute(stmt, params)
    return caught.value


# -- 1. the same values as AsyncConnection.execute -------------------------------------------------------


async def test_first_by_uuid_returns_exactly_what_sqlalchemy_returns(db: Lane) -> None:
    """Callers get the lane's rows or the engine's interchangeably: same values, same Python types, for
    every column type of `things` (the first read learns the column types, later ones reuse them)."""
    for _round in range(2):
        for row_id in [*IDS, uuid.uuid4()]:
            expected = await _engine_first(db.engine, BY_ID, {"id": row_id})
            got = await db.lane.first(BY_ID, {"id": row_id})
            assert type(got) is tuple or got is None
            assert got == expected
            if expected is not None:
                assert _shape([got]) == _shape([expected])
                assert [_deep_shape(v) for v in got] == [_deep_shape(v) for v in expected]
                assert got[0] == row_id and isinstance(got[0], uuid.UUID)
    # The values really went through SQLAlchemy's processors, not asyncpg's raw values.
    full = await db.lane.first(BY_ID, {"id": IDS[0]})
    assert full is not None
    assert full[9] is Color.green  # Enum: a member, not the label "green"
    assert full[10] == decimal.Decimal("1234.50") and type(full[10]) is decimal.Decimal
    assert full[8] == ROWS[0]["data"] and full[12] == ROWS[0]["blob"] and type(full[12]) is bytes
    assert full[4] == ROWS[0]["naive_at"] and full[4].tzinfo is None
    assert full[5] == ROWS[0]["aware_at"] and full[5].tzinfo is not None
    assert full[6] == dt.date(2023, 12, 31) and type(full[6]) is dt.date
    assert full[7] is True and full[-1] == IDS[1]
    nulls = await db.lane.first(BY_ID, {"id": IDS[1]})
    assert nulls is not None and nulls[3:] == (None,) * 11
    assert await db.lane.first(BY_ID, {"id": uuid.uuid4()}) is None


async def test_all_pages_with_limit_and_offset_binds_match_sqlalchemy(db: Lane) -> None:
    """The plain page (LIMIT/OFFSET binds, a count subquery), a page whose LIMIT/OFFSET are bind defaults,
    and a bare count(*): the rows and types of the engine."""
    for limit, offset in ((2, 0), (2, 2), (2, 4), (10, 0), (3, 1), (1, 9)):
        params = {"limit": limit, "offset": offset}
        expected = await _engine_all(db.engine, PAGE, params)
        got = await db.lane.all(PAGE, params)
        assert got == expected, params
        assert _shape(got) == _shape(expected), params
        assert len(got) == max(0, min(limit, len(ROWS) - offset))
        assert all(row[-1] == len(ROWS) and type(row[-1]) is int for row in got)
    expected = await _engine_all(db.engine, LITERAL_PAGE, {})
    got = await db.lane.all(LITERAL_PAGE, {})
    assert [row[1] for row in got] == [4, 3]  # rank desc, skipping 5, two rows: the defaults were bound
    assert _shape(got) == _shape(expected)
    count = await db.lane.all(COUNT, {})
    assert _shape(count) == _shape(await _engine_all(db.engine, COUNT, {})) == [((5, int),)]
    assert await db.lane.first(COUNT, {}) == (5,)


async def test_typed_bindparams_go_through_the_bind_processors(db: Lane) -> None:
    """Enum, Decimal, aware datetime, UUID, date and bool parameters are converted as the engine converts
    them (asyncpg would refuse most of them raw, or match nothing)."""
    params = {"since": dt.date(1960, 1, 1), "flag": True, "color": Color.green,
              "before": dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "ref": IDS[1],
              "price": decimal.Decimal("100")}
    expected = await _engine_all(db.engine, FILTERED, params)
    got = await db.lane.all(FILTERED, params)
    assert [row[0] for row in got] == [IDS[0]]
    assert _shape(got) == _shape(expected)
    for changed in ({"flag": False}, {"color": Color.red}, {"ref": IDS[0]},
                    {"price": decimal.Decimal("1234.50")}, {"since": dt.date(2024, 1, 1)},
                    {"before": dt.datetime(2024, 3, 1, 8, 0, 1, 500, tzinfo=dt.UTC)}):
        other = {**params, **changed}
        assert await db.lane.all(FILTERED, other) == [], changed
        assert await _engine_all(db.engine, FILTERED, other) == [], changed
    # the same statement, other values: the prepared statement is reused with new parameters
    for name in ("full", "falsy", "ünïcødé ✓", "json scalar", "nobody"):
        assert _shape(await db.lane.all(BY_NAME, {"name": name})) == _shape(
            await _engine_all(db.engine, BY_NAME, {"name": name}))
    assert await db.lane.first(BY_NAME, {"name": "falsy"}) == (IDS[2], "falsy")


async def test_postgresql_types_and_expressions_match_sqlalchemy(db: Lane) -> None:
    """Types whose reading depends on the column's PostgreSQL type (JSONB, arrays, interval, inet, numeric
    read as float, float read as Decimal, a TypeDecorator, aggregates): exactly the engine's values."""
    for _round in range(2):  # learning the column types, then with them known
        expected = await _engine_all(db.engine, EXTRAS, {})
        got = await db.lane.all(EXTRAS, {})
        assert len(got) == len(EXTRA_ROWS)
        assert got == expected
        assert _deep_rows(got) == _deep_rows(expected)
    first = got[0]
    assert first[1] == EXTRA_ROWS[0]["doc"] and first[2] == [1, -2, 3]
    assert first[4] == dt.timedelta(days=2, seconds=5, microseconds=7)
    assert type(first[9]) is float and type(first[10]) is decimal.Decimal  # asdecimal False / True
    assert first[8] == str(IDS[0]) and type(first[8]) is str  # Uuid(as_uuid=False)
    assert first[13] == "MIXED"  # the TypeDecorator's process_result_value ran

    params = {"shout": "LOUD", "nums": [0], "doc": 42, "span": dt.timedelta(days=-4), "text_id": None,
              "exact": decimal.Decimal("1")}
    # text_id = NULL matches nothing: the same as the engine, then a real value
    assert await db.lane.all(EXTRAS_FILTERED, params) == []
    assert await _engine_all(db.engine, EXTRAS_FILTERED, params) == []
    params = {**params, "shout": "QuIeT", "nums": [7], "doc": "just a string",
              "span": dt.timedelta(days=-1), "text_id": str(IDS[2]), "exact": decimal.Decimal("1e11")}
    expected = await _engine_all(db.engine, EXTRAS_FILTERED, params)
    got = await db.lane.all(EXTRAS_FILTERED, params)
    assert [row[0] for row in got] == [4]  # "QuIeT" was lower-cased by the TypeDecorator, the JSONB bound
    assert _shape(got) == _shape(expected)

    then = {"then": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}
    expected = await _engine_all(db.engine, AGGREGATES, then)
    got = await db.lane.all(AGGREGATES, then)
    assert got == expected
    assert _deep_rows(got) == _deep_rows(expected)
    assert got[0][0] == 5 and got[0][5] == [row["name"] for row in ROWS] and got[0][-1] is True


async def test_the_engines_json_deserializer_reads_json_on_the_lane(schema: str) -> None:
    """A custom `json_deserializer` on the engine applies to the lane's JSON and JSONB columns too."""
    def loads(text: str) -> Any:
        return {"wrapped": __import__("json").loads(text)}

    engine = _engine(schema, json_deserializer=loads)
    lane, _name = _lane(engine, schema)
    try:
        by_id = sa.select(things.c.data).where(things.c.id == sa.bindparam("id"))
        expected = await _engine_first(engine, by_id, {"id": IDS[0]})
        assert expected == ({"wrapped": ROWS[0]["data"]},)
        assert await lane.first(by_id, {"id": IDS[0]}) == expected
        docs = sa.select(extras.c.doc).where(extras.c.id == 1)
        expected_docs = await _engine_all(engine, docs, {})
        assert expected_docs == [({"wrapped": EXTRA_ROWS[0]["doc"]},)]
        assert await lane.all(docs, {}) == expected_docs
    finally:
        await lane.aclose()
        await engine.dispose()


async def test_concurrent_reads_open_one_pool_of_at_most_max_size(make_lane: Any, admin: AsyncEngine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The first reads of a cold lane arrive together (a worker's first requests): they share one pool,
    which never holds more than `max_size` connections, and every read gets its own row."""
    pools: list[int] = []
    real_create_pool = asyncpg.create_pool

    def counting(*args: Any, **kwargs: Any) -> Any:
        pools.append(1)
        return real_create_pool(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "create_pool", counting)
    db = make_lane(max_size=3)
    reads = [db.lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(12)]
    reads += [db.lane.first(BY_ID, {"id": IDS[n % 5]}) for n in range(12)]
    results = await asyncio.gather(*reads)
    assert pools == [1]
    pids = {rows[0][0] for rows in results[:12]}
    assert 1 < len(pids) <= 3, pids  # they ran side by side, on at most three connections
    for n, row in enumerate(results[12:]):
        assert row is not None and row[0] == IDS[n % 5]
    assert len(await backends(admin, db.name)) <= 3


# -- 2. autocommit: a read leaves nothing open ------------------------------------------------------------


async def test_reads_leave_the_connections_idle_outside_any_transaction(make_lane: Any,
                                                                        admin: AsyncEngine) -> None:
    """The lane runs in autocommit: after its reads (and a failed one) no connection is left `idle in
    transaction`, holding a snapshot (xmin) that would keep VACUUM from cleaning up."""
    db = make_lane(max_size=2)
    await asyncio.gather(*(db.lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(4)))
    assert await db.lane.first(BY_ID, {"id": IDS[0]}) is not None
    assert await db.lane.all(PAGE, {"limit": 2, "offset": 0})
    with pytest.raises(sa_exc.DBAPIError):
        await db.lane.first(sa.select(missing.c.secret), {})
    rows = await backends(admin, db.name)
    assert len(rows) == 2, rows
    for _pid, state, xid, xmin in rows:
        assert state == "idle", rows
        assert xid is None and xmin is None, rows
    # and each read is a transaction of its own: now() moves on between two reads on the same connection
    now = sa.select(sa.func.now(), sa.func.pg_backend_pid())
    single = make_lane(max_size=1)
    (first_now, first_pid), = await single.lane.all(now, {})
    await asyncio.sleep(0.01)
    (second_now, second_pid), = await single.lane.all(now, {})
    assert first_pid == second_pid and second_now > first_now


# -- 3. dead connections: retried once, on fresh connections -----------------------------------------------


async def test_connections_killed_while_idle_are_replaced(make_lane: Any, admin: AsyncEngine) -> None:
    """The server restarted (or an admin killed the sessions) while the lane was idle: the next read
    succeeds, on new connections."""
    db = make_lane(max_size=2)
    await asyncio.gather(*(db.lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(2)))
    before = await wait_for_backends(admin, db.name, 2)
    assert await terminate(db.name) == 2
    expected = await _engine_first(db.engine, BY_ID, {"id": IDS[0]})
    assert await db.lane.first(BY_ID, {"id": IDS[0]}) == expected
    after = [row[0] for row in await backends(admin, db.name)]
    assert after and not set(after) & set(before)


async def test_a_dead_connection_the_lane_has_not_noticed_is_retried_once(make_lane: Any, admin: AsyncEngine,
                                                                         expirations: list[int]) -> None:
    """The connections die while the event loop is busy elsewhere, so the pool still takes them for alive:
    the read fails on a dead connection, every pooled connection is replaced, and the read is retried
    once, successfully."""
    db = make_lane(max_size=2)
    await asyncio.gather(*(db.lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(2)))
    before = await wait_for_backends(admin, db.name, 2)
    expected = await _engine_first(db.engine, BY_ID, {"id": IDS[0]})
    # Killed from another thread while this loop is blocked, and read at once: the loop never runs in
    # between, so the lane cannot have seen the sockets close.
    killer = threading.Thread(target=lambda: asyncio.run(terminate(db.name)))
    killer.start()
    killer.join()
    assert expirations == []
    assert await db.lane.first(BY_ID, {"id": IDS[0]}) == expected
    assert expirations == [1], "the read should have met the dead connection and retried"
    after = [row[0] for row in await backends(admin, db.name)]
    assert after and not set(after) & set(before)
    # and the lane goes on normally
    assert len(await db.lane.all(PAGE, {"limit": 5, "offset": 0})) == 5
    assert expirations == [1]


async def test_an_outage_is_an_operational_error_and_the_lane_recovers(schema: str,
                                                                     expirations: list[int]) -> None:
    """While the database is unreachable a read fails fast with OperationalError (a 503 for the client,
    without the parameters); once it is back the lane serves again by itself."""
    url = make_url(PG_URL)
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        engine = _engine(schema, _at(url.set(host="127.0.0.1", port=proxy.port)))
        lane, _name = _lane(engine, schema)
        try:
            assert (await lane.first(BY_NAME, {"name": "full"})) == (IDS[0], "full")
            proxy.cut()
            for _attempt in range(3):  # first the cut pooled connection, then refused connects
                with pytest.raises(sa_exc.OperationalError) as caught:
                    await lane.first(BY_NAME, {"name": SECRET})
                assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.params)
                error = translate_db_error(caught.value)
                assert (error.status, error.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
                assert error.meta == {"reason": "database_unavailable"}
            assert len(expirations) == 3  # each read was retried once, not more
            proxy.resume()
            assert (await lane.first(BY_NAME, {"name": "full"})) == (IDS[0], "full")
        finally:
            await lane.aclose()
            await engine.dispose()


# -- 4. errors: the engine's exception types, never the parameters ------------------------------------------


@pytest.mark.parametrize("case", ["missing table", "bad function", "bad cast"])
async def test_statement_errors_are_dbapi_errors_without_parameters(db: Lane, case: str,
                                                                    expirations: list[int]) -> None:
    """A failing statement is a DBAPIError (not an OperationalError: the database is fine), with no
    parameter in its text, mapped to the same client answer as the engine's error; not retried."""
    if case == "missing table":
        stmt = sa.select(missing.c.secret).where(missing.c.secret == sa.bindparam("s"))
    elif case == "bad function":
        stmt = sa.select(sa.func.no_such_function(things.c.name)).where(things.c.name == sa.bindparam("s"))
    else:  # the server rejects the value: 22P02 invalid_text_representation
        stmt = sa.select(sa.cast(sa.bindparam("s", type_=sa.String), sa.Integer))
    for read in (db.lane.first, db.lane.all):
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await read(stmt, {"s": SECRET})
        err = caught.value
        assert not isinstance(err, sa_exc.OperationalError)
        assert isinstance(err.orig, asyncpg.PostgresError)
        text = str(err)
        assert err.params is None or SECRET not in repr(err.params)
        # Only where PostgreSQL's own message quotes the value it rejected (as in the engine's error), never
        # from rendering the parameters.
        assert text.count(SECRET) == str(err.orig).count(SECRET)
        if case != "bad cast":
            assert SECRET not in text and "s3cret" not in text
        expected_state = {"missing table": "42P01", "bad function": "42883", "bad cast": "22P02"}[case]
        assert err.orig.sqlstate == expected_state
        engine_err = await _engine_error(db.engine, stmt, {"s": SECRET})
        mine, theirs = translate_db_error(err), translate_db_error(engine_err)
        assert (mine.status, mine.code, mine.meta) == (theirs.status, theirs.code, theirs.meta)
    assert expirations == []
    assert (await db.lane.first(BY_ID, {"id": IDS[0]}))[2] == "full"  # the lane keeps working


async def test_connection_options_suit_pgbouncer_and_bound_every_read(schema: str) -> None:
    """No startup parameter PgBouncer would refuse (read-only is a SET per connection), the URL's
    statement cache size reaches asyncpg under its own name, and a read that hangs gives up after the
    statement timeout plus the connect timeout (30 s without a statement timeout)."""
    engine = create_async_engine(f"{PG_URL}?prepared_statement_cache_size=0")
    try:
        lane = pg_lane_for(engine, max_size=1, acquire_timeout=1, connect_timeout=2,
                           server_settings={"search_path": schema, "statement_timeout": "1500"})
        assert isinstance(lane, PgReadLane)
        options = lane._connect_kwargs
        assert options["statement_cache_size"] == 0 and "prepared_statement_cache_size" not in options
        assert options["server_settings"] == {"search_path": schema, "statement_timeout": "1500"}
        assert options["command_timeout"] == 3.5
        assert await lane.first(BY_NAME, {"name": "full"}) == (IDS[0], "full")
        await lane.aclose()
        plain = pg_lane_for(engine, max_size=1, acquire_timeout=1, connect_timeout=2, server_settings={})
        assert plain is not None and plain._connect_kwargs["command_timeout"] == 30.0
        assert "server_settings" not in plain._connect_kwargs
    finally:
        await engine.dispose()


async def test_the_lane_cannot_write(db: Lane) -> None:
    """Lane connections are read-only at the server (`default_transaction_read_only`), like SQLite's
    `query_only`: even a statement that tries to write is refused and nothing is kept."""
    insert = sa.text("INSERT INTO things (id, rank, name) VALUES (:id, 99, 'written') RETURNING id").columns(
        sa.column("id", sa.Uuid))
    with pytest.raises(sa_exc.DBAPIError) as raised:
        await db.lane.first(insert, {"id": uuid.uuid4()})
    assert getattr(raised.value.orig, "sqlstate", None) == "25006"  # read_only_sql_transaction
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).where(things.c.name == "written"))).scalar() == 0


async def test_a_statement_timeout_is_a_503_with_its_reason(make_lane: Any, expirations: list[int]) -> None:
    """`statement_timeout` (arkos's statement_timeout_ms) applies to the lane's reads: a DBAPIError with
    sqlstate 57014, which the client sees as 503 statement_timeout; the connection stays usable."""
    db = make_lane(max_size=1, statement_timeout="50")
    assert await db.lane.first(COUNT, {}) == (5,)  # connected: the timing below is the statement's
    started = time.monotonic()
    with pytest.raises(sa_exc.DBAPIError) as caught:
        await db.lane.first(sa.select(sa.func.pg_sleep(0.3)), {})
    assert time.monotonic() - started < 0.29
    assert not isinstance(caught.value, sa_exc.OperationalError)
    assert caught.value.orig.sqlstate == "57014"
    error = translate_db_error(caught.value)
    assert (error.status, error.code, error.meta) == (503, ErrorCode.SERVICE_UNAVAILABLE,
                                                      {"reason": "statement_timeout"})
    assert expirations == []
    assert await db.lane.first(BY_NAME, {"name": "full"}) == (IDS[0], "full")


async def test_a_closed_port_is_an_operational_error_and_a_503(schema: str) -> None:
    """Nothing listens where the database should be: OperationalError (mapped to 503), every time (a
    failed first connect does not leave the lane stuck)."""
    engine = _engine(schema, _at(make_url(PG_URL).set(host="127.0.0.1", port=1)))
    lane, _name = _lane(engine, schema)
    try:
        for _attempt in range(2):
            with pytest.raises(sa_exc.OperationalError) as caught:
                await lane.first(BY_NAME, {"name": SECRET})
            assert isinstance(caught.value.orig, OSError)
            assert SECRET not in str(caught.value)
            error = translate_db_error(caught.value)
            assert (error.status, error.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
            assert error.code == "ServiceUnavailable"
    finally:
        await lane.aclose()
        await engine.dispose()


async def test_a_database_that_never_answers_is_a_503_after_connect_timeout(schema: str) -> None:
    """A host that accepts the TCP connection but never answers must not hold the request for long: the
    read fails after about `connect_timeout` (once, not retried as a dead connection) with a 503."""
    silent = socket.create_server(("127.0.0.1", 0))
    engine = _engine(schema, _at(make_url(PG_URL).set(host="127.0.0.1", port=silent.getsockname()[1])))
    lane, _name = _lane(engine, schema, connect_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(sa_exc.SQLAlchemyError) as caught:
            await lane.first(BY_NAME, {"name": SECRET})
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 0.55, elapsed
        assert SECRET not in str(caught.value)
        error = translate_db_error(caught.value)
        assert (error.status, error.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
    finally:
        await lane.aclose()
        await engine.dispose()
        silent.close()


async def test_an_exhausted_lane_raises_a_timeout_error_after_acquire_timeout(make_lane: Any,
                                                                            expirations: list[int]) -> None:
    """Every lane connection busy for longer than `acquire_timeout`: sqlalchemy.exc.TimeoutError (a 503)
    after that long, and the healthy connections are not thrown away as if they were dead."""
    db = make_lane(max_size=1, acquire_timeout=0.2)
    assert await db.lane.first(BY_NAME, {"name": "full"}) == (IDS[0], "full")
    holder = asyncio.create_task(db.lane.first(SLEEP, {"seconds": 0.8}))
    await asyncio.sleep(0.1)  # the holder has the only connection by now
    started = time.monotonic()
    with pytest.raises(sa_exc.TimeoutError) as caught:
        await db.lane.first(BY_NAME, {"name": "full"})
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.35, elapsed  # one acquire_timeout, not two
    error = translate_db_error(caught.value)
    assert (error.status, error.code) == (503, ErrorCode.SERVICE_UNAVAILABLE)
    assert expirations == []
    assert await holder == await _engine_first(db.engine, SLEEP, {"seconds": 0})  # (None,): pg_sleep is void
    assert await db.lane.first(BY_NAME, {"name": "full"}) == (IDS[0], "full")


async def test_a_cancelled_read_leaves_the_lane_usable(make_lane: Any, admin: AsyncEngine) -> None:
    """A request cancelled mid-read (the client went away) neither loses the connection nor leaves the
    statement running: the next read on the same single connection is answered at once, correctly."""
    db = make_lane(max_size=1)
    (pid, _void), = await db.lane.all(BACKEND_PID, {"seconds": 0})
    slow = asyncio.create_task(db.lane.all(SLEEP, {"seconds": 3}))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    started = time.monotonic()
    assert await db.lane.first(BY_NAME, {"name": "falsy"}) == (IDS[2], "falsy")
    assert time.monotonic() - started < 1.0
    rows = await backends(admin, db.name)
    assert [(row[0], row[1]) for row in rows] == [(pid, "idle")]


# -- 5. close: every connection closed, the next read reopens ----------------------------------------------


async def test_aclose_closes_every_connection_and_the_lane_reopens(make_lane: Any,
                                                                   admin: AsyncEngine) -> None:
    """At shutdown `aclose()` gives every connection back to the server; like `AsyncEngine.dispose()`,
    the lane opens a new pool on its next read."""
    db = make_lane(max_size=3)
    await asyncio.gather(*(db.lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(3)))
    before = await wait_for_backends(admin, db.name, 3)
    await db.lane.aclose()
    await wait_for_backends(admin, db.name, 0)
    await db.lane.aclose()  # twice is fine
    expected = await _engine_first(db.engine, BY_ID, {"id": IDS[3]})
    assert await db.lane.first(BY_ID, {"id": IDS[3]}) == expected  # reopens
    after = await wait_for_backends(admin, db.name, 1)
    assert not set(after) & set(before)
    await db.lane.aclose()
    await wait_for_backends(admin, db.name, 0)


async def test_a_lane_never_read_closes_without_connecting(make_lane: Any, admin: AsyncEngine) -> None:
    """The pool opens on first use: a worker that never read opens nothing, and closing it is a no-op."""
    db = make_lane()
    assert db.lane.data_version() is None  # no "nothing changed" signal on PostgreSQL
    await db.lane.aclose()
    assert await backends(admin, db.name) == []


# -- 6. which databases have a PostgreSQL lane, and with which settings ------------------------------------


async def test_a_postgresql_database_has_a_lane_unless_switched_off(tmp_path: Any) -> None:
    """postgresql_read_lane (default on) decides on PostgreSQL, sqlite_read_lane only on SQLite; `echo`
    switches every lane off (the SQL log must show every statement); no connection is opened."""
    cases: list[tuple[dict[str, Any], type | None]] = [
        ({"url": PG_URL}, PgReadLane),
        ({"url": PG_URL, "postgresql_read_lane": True}, PgReadLane),
        ({"url": PG_URL, "sqlite_read_lane": False}, PgReadLane),
        ({"url": PG_URL, "postgresql_read_lane": False}, None),
        ({"url": PG_URL, "echo": True}, None),
        ({"url": "postgres://postgres@127.0.0.1:5432/test"}, PgReadLane),  # normalised to asyncpg
        ({"url": f"sqlite+aiosqlite:///{tmp_path}/app.db", "postgresql_read_lane": True}, "sqlite"),
    ]
    for options, expected in cases:
        database = Database(DatabaseConfig(**options))
        try:
            lane = database.read_lane
            if expected is None:
                assert lane is None, options
            elif expected == "sqlite":
                assert lane is not None and not isinstance(lane, PgReadLane), options
            else:
                assert isinstance(lane, PgReadLane), options
        finally:
            await database.dispose()
    sqlite_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/other.db")
    try:
        assert pg_lane_for(sqlite_engine, max_size=1, acquire_timeout=1, server_settings={},
                           connect_timeout=1) is None
    finally:
        await sqlite_engine.dispose()


async def test_the_databases_lane_uses_its_schema_timeout_and_connection_count(schema: str,
                                                                             admin: AsyncEngine) -> None:
    """Database wires schema_name (search_path), statement_timeout_ms and read_lane_connections into the
    lane: it reads the schema's tables, times out like the engine, never opens more connections, and
    `dispose()` closes them."""
    database = Database(DatabaseConfig(url=PG_URL, schema_name=schema, statement_timeout_ms=100,
                                       read_lane_connections=2))
    lane = database.read_lane
    assert isinstance(lane, PgReadLane)
    try:
        expected = await _engine_first(database.engine, BY_ID, {"id": IDS[0]})
        assert expected is not None and await lane.first(BY_ID, {"id": IDS[0]}) == expected
        results = await asyncio.gather(*(lane.all(BACKEND_PID, {"seconds": 0.05}) for _ in range(6)))
        pids = {rows[0][0] for rows in results}
        assert len(pids) == 2
        with pytest.raises(sa_exc.DBAPIError) as caught:
            await lane.first(SLEEP, {"seconds": 0.5})
        assert caught.value.orig.sqlstate == "57014"
        assert translate_db_error(caught.value).meta == {"reason": "statement_timeout"}
    finally:
        await database.dispose()
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)")
    for _ in range(250):
        async with admin.connect() as conn:
            left = (await conn.execute(query, {"pids": sorted(pids)})).scalar_one()
        if not left:
            break
        await asyncio.sleep(0.02)
    assert left == 0, "Database.dispose() left the lane's connections open"
