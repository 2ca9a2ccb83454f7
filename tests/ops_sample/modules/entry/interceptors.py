"""`X-Delay: <seconds>` on POST /api/entries: write part 1 on the request's connection, tell the test
(a marker file in OPS_MARK_DIR), wait, and let create_one write part 2 in the same transaction."""

import asyncio
import os
from pathlib import Path

import sqlalchemy as sa

from arkos import RequestContext
from tests.ops_sample.models import Entry


async def before_create_one(ctx: RequestContext) -> None:
    delay = float(ctx.request.headers.get("x-delay", "0"))
    if not delay:
        return
    conn = await ctx.connection()
    await conn.execute(sa.insert(Entry).values(batch=ctx.body["batch"], part=1))
    Path(os.environ["OPS_MARK_DIR"], f"{ctx.body['batch']}.started").touch()
    await asyncio.sleep(delay)
    ctx.body["part"] = 2
