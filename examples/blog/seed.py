"""Prepare the demo: a JWT secret in .env, the tables, three users (with `arkos users create`) and posts."""

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
PASSWORD = os.environ.get("DEMO_PASSWORD", "Demo-Passw0rd")
USERS = (("admin", "--superuser", "Admin"), ("editor", None, "Editor"), ("reader", None, "User"))


def ensure_env_file() -> None:
    env = HERE / ".env"
    lines = env.read_text().splitlines() if env.exists() else []
    if not any(line.startswith("JWT_SECRET=") for line in lines):
        lines.append(f"JWT_SECRET={secrets.token_urlsafe(48)}")
    if not any(line.startswith("DATABASE_URL=") for line in lines):
        lines.append("DATABASE_URL=sqlite+aiosqlite:///./blog.db")
    env.write_text("\n".join(lines) + "\n")


def arkos(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "arkos.cli", *args], cwd=HERE, check=True)


async def existing_usernames() -> set[str]:
    import arkos as ark

    app = ark.init()
    runtime = app.state.arkos
    try:
        async with runtime.database.engine.connect() as conn:
            rows = await conn.execute(sa.text('SELECT username FROM "user"'))
            return {row[0] for row in rows}
    finally:
        await runtime.database.dispose()


async def seed_posts() -> int:
    import arkos as ark
    from blog.models import Post

    app = ark.init()
    runtime = app.state.arkos
    try:
        async with runtime.database.engine.begin() as conn:
            if (await conn.execute(sa.select(sa.func.count()).select_from(Post.__table__))).scalar_one():
                return 0
            editor = (await conn.execute(sa.text("SELECT id FROM \"user\" WHERE username = 'editor'"))).scalar_one()
            rows = [
                {"id": f"00000000-0000-4000-8000-{n:012d}", "title": f"Post number {n}",
                 "content": f"The content of post {n}. " * 5, "published": n % 3 != 0, "author_id": editor}
                for n in range(1, 37)
            ]
            await conn.execute(sa.insert(Post.__table__), rows)
            return len(rows)
    finally:
        await runtime.database.dispose()


async def seed_dynamic_roles() -> dict[str, int]:
    """AUTH_MODE=dynamic: roles and grants that mirror the static policies, and each user's role."""
    import arkos as ark
    from arkos.auth.dynamic_admin import migrate_to_dynamic

    app = ark.init()
    runtime = app.state.arkos
    try:
        return await migrate_to_dynamic(runtime)
    finally:
        await runtime.database.dispose()


def main() -> None:
    os.chdir(HERE)
    sys.path.insert(0, str(HERE))
    ensure_env_file()
    arkos("db", "push")
    present = asyncio.run(existing_usernames())
    for username, flag, role in USERS:
        if username in present:
            continue
        args = ["users", "create", "--username", username, "--password", PASSWORD, "--role", role,
                "--email", f"{username}@example.com"]
        arkos(*args, *([flag] if flag else []))
    created = asyncio.run(seed_posts())
    if os.environ.get("AUTH_MODE") == "dynamic":
        print("dynamic mode:", asyncio.run(seed_dynamic_roles()))
    port = os.environ.get("PORT", "8000")
    print(f"\narkos demo: http://127.0.0.1:{port}/api  (docs: http://127.0.0.1:{port}/api/docs)")
    print(f"logins (password {PASSWORD}): admin (super user), editor (Editor), reader (User)")
    if created:
        print(f"seeded {created} posts")


if __name__ == "__main__":
    main()
