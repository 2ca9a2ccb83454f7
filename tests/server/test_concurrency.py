"""Concurrency (issue #8, item 5), black-box against `uvicorn --workers 2` on SQLite and on PostgreSQL.

Concurrent signups with one username give exactly one 201; concurrent creates and updates never lose an
acknowledged write; once update-password (or an admin's PATCH of the password) has answered, no request is
authorised by a token issued before it, on either worker. Both workers share one database (a temporary
SQLite file, or a scratch PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import arkos
from arkos.users import create_user
from tests.conftest import JWT_SECRET, PASSWORD, PG_URL, pg_create_tables, pg_execute, service_unavailable
from tests.sample.models import Base
from tests.server.uvicorn_process import uvicorn_process

pytestmark = pytest.mark.server

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
SIGNUPS = 50
NEW_PASSWORD = "Passw0rd-Changed"
TOKEN_REFUSED = {"PasswordChanged", "InvalidAuthToken"}
OPTIONS_VARIABLE = "CONCURRENCY_APP_OPTIONS"  # read by tests/server/concurrency_app.py


@dataclass
class Server:
    url: str
    database: dict[str, Any]
    log: Path
    pids: set[str]
    admin: dict[str, str] = field(default_factory=dict)

    def errors_logged(self) -> str:
        text = self.log.read_text(errors="replace")
        return text if "Traceback" in text or "Unhandled error" in text else ""


def app_options(database: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": "tests.sample.models:Base",
        "package": "tests.sample",
        "database": database,
        "authentication": {"mode": "static", "jwt": {"secret": JWT_SECRET}, "bcrypt_rounds": 4},
        "rate_limit": {"enabled": False},
    }


async def seed(options: dict[str, Any], schema: str | None) -> None:
    """Tables and a super user, written before the server starts."""
    if schema is not None:
        await pg_create_tables(schema, Base.metadata, arkos.arkos_metadata)
    app = arkos.init(env_file=None, **options)
    runtime = app.state.arkos
    try:
        if schema is None:
            await runtime.database.create_all(Base.metadata)
            await runtime.database.create_all(arkos.arkos_metadata)
        await create_user(runtime, username="admin", password=PASSWORD, is_super_user=True,
                          fields={"role": "Admin"})
    finally:
        await runtime.database.dispose()


def wait_for_workers(url: str, count: int) -> set[str]:
    """Until `count` distinct worker processes have answered (uvicorn starts them one after the other)."""
    pids: set[str] = set()
    deadline = time.monotonic() + 60
    while len(pids) < count:
        assert time.monotonic() < deadline, f"only workers {pids} answered"
        # A fresh connection each time: the kernel hands it to whichever worker accepts first.
        pids.add(httpx.get(f"{url}/api/health/live", headers={"Connection": "close"}, timeout=5)
                 .headers["x-worker-pid"])
    return pids


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp(f"concurrency-{request.param}")
    schema: str | None = None
    if request.param == "sqlite":
        database: dict[str, Any] = {"url": f"sqlite+aiosqlite:///{tmp_path}/concurrency.db"}
    else:
        schema = f"concurrency_{uuid.uuid4().hex[:10]}"
        try:
            asyncio.run(pg_execute([f'CREATE SCHEMA "{schema}"']))
        except Exception:  # noqa: BLE001 - any failure means the service is not there
            service_unavailable(f"PostgreSQL is not reachable at {PG_URL.split('@')[-1]}")
        database = {"url": PG_URL, "schema_name": schema}
    try:
        options = app_options(database)
        asyncio.run(seed(options, schema))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JWT_", "ARKOS_", "DATABASE_URL", "REDIS_URL"))}
        env.update(PYTHONPATH=str(REPO_ROOT), **{OPTIONS_VARIABLE: json.dumps(options)})
        log = tmp_path / "uvicorn.log"
        app = "tests.server.concurrency_app:app"
        with uvicorn_process(app, REPO_ROOT, env, log=log, workers=WORKERS) as url:
            server = Server(url, database, log, wait_for_workers(url, WORKERS))
            server.admin = bearer(httpx.post(f"{url}/api/auth/login",
                                             json={"username": "admin", "password": PASSWORD}, timeout=10))
            yield server
    finally:
        if schema is not None:
            asyncio.run(pg_execute([f'DROP SCHEMA IF EXISTS "{schema}" CASCADE']))


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


@asynccontextmanager
async def client(server: Server, *, keep_alive: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    # Without keep-alive every request is a new connection, so both workers take their share.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=None if keep_alive else 0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
        yield http


async def scalar(server: Server, sql: str, **params: Any) -> Any:
    """One value read straight from the database the workers write to."""
    database = server.database
    args = ({"connect_args": {"server_settings": {"search_path": database["schema_name"]}}}
            if "schema_name" in database else {})
    engine = create_async_engine(database["url"], **args)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def summary(responses: list[httpx.Response]) -> str:
    """A failure message: the statuses, and the body of each distinct unexpected answer."""
    seen = {(r.status_code, r.text[:300]) for r in responses if r.status_code >= 500}
    return f"{Counter(r.status_code for r in responses)} {sorted(seen)[:5]}"


def assert_no_server_errors(server: Server, responses: list[httpx.Response]) -> None:
    assert all(r.status_code < 500 for r in responses), summary(responses)
    assert not server.errors_logged(), server.errors_logged()[-4000:]


# -- 1. signups --------------------------------------------------------------------------------------


async def test_concurrent_signups_with_one_username_give_one_201_and_409s(server: Server) -> None:
    username = unique("same")
    async with client(server) as http:
        responses = list(await asyncio.gather(*(
            http.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
            for _ in range(SIGNUPS))))
    assert_no_server_errors(server, responses)
    assert Counter(r.status_code for r in responses) == {201: 1, 409: SIGNUPS - 1}, summary(responses)
    [created] = [r.json()["data"] for r in responses if r.status_code == 201]
    assert created["username"] == username and "password" not in created
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"status": "fail", "code": "DuplicateRecords",
                                       "message": "Duplicate unique field(s) 'username'",
                                       "meta": {"fields": ["username"]}}, response.text
    assert await scalar(server, "SELECT count(*) FROM users WHERE username = :u", u=username) == 1


async def test_concurrent_signups_with_distinct_usernames_all_succeed(server: Server) -> None:
    prefix = unique("distinct")
    async with client(server) as http:
        responses = list(await asyncio.gather(*(
            http.post("/api/auth/signup", json={"username": f"{prefix}-{n}", "password": PASSWORD})
            for n in range(SIGNUPS))))
    assert_no_server_errors(server, responses)
    assert [r.status_code for r in responses] == [201] * SIGNUPS, summary(responses)
    count = await scalar(server, "SELECT count(*) FROM users WHERE username LIKE :p", p=f"{prefix}-%")
    assert count == SIGNUPS


# -- 2. creates and updates --------------------------------------------------------------------------


async def test_concurrent_creates_and_updates_keep_every_acknowledged_write(server: Server) -> None:
    prefix, count, contenders = unique("art"), 40, 20
    async with client(server, keep_alive=False) as http:  # new connections: both workers take writes
        def create(title: str) -> Any:
            return http.post("/api/articles", json={"title": title}, headers=server.admin)

        def patch(article_id: str, body: dict[str, Any]) -> Any:
            return http.patch(f"/api/articles/{article_id}", json=body, headers=server.admin)

        first = list(await asyncio.gather(create(f"{prefix}-hot"),
                                          *(create(f"{prefix}-t{n}") for n in range(count))))
        assert [r.status_code for r in first] == [201] * (count + 1), summary(first)
        hot, *targets = [r.json()["data"]["id"] for r in first]

        # One burst: three PATCHes per record, each to a different field; new records; and one field of
        # one record that many clients fight over.
        wanted = {target: {"title": f"{prefix}-t{n}-new", "content": f"body {n}", "views": n}
                  for n, target in enumerate(targets)}
        updates = [(target, name, value)
                   for target, fields in wanted.items() for name, value in fields.items()]
        titles = [f"{prefix}-hot-{n}" for n in range(contenders)]
        burst = list(await asyncio.gather(
            *(patch(target, {name: value}) for target, name, value in updates),
            *(create(f"{prefix}-n{n}") for n in range(count)),
            *(patch(hot, {"title": title}) for title in titles),
        ))
        assert_no_server_errors(server, burst)
        assert all(r.is_success for r in burst), summary(burst)
        updated, creates, fights = burst[:len(updates)], burst[len(updates):-contenders], burst[-contenders:]
        for (_target, name, value), response in zip(updates, updated):
            assert response.json()["data"][name] == value, response.text  # the answer shows the write

        # Read back: every field of every record holds its acknowledged write, even though the three
        # writes to a record raced (a write of one field never puts back an old value of another).
        created = {r.json()["data"]["id"]: {"title": r.json()["data"]["title"]} for r in creates}
        expected = {**wanted, **created}
        reads = list(await asyncio.gather(*(http.get(f"/api/articles/{i}", headers=server.admin)
                                            for i in [*expected, hot])))
        assert all(r.status_code == 200 for r in reads), summary(reads)
        found = {r.json()["data"]["id"]: r.json()["data"] for r in reads}
        assert {i: {name: found[i][name] for name in fields} for i, fields in expected.items()} == expected

        # The fought-over field ends with one of the acknowledged values.
        acknowledged = {title for title, r in zip(titles, fights) if r.is_success}
        assert found[hot]["title"] in acknowledged, found[hot]
    assert await scalar(server, "SELECT count(*) FROM articles WHERE title LIKE :p",
                        p=f"{prefix}-%") == 2 * count + 1


# -- 3. password changes racing with requests -------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    sent: float  # monotonic, taken before the request left
    status: int
    code: str | None
    pid: str


async def new_user(server: Server, prefix: str) -> tuple[str, dict[str, str]]:
    """A user of this test's own, and a token for it."""
    username = unique(prefix)
    async with client(server) as http:
        signup = await http.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        return username, bearer(await http.post("/api/auth/login",
                                                json={"username": username, "password": PASSWORD}))


