"""Bulk routes can never set privileged user columns (DECISIONS 5), in either spelling."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import login
from tests.http.crud_helpers import admin, admin_user, assert_error

__all__ = ["admin", "admin_user"]  # fixtures

PRIVILEGED = [
    ("isSuperUser", True),
    ("is_super_user", True),
    ("isStaff", True),
    ("is_staff", True),
    ("isActive", False),
    ("is_active", False),
    ("role", "Admin"),
    ("passwordChangedAt", "2030-01-01T00:00:00Z"),
    ("password_changed_at", "2030-01-01T00:00:00Z"),
    ("lastLoginAt", "2030-01-01T00:00:00Z"),
    ("last_login_at", "2030-01-01T00:00:00Z"),
    ("deletedSelfAccountAt", "2030-01-01T00:00:00Z"),
    ("deleted_self_account_at", "2030-01-01T00:00:00Z"),
    ("id", "3f1b0c64-0000-4000-8000-000000000000"),
]


async def _rows(app: Any) -> list[dict[str, Any]]:
    async with app.state.arkos.database.engine.connect() as conn:
        result = await conn.execute(sa.text(
            "SELECT username, is_super_user, is_staff, is_active, role, password_changed_at, last_login_at, "
            "deleted_self_account_at FROM users ORDER BY username"))
        return [dict(row._mapping) for row in result]


async def test_create_many_refuses_every_privileged_field(app, client, admin) -> None:
    before = await _rows(app)
    for name, value in PRIVILEGED:
        items = [{"username": "ok", "password": "Passw0rd-1"},
                 {"username": "mallory", "password": "Passw0rd-1", name: value}]
        response = await client.post("/api/users/many", json=items, headers=admin)
        body = assert_error(response, 400, "ForbiddenField", name)
        assert f"'{name}'" in body["message"], body
        assert body["meta"] == {"field": name}
    assert await _rows(app) == before


async def test_update_many_refuses_every_privileged_field(app, client, admin) -> None:
    response = await client.post("/api/users/many", json=[{"username": "u1", "password": "Passw0rd-1"},
                                                          {"username": "u2", "password": "Passw0rd-1"}], headers=admin)
    assert response.status_code == 201, response.text
    before = await _rows(app)
    for name, value in PRIVILEGED:
        response = await client.patch("/api/users/many", params={"username[startsWith]": "u"},
                                      json={"nickname": "x", name: value}, headers=admin)
        body = assert_error(response, 400, "ForbiddenField", name)
        assert f"'{name}'" in body["message"], body
    assert await _rows(app) == before


async def test_members_roles_list_cannot_be_set_in_bulk(app, client, admin) -> None:
    for name in ("roles",):
        response = await client.post("/api/members/many", json=[{"username": "m", "password": "Passw0rd-1",
                                                                 name: ["Admin"]}], headers=admin)
        body = assert_error(response, 400, "ForbiddenField")
        assert f"'{name}'" in body["message"]
    response = await client.post("/api/members/many", json=[{"username": "m", "password": "Passw0rd-1"}],
                                 headers=admin)
    assert response.status_code == 201, response.text
    response = await client.patch("/api/members/many?username=m", json={"roles": ["Admin"]}, headers=admin)
    assert_error(response, 400, "ForbiddenField")


async def test_bulk_created_users_get_defaults_and_hashed_passwords(app, client, admin) -> None:
    response = await client.post("/api/users/many", json=[{"username": "carol", "password": "Passw0rd-1",
                                                            "email": "c@x.io"}], headers=admin)
    assert response.status_code == 201, response.text
    carol = next(row for row in await _rows(app) if row["username"] == "carol")
    assert (bool(carol["is_super_user"]), bool(carol["is_active"]), carol["role"]) == (False, True, "User")
    async with app.state.arkos.database.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT password FROM users WHERE username='carol'"))).scalar_one()
    assert stored.startswith("$2") and stored != "Passw0rd-1"
    await login(client, "carol", "Passw0rd-1")


async def test_a_hash_looking_password_in_bulk_is_hashed_again(app, client, admin) -> None:
    fake_hash = "$2b$04$" + "a" * 53
    response = await client.post("/api/users/many", json=[{"username": "dave", "password": fake_hash}],
                                 headers=admin)
    assert response.status_code == 201, response.text
    async with app.state.arkos.database.engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT password FROM users WHERE username='dave'"))).scalar_one()
    assert stored != fake_hash
    await login(client, "dave", fake_hash)


async def test_update_many_can_change_ordinary_fields(app, client, admin) -> None:
    response = await client.post("/api/users/many", json=[{"username": "u1", "password": "Passw0rd-1"}],
                                 headers=admin)
    assert response.status_code == 201, response.text
    response = await client.patch("/api/users/many?username=u1", json={"nickname": "one"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": 1, "data": {"count": 1}}


@pytest.mark.parametrize("name", ["role", "isSuperUser"])
async def test_a_super_user_may_set_privileged_fields_on_one_user(app, client, admin, name) -> None:
    """The single-row routes are the operator's path (guarded by the user policy), unlike bulk routes."""
    value = "Editor" if name == "role" else True
    response = await client.post("/api/users", json={"username": "erin", "password": "Passw0rd-1", name: value},
                                 headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["data"][name] == value
