"""The read lanes seen through the app (SQLite's, arkos/readlane.py, and PostgreSQL's, arkos/pglane.py): plain
reads, logins and the user lookup use them, a request's own writes are visible to its own reads, and every
account change (this process, another process or another connection) reaches the very next request. On
SQLite the user lookup is not run again while nothing is committed (the data_version check); PostgreSQL
has no such signal, so there every authenticated request reads its user on the lane."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from arkos import readlane
from arkos.pglane import PgReadLane
from arkos.readlane import ReadLane, prepare
from tests.conftest import (
    PASSWORD,
    PG_URL,
    AppFactory,
    client_for,
    login,
    make_user,
    sqlite_write_in_another_process,
)
from tests.http.auth_helpers import STRONG_PASSWORD, bearer
from tests.http.crud_helpers import assert_error, create, project  # noqa: F401 - project is a fixture

ME = "/api/users/me"
PUBLIC = {"modules/article/router.py": "hook = {op: {'authentication': False} for op in ("
          "'find_many', 'find_one', 'create_one', 'update_one', 'delete_one')}\n"}


# Both backends, for the tests that hold for both lanes.
BOTH = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test parametrizes it (BOTH)."""
    return str(getattr(request, "param", "sqlite"))


class _Recorder(logging.Handler):
    def __init__(self, calls: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.calls = calls

    def emit(self, record: logging.LogRecord) -> None:
        self.calls.append(record.getMessage())


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement a lane runs (a reused authentication verdict runs none). Both lanes bypass
    the engine and its events: each logs its statements at DEBUG on `arkos.readlane`, recorded here."""
    calls: list[str] = []
    logger = logging.getLogger("arkos.readlane")
    handler = _Recorder(calls)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    # SQLite: reads stay in the event loop (where the memo lives) however loaded the machine is.
    monkeypatch.setattr(readlane, "LOOP_BUDGET_SECONDS", 10.0)
    try:
        yield calls
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lane_of(app: FastAPI) -> ReadLane | PgReadLane:
    lane = app.state.arkos.database.read_lane
    assert isinstance(lane, ReadLane | PgReadLane)
    return lane


def user_lookups(app: FastAPI, executed: list[str]) -> int:
    """How many times a lane ran the per-request user + revocation lookup."""
    runtime = app.state.arkos
    sql = prepare(runtime.auth._statement, lane_of(app).dialect, with_readers=False).sql
    return executed.count(sql)


def database_file(app: FastAPI) -> Path:
    return Path(app.state.arkos.database.engine.url.database)


async def authenticated_twice(app: FastAPI, client: httpx.AsyncClient, headers: Mapping[str, str],
                              executed: list[str]) -> None:
    """Two requests with one token. SQLite: the second one's user lookup runs no SQL (nothing was committed
    in between, the memo answers). PostgreSQL: each request reads its user, on the lane."""
    assert (await client.get(ME, headers=headers)).status_code == 200
    before = user_lookups(app, executed)
    response = await client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    if isinstance(lane_of(app), ReadLane):
        assert user_lookups(app, executed) == before, "the user lookup should have come from the memo"
    else:
        assert user_lookups(app, executed) == before + 1, "the user lookup should have run on the lane"


async def write_elsewhere(app: FastAPI, sql: str) -> None:
    """Change exactly one row outside the app: from another process (SQLite file) or through a connection
    of another engine (PostgreSQL, in the app's schema)."""
    database = app.state.arkos.database
    if database.is_sqlite:
        sqlite_write_in_another_process(database_file(app), sql)
        return
    engine = create_async_engine(
        PG_URL, connect_args={"server_settings": {"search_path": database.config.schema_name}})
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(sa.text(sql))).rowcount == 1
    finally:
        await engine.dispose()


# -- which apps have a lane ------------------------------------------------------------------------------


@BOTH
async def test_sqlite_files_and_postgresql_have_their_lane(app_factory: AppFactory, backend: str) -> None:
    """By default an app reads through its backend's lane, on its own database (file or schema)."""
    app = await app_factory()
    lane = app.state.arkos.database.read_lane
    if backend == "sqlite":
        assert isinstance(lane, ReadLane)
        assert Path(lane.path) == database_file(app)
    else:
        assert isinstance(lane, PgReadLane)
    user = await make_user(app, "reader")
    runtime = app.state.arkos
    row = await lane.first(runtime.auth._statement, {"uid": user["id"], "jti": "no-such-token"})
    assert row is not None and "reader" in row


