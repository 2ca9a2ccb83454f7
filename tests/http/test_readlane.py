"""The SQLite read lane seen through the app: plain reads use it, a request's own writes are visible to its
own reads, and every account change (this process or another) reaches the very next request although
the user lookup is not run again while nothing is committed (the data_version check)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from arkos import readlane
from arkos.readlane import ReadLane
from tests.conftest import PASSWORD, AppFactory, client_for, login, make_user, sqlite_write_in_another_process
from tests.http.auth_helpers import STRONG_PASSWORD, bearer
from tests.http.crud_helpers import assert_error, create, project  # noqa: F401 - project is a fixture

ME = "/api/users/me"
PUBLIC = {"modules/article/router.py": "hook = {op: {'authentication': False} for op in ("
          "'find_many', 'find_one', 'create_one', 'update_one', 'delete_one')}\n"}


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite only (the lane exists only there), unless a test parametrizes it."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement the lane really runs (a reused authentication verdict runs none)."""
    calls: list[str] = []
    real_execute = readlane._execute

    def recording(conn: Any, prepared: Any, params: Any, one: bool) -> Any:
        calls.append(prepared.sql)
        return real_execute(conn, prepared, params, one)

    monkeypatch.setattr(readlane, "_execute", recording)
    # Reads stay in the event loop (where the memo lives) however loaded the machine is.
    monkeypatch.setattr(readlane, "LOOP_BUDGET_SECONDS", 10.0)
    return calls


def lane_of(app: FastAPI) -> ReadLane:
    lane = app.state.arkos.database.read_lane
    assert isinstance(lane, ReadLane)
    return lane


def user_lookups(app: FastAPI, executed: list[str]) -> int:
    """How many times the lane ran the per-request user + revocation lookup."""
    runtime = app.state.arkos
    sql = lane_of(app).prepared(runtime.auth._statement).sql
    return executed.count(sql)


def database_file(app: FastAPI) -> Path:
    return Path(app.state.arkos.database.engine.url.database)


async def served_from_the_memo(app: FastAPI, client: httpx.AsyncClient, headers: Mapping[str, str],
                               executed: list[str]) -> None:
    """Two requests: the second one's user lookup runs no SQL (nothing was committed in between)."""
    assert (await client.get(ME, headers=headers)).status_code == 200
    before = user_lookups(app, executed)
    response = await client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    assert user_lookups(app, executed) == before, "the user lookup should have come from the memo"


# -- which apps have a lane ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)
async def test_only_sqlite_files_have_a_lane(app_factory: AppFactory, backend: str) -> None:
    app = await app_factory()
    lane = app.state.arkos.database.read_lane
    if backend == "sqlite":
        assert isinstance(lane, ReadLane)
        assert Path(lane.path) == database_file(app)
    else:
        assert lane is None


async def test_the_lane_can_be_switched_off(app_factory: AppFactory, executed: list[str]) -> None:
    for database in ({"sqlite_read_lane": False}, {"echo": True}):
        app = await app_factory(database=database)
        assert app.state.arkos.database.read_lane is None, database
    await make_user(app, "reader")
    async with client_for(app) as client:
        headers = await login(client, "reader")
        for _ in range(2):
            response = await client.get(ME, headers=headers)
            assert response.status_code == 200, response.text
        assert (await client.get("/api/articles", headers=headers)).status_code in {200, 403}
    assert executed == []


# -- plain reads use the lane ----------------------------------------------------------------------------


async def test_plain_reads_and_the_user_lookup_run_on_the_lane(app: FastAPI, client: httpx.AsyncClient,
                                                                users: dict[str, Any],
                                                                executed: list[str]) -> None:
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
    await served_from_the_memo(app, client, users["reader"]["headers"], executed)


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




async def test_a_request_reads_its_own_uncommitted_write(project, executed: list[str]) -> None:
    app, client = await project(OWN_WRITES)
    assert isinstance(app.state.arkos.database.read_lane, ReadLane)
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


async def test_deactivating_a_user_blocks_their_next_request(app: FastAPI, client: httpx.AsyncClient,
                                                             users: dict[str, Any],
                                                             executed: list[str]) -> None:
    reader = users["reader"]
    await served_from_the_memo(app, client, reader["headers"], executed)
    patched = await client.patch(f"/api/users/{reader['user']['id']}", headers=users["admin"]["headers"],
                                 json={"isActive": False})
    assert patched.status_code == 200, patched.text
    assert_error(await client.get(ME, headers=reader["headers"]), 401, "AccountInactive")
    assert_error(await client.get("/api/articles", headers=reader["headers"]), 401, "AccountInactive")
    patched = await client.patch(f"/api/users/{reader['user']['id']}", headers=users["admin"]["headers"],
                                 json={"isActive": True})
    assert patched.status_code == 200, patched.text
    assert (await client.get(ME, headers=reader["headers"])).status_code == 200


async def test_a_password_change_kills_the_older_token_at_once(app: FastAPI, client: httpx.AsyncClient,
                                                               users: dict[str, Any],
                                                               executed: list[str]) -> None:
    old = users["reader"]["headers"]
    await served_from_the_memo(app, client, old, executed)
    changed = await client.post("/api/auth/update-password", headers=old,
                                json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert changed.status_code == 200, changed.text
    client.cookies.clear()
    assert_error(await client.get(ME, headers=old), 401, "PasswordChanged")
    fresh = bearer(changed.json()["accessToken"])
    assert (await client.get(ME, headers=fresh)).status_code == 200
    assert_error(await client.get(ME, headers=old), 401, "PasswordChanged")


async def test_logout_kills_the_token_at_once(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any],
                                              executed: list[str]) -> None:
    headers = users["reader"]["headers"]
    other = await login(client, "reader")
    await served_from_the_memo(app, client, headers, executed)
    await served_from_the_memo(app, client, other, executed)
    response = await client.delete("/api/auth/logout", headers=headers)
    assert response.status_code == 204, response.text
    client.cookies.clear()
    assert_error(await client.get(ME, headers=headers), 401, "InvalidAuthToken")
    assert (await client.get(ME, headers=other)).status_code == 200  # only that token


async def test_a_change_by_another_process_reaches_the_next_request(app: FastAPI, client: httpx.AsyncClient,
                                                                    users: dict[str, Any],
                                                                    executed: list[str]) -> None:
    headers = users["reader"]["headers"]
    path = database_file(app)
    await served_from_the_memo(app, client, headers, executed)
    sqlite_write_in_another_process(path, "UPDATE users SET is_active = 0 WHERE username = 'reader'")
    assert_error(await client.get(ME, headers=headers), 401, "AccountInactive")
    sqlite_write_in_another_process(path, "UPDATE users SET is_active = 1 WHERE username = 'reader'")
    await served_from_the_memo(app, client, headers, executed)
    sqlite_write_in_another_process(path, "DELETE FROM users WHERE username = 'reader'")
    assert_error(await client.get(ME, headers=headers), 401, "UserNoLongerExists")
    # the other users are unaffected, and still served
    assert (await client.get(ME, headers=users["editor"]["headers"])).status_code == 200
