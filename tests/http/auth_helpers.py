"""Helpers shared by the authentication tests: tokens, Set-Cookie parsing, direct SQL, throwaway projects."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from tests.conftest import JWT_SECRET, PASSWORD

COOKIE = "arkos_access_token"
STRONG_PASSWORD = "N3w-Passw0rd!"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str, secret: str = JWT_SECRET) -> dict[str, Any]:
    """The verified payload of a token issued by the test apps."""
    return jwt.decode(token, secret, algorithms=["HS256"])


async def login_token(client: httpx.AsyncClient, username: str, password: str = PASSWORD,
                      **params: str) -> str:
    response = await client.post("/api/auth/login", params=params or None,
                                 json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


def set_cookies(response: httpx.Response, name: str = COOKIE) -> list[dict[str, Any]]:
    """Every Set-Cookie for `name`, parsed: {"value": ..., "<lower-case attribute>": value or True}."""
    found = []
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key != name:
            continue
        parsed: dict[str, Any] = {"value": value.strip('"')}
        for attribute in attributes:
            attr_name, sep, attr_value = attribute.partition("=")
            parsed[attr_name.strip().lower()] = attr_value.strip() if sep else True
        found.append(parsed)
    return found


def the_cookie(response: httpx.Response, name: str = COOKIE) -> dict[str, Any]:
    cookies = set_cookies(response, name)
    assert len(cookies) == 1, response.headers.get_list("set-cookie")
    return cookies[0]


def cookie_flags(cookie: dict[str, Any]) -> dict[str, Any]:
    """The attributes that must be identical on the login cookie and the logout cookie."""
    return {
        "path": cookie.get("path"),
        "samesite": str(cookie.get("samesite", "")).lower() or None,
        "httponly": cookie.get("httponly", False),
        "secure": cookie.get("secure", False),
        "domain": cookie.get("domain"),
    }


async def sql(app: FastAPI, statement: str, **params: Any) -> list[Any]:
    """Run one SQL statement on the app's database and return its rows (empty for writes)."""
    async with app.state.arkos.database.engine.begin() as conn:
        result = await conn.execute(sa.text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def stored_password(app: FastAPI, username: str) -> str | None:
    rows = await sql(app, "SELECT password FROM users WHERE username = :u", u=username)
    return rows[0][0] if rows else None


async def user_count(app: FastAPI, username: str) -> int:
    rows = await sql(app, "SELECT count(*) FROM users WHERE username = :u", u=username)
    return int(rows[0][0])


def assert_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """Status (with the body as failure text), then code, then the exact message when given."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == ("fail" if status < 500 else "error"), body
    if message is not None:
        assert body["message"] == message, body
    return body


def write_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> str:
    """A throwaway project package under tmp_path with a unique name; `files` maps paths inside it to code."""
    package = f"arkos_proj_{uuid.uuid4().hex[:10]}"
    root = tmp_path / package
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "modules").mkdir()
    (root / "modules" / "__init__.py").write_text("")
    for relative, code in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        init = target.parent / "__init__.py"
        if not init.exists():
            init.write_text("")
        target.write_text(textwrap.dedent(code))
    monkeypatch.syspath_prepend(str(tmp_path))
    return package