@BOTH
async def test_the_lane_can_be_switched_off(app_factory: AppFactory, backend: str,
                                            executed: list[str]) -> None:
    """Switched off (its backend's switch, or `echo`), every read goes through the engine: the lane runs
    nothing. The other backend's switch leaves the lane alone."""
    switch = {"sqlite": "sqlite_read_lane", "postgresql": "postgresql_read_lane"}
    apps = [await app_factory(database={switch[backend]: False}), await app_factory(database={"echo": True})]
    await make_user(apps[0], "reader")
    for app in apps:
        assert app.state.arkos.database.read_lane is None
        async with client_for(app) as client:
            headers = await login(client, "reader")
            for _ in range(2):
                response = await client.get(ME, headers=headers)
                assert response.status_code == 200, response.text
            assert (await client.get("/api/articles", headers=headers)).status_code in {200, 403}
    assert executed == []
    other = "sqlite" if backend == "postgresql" else "postgresql"
    app = await app_factory(database={switch[other]: False})
    lane_of(app)
    async with client_for(app) as client:
        headers = await login(client, "reader")
        assert (await client.get(ME, headers=headers)).status_code == 200
    assert user_lookups(app, executed) == 1


# -- plain reads use the lane ----------------------------------------------------------------------------


@BOTH
async def test_plain_reads_and_the_user_lookup_run_on_the_lane(app: FastAPI, client: httpx.AsyncClient,
                                                                users: dict[str, Any],
                                                                executed: list[str]) -> None:
    """A plain page, a get-one by id, the login lookup and the per-request user lookup all run on the lane."""
    lane_of(app)
    admin = users["admin"]["headers"]
    article = await create(client, "articles", {"title": "on the lane"}, admin)
    executed.clear()
    page = await client.get("/api/articles", headers=admin)
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 1 and page.json()["data"][0]["id"] == article["id"]
    assert any("FROM articles" in sql for sql in executed), executed
    executed.clear()
    one = await client.get(f"/api/articles/{article['id']}", headers=admin)
    assert one.status_code == 200, one.text
    assert one.json()["data"]["title"] == "on the lane"
    assert any("FROM articles" in sql for sql in executed), executed
    missing = await client.get("/api/articles/no-such-id", headers=admin)
    assert_error(missing, 404, "NotFound")
    executed.clear()
    await login(client, "reader")
    assert any("FROM users" in sql for sql in executed), executed
    await authenticated_twice(app, client, users["reader"]["headers"], executed)


# -- read-your-writes: a request that opened a connection reads through it -------------------------------

OWN_WRITES = {**PUBLIC, "modules/article/interceptors.py": """
    import uuid

    import sqlalchemy as sa

    INSERT = sa.text("INSERT INTO articles (id, title, content, views, published, status, created_at) "
                     "VALUES (:id, :title, '', 0, false, 'draft', CURRENT_TIMESTAMP)")


    async def before_find_many(ctx):
        conn = await ctx.connection()
        await conn.execute(INSERT, {"id": str(uuid.uuid4()), "title": "written by find_many"})


    async def before_find_one(ctx):
        article_id = ctx.request.path_params["id"]
        if article_id.startswith("own-"):
            conn = await ctx.connection()
            await conn.execute(INSERT, {"id": article_id, "title": "written by find_one"})
"""}




@BOTH
async def test_a_request_reads_its_own_uncommitted_write(project, executed: list[str]) -> None:
    """A request that opened a connection (and wrote in it) reads through that connection, never the lane,
    which would not see the uncommitted rows."""
    app, client = await project(OWN_WRITES)
    lane_of(app)
    # Control: without a write of its own, find_one is answered by the lane.
    plain = await create(client, "articles", {"title": "committed before"})
    executed.clear()
    response = await client.get(f"/api/articles/{plain['id']}")
    assert response.status_code == 200, response.text
    assert any("FROM articles" in sql for sql in executed), executed

    executed.clear()
    response = await client.get("/api/articles/own-1")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["title"] == "written by find_one"
    assert executed == []  # the lane was not asked: the request had a connection open

    response = await client.get("/api/articles")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3, body  # two committed rows and this request's own
    assert "written by find_many" in [row["title"] for row in body["data"]]
    assert executed == []

    response = await client.get("/api/articles")  # the previous request's insert was committed
    assert response.json()["total"] == 4, response.text
    titles = sorted(row["title"] for row in response.json()["data"])
    assert titles == ["committed before", "written by find_many", "written by find_many",
                      "written by find_one"]


