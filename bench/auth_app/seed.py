"""Tables (models + arkos's own), the 3 common users (bcrypt cost 10) and 1,000 posts in both tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import bcrypt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import arkos
from _common import make_seed
from arkos_auth_bench.models import Base, OpenPost, Post, User, UserRole


async def main() -> None:
    seed = make_seed()
    engine = create_async_engine(os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./auth.db"))
    async with engine.begin() as conn:
        for metadata in (Base.metadata, arkos.arkos_metadata):
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
        await conn.execute(sa.insert(User.__table__), [
            {"id": u["id"], "username": u["username"], "email": u["email"], "is_super_user": u["isSuperUser"],
             "role": UserRole(u["role"]),
             "password": bcrypt.hashpw(u["password"].encode(), bcrypt.gensalt(10)).decode()}
            for u in seed["users"]])
        posts = [{"id": p["id"], "title": p["title"], "content": p["content"], "author_id": p["authorId"],
                  "created_at": dt.datetime.fromisoformat(p["createdAt"].replace("Z", "+00:00"))}
                 for p in seed["posts"]]
        for model in (Post, OpenPost):
            await conn.execute(sa.insert(model.__table__), posts)
    await engine.dispose()
    if os.environ.get("AUTH_MODE") == "dynamic":
        await seed_dynamic()


async def seed_dynamic() -> None:
    """Roles and grants mirroring the static policy, and each user's role (what `arkos migrate-to-dynamic` does)."""
    from arkos.auth.dynamic_admin import migrate_to_dynamic

    os.environ.setdefault("JWT_SECRET", "bench-secret-not-for-production-0123456789abcdef")
    from app import app

    runtime = app.state.arkos
    try:
        print("dynamic mode:", await migrate_to_dynamic(runtime))
    finally:
        await runtime.database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
