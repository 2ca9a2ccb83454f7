"""PostgreSQL outages against a real uvicorn process (issue #8, item 3).

The app reaches PostgreSQL through a TCP proxy (tcp_proxy.py) that the test cuts and resumes: while the
database is away every authenticated request and every login is 503 `ServiceUnavailable` (never let
through), readiness is 503 and liveness 200; once it is back the same process serves again by itself,
and every write acknowledged before the outage is still there. Statement timeouts and an exhausted pool
are 503 too (in-process, against the real PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import arkos
from tests.conftest import JWT_SECRET, PASSWORD, PG_URL
from tests.ops_sample.models import Base
from tests.server.ops_helpers import APP, REPO, admin_headers, entry_parts, ops_database, server_env, wait_for
from tests.server.tcp_proxy import TcpProxy, tcp_proxy
from tests.server.uvicorn_process import uvicorn_process

pytestmark = [pytest.mark.server, pytest.mark.postgresql]

RECOVERY_SECONDS = 5.0


class Outage:
    def __init__(self, base_url: str, proxy: TcpProxy, database: dict[str, str], marks: Path) -> None:
        self.base_url = base_url
        self.proxy = proxy
        self.database = database
        self.marks = marks  # where the slow create says it has written its first half
        self.client = httpx.Client(base_url=base_url, timeout=15)


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp_path = tmp_path_factory.mktemp("outage")
    url = make_url(PG_URL)
    with ops_database("postgresql", tmp_path) as database, \
            tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = server_env(proxied, database["schema"], tmp_path)
        with uvicorn_process(APP, REPO, env, log=tmp_path / "uvicorn.log") as base_url:
            state = Outage(base_url, proxy, database, tmp_path / "marks")
            try:
                yield state
            finally:
                state.client.close()


@pytest.fixture
def server(outage: Outage) -> Iterator[Outage]:
    """The module's server, with the database always given back after the test."""
    try:
        yield outage
    finally:
        outage.proxy.resume()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, f"{response.request.method} {response.request.url}: {response.text}"
    body = response.json()
    assert body["status"] == "error", body
    assert body["code"] == "ServiceUnavailable", body
    assert body["meta"] == {"reason": "database_unavailable"}, body
    assert "5432" not in response.text and "asyncpg" not in body["message"], body  # nothing of the driver


def test_outage_answers_503_lets_nobody_in_and_recovers_by_itself(server: Outage) -> None:
    client, headers = server.client, admin_headers(server.base_url)
    created = []
    for n in range(5):
        response = client.post("/api/entries", json={"batch": f"before-{n}"}, headers=headers)
        assert response.status_code == 201, response.text
        created.append(response.json()["data"]["id"])
    assert client.get("/api/entries", headers=headers).json()["total"] == 5
    assert client.get(f"/api/entries/{created[0]}", headers=headers).status_code == 200

    server.proxy.cut()
    protected = [("GET", "/api/entries", None), ("GET", f"/api/entries/{created[0]}", None),
                 ("POST", "/api/entries", {"batch": "during"}), ("GET", "/api/users/me", None),
                 ("PATCH", f"/api/entries/{created[1]}", {"batch": "changed"}),
                 ("DELETE", f"/api/entries/{created[2]}", None)]
    for _round in range(3):  # round 1 meets pooled connections that were cut, later rounds fresh connects
        for method, path, body in protected:
            assert_unavailable(client.request(method, path, json=body, headers=headers))
        assert_unavailable(client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}))
    # A token is refused before the database is needed, so those answers do not change.
    assert client.get("/api/entries").json()["code"] == "LoginRequired"
    bad_token = {"Authorization": "Bearer x.y.z"}
    assert client.get("/api/entries", headers=bad_token).json()["code"] == "InvalidAuthToken"
    ready = client.get("/api/health/ready")
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["database"].startswith("unavailable"), ready.text
    assert client.get("/api/health/live").status_code == 200

    server.proxy.resume()
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < RECOVERY_SECONDS:
        response = client.get("/api/entries", headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 200:
            break
        time.sleep(0.05)
    recovery = time.monotonic() - started
    print(f"recovered in {recovery:.3f} s; answers after resume: {statuses}")
    # pool_pre_ping replaces the dead pooled connections on checkout: no request fails once it is back.
    assert statuses == [200], statuses
    assert client.get("/api/health/ready").status_code == 200
    ids = sorted(entry["id"] for entry in client.get("/api/entries", headers=headers).json()["data"])
    assert ids == sorted(created)  # every acknowledged write survived, and nothing from the outage landed
    assert sorted(batch for batch, _part in entry_parts(server.database)) == [f"before-{n}" for n in range(5)]
    assert client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    assert client.post("/api/entries", json={"batch": "after"}, headers=headers).status_code == 201


def test_after_an_outage_nobody_noticed_the_first_request_succeeds(server: Outage) -> None:
    """Every pooled connection dies while the app is idle: the engine's checkout check replaces its
    connections before a request uses them, the read lane retries its read once on a new one."""
    client, headers = server.client, admin_headers(server.base_url)
    with ThreadPoolExecutor(4) as pool:  # fill the pool with several connections (4 concurrent requests)
        fill = pool.map(lambda _n: client.get("/api/sql-sleep?seconds=0.2", headers=headers), range(4))
        for response in fill:
            assert response.status_code == 200, response.text
    wait_for(lambda: server.proxy.open_connections >= 2, 5, "the pool kept fewer than two connections")
    server.proxy.cut()
    server.proxy.resume()
    # The engine first (custom route, then a write), then the lane (a plain list; the user lookups).
    statuses = [client.get("/api/sql-sleep?seconds=0", headers=headers).status_code for _ in range(4)]
    statuses += [client.post("/api/entries", json={"batch": "after-idle-cut"}, headers=headers).status_code]
    statuses += [client.get("/api/entries", headers=headers).status_code for _ in range(4)]
    assert statuses == [200] * 4 + [201] + [200] * 4, statuses


def test_a_transaction_cut_midway_leaves_no_half_written_rows(server: Outage) -> None:
    client, headers = server.client, admin_headers(server.base_url)
    batch = f"cut-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.base_url, timeout=15) as slow_client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(slow_client.post, "/api/entries", json={"batch": batch},
                           headers={**headers, "X-Delay": "0.5"})
        wait_for(lambda: (server.marks / f"{batch}.started").exists(), 10, "the slow create never started")
        server.proxy.cut()  # part 1 is written, part 2 not yet: the transaction is open
        response = slow.result(timeout=15)
    assert_unavailable(response)
    server.proxy.resume()
    wait_for(lambda: client.get("/api/health/ready").status_code == 200, RECOVERY_SECONDS, "no recovery")
    assert [row for row in entry_parts(server.database) if row[0] == batch] == []


