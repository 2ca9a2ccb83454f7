"""The OpenAPI document: generated, auth, upload and custom routes with their schemas and security;
the interactive docs at /api/docs, and in production only for super users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI

from tests.conftest import JWT_SECRET, client_for, make_user
from tests.http.crud_helpers import assert_error, bearer, unique_package, write_package

SECURITY = [{"BearerAuth": []}, {"CookieAuth": []}]
CUSTOM_ROUTER = """
    from fastapi import Request
    from pydantic import BaseModel, Field

    from arkos import ArkosRouter


    class Tag(BaseModel):
        name: str


    class ImportBody(BaseModel):
        url: str = Field(min_length=8)
        tags: list[Tag] = []


    class Paging(BaseModel):
        page: int = Field(1, ge=1)


    class Params(BaseModel):
        code: int


    router = ArkosRouter()


    @router.post("/api/imports", authentication={"resource": "import", "action": "Run", "rule": ["Admin"]},
                 rate_limit="5/minute", validation={"body": ImportBody, "query": Paging})
    async def run_import(request: Request) -> dict[str, object]:
        return {"data": None}


    @router.get("/api/imports/{code}", validation={"params": Params})
    async def one_import(request: Request) -> dict[str, object]:
        return {"data": None}


    @router.get("/api/open/{item_id}")
    async def open_item(item_id: int) -> dict[str, object]:
        return {"data": item_id}
