"""Helpers shared by the CRUD, query and error tests: seeding rows over HTTP and throwaway project packages."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import PASSWORD, client_for, login, make_user

LIST_KEYS = {"total", "results", "page", "pages", "limit", "hasNextPage", "hasPrevPage", "data"}
ERROR_KEYS = {"status", "code", "message", "meta"}


async def bearer(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in and return the Authorization header only: the login cookie is dropped, so a request
    without the header really carries no credentials (and is not refused by the CSRF check instead)."""
    headers = await login(client, username, password)
    client.cookies.clear()
    return headers


@pytest.fixture
async def admin_user(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    """One super user and its Authorization header: lighter than the four `users`."""
    user = await make_user(app, "admin", role="Admin", is_super_user=True, email="admin@example.com")
    return {"user": user, "headers": await bearer(client, "admin")}


@pytest.fixture
def admin(admin_user: dict[str, Any]) -> dict[str, str]:
    return admin_user["headers"]


@pytest.fixture
async def public(app_factory: Any) -> Any:
    """A client of an app without authentication: every generated route is public."""
    app = await app_factory(authentication={"mode": None})
    async with client_for(app) as c:
        yield c


async def create(client: httpx.AsyncClient, route: str, body: Mapping[str, Any],
                 headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """POST one row and return its wire dict (asserting the 201)."""
    response = await client.post(f"/api/{route}", json=dict(body), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def assert_error(response: httpx.Response, status: int, code: str, context: object = None) -> dict[str, Any]:
    """Assert the status and code of an error response and its one wire shape; return the body.

    `context` (the case being checked, in a loop) is added to failure messages.
    """
    where = f"{context!r}: {response.text}" if context is not None else response.text
    assert response.status_code == status, where
    body = response.json()
    assert body["code"] == code, where
    assert body["status"] == ("fail" if status < 500 else "error")
    assert ERROR_KEYS <= set(body)
    return body


def unique_package(prefix: str) -> str:
    """A package name no other test uses: sys.modules caches imported project packages."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_package(root: Path, name: str, files: Mapping[str, str]) -> None:
    """Write a throwaway project package `<root>/<name>` with `files` (relative path → source)."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for relative, source in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(package).parents:
            init = package / parent / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(textwrap.dedent(source))


Project = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def project(app_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Project]:
    """`await project({"modules/article/router.py": src, ...}, **overrides)`: an app over a fresh package
    (`PKG` in a source stands for its name), and its client. Import it into a test module to use it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    clients: list[httpx.AsyncClient] = []

    async def make(files: Mapping[str, str], **overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
        package = unique_package("project_pkg")
        write_package(tmp_path, package, {name: source.replace("PKG", package) for name, source in files.items()})
        app = await app_factory(package=package, **overrides)
        clients.append(client_for(app))
        return app, clients[-1]

    yield make
    for client in clients:
        await client.aclose()
