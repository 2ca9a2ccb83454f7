"""Every error leaves in one shape `{status, code, message, meta}` with the right status (§1.8, DECISIONS 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import client_for, make_user
from tests.http.crud_helpers import (
    admin,
    admin_user,
    assert_error,
    bearer,
    create,
    unique_package,
    write_package,
)

__all__ = ["admin", "admin_user"]  # fixtures


# -- routes --------------------------------------------------------------------------------------------


async def test_unknown_route_returns_404_route_not_found(client) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404, response.text
    assert response.json() == {"status": "fail", "code": "RouteNotFound", "message": "Route GET /api/nope was not found",
                                "meta": {"route": "GET /api/nope"}}


async def test_unknown_route_with_another_method_names_it(client) -> None:
    response = await client.post("/api/articles/x/comments", json={})
    body = assert_error(response, 404, "RouteNotFound")
    assert body["message"] == "Route POST /api/articles/x/comments was not found"


async def test_a_wrong_method_on_a_known_path_answers_in_the_error_shape(client, admin) -> None:
    response = await client.put("/api/articles", json={}, headers=admin)
    assert response.status_code in {404, 405}, response.text
    assert set(response.json()) == {"status", "code", "message", "meta"}


# -- request bodies ------------------------------------------------------------------------------------


async def test_a_body_that_is_not_json_returns_400(client, admin) -> None:
    for content in (b"not json", b"{'title': 1}", b'{"title": "x"', b"\xff\xfe"):
        response = await client.post("/api/articles", content=content, headers={**admin,
                                     "content-type": "application/json"})
        assert_error(response, 400, "InvalidRequestBody", content)


async def test_an_empty_body_returns_400(client, admin) -> None:
    response = await client.post("/api/articles", headers=admin)
    assert_error(response, 400, "InvalidRequestBody")


async def test_a_json_array_or_scalar_where_an_object_is_expected_returns_400(client, admin) -> None:
    article = await create(client, "articles", {"title": "x"}, admin)
    for method, path in (("POST", "/api/articles"), ("PATCH", f"/api/articles/{article['id']}"),
                         ("PATCH", "/api/articles/many?title=x")):
        for body in ([{"title": "a"}], "title", 3, None):
            response = await client.request(method, path, json=body, headers=admin)
            assert_error(response, 400, "InvalidRequestBody", (method, path, body))


async def test_a_non_object_item_in_create_many_returns_400(client, admin) -> None:
    response = await client.post("/api/articles/many", json=[{"title": "a"}, "b"], headers=admin)
    assert_error(response, 400, "InvalidRequestBody")


@pytest.fixture
async def small_body_client(app_factory) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = await app_factory(max_body_bytes=1024)
    await make_user(app, "admin", is_super_user=True)
    async with client_for(app) as client:
        yield client, await bearer(client, "admin")


async def test_a_body_over_max_body_bytes_returns_413(small_body_client) -> None:
    client, headers = small_body_client
    response = await client.post("/api/articles", json={"title": "x" * 2000}, headers=headers)
    body = assert_error(response, 413, "PayloadTooLarge")
    assert "1024" in body["message"]
    response = await client.post("/api/articles", json={"title": "x", "content": "x" * 900}, headers=headers)
    assert response.status_code == 201, response.text


async def test_a_streamed_body_over_max_body_bytes_returns_413(small_body_client) -> None:
    client, headers = small_body_client

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    response = await client.post("/api/articles", content=chunks(),
                                 headers={**headers, "content-type": "application/json"})
    assert_error(response, 413, "PayloadTooLarge")
    assert (await client.get("/api/articles", headers=headers)).json()["total"] == 0


# -- database constraints ------------------------------------------------------------------------------


async def test_a_duplicate_unique_value_returns_409_naming_the_field(client, admin) -> None:
    await create(client, "users", {"username": "bob", "password": "Passw0rd-1", "email": "bob@x.io"}, admin)
    response = await client.post("/api/users", json={"username": "bob2", "password": "Passw0rd-1",
                                                     "email": "bob@x.io"}, headers=admin)
    body = assert_error(response, 409, "DuplicateRecords")
    assert body["message"] == "Duplicate unique field(s) 'email'"
    assert body["meta"] == {"fields": ["email"]}
    assert "bob@x.io" not in response.text


async def test_a_duplicate_on_update_returns_409(client, admin) -> None:
    await create(client, "users", {"username": "bob", "password": "Passw0rd-1"}, admin)
    carol = await create(client, "users", {"username": "carol", "password": "Passw0rd-1"}, admin)
    response = await client.patch(f"/api/users/{carol['id']}", json={"username": "bob"}, headers=admin)
    body = assert_error(response, 409, "DuplicateRecords")
    assert "'username'" in body["message"]


async def test_a_duplicate_inside_create_many_stores_nothing(client, admin, admin_user) -> None:
    user_id = admin_user["user"]["id"]
    bob = await create(client, "users", {"username": "bob", "password": "Passw0rd-1"}, admin)
    response = await client.post("/api/profiles/many", json=[{"nickname": "a", "userId": user_id},
                                                             {"nickname": "a", "userId": bob["id"]}], headers=admin)
    body = assert_error(response, 409, "DuplicateRecords")
    assert "'nickname'" in body["message"]
    assert (await client.get("/api/profiles", headers=admin)).json()["total"] == 0


async def test_a_missing_foreign_key_target_returns_409(client, admin) -> None:
    response = await client.post("/api/comments", json={"body": "x", "articleId": "no-such-article"}, headers=admin)
    assert_error(response, 409, "ForeignKeyViolation")
    article = await create(client, "articles", {"title": "t"}, admin)
    comment = await create(client, "comments", {"body": "x", "articleId": article["id"]}, admin)
    response = await client.patch(f"/api/comments/{comment['id']}", json={"articleId": "gone"}, headers=admin)
    assert_error(response, 409, "ForeignKeyViolation")
    response = await client.post("/api/articles", json={"title": "t", "authorId": "nobody"}, headers=admin)
    assert_error(response, 409, "ForeignKeyViolation")


# -- field validation ----------------------------------------------------------------------------------


async def test_a_missing_required_field_returns_400_naming_it(client, admin) -> None:
    response = await client.post("/api/comments", json={"body": "x"}, headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "articleId" in body["message"]
    assert body["meta"] == {"fields": ["articleId"]}
    response = await client.post("/api/gadgets", json={"price": 1}, headers=admin)
    assert "name" in assert_error(response, 400, "ValidationError")["message"]
    response = await client.post("/api/gadgets/many", json=[{"name": "a"}, {"price": 1}], headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "item 1" in body["message"] and "name" in body["message"]


async def test_null_for_a_required_field_returns_400(client, admin) -> None:
    response = await client.post("/api/articles", json={"title": None}, headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "'title'" in body["message"]


async def test_a_string_over_its_max_length_returns_400(client, admin) -> None:
    response = await client.post("/api/gadgets", json={"name": "x" * 21}, headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "'name'" in body["message"] and "20" in body["message"]
    response = await client.post("/api/gadgets", json={"name": "é" * 20}, headers=admin)
    assert response.status_code == 201, response.text


WRONG_TYPES = [
    ("articles", {"title": "t", "views": "abc"}, "views"),
    ("articles", {"title": "t", "views": 1.5}, "views"),
    ("articles", {"title": "t", "views": True}, "views"),
    ("articles", {"title": "t", "views": 2**40}, "views"),
    ("articles", {"title": "t", "published": "yes"}, "published"),
    ("articles", {"title": "t", "status": "archived"}, "status"),
    ("articles", {"title": "t", "createdAt": "tomorrow"}, "createdAt"),
    ("articles", {"title": 5}, "title"),
    ("articles", {"title": {"a": 1}}, "title"),
    ("articles", {"title": "a\x00b"}, "title"),
    ("gadgets", {"name": "g", "price": "abc"}, "price"),
    ("gadgets", {"name": "g", "price": "NaN"}, "price"),
    ("gadgets", {"name": "g", "price": "123456789012"}, "price"),
    ("gadgets", {"name": "g", "weight": "heavy"}, "weight"),
    ("gadgets", {"name": "g", "releasedOn": "2024-02-30"}, "releasedOn"),
    ("gadgets", {"name": "g", "code": "not-a-uuid"}, "code"),
    ("gadgets", {"name": "g", "inStock": 2}, "inStock"),
]


async def test_a_value_of_the_wrong_type_returns_400_naming_the_field(client, admin) -> None:
    for route, payload, field in WRONG_TYPES:
        response = await client.post(f"/api/{route}", json=payload, headers=admin)
        body = assert_error(response, 400, "ValidationError", payload)
        assert f"'{field}'" in body["message"], body
        assert body["meta"] == {"field": field}
    assert (await client.get("/api/gadgets", headers=admin)).json()["total"] == 0


async def test_an_unknown_body_field_returns_400(client, admin) -> None:
    response = await client.post("/api/articles", json={"title": "t", "nope": 1}, headers=admin)
    body = assert_error(response, 400, "UnknownField")
    assert "'nope'" in body["message"]
    response = await client.post("/api/articles", json={"title": "t", "author": {"id": "x"}}, headers=admin)
    body = assert_error(response, 400, "ForbiddenField")
    assert "'author'" in body["message"]


# -- development and production bodies -----------------------------------------------------------------

INTERCEPTORS = """
def before_find_many(ctx):
    raise RuntimeError("boom: secret internals")
