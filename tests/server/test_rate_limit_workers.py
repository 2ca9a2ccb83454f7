"""A rate limit holds across worker processes: two uvicorn servers on two ports share one Redis counter.

Each server is its own process with its own event loop and its own limiter, as two workers (or two hosts)
would be. They only share REDIS_URL and `redis_prefix`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/api/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not become ready within 30 s:\n{log.read_text()}")


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
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for n in range(2):
            port = free_port()
            log = tmp_path / f"uvicorn-{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "workers_app:app", "--host", "127.0.0.1", "--port", str(port),
                     "--app-dir", str(tmp_path), "--log-level", "warning"],
                    cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=environment,
                )
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            wait_until_ready(process, urls[-1], log)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


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
