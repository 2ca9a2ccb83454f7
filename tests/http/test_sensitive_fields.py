"""Sensitive columns never leave the server and never act as an oracle (DECISIONS 6).

`User.password` and `User.api_secret` and `Gadget.internal_cost` are sensitive in the sample models.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from tests.http.crud_helpers import admin, admin_user, assert_error, create

__all__ = ["admin", "admin_user"]  # fixtures

SECRET = "zebra-api-secret-42"
COST = 987654
SENSITIVE_KEYS = {"password", "apiSecret", "api_secret", "internalCost", "internal_cost"}


def assert_clean(value: Any) -> None:
    """No sensitive key, password hash or secret value anywhere in a JSON document."""
    if isinstance(value, dict):
        assert not SENSITIVE_KEYS & set(value), value
        for item in value.values():
            assert_clean(item)
    elif isinstance(value, list):
        for item in value:
            assert_clean(item)
    elif isinstance(value, str):
        assert not value.startswith("$2"), value
        assert SECRET not in value
    elif isinstance(value, int) and not isinstance(value, bool):
        assert value != COST


async def _set_secrets(app: FastAPI, user_id: str) -> None:
    """Sensitive columns are written by the operator, never through the API."""
    async with app.state.arkos.database.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE users SET api_secret = :s WHERE id = :i"), {"s": SECRET, "i": user_id})
        await conn.execute(sa.text("UPDATE gadgets SET internal_cost = :c"), {"c": COST})


@pytest.fixture
async def seeded(app: FastAPI, client: httpx.AsyncClient, admin_user: dict[str, Any]) -> dict[str, Any]:
    headers = admin_user["headers"]
    user_id = admin_user["user"]["id"]
    article = await create(client, "articles", {"title": "Hello", "authorId": user_id}, headers)
    await create(client, "comments", {"body": "hi", "articleId": article["id"]}, headers)
    gadget = await create(client, "gadgets", {"name": "g"}, headers)
    await create(client, "profiles", {"nickname": "root", "userId": user_id}, headers)
    await _set_secrets(app, user_id)
    return {"headers": headers, "user_id": user_id, "article": article, "gadget": gadget}


# -- never in a response -------------------------------------------------------------------------------


async def test_reads_never_return_sensitive_fields(client, seeded) -> None:
    headers, user_id, gadget = seeded["headers"], seeded["user_id"], seeded["gadget"]
    for path in ("/api/users", f"/api/users/{user_id}", "/api/users/me", "/api/gadgets",
                 f"/api/gadgets/{gadget['id']}", "/api/profiles?fields=%2Buser", "/api/users?fields=%2Bprofile",
                 "/api/users?fields=%2Barticles", "/api/comments?fields=%2Barticle"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert_clean(response.json())
    me = (await client.get("/api/users/me", headers=headers)).json()["data"]
    assert me["username"] == "admin"


async def test_articles_plus_author_never_includes_secrets(client, seeded) -> None:
    headers = seeded["headers"]
    response = await client.get("/api/articles?fields=%2Bauthor", headers=headers)
    assert response.status_code == 200, response.text
    author = response.json()["data"][0]["author"]
    assert author["username"] == "admin"
    assert_clean(response.json())
    response = await client.get(f"/api/articles/{seeded['article']['id']}?fields=%2Bauthor", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["author"]["id"] == seeded["user_id"]
    assert_clean(response.json())


async def test_writes_never_return_sensitive_fields(client, seeded) -> None:
    headers = seeded["headers"]
    response = await client.post("/api/users", json={"username": "bob", "password": "Passw0rd-1"}, headers=headers)
    assert response.status_code == 201, response.text
    assert_clean(response.json())
    bob = response.json()["data"]
    response = await client.patch(f"/api/users/{bob['id']}", json={"password": "Passw0rd-2", "nickname": "b"},
                                  headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["nickname"] == "b"
    assert_clean(response.json())
    response = await client.patch("/api/users/me", json={"nickname": "boss"}, headers=headers)
    assert response.status_code == 200, response.text
    assert_clean(response.json())
    response = await client.patch(f"/api/gadgets/{seeded['gadget']['id']}", json={"name": "h"}, headers=headers)
    assert response.status_code == 200, response.text
    assert_clean(response.json())


async def test_fields_all_columns_minus_one_still_hides_secrets(client, seeded) -> None:
    response = await client.get("/api/users?fields=-username", headers=seeded["headers"])
    assert response.status_code == 200, response.text
    assert_clean(response.json())


# -- never usable as an oracle -------------------------------------------------------------------------


async def _message(client: httpx.AsyncClient, path: str, params: dict[str, str], headers: dict[str, str]) -> str:
    response = await client.get(path, params=params, headers=headers)
    body = assert_error(response, 400, "InvalidQueryParameter", (path, params))
    return str(body["message"])


ORACLES = [
    # (path, query key, value, sensitive name)
    ("/api/users", "password[startsWith]", "$2b", "password"),
    ("/api/users", "password__startsWith", "$2b", "password"),
    ("/api/users", "password", "x", "password"),
    ("/api/users", "apiSecret", SECRET, "apiSecret"),
    ("/api/users", "api_secret[contains]", "zebra", "api_secret"),
    ("/api/users", "apiSecret[isNull]", "false", "apiSecret"),
    ("/api/gadgets", "internalCost[gt]", "0", "internalCost"),
    ("/api/gadgets", "internal_cost", str(COST), "internal_cost"),
    ("/api/articles", "author[password][startsWith]", "$", "password"),
    ("/api/articles", "author__password__startsWith", "$", "password"),
    ("/api/articles", "author[apiSecret]", SECRET, "apiSecret"),
    ("/api/comments", "article[author][password][startsWith]", "$", "password"),
    ("/api/profiles", "user[password][startsWith]", "$", "password"),
    ("/api/users", "sort", "password", "password"),
    ("/api/users", "sort", "-apiSecret", "apiSecret"),
    ("/api/gadgets", "sort", "internalCost", "internalCost"),
    ("/api/users", "fields", "id,password", "password"),
    ("/api/users", "fields", "apiSecret", "apiSecret"),
    ("/api/users", "fields", "-password", "password"),
    ("/api/gadgets", "fields", "internalCost", "internalCost"),
]


async def test_sensitive_fields_are_unknown_fields_everywhere(client, seeded) -> None:
    headers = seeded["headers"]
    for path, key, value, name in ORACLES:
        if key in {"sort", "fields"}:
            sensitive = await _message(client, path, {key: value}, headers)
            unknown = await _message(client, path, {key: value.replace(name, "nope")}, headers)
        else:
            sensitive = await _message(client, path, {key: value}, headers)
            unknown = await _message(client, path, {key.replace(name, "nope"): value}, headers)
        assert sensitive.replace(name, "nope") == unknown, (key, value)
        assert "Unknown" in sensitive or "unknown" in sensitive, sensitive


async def test_bulk_routes_refuse_sensitive_filters(client, seeded) -> None:
    headers = seeded["headers"]
    response = await client.delete("/api/users/many", params={"password[startsWith]": "$2b"}, headers=headers)
    assert_error(response, 400, "InvalidQueryParameter")
    response = await client.patch("/api/gadgets/many", params={"internalCost": str(COST)}, json={"name": "x"},
                                  headers=headers)
    assert_error(response, 400, "InvalidQueryParameter")
    assert (await client.get("/api/users", headers=headers)).json()["total"] == 1


async def test_search_never_matches_sensitive_fields(client, seeded) -> None:
    headers = seeded["headers"]
    for term in ("zebra", SECRET, "$2b$", "$2"):
        response = await client.get("/api/users", params={"search": term}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 0, term
    response = await client.get("/api/users", params={"search": "adm"}, headers=headers)
    assert response.json()["total"] == 1
    response = await client.get("/api/gadgets", params={"search": str(COST)}, headers=headers)
    assert response.json()["total"] == 0


# -- never writable through the API -------------------------------------------------------------------


async def test_writes_to_sensitive_fields_return_400(app, client, seeded) -> None:
    headers, user_id, gadget = seeded["headers"], seeded["user_id"], seeded["gadget"]
    unknown = await client.post("/api/gadgets", json={"name": "x", "nope": 1}, headers=headers)
    unknown_message = assert_error(unknown, 400, "UnknownField")["message"]
    cases = [
        ("POST", "/api/gadgets", {"name": "x", "internalCost": 1}, "internalCost"),
        ("POST", "/api/gadgets", {"name": "x", "internal_cost": 1}, "internal_cost"),
        ("PATCH", f"/api/gadgets/{gadget['id']}", {"internalCost": 1}, "internalCost"),
        ("POST", "/api/gadgets/many", [{"name": "x", "internalCost": 1}], "internalCost"),
        ("PATCH", "/api/gadgets/many?name=g", {"internalCost": 1}, "internalCost"),
        ("POST", "/api/users", {"username": "x", "password": "Passw0rd-1", "apiSecret": "s"}, "apiSecret"),
        ("PATCH", f"/api/users/{user_id}", {"apiSecret": "s"}, "apiSecret"),
        ("PATCH", f"/api/users/{user_id}", {"api_secret": "s"}, "api_secret"),
        ("PATCH", "/api/users/me", {"apiSecret": "s"}, "apiSecret"),
    ]
    for method, path, body, name in cases:
        response = await client.request(method, path, json=body, headers=headers)
        error = assert_error(response, 400, "UnknownField", (method, path, body))
        assert f"'{name}'" in error["message"]
        if path == "/api/gadgets":
            assert error["message"].replace(name, "nope") == unknown_message
    async with app.state.arkos.database.engine.connect() as conn:
        secret = (await conn.execute(sa.text("SELECT api_secret FROM users"))).scalar_one()
        costs = (await conn.execute(sa.text("SELECT internal_cost FROM gadgets"))).scalars().all()
    assert secret == SECRET
    assert costs == [COST]