"""


async def schema_of(app: FastAPI) -> dict[str, Any]:
    async with client_for(app) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def body_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    return resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])


@pytest.fixture
async def custom_app(app_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FastAPI:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = unique_package("openapi_pkg")
    write_package(tmp_path, package, {"modules/imports/router.py": CUSTOM_ROUTER})
    return await app_factory(package=package)


async def test_generated_routes_have_schemas_and_security(app: FastAPI) -> None:
    schema = await schema_of(app)
    assert schema["components"]["securitySchemes"]["BearerAuth"] == {"type": "http", "scheme": "bearer",
                                                                     "bearerFormat": "JWT"}
    assert schema["components"]["securitySchemes"]["CookieAuth"]["in"] == "cookie"
    articles = schema["paths"]["/api/articles"]
    create = articles["post"]
    assert create["security"] == SECURITY
    assert {"201", "400", "401", "403"} <= set(create["responses"])
    article_create = body_schema(schema, create)
    assert article_create["required"] == ["title"]
    assert article_create["additionalProperties"] is False
    assert article_create["properties"]["status"] == {"type": "string", "enum": ["draft", "published"]}
    created = resolve(schema, create["responses"]["201"]["content"]["application/json"]["schema"]["properties"]["data"])
    assert {"id", "title", "views", "createdAt"} <= set(created["properties"])
    page = articles["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"total", "page", "hasNextPage", "data"} <= set(page["properties"])
    assert {p["name"] for p in articles["get"]["parameters"]} >= {"page", "limit", "sort", "fields", "search"}
    one = schema["paths"]["/api/articles/{id}"]
    assert set(one) == {"get", "patch", "delete"}
    assert one["get"]["parameters"][0]["name"] == "id" and one["get"]["parameters"][0]["in"] == "path"
    assert body_schema(schema, one["patch"])["minProperties"] == 1
    assert set(schema["paths"]["/api/articles/many"]) == {"post", "patch", "delete"}


async def test_sensitive_and_privileged_fields_are_described_where_they_apply(app: FastAPI) -> None:
    schema = await schema_of(app)
    components = schema["components"]["schemas"]
    assert "password" not in components["User"]["properties"]
    assert "apiSecret" not in components["User"]["properties"]
    assert components["UserCreate"]["properties"]["password"]["format"] == "password"
    assert "apiSecret" not in components["UserCreate"]["properties"]
    assert "isSuperUser" in components["UserCreate"]["properties"]  # a super user's own route
    bulk = schema["paths"]["/api/users/many"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "isSuperUser" not in resolve(schema, bulk["items"])["properties"]  # bulk routes refuse it
    signup = body_schema(schema, schema["paths"]["/api/auth/signup"]["post"])
    assert "isSuperUser" not in signup["properties"] and "role" not in signup["properties"]
    assert {"username", "password"} <= set(signup["required"])
    me = body_schema(schema, schema["paths"]["/api/users/me"]["patch"])
    assert "password" not in me["properties"] and "isActive" not in me["properties"]


async def test_auth_and_upload_routes_are_documented(app: FastAPI) -> None:
    schema = await schema_of(app)
    paths = schema["paths"]
    login = paths["/api/auth/login"]["post"]
    assert "security" not in login
    assert login["tags"] == ["auth"]
    assert body_schema(schema, login)["required"] == ["password"]
    assert "accessToken" in login["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert paths["/api/auth/logout"]["delete"]["security"] == SECURITY
    assert "204" in paths["/api/auth/logout"]["delete"]["responses"]
    assert set(body_schema(schema, paths["/api/auth/update-password"]["post"])["required"]) == {
        "currentPassword", "newPassword"}
    assert paths["/api/users/me"]["get"]["security"] == SECURITY
    assert set(paths["/api/users/me"]) == {"get", "patch", "delete"}
    upload = paths["/api/uploads/{file_type}"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert upload["security"] == SECURITY
    assert "/api/uploads/{file_type}/{file_name}" in paths
    assert paths["/api/auth-actions"]["get"]["security"] == SECURITY


async def test_rate_limited_routes_document_429(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": True})
    schema = await schema_of(app)
    assert "429" in schema["paths"]["/api/auth/login"]["post"]["responses"]
    assert "429" not in schema["paths"]["/api/articles"]["get"]["responses"]


async def test_custom_routes_document_their_validation_models(custom_app: FastAPI) -> None:
    schema = await schema_of(custom_app)
    run = schema["paths"]["/api/imports"]["post"]
    assert run["security"] == SECURITY
    assert {"400", "401", "403", "429"} <= set(run["responses"])
    assert "422" not in run["responses"]
    body = body_schema(schema, run)
    assert body["required"] == ["url"]
    assert body["properties"]["url"]["minLength"] == 8
    tag = resolve(schema, body["properties"]["tags"]["items"])  # nested models land in components too
    assert tag["properties"]["name"]["type"] == "string"
    assert run["parameters"] == [{"name": "page", "in": "query", "required": False,
                                  "schema": {"type": "integer", "minimum": 1, "default": 1}}]
    one = schema["paths"]["/api/imports/{code}"]["get"]
    assert one["parameters"] == [{"name": "code", "in": "path", "required": True, "schema": {"type": "integer"}}]
    assert "security" not in one
    plain = schema["paths"]["/api/open/{item_id}"]["get"]
    assert "422" not in plain["responses"] and "400" in plain["responses"]


async def test_the_document_is_a_valid_openapi_schema(custom_app: FastAPI) -> None:
    schema = await schema_of(custom_app)
    assert schema["openapi"].startswith("3.")
    loaded = schemathesis.openapi.from_dict(schema)
    operations = [result.ok() for result in loaded.get_all_operations()]  # raises on an invalid operation
    assert len(operations) > 40
    ids = [op["operationId"] for methods in schema["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


async def test_development_serves_the_docs_to_anyone(app: FastAPI) -> None:
    async with client_for(app) as client:
        docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/api/openapi.json" in docs.text


async def test_production_docs_are_for_super_users_only(app_factory) -> None:
    app = await app_factory(env="production", authentication={"jwt": {"secret": JWT_SECRET}})
    async with client_for(app) as client:
        for path in ("/api/docs", "/api/openapi.json"):
            assert_error(await client.get(path), 401, "LoginRequired")
        await make_user(app, "reader")
        reader = await bearer(client, "reader")
        for path in ("/api/docs", "/api/openapi.json"):
            assert_error(await client.get(path, headers=reader), 403, "NotEnoughPermissions")
        await make_user(app, "root", is_super_user=True)
        root = await bearer(client, "root")
        docs = await client.get("/api/docs", headers=root)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        document = await client.get("/api/openapi.json", headers=root)
        assert document.status_code == 200
        assert "/api/articles" in document.json()["paths"]
        assert "/api/docs" not in document.json()["paths"]
