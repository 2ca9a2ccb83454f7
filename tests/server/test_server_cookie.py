"""The access-token cookie over real HTTP: a uvicorn subprocess and a real httpx.Client cookie jar."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import arkos
from arkos.users import create_user
from tests.sample.models import Base
from tests.server.uvicorn_process import uvicorn_process

pytestmark = pytest.mark.server

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "server-test-secret-" + "s" * 40
PASSWORD = "Passw0rd-Server"
APP_MODULE = """
    import arkos

    OPTIONS = {options!r}
    app = arkos.init(env_file=None, **OPTIONS)
"""


def app_options(db_path: Path) -> dict[str, object]:
    return {
        "models": "tests.sample.models:Base",
        "database": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "authentication": {"mode": "static", "jwt": {"secret": SECRET}, "bcrypt_rounds": 4},
        "rate_limit": {"enabled": False},
    }


async def seed(options: dict[str, object]) -> None:
    """Tables and one user, written before the server starts."""
    app = arkos.init(env_file=None, **options)
    runtime = app.state.arkos
    try:
        async with runtime.database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(arkos.arkos_metadata.create_all)
        await create_user(runtime, username="alice", password=PASSWORD, fields={"role": "User"})
    finally:
        await runtime.database.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("server")
    options = app_options(tmp_path / "server.db")
    asyncio.run(seed(options))
    (tmp_path / "server_app.py").write_text(textwrap.dedent(APP_MODULE.format(options=options)))
    env = {**_environment(), "PYTHONPATH": f"{tmp_path}:{REPO_ROOT}"}
    with uvicorn_process("server_app:app", tmp_path, env, log=tmp_path / "uvicorn.log", ready_path="/api") as url:
        yield url


def _environment() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ARKOS_", "DATABASE_URL"))}


def test_cookie_login_me_and_logout_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        login = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        set_cookie = login.headers.get("set-cookie", "")
        assert set_cookie.startswith(f"arkos_access_token={token}"), set_cookie
        assert "httponly" in set_cookie.lower() and "samesite=lax" in set_cookie.lower()
        assert client.cookies.get("arkos_access_token") == token

        # Only the cookie jar: no Authorization header anywhere.
        me = client.get("/api/users/me")
        assert me.status_code == 200, me.text
        assert me.json()["data"]["username"] == "alice"
        assert "password" not in me.json()["data"]

        logout = client.delete("/api/auth/logout", headers={"Origin": server})
        assert logout.status_code == 204, logout.text
        assert client.cookies.get("arkos_access_token") in (None, "", "no-token")

        after = client.get("/api/users/me")
        assert after.status_code == 401, after.text
        assert after.json()["code"] == "LoginRequired"

    # The token itself is revoked on the server, not only forgotten by this client.
    with httpx.Client(base_url=server, timeout=10) as replay:
        response = replay.get("/api/users/me", headers={"Cookie": f"arkos_access_token={token}"})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "InvalidAuthToken"


def test_cross_site_cookie_logout_is_refused_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        login = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        refused = client.delete("/api/auth/logout", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "CsrfFailed"
        still = client.get("/api/users/me")
        assert still.status_code == 200, still.text
