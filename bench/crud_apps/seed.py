"""Create `post` and load the 1,000 posts of the common seed.  Usage: python -m crud_apps.seed"""

from __future__ import annotations

import asyncio
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from _common import make_seed
from crud_apps.models import DATABASE_URL, Base, Post


async def main() -> None:
    engine = create_async_engine(DATABASE_URL)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        posts = [
            {"id": p["id"], "title": p["title"], "content": p["content"], "author_id": p["authorId"],
             "created_at": dt.datetime.fromisoformat(p["createdAt"].replace("Z", "+00:00"))}
            for p in make_seed()["posts"]
        ]
        await conn.execute(sa.insert(Post.__table__), posts)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
