"""Isolation for CLI tests: a clean env and cwd per test, project modules purged between in-process runs."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from arkos.cli import app
from arkos.config import ENV_KEYS

ISOLATED_ENV = (*ENV_KEYS, "ARKOS_CONFIG", "ARKOS_APP", "AUTH_MODE")

# Python code that builds the project's app and signs up + logs in through httpx, printing the statuses.
AUTH_SCRIPT = """
import asyncio, sys
import httpx
import arkos

async def main():
    app = arkos.init()
    creds = {"username": sys.argv[1], "password": sys.argv[2]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        if sys.argv[3] == "signup":
            print((await client.post("/api/auth/signup", json=creds)).status_code)
        login = await client.post("/api/auth/login", json=creds)
        print(login.status_code, "accessToken" in login.json())
    await app.state.arkos.database.dispose()

asyncio.run(main())
"""


@dataclass
class Cli:
    """Runs `arkos ...` in-process (CliRunner) or in a fresh interpreter (`python -m arkos.cli`)."""

    root: Path

    def purge(self) -> None:
        """`arkos_config` and the project package are cached by module name: drop them between runs."""
        roots = (str(self.root), str(self.root.resolve()))
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None) or ""
            if name == "arkos_config" or path.startswith(roots):
                del sys.modules[name]
        importlib.invalidate_caches()

    def invoke(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        self.purge()
        try:
            return CliRunner().invoke(app, list(args), input=input, env=env)
        finally:
            self.purge()

    def python(self, *args: str, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        return subprocess.run([sys.executable, *args], cwd=cwd or Path.cwd(), env=full_env,
                              capture_output=True, text=True, timeout=180, check=False)

    def run(self, *args: str, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m arkos.cli ...` in a fresh interpreter: nothing cached, the real exit code."""
        return self.python("-m", "arkos.cli", *args, cwd=cwd, env=env)

    def auth(self, cwd: Path, username: str, password: str, *, signup: bool) -> list[str]:
        done = self.python("-c", AUTH_SCRIPT, username, password, "signup" if signup else "login", cwd=cwd)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    runner = Cli(tmp_path)
    yield runner
    runner.purge()


SHOP_CONFIG = 'from arkos import define_config\n\nconfig = define_config(package="shop")\n'
SHOP_MODELS = '''
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
'''


@pytest.fixture
def shop(cli: Cli) -> Path:
    """A hand-written project without authentication: one `Product` model, SQLite in ./shop.db."""
    root = cli.root
    (root / "arkos_config.py").write_text(SHOP_CONFIG)
    (root / "shop").mkdir()
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text(SHOP_MODELS)
    (root / ".env").write_text("DATABASE_URL=sqlite+aiosqlite:///./shop.db\n")
    return root
