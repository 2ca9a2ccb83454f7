"""RouteTable: one Starlette Route per path found by a dict lookup; same answers as the routes listed one
by one, and tools that walk `app.routes` reading `route.path` keep working."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, NoMatchFound

from arkos.routing.table import RouteTable


def endpoint(label: str):  # type: ignore[no-untyped-def]
    async def handle(request: Request) -> JSONResponse:
        return JSONResponse({"route": label, "params": dict(request.path_params)})

    return handle


def build() -> list[RouteTable]:
    table = RouteTable()
    table.add("/api/files/{path:path}", endpoint("file"), methods=["GET"], name="file")  # unindexed
    table.add("/api/posts/many", endpoint("create_many"), methods=["POST"], name="create_many")
    table.add("/api/posts/many", endpoint("update_many"), methods=["PATCH"])
    table.add("/api/posts", endpoint("list"), methods=["GET"], name="find_many")
    table.add("/api/posts", endpoint("create"), methods=["POST"])
    table.add("/api/posts/{id}", endpoint("one"), methods=["GET"], name="find_one")
    table.add("/api/posts/{id}", endpoint("update"), methods=["PATCH"])
    table.add("/api/{anything}/{id}", endpoint("catch-all"), methods=["GET"])  # a parameter in the head
    table.add("/api", endpoint("welcome"), methods=["GET"])
    routes: list[RouteTable] = []
    table.install(routes)  # type: ignore[arg-type]
    assert routes == [table]
    return routes


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    app = Starlette(routes=build())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def test_one_route_per_path_in_first_added_order() -> None:
    [table] = build()
    assert [(r.path, sorted(r.methods or ())) for r in table.routes] == [
        ("/api/files/{path:path}", ["GET", "HEAD"]),
        ("/api/posts/many", ["PATCH", "POST"]),
        ("/api/posts", ["GET", "HEAD", "POST"]),
        ("/api/posts/{id}", ["GET", "HEAD", "PATCH"]),
        ("/api/{anything}/{id}", ["GET", "HEAD"]),
        ("/api", ["GET", "HEAD"]),
    ]


async def test_paths_methods_and_parameters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/posts")).json()["route"] == "list"
    assert (await client.post("/api/posts")).json()["route"] == "create"
    assert (await client.get("/api/posts/7")).json() == {"route": "one", "params": {"id": "7"}}
    assert (await client.patch("/api/posts/7")).json()["route"] == "update"
    assert (await client.patch("/api/posts/many")).json()["route"] == "update_many"  # added before /{id}
    assert (await client.get("/api/posts/many")).json()["route"] == "one"  # no GET on /many: /{id} matches
    assert (await client.get("/api")).json()["route"] == "welcome"
    assert (await client.get("/api/files/a/b.txt")).json() == {"route": "file", "params": {"path": "a/b.txt"}}
    # /api/posts/{id} was added before the catch-all: same key, order kept; only the catch-all matches users
    assert (await client.get("/api/users/9")).json() == {"route": "catch-all",
                                                         "params": {"anything": "users", "id": "9"}}
    head = await client.head("/api/posts/7")
    assert head.status_code == 200 and head.content == b""


async def test_wrong_method_is_405_listing_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/posts/7")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "PATCH"}
    assert (await client.get("/api/nothing/here/at/all")).status_code == 404


async def test_trailing_slash_redirects_like_starlette(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/posts/")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/posts")


def test_instrumentation_that_walks_app_routes_finds_the_path() -> None:
    """OpenTelemetry's and prometheus-fastapi-instrumentator's route lookup."""
    routes = build()
    for path, expected in (("/api/posts/7", "/api/posts/{id}"), ("/api/posts", "/api/posts"),
                           ("/api/files/x/y", "/api/files/{path:path}")):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        found = next(r for r in routes if r.matches(scope)[0] is Match.FULL)
        assert (found.path, found.name) == (expected, {"/api/posts": "find_many",
                                                       "/api/posts/{id}": "find_one"}.get(expected, "file"))
    with pytest.raises(AttributeError):  # nothing matched: no attributes to lend
        routes[0].matches({"type": "http", "method": "GET", "path": "/nope", "root_path": ""})
        _ = routes[0].path


def test_url_path_for_finds_named_routes() -> None:
    [table] = build()
    assert table.url_path_for("find_one", id="3") == "/api/posts/3"
    with pytest.raises(NoMatchFound):
        table.url_path_for("nope")


def test_a_method_defined_twice_and_adding_after_install_are_refused() -> None:
    table = RouteTable()
    table.add("/a", endpoint("a"), methods=["GET"])
    with pytest.raises(ValueError, match="GET /a is defined twice"):
        table.add("/a", endpoint("b"), methods=["GET"])
    table.install([])
    with pytest.raises(AssertionError):
        table.add("/b", endpoint("b"), methods=["GET"])
