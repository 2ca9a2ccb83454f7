"""RouteTable answers exactly as the same routes listed one by one in a Starlette router would."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from arkos.routing.table import RouteTable


def endpoint(label: str):  # type: ignore[no-untyped-def]
    async def handle(request: Request) -> JSONResponse:
        return JSONResponse({"route": label, "params": dict(request.path_params)})

    return handle


def build() -> RouteTable:
    table = RouteTable()
    table.add("/api/files/{path:path}", endpoint("file"), methods=["GET"], name="file")  # unindexed
    table.add("/api/posts", endpoint("list"), methods=["GET"], name="find_many")
    table.add("/api/posts", endpoint("create"), methods=["POST"])
    table.add("/api/posts/many", endpoint("update_many"), methods=["PATCH"])
    table.add("/api/posts/{id}", endpoint("one"), methods=["GET"], name="find_one")
    table.add("/api/posts/{id}", endpoint("update"), methods=["PATCH"])
    table.add("/api/{anything}/{id}", endpoint("catch-all"), methods=["GET"])  # a parameter in the head
    table.add("/api", endpoint("welcome"), methods=["GET"])
    return table


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    app = Starlette(routes=[build()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_paths_methods_and_parameters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/posts")).json()["route"] == "list"
    assert (await client.post("/api/posts")).json()["route"] == "create"
    assert (await client.get("/api/posts/7")).json() == {"route": "one", "params": {"id": "7"}}
    assert (await client.patch("/api/posts/7")).json()["route"] == "update"
    assert (await client.get("/api")).json()["route"] == "welcome"
    assert (await client.get("/api/files/a/b/c.txt")).json() == {"route": "file", "params": {"path": "a/b/c.txt"}}


async def test_the_first_added_route_wins_as_in_a_router(client: httpx.AsyncClient) -> None:
    assert (await client.patch("/api/posts/many")).json()["route"] == "update_many"  # before /{id}
    # /api/posts/{id} was added before the catch-all: same key, order kept
    assert (await client.get("/api/posts/9")).json()["route"] == "one"
    # only the unindexed catch-all matches this one
    assert (await client.get("/api/users/9")).json() == {"route": "catch-all", "params": {"anything": "users", "id": "9"}}


async def test_wrong_method_is_405_with_allow_and_unknown_path_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/posts/7")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]  # the first route of that path that refused the method
    assert (await client.get("/api/nothing/here/at/all")).status_code == 404


async def test_trailing_slash_redirects_like_starlette(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/posts/")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/posts")


def test_url_path_for_finds_named_routes() -> None:
    table = build()
    assert table.url_path_for("find_one", id="3") == "/api/posts/3"
    assert table.url_path_for("find_many") == "/api/posts"
    from starlette.routing import NoMatchFound

    with pytest.raises(NoMatchFound):
        table.url_path_for("nope")
