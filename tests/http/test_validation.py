"""`validation=` on ArkosRouter routes and route hooks, the column rules of generated routes, and body limits.

Validation runs after authentication and authorization: a stranger's bad body gets 401, not 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import client_for, make_user
from tests.http.crud_helpers import assert_error, bearer, project  # noqa: F401 - project is a fixture

MODELS = """
    from pydantic import BaseModel, ConfigDict, Field


    class ImportBody(BaseModel):
        model_config = ConfigDict(extra="forbid")

        url: str = Field(min_length=8)
        dry_run: bool = False
        tags: list[str] = []


    class Paging(BaseModel):
        page: int = Field(1, ge=1)
        q: str | None = None


    class ItemParams(BaseModel):
        item_id: int = Field(ge=1)
"""
CUSTOM_ROUTER = """
    from fastapi import Request

    from arkos import ArkosRouter

    from PKG.models import ImportBody, ItemParams, Paging

    router = ArkosRouter()


    def dump(value):
        return value.model_dump() if value is not None else None


    @router.post("/api/imports", authentication=True, validation={"body": ImportBody, "query": None})
    async def import_posts(request: Request) -> dict[str, object]:
        return {"data": {k: dump(v) for k, v in request.state.validated.items()}}


    @router.get("/api/imports", validation={"query": Paging})
    async def list_imports(request: Request) -> dict[str, object]:
        return {"data": dump(request.state.validated["query"])}


    @router.get("/api/imports/{item_id}", validation={"params": ItemParams, "body": None})
    async def one_import(request: Request) -> dict[str, object]:
        return {"data": dump(request.state.validated["params"])}


    @router.post("/api/admin-imports", authentication={"resource": "import", "action": "Run", "rule": ["Admin"]},
                 validation={"body": ImportBody})
    async def admin_import(request: Request) -> dict[str, object]:
        return {"data": dump(request.state.validated["body"])}
"""



async def user_headers(app: FastAPI, client: httpx.AsyncClient, name: str, **kwargs: Any) -> dict[str, str]:
    await make_user(app, name, **kwargs)
    return await bearer(client, name)


# -- ArkosRouter routes -----------------------------------------------------------------------------------


async def test_a_valid_body_reaches_the_handler_as_a_model(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    headers = await user_headers(app, client, "amy")
    response = await client.post("/api/imports", json={"url": "https://example.com/feed"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"body": {"url": "https://example.com/feed", "dry_run": False, "tags": []},
                                       "query": None}


async def test_an_invalid_body_gets_400_with_the_field_errors(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    headers = await user_headers(app, client, "amy")
    response = await client.post("/api/imports", json={"url": "short", "dry_run": "maybe", "extra": 1},
                                 headers=headers)
    body = assert_error(response, 400, "ValidationError")
    assert body["meta"]["input"] == "body"
    fields = {e["field"]: e["message"] for e in body["meta"]["errors"]}
    assert set(fields) == {"url", "dryRun", "extra"}
    assert "at least 8 characters" in fields["url"]
    assert body["message"].startswith("Invalid request body: ")
    missing = await client.post("/api/imports", json={}, headers=headers)
    assert assert_error(missing, 400, "ValidationError")["meta"]["errors"] == [{"field": "url",
                                                                              "message": "Field required"}]
    not_an_object = await client.post("/api/imports", json=["x"], headers=headers)
    assert_error(not_an_object, 400, "ValidationError")
    empty = await client.post("/api/imports", headers=headers)  # no body at all: the model decides
    assert assert_error(empty, 400, "ValidationError")["meta"]["errors"][0]["field"] == "url"


async def test_a_body_that_is_not_json_gets_400(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    headers = await user_headers(app, client, "amy")
    response = await client.post("/api/imports", content=b"{not json", headers={**headers,
                                                                                "Content-Type": "application/json"})
    assert_error(response, 400, "InvalidRequestBody")


async def test_unauthenticated_bad_input_gets_401_not_400(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    assert_error(await client.post("/api/imports", json={"url": 1}), 401, "LoginRequired")
    assert_error(await client.post("/api/imports", content=b"{not json"), 401, "LoginRequired")
    assert_error(await client.post("/api/imports?x=1", json={"url": "https://example.com"}), 401, "LoginRequired")
    # authorization too comes first: a logged-in user without the role gets 403
    headers = await user_headers(app, client, "bob", role="User")
    assert_error(await client.post("/api/admin-imports", json={"url": 1}, headers=headers), 403,
                 "NotEnoughPermissions")
    admin = await user_headers(app, client, "root", role="Admin")
    assert_error(await client.post("/api/admin-imports", json={"url": 1}, headers=admin), 400, "ValidationError")


async def test_none_forbids_an_input(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    headers = await user_headers(app, client, "amy")
    response = await client.post("/api/imports?dry=1", json={"url": "https://example.com"}, headers=headers)
    body = assert_error(response, 400, "RequestQueryNotAllowed")
    assert body["message"] == "Request query is not allowed on this route"
    assert body["meta"] == {"input": "query"}
    response = await client.request("GET", "/api/imports/3", content=b'{"a": 1}')
    assert_error(response, 400, "RequestBodyNotAllowed")
    assert (await client.get("/api/imports/3")).json() == {"data": {"item_id": 3}}  # no body: fine


async def test_query_and_params_models(project) -> None:
    _app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER})
    assert (await client.get("/api/imports?page=3&q=abc")).json() == {"data": {"page": 3, "q": "abc"}}
    assert (await client.get("/api/imports")).json() == {"data": {"page": 1, "q": None}}
    body = assert_error(await client.get("/api/imports?page=0"), 400, "ValidationError")
    assert body["meta"]["input"] == "query" and body["meta"]["errors"][0]["field"] == "page"
    body = assert_error(await client.get("/api/imports/0"), 400, "ValidationError")
    assert body["meta"]["input"] == "params" and body["meta"]["errors"][0]["field"] == "itemId"
    assert_error(await client.get("/api/imports/abc"), 400, "ValidationError")


async def test_a_validated_body_over_max_body_bytes_gets_413(project) -> None:
    app, client = await project({"models.py": MODELS, "modules/imports/router.py": CUSTOM_ROUTER},
                                max_body_bytes=2048)
    headers = await user_headers(app, client, "amy")
    big = {"url": "https://example.com", "tags": ["x" * 100] * 30}
    assert_error(await client.post("/api/imports", json=big, headers=headers), 413, "PayloadTooLarge")


async def test_a_bad_validation_spec_fails_at_startup(project) -> None:
    bad_key = CUSTOM_ROUTER + """

    @router.get("/api/bad", validation={"headers": ImportBody})
    async def bad() -> None:
        return None
