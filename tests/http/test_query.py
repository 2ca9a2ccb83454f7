"""Query-string features of list routes: filters, relations, filterMode, search, sort, pages and fields (§6.4)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.http.crud_helpers import assert_error, create, public

__all__ = ["public"]  # fixture

CODE_1 = "0d5f2c1e-8a8b-4a51-9f0e-000000000001"
CODE_2 = "0d5f2c1e-8a8b-4a51-9f0e-000000000002"
GADGETS = [
    {"name": "Alpha", "price": "10.50", "weight": 1.5, "inStock": True, "releasedOn": "2024-01-10", "code": CODE_1},
    {"name": "beta", "price": 20, "weight": None, "inStock": False, "releasedOn": "2024-06-01", "code": CODE_2},
    {"name": "Gamma_x", "price": 5.25, "weight": 3.0, "inStock": True, "releasedOn": None, "code": None},
    {"name": "100%off", "price": "99.99", "weight": 0.5, "inStock": False, "releasedOn": "2023-12-31", "code": None},
]


async def _gadgets(client: httpx.AsyncClient) -> None:
    for gadget in GADGETS:
        await create(client, "gadgets", gadget)


async def _names(client: httpx.AsyncClient, route: str, params: Any, key: str = "name") -> list[str]:
    response = await client.get(f"/api/{route}", params=params)
    assert response.status_code == 200, response.text
    return [row[key] for row in response.json()["data"]]


def _django(key: str) -> str:
    """`price[gte]` → `price__gte`; `author[username][contains]` → `author__username__contains`."""
    return re.sub(r"\[(\w+)\]", r"__\1", key)


# -- one filter per operator and column type, in both syntaxes -----------------------------------------

GADGET_FILTERS = [
    # integer key
    ("id", "2", ["beta"]),
    ("id[equals]", "3", ["Gamma_x"]),
    ("id[gt]", "2", ["Gamma_x", "100%off"]),
    ("id[gte]", "2", ["beta", "Gamma_x", "100%off"]),
    ("id[lt]", "2", ["Alpha"]),
    ("id[lte]", "2", ["Alpha", "beta"]),
    ("id[not]", "1", ["beta", "Gamma_x", "100%off"]),
    ("id[in]", "1,3", ["Alpha", "Gamma_x"]),
    ("id[notIn]", "1,3", ["beta", "100%off"]),
    # decimal
    ("price", "20", ["beta"]),
    ("price[gte]", "10.5", ["Alpha", "beta", "100%off"]),
    ("price[lt]", "10", ["Gamma_x"]),
    ("price[in]", "5.25,99.99", ["Gamma_x", "100%off"]),
    # float
    ("weight[gt]", "1", ["Alpha", "Gamma_x"]),
    ("weight[lte]", "1.5", ["Alpha", "100%off"]),
    ("weight[isNull]", "true", ["beta"]),
    ("weight[isNull]", "false", ["Alpha", "Gamma_x", "100%off"]),
    # bool
    ("inStock", "true", ["Alpha", "Gamma_x"]),
    ("inStock[equals]", "false", ["beta", "100%off"]),
    ("inStock[not]", "true", ["beta", "100%off"]),
    # date
    ("releasedOn", "2024-06-01", ["beta"]),
    ("releasedOn[gte]", "2024-01-01", ["Alpha", "beta"]),
    ("releasedOn[lt]", "2024-01-01", ["100%off"]),
    ("releasedOn[isNull]", "true", ["Gamma_x"]),
    # uuid
    ("code", CODE_1, ["Alpha"]),
    ("code[in]", f"{CODE_1},{CODE_2}", ["Alpha", "beta"]),
    ("code[notIn]", CODE_1, ["beta"]),
    ("code[isNull]", "true", ["Gamma_x", "100%off"]),
    ("code[not]", "null", ["Alpha", "beta"]),
    # string
    ("name", "beta", ["beta"]),
    ("name[not]", "Alpha", ["beta", "Gamma_x", "100%off"]),
    ("name[in]", "Alpha,beta", ["Alpha", "beta"]),
    ("name[notIn]", "Alpha,beta", ["Gamma_x", "100%off"]),
    ("name[contains]", "amm", ["Gamma_x"]),
    ("name[icontains]", "ALPH", ["Alpha"]),
    ("name[startsWith]", "b", ["beta"]),
    ("name[endsWith]", "_x", ["Gamma_x"]),
]


@pytest.mark.parametrize("syntax", ["bracket", "django"])
async def test_each_operator_filters_by_column_type(public, syntax) -> None:
    await _gadgets(public)
    for key, value, expected in GADGET_FILTERS:
        name = key if syntax == "bracket" else _django(key)
        assert await _names(public, "gadgets", {name: value}) == expected, f"{name}={value}"


async def test_snake_case_field_and_operator_spellings_are_accepted(public) -> None:
    await _gadgets(public)
    assert await _names(public, "gadgets", {"in_stock__not": "true"}) == ["beta", "100%off"]
    assert await _names(public, "gadgets", {"name__starts_with": "G"}) == ["Gamma_x"]
    assert await _names(public, "gadgets", {"released_on[is_null]": "true"}) == ["Gamma_x"]


ARTICLES = [
    {"title": "Alpha news", "content": "first post", "views": 1, "status": "draft",
     "createdAt": "2024-01-01T10:00:00Z"},
    {"title": "Beta", "content": "Second POST", "views": 5, "status": "published", "published": True,
     "createdAt": "2024-03-01T00:00:00+00:00"},
    {"title": "Gamma", "content": "third", "views": 10, "status": "published", "published": True,
     "createdAt": "2024-03-01T00:00:00Z"},
]


async def _articles(client: httpx.AsyncClient, **extra: Any) -> list[dict[str, Any]]:
    return [await create(client, "articles", {**article, **extra}) for article in ARTICLES]


ARTICLE_FILTERS = [
    ("views[gt]", "1", ["Beta", "Gamma"]),
    ("views[lte]", "5", ["Alpha news", "Beta"]),
    ("views[in]", "1,10", ["Alpha news", "Gamma"]),
    ("status", "published", ["Beta", "Gamma"]),
    ("status[not]", "published", ["Alpha news"]),
    ("status[in]", "draft", ["Alpha news"]),
    ("status[notIn]", "draft", ["Beta", "Gamma"]),
    ("published", "true", ["Beta", "Gamma"]),
    ("createdAt[gte]", "2024-03-01T00:00:00Z", ["Beta", "Gamma"]),
    ("createdAt[lt]", "2024-02-01", ["Alpha news"]),
    ("createdAt", "2024-01-01T10:00:00+00:00", ["Alpha news"]),
    ("createdAt[gt]", "2024-01-01T09:00:00-02:00", ["Beta", "Gamma"]),  # 11:00 UTC
    ("title[startsWith]", "Alpha", ["Alpha news"]),
]


@pytest.mark.parametrize("syntax", ["bracket", "django"])
async def test_enum_datetime_and_int_filters_on_articles(public, syntax) -> None:
    await _articles(public)
    for key, value, expected in ARTICLE_FILTERS:
        name = key if syntax == "bracket" else _django(key)
        assert await _names(public, "articles", [(name, value), ("sort", "title")], "title") == expected, name


async def test_several_conditions_on_one_field_all_apply(public) -> None:
    await _articles(public)
    params = [("views[gt]", "1"), ("views[lt]", "10")]
    assert await _names(public, "articles", params, "title") == ["Beta"]


# -- case sensitivity and LIKE wildcards -------------------------------------------------------------


async def test_contains_is_case_sensitive_and_icontains_is_not(public) -> None:
    await _articles(public)
    assert await _names(public, "articles", {"content[contains]": "post"}, "title") == ["Alpha news"]
    assert await _names(public, "articles", {"content[contains]": "POST"}, "title") == ["Beta"]
    assert await _names(public, "articles", {"content[icontains]": "post", "sort": "title"}, "title") == [
        "Alpha news", "Beta"]
    assert await _names(public, "articles", {"title[startsWith]": "alpha"}, "title") == []
    assert await _names(public, "articles", {"title[endsWith]": "NEWS"}, "title") == []


async def test_like_wildcards_in_values_are_literal(public) -> None:
    await _gadgets(public)
    assert await _names(public, "gadgets", {"name[contains]": "%"}) == ["100%off"]
    assert await _names(public, "gadgets", {"name[contains]": "_"}) == ["Gamma_x"]
    assert await _names(public, "gadgets", {"name[icontains]": "A_X"}) == ["Gamma_x"]
    assert await _names(public, "gadgets", {"name[startsWith]": "_"}) == []
    assert await _names(public, "gadgets", {"name[startsWith]": "%"}) == []
    assert await _names(public, "gadgets", {"name[endsWith]": "%"}) == []
    assert await _names(public, "gadgets", {"name[contains]": "0%o"}) == ["100%off"]
    assert await _names(public, "gadgets", {"name[contains]": "\\"}) == []


# -- through relations ---------------------------------------------------------------------------------


async def _authored(client: httpx.AsyncClient) -> None:
    alice = await create(client, "users", {"username": "alice", "password": "Passw0rd-1", "email": "a@x.io"})
    bob = await create(client, "users", {"username": "bob", "password": "Passw0rd-1"})
    first = await create(client, "articles", {"title": "By Alice", "authorId": alice["id"]})
    await create(client, "articles", {"title": "By Bob", "authorId": bob["id"]})
    await create(client, "articles", {"title": "Anonymous"})
    await create(client, "comments", {"body": "Great Read", "articleId": first["id"]})


async def test_filter_through_a_many_to_one_relation(public) -> None:
    await _authored(public)
    assert await _names(public, "articles", {"author[username]": "alice"}, "title") == ["By Alice"]
    assert await _names(public, "articles", {"author__username": "bob"}, "title") == ["By Bob"]
    assert await _names(public, "articles", {"author__username__contains": "o"}, "title") == ["By Bob"]
    assert await _names(public, "articles", {"author[email][isNull]": "true"}, "title") == ["By Bob"]


async def test_filter_through_a_one_to_many_relation(public) -> None:
    await _authored(public)
    assert await _names(public, "articles", {"comments[body][contains]": "Read"}, "title") == ["By Alice"]
    assert await _names(public, "articles", {"comments__body__icontains": "great"}, "title") == ["By Alice"]
    assert await _names(public, "articles", {"comments[body][contains]": "read"}, "title") == []


async def test_filter_through_two_relations(public) -> None:
    await _authored(public)
    assert await _names(public, "comments", {"article[author][username]": "alice"}, "body") == ["Great Read"]
    assert await _names(public, "users", {"articles[comments][body][contains]": "Great"}, "username") == ["alice"]


async def test_unknown_field_behind_a_relation_returns_400(public) -> None:
    await _authored(public)
    response = await public.get("/api/articles", params={"author[nope]": "x"})
    body = assert_error(response, 400, "InvalidQueryParameter")
    assert "'nope'" in body["message"]


# -- filterMode ----------------------------------------------------------------------------------------


async def test_conditions_combine_with_and_by_default(public) -> None:
    await _articles(public)
    params = [("views[gte]", "5"), ("status", "published"), ("title", "Gamma"), ("sort", "title")]
    assert await _names(public, "articles", params, "title") == ["Gamma"]
    params = [("views", "1"), ("title", "Gamma")]
    assert await _names(public, "articles", params, "title") == []


async def test_filter_mode_or_combines_conditions_with_or(public) -> None:
    await _articles(public)
    params = [("views", "1"), ("title", "Gamma"), ("filterMode", "OR"), ("sort", "title")]
    assert await _names(public, "articles", params, "title") == ["Alpha news", "Gamma"]
    params = [("views", "1"), ("title", "Gamma"), ("filterMode", "and")]
    assert await _names(public, "articles", params, "title") == []


async def test_an_unknown_filter_mode_returns_400(public) -> None:
    response = await public.get("/api/articles", params={"filterMode": "XOR", "views": "1"})
    body = assert_error(response, 400, "InvalidQueryParameter")
    assert "filterMode" in body["message"]


# -- search --------------------------------------------------------------------------------------------


async def test_search_matches_text_fields_case_insensitively(public) -> None:
    await _articles(public)
    assert await _names(public, "articles", {"search": "POST", "sort": "title"}, "title") == ["Alpha news", "Beta"]
    assert await _names(public, "articles", {"search": "gAmMa"}, "title") == ["Gamma"]


async def test_search_ignores_non_text_fields(public) -> None:
    articles = await _articles(public)
    assert await _names(public, "articles", {"search": "published"}, "title") == []  # an enum value
    assert await _names(public, "articles", {"search": "10"}, "title") == []  # views
    assert await _names(public, "articles", {"search": articles[0]["id"][:8]}, "title") == []  # the id


async def test_search_treats_wildcards_literally_and_combines_with_filters(public) -> None:
    await _articles(public)
    assert await _names(public, "articles", {"search": "%"}, "title") == []
    assert await _names(public, "articles", {"search": "post", "views": "5"}, "title") == ["Beta"]


# -- sort ----------------------------------------------------------------------------------------------


async def test_sort_descending_then_ascending(public) -> None:
    await _articles(public)
    assert await _names(public, "articles", {"sort": "-createdAt,title"}, "title") == ["Beta", "Gamma", "Alpha news"]
    assert await _names(public, "articles", {"sort": "-createdAt,-title"}, "title") == ["Gamma", "Beta", "Alpha news"]
    assert await _names(public, "articles", {"sort": "views"}, "title") == ["Alpha news", "Beta", "Gamma"]
    assert await _names(public, "articles", {"sort": "-views"}, "title") == ["Gamma", "Beta", "Alpha news"]


async def test_sort_accepts_snake_case(public) -> None:
    await _gadgets(public)
    assert await _names(public, "gadgets", {"sort": "-in_stock,name"}) == ["Alpha", "Gamma_x", "100%off", "beta"]


async def test_sort_by_an_unknown_field_returns_400(public) -> None:
    response = await public.get("/api/articles", params={"sort": "title,-nope"})
    body = assert_error(response, 400, "InvalidQueryParameter")
    assert "'nope'" in body["message"]


# -- page and limit ------------------------------------------------------------------------------------


async def _five(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/gadgets/many", json=[{"name": f"g{i}"} for i in range(5)])
    assert response.status_code == 201, response.text


async def _page(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/gadgets?{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    return {**body, "data": [row["name"] for row in body["data"]]}


async def test_pagination_meta(public) -> None:
    await _five(public)
    assert await _page(public, "limit=2") == {
        "total": 5, "results": 2, "page": 1, "pages": 3, "limit": 2, "hasNextPage": True, "hasPrevPage": False,
        "data": ["g0", "g1"]}
    assert await _page(public, "limit=2&page=2") == {
        "total": 5, "results": 2, "page": 2, "pages": 3, "limit": 2, "hasNextPage": True, "hasPrevPage": True,
        "data": ["g2", "g3"]}
    assert await _page(public, "limit=2&page=3") == {
        "total": 5, "results": 1, "page": 3, "pages": 3, "limit": 2, "hasNextPage": False, "hasPrevPage": True,
        "data": ["g4"]}
    assert await _page(public, "limit=2&page=4") == {
        "total": 5, "results": 0, "page": 4, "pages": 3, "limit": 2, "hasNextPage": False, "hasPrevPage": True,
        "data": []}
    assert await _page(public, "limit=5") == {
        "total": 5, "results": 5, "page": 1, "pages": 1, "limit": 5, "hasNextPage": False, "hasPrevPage": False,
        "data": ["g0", "g1", "g2", "g3", "g4"]}


async def test_pagination_counts_only_filtered_rows(public) -> None:
    await _five(public)
    body = await _page(public, "limit=1&name[in]=g1,g3&page=2")
    assert (body["total"], body["pages"], body["data"], body["hasNextPage"]) == (2, 2, ["g3"], False)


async def test_default_limit_is_30(public) -> None:
    response = await public.post("/api/gadgets/many", json=[{"name": f"g{i:02}"} for i in range(31)])
    assert response.status_code == 201, response.text
    body = await _page(public, "")
    assert (body["limit"], body["results"], body["pages"], body["hasNextPage"]) == (30, 30, 2, True)


async def test_limit_up_to_the_maximum_is_accepted(public) -> None:
    await _five(public)
    assert (await _page(public, "limit=100"))["limit"] == 100


async def test_bad_page_or_limit_returns_400(public) -> None:
    for query in ("limit=101", "limit=0", "limit=-1", "limit=abc", "limit=all", "limit=", "limit=%C2%B2", "page=0",
                  "page=abc", "page=-2", "page=1.5", "page=%C2%B2", "page=99999999999999999999"):
        response = await public.get(f"/api/gadgets?{query}")
        body = assert_error(response, 400, "InvalidQueryParameter", query)
        assert query.split("=")[0] in body["message"], query


async def test_limit_all_is_allowed_when_configured(app_factory) -> None:
    from tests.conftest import client_for

    app = await app_factory(authentication={"mode": None}, query={"allow_limit_all": True})
    async with client_for(app) as client:
        response = await client.post("/api/gadgets/many", json=[{"name": f"g{i:02}"} for i in range(35)])
        assert response.status_code == 201, response.text
        body = await _page(client, "limit=all")
        assert (body["total"], body["results"], body["page"], body["pages"]) == (35, 35, 1, 1)
        assert body["hasNextPage"] is False


async def test_max_limit_is_configurable(app_factory) -> None:
    from tests.conftest import client_for

    app = await app_factory(authentication={"mode": None}, query={"max_limit": 3, "default_limit": 2})
    async with client_for(app) as client:
        await _five(client)
        assert_error(await client.get("/api/gadgets?limit=4"), 400, "InvalidQueryParameter")
        body = await _page(client, "")
        assert (body["limit"], body["pages"]) == (2, 3)


# -- fields --------------------------------------------------------------------------------------------


async def test_fields_selects_columns(public) -> None:
    await _articles(public)
    response = await public.get("/api/articles", params={"fields": "id,title", "sort": "title"})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert [set(row) for row in rows] == [{"id", "title"}] * 3
    assert rows[0]["title"] == "Alpha news"


async def test_fields_minus_omits_a_column(public) -> None:
    await _articles(public)
    response = await public.get("/api/articles", params={"fields": "-content,-views"})
    assert response.status_code == 200, response.text
    assert set(response.json()["data"][0]) == {"id", "title", "published", "status", "authorId", "createdAt"}


async def test_fields_on_find_one_and_create(public) -> None:
    article = (await _articles(public))[0]
    response = await public.get(f"/api/articles/{article['id']}", params={"fields": "title"})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"title": "Alpha news"}}
    response = await public.post("/api/articles?fields=id,views", json={"title": "x", "views": 2})
    assert response.status_code == 201, response.text
    assert set(response.json()["data"]) == {"id", "views"}


async def test_plus_author_includes_the_author_without_secrets(public) -> None:
    await _authored(public)
    response = await public.get("/api/articles", params={"fields": "title,+author", "sort": "title"})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert [row["title"] for row in rows] == ["Anonymous", "By Alice", "By Bob"]
    assert set(rows[0]) == {"title", "author"}
    assert rows[0]["author"] is None
    author = rows[1]["author"]
    assert author["username"] == "alice" and author["email"] == "a@x.io"
    assert "password" not in author and "apiSecret" not in author
    assert rows[2]["author"]["username"] == "bob"


async def test_plus_comments_includes_a_list(public) -> None:
    await _authored(public)
    response = await public.get("/api/articles", params={"fields": "+comments", "sort": "title"})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert [len(row["comments"]) for row in rows] == [0, 1, 0]
    assert rows[1]["comments"][0]["body"] == "Great Read"
    assert {"id", "title", "content", "authorId"} <= set(rows[1])


async def test_include_on_find_one(public) -> None:
    await _authored(public)
    article = (await public.get("/api/articles", params={"title": "By Alice"})).json()["data"][0]
    response = await public.get(f"/api/articles/{article['id']}", params={"fields": "+author,+comments"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["author"]["username"] == "alice"
    assert [c["body"] for c in data["comments"]] == ["Great Read"]


async def test_include_on_a_write_route_returns_400(public) -> None:
    response = await public.post("/api/articles?fields=%2Bauthor", json={"title": "x"})
    assert_error(response, 400, "InvalidQueryParameter")


UNKNOWN = [
    ("nope", "1", "'nope'"),
    ("views[between]", "1", "'between'"),
    ("views__between", "1", "'between'"),
    ("views[gt][lt]", "1", "views[gt][lt]"),
    ("fields", "id,nope", "'nope'"),
    ("fields", "-nope", "'nope'"),
    ("fields", "+nope", "'nope'"),
    ("fields", "+title", "'title'"),
    ("sort", "nope", "'nope'"),
    ("include[author]", "true", "include"),
    ("select[title]", "true", "select"),
    ("where", "{}", "where"),
    ("prismaQueryOptions", "{}", "prismaQueryOptions"),
]


async def test_unknown_field_or_operator_returns_400_naming_it(public) -> None:
    for key, value, named in UNKNOWN:
        response = await public.get("/api/articles", params={key: value})
        body = assert_error(response, 400, "InvalidQueryParameter", (key, value))
        assert named in body["message"], (key, value, body["message"])


MALFORMED = [
    ("articles", "views[gt]", "abc"),
    ("articles", "views", "1.5"),
    ("articles", "views[in]", "1,x"),
    ("articles", "views[gt]", "99999999999999999999999"),
    ("articles", "createdAt[gt]", "yesterday"),
    ("articles", "createdAt", "2024-02-30T00:00:00Z"),
    ("articles", "status", "archived"),
    ("articles", "published", "maybe"),
    ("articles", "title[isNull]", "perhaps"),
    ("articles", "views[contains]", "1"),
    ("articles", "title", "a\x00b"),
    ("articles", "title[contains]", "a\x00b"),
    ("articles", "title[in]", ","),
    ("articles", "search", "a\x00b"),
    ("gadgets", "price[gt]", "abc"),
    ("gadgets", "price", "NaN"),
    ("gadgets", "weight[lt]", "x"),
    ("gadgets", "releasedOn", "2024-13-01"),
    ("gadgets", "code", "not-a-uuid"),
    ("gadgets", "code[in]", "1,2"),
    ("gadgets", "id", "one"),
    ("gadgets", "id", "99999999999"),
    ("gadgets", "specs", "x"),
    ("gadgets", "specs[isNull]", "true"),
    ("gadgets", "sort", "specs"),
]


async def test_malformed_values_return_400_never_500(public) -> None:
    await _gadgets(public)
    for route, key, value in MALFORMED:
        response = await public.get(f"/api/{route}", params={key: value})
        assert_error(response, 400, "InvalidQueryParameter", (route, key, value))


async def test_an_out_of_range_id_returns_400(public) -> None:
    response = await public.get("/api/gadgets/99999999999999999999")
    assert_error(response, 400, "InvalidParameter")
