"""The demo app (examples/blog) built for tests: its own config module, a SQLite file, seeded users and posts."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

import arkos
from arkos.config import ArkosConfig, deep_merge
from arkos.users import create_user

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_ROOT = REPO_ROOT / "examples" / "blog"
DEMO_SECRET = "demo-test-secret-" + "d" * 40
DEMO_PASSWORD = "Demo-Passw0rd"
# The users seed.py creates: (username, super user, role)
DEMO_USERS = (("admin", True, "Admin"), ("editor", False, "Editor"), ("reader", False, "User"))


@contextmanager
def demo_on_path() -> Iterator[None]:
    """examples/blog importable (the `blog` package) only while the app is built.

    Left on sys.path, its `arkos_config.py` would become the project config of every later
    `arkos.init()` in the same process.
    """
    sys.path.insert(0, str(DEMO_ROOT))
    try:
        yield
    finally:
        sys.path.remove(str(DEMO_ROOT))


def demo_config() -> ArkosConfig:
    """examples/blog/arkos_config.py, loaded under a private name (never the shared `arkos_config`)."""
    spec = importlib.util.spec_from_file_location(f"_demo_config_{uuid.uuid4().hex[:8]}",
                                                  DEMO_ROOT / "arkos_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.config
    assert isinstance(config, ArkosConfig)
    return config


def build_demo_app(db_path: Path, **overrides: Any) -> FastAPI:
    options = deep_merge({
        "models": "blog.models:Base",
        "database": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "authentication": {"jwt": {"secret": DEMO_SECRET}, "bcrypt_rounds": 4},
        "rate_limit": {"enabled": False},
        "file_upload": {"base_upload_dir": str(db_path.parent / "uploads")},
    }, overrides)
    with demo_on_path():
        return arkos.init(demo_config(), env_file=None, **options)


async def seed_demo(app: FastAPI, posts: int = 6) -> dict[str, dict[str, Any]]:
    """What examples/blog/seed.py does: the tables, three users and a few posts by the editor."""
    from blog.models import Base, Post  # imported by build_demo_app

    runtime = app.state.arkos
    async with runtime.database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(arkos.arkos_metadata.create_all)
    users = {}
    for username, is_super_user, role in DEMO_USERS:
        users[username] = await create_user(runtime, username=username, password=DEMO_PASSWORD,
                                            is_super_user=is_super_user,
                                            fields={"role": role, "email": f"{username}@example.com"})
    async with runtime.database.engine.begin() as conn:
        await conn.execute(sa.insert(Post.__table__), [
            {"id": f"00000000-0000-4000-8000-{n:012d}", "title": f"Post number {n}",
             "content": f"The content of post {n}.", "published": n % 3 != 0,
             "author_id": users["editor"]["id"]}
            for n in range(1, posts + 1)
        ])
    return users
