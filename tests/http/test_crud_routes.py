"""The eight generated operations: paths, statuses, envelopes and their error cases (reference §6.1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.crud_helpers import LIST_KEYS, admin, admin_user, assert_error, create

__all__ = ["admin", "admin_user"]  # fixtures


async def _article(client: httpx.AsyncClient, admin: dict[str, str], **fields: Any) -> dict[str, Any]:
    return await create(client, "articles", {"title": "Hello", **fields}, admin)


# -- create_one ----------------------------------------------------------------------------------------


async def test_create_one_returns_201_with_the_row_in_data(client, admin, admin_user) -> None:
    author_id = admin_user["user"]["id"]
    response = await client.post("/api/articles", json={"title": "First", "authorId": author_id, "views": 3},
                                 headers=admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"data"}
    row = body["data"]
    assert set(row) == {"id", "title", "content", "views", "published", "status", "authorId", "createdAt"}
    assert row["title"] == "First"
    assert row["authorId"] == author_id
    assert row["views"] == 3
    assert row["published"] is False
    assert row["status"] == "draft"
    assert row["content"] == ""
    assert len(row["id"]) == 36  # a generated uuid string key


async def test_create_one_accepts_snake_case_input(client, admin, admin_user) -> None:
    author_id = admin_user["user"]["id"]
    row = await _article(client, admin, author_id=author_id)
    assert row["authorId"] == author_id


async def test_create_one_with_integer_key_returns_generated_id(client, admin) -> None:
    article = await _article(client, admin)
    response = await client.post("/api/comments", json={"body": "Nice", "articleId": article["id"]}, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["data"] == {"id": 1, "body": "Nice", "articleId": article["id"]}


async def test_create_one_refuses_a_generated_primary_key(client, admin) -> None:
    response = await client.post("/api/comments", json={"id": 7, "body": "x", "articleId": "a"}, headers=admin)
    body = assert_error(response, 400, "ForbiddenField")
    assert "'id'" in body["message"]


# -- find_many -----------------------------------------------------------------------------------------


async def test_find_many_on_an_empty_table_returns_the_list_envelope(client, admin) -> None:
    response = await client.get("/api/articles", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"total": 0, "results": 0, "page": 1, "pages": 0, "limit": 30,
                               "hasNextPage": False, "hasPrevPage": False, "data": []}


async def test_find_many_returns_rows_and_pagination_meta(client, admin) -> None:
    for index in range(3):
        await _article(client, admin, title=f"T{index}")
    response = await client.get("/api/articles", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == LIST_KEYS
    assert body["total"] == 3
    assert body["results"] == 3
    assert (body["page"], body["pages"], body["limit"]) == (1, 1, 30)
    assert body["hasNextPage"] is False and body["hasPrevPage"] is False
    assert sorted(row["title"] for row in body["data"]) == ["T0", "T1", "T2"]


async def test_find_many_with_integer_keys(client, admin) -> None:
    for name in ("a", "b"):
        await create(client, "gadgets", {"name": name}, admin)
    response = await client.get("/api/gadgets", headers=admin)
    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()["data"]] == [1, 2]


# -- find_one ------------------------------------------------------------------------------------------


async def test_find_one_by_string_uuid_key_returns_data(client, admin) -> None:
    article = await _article(client, admin, title="Mine")
    response = await client.get(f"/api/articles/{article['id']}", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": article}


async def test_find_one_by_integer_key_returns_data(client, admin) -> None:
    gadget = await create(client, "gadgets", {"name": "g"}, admin)
    response = await client.get(f"/api/gadgets/{gadget['id']}", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "g"


async def test_find_one_missing_returns_404_naming_the_id(client, admin) -> None:
    response = await client.get("/api/articles/nope-123", headers=admin)
    body = assert_error(response, 404, "NotFound")
    assert body["message"] == "Article with ID nope-123 not found"


async def test_find_one_missing_integer_key_returns_404(client, admin) -> None:
    response = await client.get("/api/comments/999", headers=admin)
    body = assert_error(response, 404, "NotFound")
    assert body["message"] == "Comment with ID 999 not found"


async def test_invalid_integer_id_returns_400(client, admin) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"body": "x"}} if method == "PATCH" else {}
        response = await client.request(method, "/api/comments/abc", headers=admin, **kwargs)
        body = assert_error(response, 400, "InvalidParameter")
        assert "abc" in body["message"]


# -- update_one ----------------------------------------------------------------------------------------


async def test_update_one_returns_200_with_the_updated_row(client, admin) -> None:
    article = await _article(client, admin, title="Old")
    response = await client.patch(f"/api/articles/{article['id']}", json={"title": "New", "published": True},
                                  headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {**article, "title": "New", "published": True}}
    stored = await client.get(f"/api/articles/{article['id']}", headers=admin)
    assert stored.json()["data"]["title"] == "New"


async def test_update_one_with_integer_key(client, admin) -> None:
    gadget = await create(client, "gadgets", {"name": "old"}, admin)
    response = await client.patch(f"/api/gadgets/{gadget['id']}", json={"name": "new"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "new"


async def test_update_one_missing_returns_404(client, admin) -> None:
    for path, body in (("/api/articles/missing-id", {"title": "x"}), ("/api/gadgets/404", {"name": "x"})):
        response = await client.patch(path, json=body, headers=admin)
        assert_error(response, 404, "RecordNotFound")


async def test_update_one_refuses_changing_the_primary_key(client, admin) -> None:
    article = await _article(client, admin)
    response = await client.patch(f"/api/articles/{article['id']}", json={"id": "other"}, headers=admin)
    assert_error(response, 400, "ForbiddenField")


async def test_update_one_with_an_empty_object_returns_400(client, admin) -> None:
    article = await _article(client, admin)
    response = await client.patch(f"/api/articles/{article['id']}", json={}, headers=admin)
    assert_error(response, 400, "InvalidRequestBody")


# -- delete_one ----------------------------------------------------------------------------------------


async def test_delete_one_returns_204_with_an_empty_body(client, admin) -> None:
    article = await _article(client, admin)
    response = await client.delete(f"/api/articles/{article['id']}", headers=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    gone = await client.get(f"/api/articles/{article['id']}", headers=admin)
    assert_error(gone, 404, "NotFound")


async def test_delete_one_with_integer_key(client, admin) -> None:
    gadget = await create(client, "gadgets", {"name": "g"}, admin)
    response = await client.delete(f"/api/gadgets/{gadget['id']}", headers=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""


async def test_delete_one_missing_returns_404(client, admin) -> None:
    for path in ("/api/articles/missing-id", "/api/gadgets/404"):
        response = await client.delete(path, headers=admin)
        assert_error(response, 404, "RecordNotFound")


# -- create_many ---------------------------------------------------------------------------------------


async def test_create_many_returns_201_with_the_count(client, admin) -> None:
    response = await client.post("/api/gadgets/many", json=[{"name": "a"}, {"name": "b", "weight": 1.5}],
                                 headers=admin)
    assert response.status_code == 201, response.text
    assert response.json() == {"results": 2, "data": {"count": 2}}
    listed = await client.get("/api/gadgets?sort=name", headers=admin)
    assert [(row["name"], row["weight"]) for row in listed.json()["data"]] == [("a", None), ("b", 1.5)]


async def test_create_many_with_string_keys(client, admin) -> None:
    response = await client.post("/api/articles/many", json=[{"title": "a"}, {"title": "b"}], headers=admin)
    assert response.status_code == 201, response.text
    assert response.json() == {"results": 2, "data": {"count": 2}}
    ids = [row["id"] for row in (await client.get("/api/articles", headers=admin)).json()["data"]]
    assert len(set(ids)) == 2


async def test_create_many_with_an_empty_array_returns_400(client, admin) -> None:
    response = await client.post("/api/articles/many", json=[], headers=admin)
    body = assert_error(response, 400, "MissingArrayRequestBody")
    assert body["message"] == "Expected request body array to contain at least one item but received none"


async def test_create_many_with_an_object_body_returns_400(client, admin) -> None:
    response = await client.post("/api/articles/many", json={"title": "a"}, headers=admin)
    assert_error(response, 400, "InvalidRequestBody")


async def test_create_many_names_the_bad_item_and_stores_nothing(client, admin) -> None:
    response = await client.post("/api/gadgets/many", json=[{"name": "ok"}, {"name": "x", "weight": "heavy"}],
                                 headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "item 1" in body["message"] and "weight" in body["message"]
    listed = await client.get("/api/gadgets", headers=admin)
    assert listed.json()["total"] == 0


# -- update_many and delete_many -----------------------------------------------------------------------


async def _three_articles(client, admin) -> None:
    await _article(client, admin, title="a", views=1)
    await _article(client, admin, title="b", views=5)
    await _article(client, admin, title="c", views=10, status="published")


async def test_update_many_updates_the_filtered_rows(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.patch("/api/articles/many?status=draft", json={"published": True}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": 2, "data": {"count": 2}}
    listed = await client.get("/api/articles?published=true&sort=title", headers=admin)
    assert [row["title"] for row in listed.json()["data"]] == ["a", "b"]


async def test_update_many_combines_filters_with_and(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.patch("/api/articles/many?views[gte]=5&title=b", json={"views": 0}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": 1, "data": {"count": 1}}


async def test_delete_many_deletes_the_filtered_rows(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.delete("/api/articles/many?views[lt]=10", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": 2, "data": {"count": 2}}
    listed = await client.get("/api/articles", headers=admin)
    assert [row["title"] for row in listed.json()["data"]] == ["c"]


async def test_delete_many_with_integer_keys(client, admin) -> None:
    for name in ("a", "b", "c"):
        await create(client, "gadgets", {"name": name}, admin)
    response = await client.delete("/api/gadgets/many?id[in]=1,3", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": 2, "data": {"count": 2}}


@pytest.mark.parametrize("query", ["", "?page=1&limit=5", "?fields=id,title&sort=-title",
                                   "?page=2&limit=10&fields=title&sort=title&filterMode=AND&search="])
async def test_bulk_without_a_real_filter_returns_400(client, admin, query) -> None:
    await _three_articles(client, admin)
    for method, verb in (("PATCH", "update"), ("DELETE", "delete")):
        kwargs: dict[str, Any] = {"json": {"published": True}} if method == "PATCH" else {}
        response = await client.request(method, f"/api/articles/many{query}", headers=admin, **kwargs)
        body = assert_error(response, 400, "MissingRequestQueryParameters")
        assert body["message"] == f"Filter criteria not provided for bulk {verb}."
    assert (await client.get("/api/articles?published=false", headers=admin)).json()["total"] == 3


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_bulk_with_filter_mode_or_returns_400(client, admin, method) -> None:
    await _three_articles(client, admin)
    kwargs: dict[str, Any] = {"json": {"published": True}} if method == "PATCH" else {}
    response = await client.request(method, "/api/articles/many?title=a&views=10&filterMode=OR",
                                    headers=admin, **kwargs)
    body = assert_error(response, 400, "InvalidQueryParameter")
    assert "filterMode=OR" in body["message"]
    assert (await client.get("/api/articles?published=true", headers=admin)).json()["total"] == 0


async def test_update_many_matching_nothing_returns_404(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.patch("/api/articles/many?title=zzz", json={"published": True}, headers=admin)
    body = assert_error(response, 404, "NotFound")
    assert body["message"] == "Articles not found"


async def test_delete_many_matching_nothing_returns_404(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.delete("/api/articles/many?title=zzz", headers=admin)
    body = assert_error(response, 404, "NotFound")
    assert body["message"] == "No records found to delete"


async def test_update_many_validates_the_body(client, admin) -> None:
    await _three_articles(client, admin)
    response = await client.patch("/api/articles/many?title=a", json={"views": "many"}, headers=admin)
    body = assert_error(response, 400, "ValidationError")
    assert "views" in body["message"]


# -- /many is never taken for an id -------------------------------------------------------------------


async def test_bulk_routes_are_not_shadowed_by_the_id_routes(client, admin) -> None:
    for route in ("articles", "comments", "gadgets"):
        patch = await client.patch(f"/api/{route}/many", json={"title": "x"}, headers=admin)
        assert_error(patch, 400, "MissingRequestQueryParameters")
        delete = await client.delete(f"/api/{route}/many", headers=admin)
        assert_error(delete, 400, "MissingRequestQueryParameters")
        post = await client.post(f"/api/{route}/many", json=[], headers=admin)
        assert_error(post, 400, "MissingArrayRequestBody")


async def test_get_many_is_a_find_one_for_id_many(client, admin) -> None:
    response = await client.get("/api/articles/many", headers=admin)
    body = assert_error(response, 404, "NotFound")
    assert body["message"] == "Article with ID many not found"


async def test_there_is_no_put_route(client, admin) -> None:
    article = await _article(client, admin)
    response = await client.put(f"/api/articles/{article['id']}", json={"title": "x"}, headers=admin)
    assert response.status_code in {404, 405}, response.text


# -- query filters narrow the single-row routes too (reference §6.4) -----------------------------------


async def test_find_update_and_delete_one_apply_query_filters(client, admin) -> None:
    article = await _article(client, admin, title="Kept", views=1)
    path = f"/api/articles/{article['id']}"
    assert_error(await client.get(path, params={"views[gt]": "1"}, headers=admin), 404, "NotFound")
    response = await client.patch(path, params={"title": "Other"}, json={"views": 9}, headers=admin)
    assert_error(response, 404, "RecordNotFound")
    assert_error(await client.delete(path, params={"views[gt]": "1"}, headers=admin), 404, "RecordNotFound")
    assert (await client.get(path, headers=admin)).json()["data"] == article
    response = await client.patch(path, params={"title": "Kept", "filterMode": "OR", "views": "7"},
                                  json={"views": 2}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["views"] == 2
    response = await client.delete(path, params={"views": "2"}, headers=admin)
    assert response.status_code == 204, response.text