"""


async def _failing_app(app_factory, monkeypatch, tmp_path, **overrides: Any) -> tuple[httpx.AsyncClient, Any]:
    package = unique_package("errors_pkg")
    write_package(tmp_path, package, {"modules/article/interceptors.py": INTERCEPTORS})
    monkeypatch.syspath_prepend(str(tmp_path))
    app = await app_factory(package=package, **overrides)
    await make_user(app, "admin", is_super_user=True)
    await make_user(app, "reader", role="User")
    return client_for(app), app


async def test_production_bodies_never_carry_stack_or_explain(app_factory, monkeypatch, tmp_path) -> None:
    client, _app = await _failing_app(app_factory, monkeypatch, tmp_path, env="production")
    async with client:
        admin_headers, reader = await bearer(client, "admin"), await bearer(client, "reader")
        responses = [
            (await client.get("/api/articles", headers=admin_headers), 500, "InternalServerError"),
            (await client.get("/api/gadgets", headers=reader), 403, "NotEnoughPermissions"),
            (await client.get("/api/gadgets"), 401, "LoginRequired"),
            (await client.get("/api/nope"), 404, "RouteNotFound"),
            (await client.post("/api/gadgets", json={"name": 5}, headers=admin_headers), 400, "ValidationError"),
            (await client.post("/api/comments", json={"body": "x", "articleId": "none"}, headers=admin_headers),
             409, "ForeignKeyViolation"),
        ]
    for response, status, code in responses:
        body = assert_error(response, status, code)
        assert set(body) == {"status", "code", "message", "meta"}, body
        for word in ("stack", "explain", "Traceback", "boom", "secret internals", "error"):
            assert word not in body["meta"], body
        assert "Traceback" not in response.text and "boom" not in response.text
    internal = responses[0][0].json()
    assert internal == {"status": "error", "code": "InternalServerError",
                        "message": "Internal server error, please try again later.", "meta": {}}


async def test_development_bodies_explain_internal_errors_and_denials(app_factory, monkeypatch, tmp_path) -> None:
    client, _app = await _failing_app(app_factory, monkeypatch, tmp_path)
    async with client:
        admin_headers, reader = await bearer(client, "admin"), await bearer(client, "reader")
        internal = await client.get("/api/articles", headers=admin_headers)
        denied = await client.get("/api/gadgets", headers=reader)
    body = assert_error(internal, 500, "InternalServerError")
    assert "boom" in body["meta"]["error"]
    assert "explain" in assert_error(denied, 403, "NotEnoughPermissions")["meta"]


async def test_a_failed_write_leaves_the_database_untouched(app, client, admin) -> None:
    await create(client, "users", {"username": "bob", "password": "Passw0rd-1", "email": "b@x.io"}, admin)
    response = await client.post("/api/users/many", json=[{"username": "c1", "password": "Passw0rd-1"},
                                                          {"username": "c2", "password": "Passw0rd-1",
                                                           "email": "b@x.io"}], headers=admin)
    assert_error(response, 409, "DuplicateRecords")
    async with app.state.arkos.database.engine.connect() as conn:
        names = (await conn.execute(sa.text("SELECT username FROM users ORDER BY username"))).scalars().all()
    assert names == ["admin", "bob"]