async def change_password(server: Server, token: dict[str, str], acknowledged: list[float],
                          ready: asyncio.Event | None = None) -> httpx.Response:
    """After 0.3 s (the racing requests are under way) and `ready`, change the password; note when it answered."""
    await asyncio.sleep(0.3)
    if ready is not None:  # a loaded machine may not have answered any racing request yet
        await asyncio.wait_for(ready.wait(), 30)
    async with client(server) as http:
        response = await http.post("/api/auth/update-password", headers=token,
                                   json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    acknowledged.append(time.monotonic())
    return response


async def test_no_request_sent_after_a_password_change_is_authorised_by_an_older_token(
        server: Server) -> None:
    _username, old = await new_user(server, "racer")
    samples: list[Sample] = []
    acknowledged: list[float] = []  # set once update-password has answered

    def enough() -> bool:
        if not acknowledged:
            return False
        after = [s.pid for s in samples if s.sent > acknowledged[0]]
        # Keep going until every worker has answered a good number of requests sent after the change.
        return (all(after.count(pid) >= 20 for pid in server.pids)
                or time.monotonic() > acknowledged[0] + 10)

    async def hammer() -> None:
        async with client(server, keep_alive=False) as http:
            while not enough():
                sent = time.monotonic()
                response = await http.get("/api/users/me", headers=old)
                code = response.json().get("code") if response.status_code != 200 else None
                samples.append(Sample(sent, response.status_code, code, response.headers["x-worker-pid"]))

    changed, *_ = await asyncio.gather(change_password(server, old, acknowledged),
                                       *(hammer() for _ in range(8)))
    assert changed.status_code == 200, changed.text

    before = [s for s in samples if s.sent <= acknowledged[0]]
    after = [s for s in samples if s.sent > acknowledged[0]]
    assert any(s.status == 200 for s in before), Counter(s.status for s in before)  # the old token did work
    assert all(s.status in (200, 401) for s in before), Counter((s.status, s.code) for s in before)
    authorised = [s for s in after if s.status != 401 or s.code not in TOKEN_REFUSED]
    assert not authorised, (f"{len(authorised)} of {len(after)} requests sent after the change were not "
                            f"refused: {Counter((s.status, s.code) for s in authorised)}")
    assert {s.pid for s in after} == server.pids, Counter(s.pid for s in after)  # every worker refused it
    assert not server.errors_logged(), server.errors_logged()[-4000:]

    # The token update-password returned works on every worker.
    new = bearer(changed)
    async with client(server, keep_alive=False) as http:
        pids: set[str] = set()
        for _ in range(200):
            if pids == server.pids:
                break
            response = await http.get("/api/users/me", headers=new)
            assert response.status_code == 200, response.text
            pids.add(response.headers["x-worker-pid"])
        assert pids == server.pids, pids


async def test_no_login_with_the_old_password_gives_a_token_that_outlives_the_change(server: Server) -> None:
    username, old = await new_user(server, "logger")
    credentials = {"username": username, "password": PASSWORD}
    logins: list[tuple[float, httpx.Response]] = []
    acknowledged: list[float] = []
    logged_in = asyncio.Event()  # the race needs logins with the old password that succeeded

    async def log_in_again_and_again() -> None:
        async with client(server, keep_alive=False) as http:
            while not acknowledged or time.monotonic() < acknowledged[0] + 0.5:
                sent = time.monotonic()
                response = await http.post("/api/auth/login", json=credentials)
                logins.append((sent, response))
                if response.status_code == 200:
                    logged_in.set()

    changed, *_ = await asyncio.gather(change_password(server, old, acknowledged, logged_in),
                                       *(log_in_again_and_again() for _ in range(8)))
    assert changed.status_code == 200, changed.text
    assert_no_server_errors(server, [r for _sent, r in logins])
    late = [r for sent, r in logins if sent > acknowledged[0]]
    assert late and all(r.json()["code"] == "IncorrectCredentials" for r in late), Counter(
        r.status_code for r in late)
    # Every login that did succeed with the old password, even one that answered after the change (it
    # read the old password before the change committed), got a token the change killed.
    tokens = [bearer(r) for _sent, r in logins if r.status_code == 200]
    assert tokens
    async with client(server, keep_alive=False) as http:
        uses = list(await asyncio.gather(*(http.get("/api/users/me", headers=t) for t in tokens)))
    alive = [r for r in uses if r.status_code != 401]
    assert not alive, f"{len(alive)} of {len(tokens)} tokens from the old password still work"


async def test_concurrent_password_changes_acknowledge_only_the_one_that_holds(server: Server) -> None:
    username, old = await new_user(server, "changer")
    passwords = [f"{NEW_PASSWORD}-{n}" for n in range(10)]
    async with client(server) as http:
        responses = list(await asyncio.gather(*(
            http.post("/api/auth/update-password", headers=old,
                      json={"currentPassword": PASSWORD, "newPassword": new}) for new in passwords)))
        assert_no_server_errors(server, responses)
        winners = [new for new, r in zip(passwords, responses) if r.status_code == 200]
        assert len(winners) == 1, f"{len(winners)} acknowledged: {Counter(r.status_code for r in responses)}"
        winner = winners[0]
        for response in responses:  # the others checked the old password, but it had changed meanwhile
            if response.status_code != 200:
                assert (response.status_code, response.json()["code"]) in {
                    (400, "IncorrectCurrentPassword"), (401, "PasswordChanged")}, response.text
        for new in passwords:
            login = await http.post("/api/auth/login", json={"username": username, "password": new})
            assert login.status_code == (200 if new == winner else 401), (new == winner, login.text)


# -- 4. an admin's password write racing with logins ------------------------------------------------

ADMIN_RACERS = 16  # login loops keeping both workers (their pools and event loops) busy
ADMIN_WRITES = 8  # users whose password the admin sets, a PATCH a user (or two), one after the other


@asynccontextmanager
async def bound_clients(server: Server,
                        per_worker: int = 4) -> AsyncIterator[dict[str, list[httpx.AsyncClient]]]:
    """For each worker, `per_worker` keep-alive clients of one connection each that worker accepted: a
    request sent through one of them is answered by that worker."""
    tls = ssl.create_default_context()  # shared: building one per client is slow
    async with AsyncExitStack() as stack:
        bound: dict[str, list[httpx.AsyncClient]] = {pid: [] for pid in server.pids}
        for _ in range(100 * per_worker):
            if all(len(clients) == per_worker for clients in bound.values()):
                break
            http = await stack.enter_async_context(httpx.AsyncClient(
                base_url=server.url, timeout=30, verify=tls, limits=httpx.Limits(max_connections=1)))
            pid = (await http.get("/api/health/live")).headers["x-worker-pid"]
            if len(bound[pid]) < per_worker:
                bound[pid].append(http)
        assert all(len(clients) == per_worker for clients in bound.values()), bound
        yield bound


async def uses_on_every_worker(server: Server, tokens: list[dict[str, str]]) -> list[list[httpx.Response]]:
    """For each token, the answers of every worker to `GET /api/users/me` with it."""
    async with bound_clients(server) as bound:
        async def use(n: int, token: dict[str, str]) -> list[httpx.Response]:
            answers = [await clients[n % len(clients)].get("/api/users/me", headers=token)
                       for clients in bound.values()]
            assert [r.headers["x-worker-pid"] for r in answers] == list(bound)  # still where they were
            return answers
        return list(await asyncio.gather(*(use(n, token) for n, token in enumerate(tokens))))


@dataclass(frozen=True)
class Login:
    sent: float  # monotonic, taken before the request left
    username: str
    response: httpx.Response


@pytest.mark.parametrize("route", ["one", "many"])
async def test_no_login_racing_an_admin_password_write_gives_a_token_that_outlives_it(
        server: Server, route: str) -> None:
    """A super user sets users' passwords with `PATCH /api/users/{id}` (or `PATCH /api/users/many?<filter>`,
    two users a write) while they log in again and again with the old one. Once a PATCH has answered, no
    token the old password gave works, on any worker, even one from a login that answered after it."""
    prefix = unique(f"admin-set-{route}")
    per_write = 1 if route == "one" else 2
    # The usernames each PATCH covers; the bulk filter is their prefix.
    groups = [[f"{prefix}-{g}-{n}" for n in range(per_write)] for g in range(ADMIN_WRITES // per_write)]
    group_of = {username: g for g, group in enumerate(groups) for username in group}

    async def sign_up(http: httpx.AsyncClient, username: str) -> tuple[str, dict[str, str]]:
        """The user's id, and a token the old password gave before the race."""
        signup = await http.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        login = await http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        return signup.json()["data"]["id"], bearer(login)

    async with client(server) as http:
        users = await asyncio.gather(*(sign_up(http, username) for username in group_of))
    ids = {username: user_id for username, (user_id, _token) in zip(group_of, users)}
    first_tokens = {username: token for username, (_user_id, token) in zip(group_of, users)}
    logins: list[Login] = []
    acknowledged: dict[int, float] = {}  # group -> when its PATCH answered
    writes: list[httpx.Response] = []

    async def admin_sets_passwords(http: httpx.AsyncClient) -> None:
        # The first once the logins are in full swing (some have answered 200), so it lands among them.
        deadline = time.monotonic() + 30  # generous: a loaded CI machine answers slowly
        while sum(login.response.status_code == 200 for login in logins) < ADMIN_RACERS // 4:
            assert time.monotonic() < deadline, Counter(login.response.status_code for login in logins)
            await asyncio.sleep(0.01)
        for g, group in enumerate(groups):
            if route == "one":
                response = await http.patch(f"/api/users/{ids[group[0]]}", json={"password": NEW_PASSWORD},
                                            headers=server.admin)
            else:
                response = await http.patch("/api/users/many", json={"password": NEW_PASSWORD},
                                            params={"username[startsWith]": f"{prefix}-{g}-"},
                                            headers=server.admin)
            acknowledged[g] = time.monotonic()
            writes.append(response)
            await asyncio.sleep(0.05)  # the logins of the next users pile up again

    async def log_in_again_and_again(http: httpx.AsyncClient, n: int) -> None:
        while len(acknowledged) < len(groups) or time.monotonic() < max(acknowledged.values()) + 0.1:
            # The users whose password is still to be set, while there are any.
            racing = [u for u in group_of if group_of[u] not in acknowledged] or list(group_of)
            username = racing[(n + len(logins)) % len(racing)]
            sent = time.monotonic()
            response = await http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            logins.append(Login(sent, username, response))

    # One client for the logins (new connections: both workers take them), and the admin's.
    async with client(server, keep_alive=False) as racing, client(server) as admin:
        await admin.get("/api/health/live")  # its connection is open before the race
        await asyncio.gather(admin_sets_passwords(admin),
                             *(log_in_again_and_again(racing, n) for n in range(ADMIN_RACERS)))
    assert [r.status_code for r in writes] == [200] * len(groups), [r.text for r in writes]
    if route == "many":
        assert [r.json()["data"] for r in writes] == [{"count": per_write}] * len(groups)
    responses = [login.response for login in logins]
    assert_no_server_errors(server, responses)
    assert all(r.status_code == 200 or r.json()["code"] == "IncorrectCredentials" for r in responses), (
        Counter((r.status_code, r.text[:100]) for r in responses))
    late = [login.response for login in logins if login.sent > acknowledged[group_of[login.username]]]
    assert late and all(r.status_code == 401 for r in late), Counter(r.status_code for r in late)

    # Every token the old password gave, before the race or during it (even from a login that answered
    # after the PATCH: it read the old password before the PATCH committed), is refused on every worker.
    tokens = [*first_tokens.items(), *((login.username, bearer(login.response))
                                       for login in logins if login.response.status_code == 200)]
    uses = await uses_on_every_worker(server, [token for _username, token in tokens])
    alive = [(username, answers) for (username, _token), answers in zip(tokens, uses)
             if any(r.status_code != 401 or r.json()["code"] not in TOKEN_REFUSED for r in answers)]
    assert not alive, (
        f"{len(alive)} of {len(tokens)} tokens from the old password still work (PATCH number: tokens "
        f"{dict(Counter(group_of[username] for username, _answers in alive))}, of {len(groups)} PATCHes): "
        f"{Counter((r.status_code, r.headers['x-worker-pid']) for _username, a in alive for r in a)}")

    # The new password logs every user in, and its tokens work on every worker.
    async with client(server) as http:
        new = [bearer(r) for r in await asyncio.gather(*(
            http.post("/api/auth/login", json={"username": username, "password": NEW_PASSWORD})
            for username in group_of))]
    for username, answers in zip(group_of, await uses_on_every_worker(server, new)):
        assert [r.status_code for r in answers] == [200] * len(answers), [r.text for r in answers]
        assert {r.json()["data"]["username"] for r in answers} == {username}
    assert not server.errors_logged(), server.errors_logged()[-4000:]
