"""Create tables (the models' and arkos's own) and load the common seed (make_seed.py output).

Usage: python seed.py SEED_JSON   (uses DATABASE_URL like app.py). Passwords: bcrypt cost 10.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys

import bcrypt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import arkos
from arkos_bench_peer.models import Base, Post, User, UserRole
from arkos_bench_peer.settings import BCRYPT_ROUNDS, DATABASE_URL


async def main(path: str) -> None:
    with open(path) as f:
        seed = json.load(f)
    engine = create_async_engine(DATABASE_URL)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(arkos.arkos_metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(arkos.arkos_metadata.create_all)
        users = [
            {
                "id": u["id"],
                "username": u["username"],
                "email": u["email"],
                "password": bcrypt.hashpw(u["password"].encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode(),
                "is_super_user": u["isSuperUser"],
                "role": UserRole(u["role"]),
            }
            for u in seed["users"]
        ]
        await conn.execute(sa.insert(User.__table__), users)
        posts = [
            {
                "id": p["id"],
                "title": p["title"],
                "content": p["content"],
                "author_id": p["authorId"],
                "created_at": dt.datetime.fromisoformat(p["createdAt"].replace("Z", "+00:00")),
            }
            for p in seed["posts"]
        ]
        await conn.execute(sa.insert(Post.__table__), posts)  # Core: keys are column names
    await engine.dispose()
    print(f"seeded {len(users)} users, {len(posts)} posts; hash prefix {users[0]['password'][:7]}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