"""
    with pytest.raises(ValueError, match="validation must be a dict with keys body, query and/or params"):
        await project({"models.py": MODELS, "modules/imports/router.py": bad_key})
    not_a_model = CUSTOM_ROUTER + """

    @router.get("/api/bad", validation={"body": dict})
    async def bad() -> None:
        return None
"""
    with pytest.raises(ValueError, match="must be a pydantic model class or None"):
        await project({"models.py": MODELS, "modules/imports/router.py": not_a_model})


# -- generated routes: the hook's models, then the column rules -------------------------------------------------

ARTICLE_HOOK = """
    import datetime as dt

    from pydantic import BaseModel, Field


    class ArticleIn(BaseModel):
        title: str = Field(min_length=3)
        content: str = ""
        views: int = Field(0, ge=0)


    class ArticlePatch(BaseModel):
        title: str | None = Field(None, min_length=3)
        views: int | None = Field(None, ge=0)


    class ListQuery(BaseModel):
        page: int = Field(1, ge=1, le=5)


    hook = {
        "create_one": {"validation": {"body": ArticleIn}},
        "create_many": {"validation": {"body": ArticleIn}},
        "update_one": {"validation": {"body": ArticlePatch}},
        "find_many": {"validation": {"query": ListQuery}},
        "find_one": {"validation": {"query": None}},
    }
