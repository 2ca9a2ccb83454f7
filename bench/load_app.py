"""The peer app (bench/peers/arkos_py) for load_mixed.py, plus an `x-worker-pid` response header.

The header lets the load generator tell which of the `arkos start --workers N` processes answered, so
a fault run can say when *each* worker recovered. Served with `arkos start --app load_app:app` and
PYTHONPATH = bench/ : bench/peers/arkos_py.

Env (besides the peer's DATABASE_URL, JWT_SECRET, ARKOS_RATE_LIMIT): LOAD_POOL_SIZE, LOAD_MAX_OVERFLOW,
LOAD_STATEMENT_TIMEOUT_MS, LOAD_REDIS_PREFIX (REDIS_URL is read by arkos itself).
"""

from __future__ import annotations

import os
from typing import Any

import arkos
from arkos_bench_peer.settings import options


def _options() -> dict[str, Any]:
    opts = options()
    database = dict(opts["database"])
    for env, key in (("LOAD_POOL_SIZE", "pool_size"), ("LOAD_MAX_OVERFLOW", "max_overflow"),
                     ("LOAD_STATEMENT_TIMEOUT_MS", "statement_timeout_ms")):
        if os.environ.get(env):
            database[key] = int(os.environ[env])
    opts["database"] = database
    if os.environ.get("LOAD_REDIS_PREFIX"):
        opts["redis_prefix"] = os.environ["LOAD_REDIS_PREFIX"]
    return opts


_inner = arkos.init(env_file=None, **_options())


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _inner(scope, receive, send)
        return
    pid = str(os.getpid()).encode()

    async def send_with_pid(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-worker-pid", pid)]
        await send(message)

    await _inner(scope, receive, send_with_pid)
