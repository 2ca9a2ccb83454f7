"""The dynamic-mode app the server tests run under uvicorn, configured from the environment:
DYN_DATABASE_URL, DYN_SCHEMA, REDIS_URL (optional: Redis pub/sub, else PostgreSQL NOTIFY), DYN_REDIS_PREFIX,
DYN_JWT_SECRET.

Two test-only routes look inside the process (never do this in a real app):
`GET /_test/cache` → whether the permission cache is on; `GET /_test/decide?user=&resource=&action=`
→ the decision for that user and how many SQL statements it took.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from fastapi import Request

import arkos
from arkos.auth.principal import Principal
from arkos.routing.options import Requirement
from tests.dynamic_sample.models import Base

app = arkos.init(
    env_file=None,
    models=Base,
    package="tests.dynamic_sample",
    database={"url": os.environ["DYN_DATABASE_URL"], "schema_name": os.environ.get("DYN_SCHEMA") or None},
    redis_url=os.environ.get("REDIS_URL") or None,
    redis_prefix=os.environ.get("DYN_REDIS_PREFIX", "arkos:"),
    authentication={"mode": "dynamic", "jwt": {"secret": os.environ["DYN_JWT_SECRET"]}, "bcrypt_rounds": 4},
    rate_limit={"enabled": False},
)
runtime = app.state.arkos
statements: list[str] = []


@sa.event.listens_for(runtime.database.engine.sync_engine, "before_cursor_execute")
def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    statements.append(statement)


async def cache_state(_request: Request) -> dict[str, Any]:
    cache = runtime.permissions.cache
    return {"enabled": cache.enabled, "generation": cache.generation, "pid": os.getpid()}


async def decide(user: str, resource: str, action: str) -> dict[str, Any]:
    before = len(statements)
    allowed, why = await runtime.permissions.decide(Principal(id=user),
                                                    Requirement(resource=resource, action=action))
    return {"allowed": allowed, "why": why, "statements": len(statements) - before}


app.add_api_route("/_test/cache", cache_state, methods=["GET"])
app.add_api_route("/_test/decide", decide, methods=["GET"])
