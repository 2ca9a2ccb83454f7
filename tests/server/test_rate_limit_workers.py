"""A rate limit holds across worker processes: two uvicorn servers on two ports share one Redis counter.

Each server is its own process with its own event loop and its own limiter, as two workers (or two hosts)
would be. They only share REDIS_URL and `redis_prefix`.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.uvicorn_process import uvicorn_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 5
ROUTER = f"""
    from arkos import ArkosRouter

    router = ArkosRouter()


    @router.get("/api/ping", rate_limit="{LIMIT}/hour")
    async def ping() -> dict[str, object]:
        return {{"data": "pong"}}
"""
APP_MODULE = """
    import arkos

    app = arkos.init(env_file=None, **{options!r})
"""


@pytest.fixture
def workers(tmp_path: Path, redis_url: tuple[str, str]) -> Iterator[list[str]]:
    url, prefix = redis_url
    package = tmp_path / "ratelimit_workers"
    (package / "modules" / "ping").mkdir(parents=True)
    for init in (package, package / "modules", package / "modules" / "ping"):
        (init / "__init__.py").write_text("")
    (package / "modules" / "ping" / "router.py").write_text(textwrap.dedent(ROUTER))
    options = {
        "package": "ratelimit_workers",
        "models": [],
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/workers.db"},
        "authentication": {"mode": None},
        "redis_prefix": prefix,
        "rate_limit": {"enabled": True, "global_limit": None},
    }
    (tmp_path / "workers_app.py").write_text(textwrap.dedent(APP_MODULE.format(options=options)))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ARKOS_", "DATABASE_URL"))}
    environment.update(REDIS_URL=url, PYTHONPATH=f"{tmp_path}:{REPO_ROOT}")
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(uvicorn_process("workers_app:app", tmp_path, environment,
                                                   log=tmp_path / f"uvicorn-{n}.log"))
               for n in range(2)]


def test_two_workers_share_one_limit_through_redis(workers: list[str]) -> None:
    statuses: list[tuple[int, int]] = []
    with httpx.Client(timeout=10) as client:
        for n in range(LIMIT + 3):  # alternate between the two servers
            response = client.get(f"{workers[n % 2]}/api/ping")
            statuses.append((n % 2, response.status_code))
            if response.status_code == 429:
                body = response.json()
                assert body["code"] == "TooManyRequests", body
                assert response.headers["RateLimit-Policy"] == f"{LIMIT};w=3600"
                assert int(response.headers["Retry-After"]) >= 1
    allowed = [server for server, status in statuses if status == 200]
    assert len(allowed) == LIMIT, statuses  # the limit is exceeded once in total, not once per worker
    assert set(allowed) == {0, 1}, statuses  # both workers served some of them
    assert [status for _server, status in statuses[LIMIT:]] == [429, 429, 429], statuses