# -- account changes reach the very next request ---------------------------------------------------------


@BOTH
async def test_deactivating_a_user_blocks_their_next_request(app: FastAPI, client: httpx.AsyncClient,
                                                             users: dict[str, Any],
                                                             executed: list[str]) -> None:
    """Deactivated by an admin: the very next request of that user is refused, reactivated: served."""
    reader = users["reader"]
    await authenticated_twice(app, client, reader["headers"], executed)
    patched = await client.patch(f"/api/users/{reader['user']['id']}", headers=users["admin"]["headers"],
                                 json={"isActive": False})
    assert patched.status_code == 200, patched.text
    assert_error(await client.get(ME, headers=reader["headers"]), 401, "AccountInactive")
    assert_error(await client.get("/api/articles", headers=reader["headers"]), 401, "AccountInactive")
    patched = await client.patch(f"/api/users/{reader['user']['id']}", headers=users["admin"]["headers"],
                                 json={"isActive": True})
    assert patched.status_code == 200, patched.text
    assert (await client.get(ME, headers=reader["headers"])).status_code == 200


@BOTH
async def test_a_password_change_kills_the_older_token_at_once(app: FastAPI, client: httpx.AsyncClient,
                                                               users: dict[str, Any],
                                                               executed: list[str]) -> None:
    """After a password change the older token is refused on its very next request; the new one works."""
    old = users["reader"]["headers"]
    await authenticated_twice(app, client, old, executed)
    changed = await client.post("/api/auth/update-password", headers=old,
                                json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert changed.status_code == 200, changed.text
    client.cookies.clear()
    assert_error(await client.get(ME, headers=old), 401, "PasswordChanged")
    fresh = bearer(changed.json()["accessToken"])
    assert (await client.get(ME, headers=fresh)).status_code == 200
    assert_error(await client.get(ME, headers=old), 401, "PasswordChanged")


@BOTH
async def test_logout_kills_the_token_at_once(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any],
                                              executed: list[str]) -> None:
    """A logged-out token is refused on its very next request; the user's other token still works."""
    headers = users["reader"]["headers"]
    other = await login(client, "reader")
    await authenticated_twice(app, client, headers, executed)
    await authenticated_twice(app, client, other, executed)
    response = await client.delete("/api/auth/logout", headers=headers)
    assert response.status_code == 204, response.text
    client.cookies.clear()
    assert_error(await client.get(ME, headers=headers), 401, "InvalidAuthToken")
    assert (await client.get(ME, headers=other)).status_code == 200  # only that token


@BOTH
async def test_a_change_made_outside_the_app_reaches_the_next_request(app: FastAPI, client: httpx.AsyncClient,
                                                                      users: dict[str, Any],
                                                                      executed: list[str]) -> None:
    """Another process (SQLite) or another connection (PostgreSQL, e.g. an operator's psql) deactivates,
    reactivates, deletes a user: each change reaches that user's very next request."""
    headers = users["reader"]["headers"]
    await authenticated_twice(app, client, headers, executed)
    await write_elsewhere(app, "UPDATE users SET is_active = false WHERE username = 'reader'")
    assert_error(await client.get(ME, headers=headers), 401, "AccountInactive")
    await write_elsewhere(app, "UPDATE users SET is_active = true WHERE username = 'reader'")
    await authenticated_twice(app, client, headers, executed)
    await write_elsewhere(app, "DELETE FROM users WHERE username = 'reader'")
    assert_error(await client.get(ME, headers=headers), 401, "UserNoLongerExists")
    # the other users are unaffected, and still served
    assert (await client.get(ME, headers=users["editor"]["headers"])).status_code == 200