"""


async def test_a_hook_model_validates_a_generated_route(project) -> None:
    app, client = await project({"modules/article/router.py": ARTICLE_HOOK})
    headers = await user_headers(app, client, "root", is_super_user=True)
    created = await client.post("/api/articles", json={"title": "Hello"}, headers=headers)
    assert created.status_code == 201, created.text
    article = created.json()["data"]
    assert article["title"] == "Hello" and article["views"] == 0
    body = assert_error(await client.post("/api/articles", json={"title": "Hi"}, headers=headers), 400,
                        "ValidationError")
    assert body["meta"] == {"input": "body", "errors": [
        {"field": "title", "message": "String should have at least 3 characters"}]}
    many = await client.post("/api/articles/many", json=[{"title": "Good one"}, {"title": "x"}], headers=headers)
    assert assert_error(many, 400, "ValidationError")["meta"]["input"] == "body"
    # a PATCH changes only what was sent: unset model fields are not written
    patched = await client.patch(f"/api/articles/{article['id']}", json={"views": 5}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["title"] == "Hello" and patched.json()["data"]["views"] == 5
    assert_error(await client.patch(f"/api/articles/{article['id']}", json={"views": -1}, headers=headers), 400,
                 "ValidationError")


async def test_the_column_rules_still_run_after_a_hook_model(project) -> None:
    app, client = await project({"modules/article/router.py": ARTICLE_HOOK})
    headers = await user_headers(app, client, "root", is_super_user=True)
    # the model accepts a long title; the column (String(200)) does not
    response = await client.post("/api/articles", json={"title": "x" * 201}, headers=headers)
    body = assert_error(response, 400, "ValidationError")
    assert body["meta"] == {"field": "title"}


async def test_hook_query_models_and_none(project) -> None:
    app, client = await project({"modules/article/router.py": ARTICLE_HOOK})
    headers = await user_headers(app, client, "root", is_super_user=True)
    assert (await client.get("/api/articles?page=2", headers=headers)).status_code == 200
    body = assert_error(await client.get("/api/articles?page=9", headers=headers), 400, "ValidationError")
    assert body["meta"]["input"] == "query"
    created = await client.post("/api/articles", json={"title": "Hello"}, headers=headers)
    article_id = created.json()["data"]["id"]
    assert (await client.get(f"/api/articles/{article_id}", headers=headers)).status_code == 200
    assert_error(await client.get(f"/api/articles/{article_id}?fields=title", headers=headers), 400,
                 "RequestQueryNotAllowed")


async def test_a_generated_route_authenticates_before_validating(project) -> None:
    app, client = await project({"modules/article/router.py": ARTICLE_HOOK})
    assert_error(await client.post("/api/articles", json={"title": "x"}), 401, "LoginRequired")
    assert_error(await client.post("/api/articles", content=b"{oops"), 401, "LoginRequired")
    reader = await user_headers(app, client, "reader", role="User")
    assert_error(await client.post("/api/articles", json={"title": "x"}, headers=reader), 403,
                 "NotEnoughPermissions")


async def test_generated_bodies_follow_the_columns_by_default(app_factory) -> None:
    app = await app_factory()
    async with client_for(app) as client:
        headers = await user_headers(app, client, "root", is_super_user=True)
        # a sensitive column is not a writable field
        response = await client.post("/api/users", json={"username": "u1", "password": "Passw0rd-1",
                                                         "apiSecret": "s"}, headers=headers)
        assert_error(response, 400, "UnknownField")
        # privileged fields are refused on bulk routes (DECISIONS 5)
        response = await client.post("/api/users/many", json=[{"username": "u2", "password": "Passw0rd-1",
                                                               "isSuperUser": True}], headers=headers)
        assert_error(response, 400, "ForbiddenField")
        # types come from the columns
        response = await client.post("/api/articles", json={"title": "t", "views": "many"}, headers=headers)
        assert assert_error(response, 400, "ValidationError")["meta"] == {"field": "views"}


# -- body limits --------------------------------------------------------------------------------------------


async def test_a_body_over_max_body_bytes_gets_413_everywhere(project) -> None:
    plain = """
        from fastapi import APIRouter
        from pydantic import BaseModel

        router = APIRouter()


        class Note(BaseModel):
            text: str


        @router.post("/api/notes")
        async def note(body: Note) -> dict[str, object]:
            return {"data": len(body.text)}
    """
    app, client = await project({"modules/notes/router.py": plain}, max_body_bytes=1024)
    headers = await user_headers(app, client, "root", is_super_user=True)
    big = "x" * 2000
    assert_error(await client.post("/api/articles", json={"title": big}, headers=headers), 413, "PayloadTooLarge")
    assert_error(await client.post("/api/auth/login", json={"username": big, "password": "x"}), 413,
                 "PayloadTooLarge")
    assert_error(await client.post("/api/notes", json={"text": big}), 413, "PayloadTooLarge")
    assert (await client.post("/api/notes", json={"text": "small"})).json() == {"data": 5}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"title": "'
        for _ in range(10):
            yield b"y" * 200
        yield b'"}'

    streamed = await client.post("/api/articles", content=chunks(), headers={**headers,
                                                                             "Content-Type": "application/json"})
    assert_error(streamed, 413, "PayloadTooLarge")
