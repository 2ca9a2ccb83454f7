"""A custom route doing the same as the slow create, on its own transaction (`engine.begin()`), and a
route whose SQL sleeps (statement timeout)."""

import asyncio
import os
from pathlib import Path

import sqlalchemy as sa
from fastapi import Request

from arkos import ArkosRouter
from tests.ops_sample.models import Entry

router = ArkosRouter()


@router.post("/api/slow-pair/{batch}", authentication=True)
async def slow_pair(request: Request, batch: str, delay: float = 1.0) -> dict[str, object]:
    async with request.app.state.arkos.database.engine.begin() as conn:
        await conn.execute(sa.insert(Entry).values(batch=batch, part=1))
        Path(os.environ["OPS_MARK_DIR"], f"{batch}.started").touch()
        await asyncio.sleep(delay)
        await conn.execute(sa.insert(Entry).values(batch=batch, part=2))
    return {"data": {"batch": batch, "parts": 2}}


@router.get("/api/sql-sleep", authentication=True)
async def sql_sleep(request: Request, seconds: float = 1.0) -> dict[str, object]:
    async with request.app.state.arkos.database.engine.connect() as conn:
        await conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": seconds})
    return {"data": "slept"}
