"""Throwaway arkos projects for permission tests: a package in tmp_path with `modules/<m>/*.py` files."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from arkos.users import create_user
from tests.conftest import PASSWORD, login


def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> str:
    """Write `files` (path → source; `PKG` stands for the package name) and return the unique package name.

    Every test gets its own package name, so modules imported by another test are never reused.
    """
    package = f"arkos_proj_{uuid.uuid4().hex[:12]}"
    root = tmp_path / "projects" / package
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).replace("PKG", package))
    monkeypatch.syspath_prepend(str(tmp_path / "projects"))
    return package


async def add_user(app: FastAPI, username: str, *, roles: tuple[str, ...] = (), is_super_user: bool = False,
                   is_staff: bool = False) -> dict[str, Any]:
    """A user of the app's user model: `role` (one enum) takes roles[0], `roles` (a list) takes them all."""
    runtime = app.state.arkos
    fields: dict[str, Any] = {"isStaff": is_staff}
    if "roles" in runtime.auth.user_info.fields:
        fields["roles"] = list(roles)
    elif roles:
        assert len(roles) == 1, "the User model holds one role"
        fields["role"] = roles[0]
    return await create_user(runtime, username=username, password=PASSWORD, is_super_user=is_super_user,
                             fields=fields)


async def headers_for(client: httpx.AsyncClient, app: FastAPI, username: str,
                      **options: Any) -> dict[str, str]:
    """Create the user (see add_user) and log in: its Authorization header."""
    await add_user(app, username, **options)
    return await login(client, username)