# -- in-process, against the real PostgreSQL: statement timeout and pool exhaustion -----------------------


def _app(database: dict[str, str], **database_options: Any) -> Any:
    return arkos.init(env_file=None, models=Base, package="tests.ops_sample", rate_limit={"enabled": False},
                      database={"url": database["url"], "schema_name": database["schema"],
                                **database_options},
                      authentication={"mode": "static", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4})


@pytest.fixture(scope="module")
def pg_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with ops_database("postgresql", tmp_path_factory.mktemp("pg")) as database:
        yield database


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def _login(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def test_statement_timeout_answers_503_and_the_pool_keeps_serving(pg_database: dict[str, str]) -> None:
    async def run() -> None:
        app = _app(pg_database, statement_timeout_ms=200)
        try:
            async with _client(app) as client:
                headers = await _login(client)
                started = time.monotonic()
                response = await client.get("/api/sql-sleep?seconds=3", headers=headers)
                assert time.monotonic() - started < 2, "the statement was not cut at statement_timeout_ms"
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "ServiceUnavailable"
                assert response.json()["meta"] == {"reason": "statement_timeout"}
                fast = await client.get("/api/sql-sleep?seconds=0.01", headers=headers)
                assert fast.status_code == 200, fast.text
        finally:
            await app.state.arkos.database.dispose()

    asyncio.run(run())


def test_an_exhausted_pool_answers_503_after_pool_timeout(pg_database: dict[str, str]) -> None:
    async def run() -> None:
        app = _app(pg_database, pool_size=1, max_overflow=0, pool_timeout_seconds=0.3)
        try:
            async with _client(app) as client:
                headers = await _login(client)
                holder = asyncio.create_task(client.get("/api/sql-sleep?seconds=1.5", headers=headers))
                await asyncio.sleep(0.3)  # the holder has the only connection by now
                started = time.monotonic()
                waiting = await client.post("/api/entries", json={"batch": "waits"}, headers=headers)
                assert time.monotonic() - started < 1.2, "the request waited past pool_timeout_seconds"
                assert waiting.status_code == 503, waiting.text
                assert waiting.json()["code"] == "ServiceUnavailable"
                # Plain reads (and the user lookup) run on the read lane's own connections meanwhile.
                assert (await client.get("/api/entries", headers=headers)).status_code == 200
                assert (await holder).status_code == 200
                created = await client.post("/api/entries", json={"batch": "after"}, headers=headers)
                assert created.status_code == 201, created.text
        finally:
            await app.state.arkos.database.dispose()

    asyncio.run(run())


def test_a_busy_read_lane_answers_503_after_pool_timeout(pg_database: dict[str, str]) -> None:
    async def run() -> None:
        app = _app(pg_database, read_lane_connections=1, pool_timeout_seconds=0.3)
        lane = app.state.arkos.database.read_lane
        try:
            async with _client(app) as client:
                headers = await _login(client)
                assert (await client.get("/api/entries", headers=headers)).status_code == 200  # lane opened
                # A slow read holds the lane's only connection.
                holder = asyncio.create_task(lane.first(sa.select(sa.func.pg_sleep(1.0)), {}))
                await asyncio.sleep(0.2)
                started = time.monotonic()
                waiting = await client.get("/api/entries", headers=headers)
                assert time.monotonic() - started < 0.7, "the read waited past pool_timeout_seconds"
                assert waiting.status_code == 503, waiting.text
                assert waiting.json()["code"] == "ServiceUnavailable"
                await holder
                assert (await client.get("/api/entries", headers=headers)).status_code == 200
        finally:
            await app.state.arkos.database.dispose()

    asyncio.run(run())


def test_the_read_lane_follows_the_event_loop(pg_database: dict[str, str]) -> None:
    """An app served by one event loop after another (Starlette's TestClient used without `with` runs
    each request in a loop of its own): the lane's asyncpg connections belong to the first loop and
    must not be reused from the next."""
    app = _app(pg_database)

    async def one_request(headers: dict[str, str] | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # no lifespan: nothing closes the lane between loops
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            if headers is None:
                return await client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            return await client.get("/api/entries", headers=headers)

    token = asyncio.run(one_request())
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
    statuses = [asyncio.run(one_request(headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200], statuses
    database = app.state.arkos.database
    asyncio.run(database.read_lane.aclose())
    # The engine's pooled connections belong to loops that are closed now: dropped, not closed.
    database.engine.sync_engine.dispose(close=False)
