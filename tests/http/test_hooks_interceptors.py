"""Route hooks, custom ArkosRouter routes and interceptors, loaded from throwaway project packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import arkos
from tests.conftest import make_user
from tests.http.crud_helpers import (  # noqa: F401 - project is a fixture
    assert_error, bearer, create, project, unique_package, write_package)



async def _build(app_factory, monkeypatch, tmp_path, files: Mapping[str, str], **overrides: Any) -> FastAPI:
    """For startup failures: build the app and let the error surface."""
    monkeypatch.syspath_prepend(str(tmp_path))
    package = unique_package("hooks_bad")
    write_package(tmp_path, package, files)
    return await app_factory(package=package, **overrides)


async def _headers(app: FastAPI, client: httpx.AsyncClient, name: str = "admin", **kwargs: Any) -> dict[str, str]:
    await make_user(app, name, is_super_user=(name == "admin"), **kwargs)
    return await bearer(client, name)


# -- route hooks ---------------------------------------------------------------------------------------


async def test_a_disabled_operation_is_not_mounted(project) -> None:
    app, client = await project({"modules/article/router.py": """
        hook = {"delete_many": {"disabled": True}, "find_many": {"disabled": True}}
    """})
    admin = await _headers(app, client)
    article = await create(client, "articles", {"title": "kept"}, admin)
    response = await client.delete("/api/articles/many?title=kept", headers=admin)
    assert response.status_code in {404, 405}, response.text
    assert response.json()["code"] != "MissingRequestQueryParameters"
    response = await client.get("/api/articles", headers=admin)
    assert_error(response, 405, "MethodNotAllowed")
    assert (await client.get(f"/api/articles/{article['id']}", headers=admin)).status_code == 200
    assert (await client.delete("/api/comments/many?body=x", headers=admin)).json()["code"] == "NotFound"


async def test_authentication_false_makes_a_generated_route_public(project) -> None:
    app, client = await project({"modules/article/router.py": """
        hook = {"find_many": {"authentication": False}, "find_one": {"authentication": True}}
    """})
    admin = await _headers(app, client)
    article = await create(client, "articles", {"title": "t"}, admin)
    response = await client.get("/api/articles")
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    assert_error(await client.post("/api/articles", json={"title": "x"}), 401, "LoginRequired")
    # authentication True: any logged-in user, no authorization
    assert_error(await client.get(f"/api/articles/{article['id']}"), 401, "LoginRequired")
    reader = await _headers(app, client, "reader", role="User")
    response = await client.get(f"/api/articles/{article['id']}", headers=reader)
    assert response.status_code == 200, response.text
    assert_error(await client.get("/api/comments", headers=reader), 403, "NotEnoughPermissions")


async def test_disable_true_removes_every_route_of_the_model(project) -> None:
    app, client = await project({"modules/article/router.py": "hook = {'disable': True}\n"})
    admin = await _headers(app, client)
    assert_error(await client.get("/api/articles", headers=admin), 404, "RouteNotFound")
    assert_error(await client.get("/api/articles/x", headers=admin), 404, "RouteNotFound")
    assert (await client.get("/api/comments", headers=admin)).status_code == 200


async def test_disable_mapping_removes_the_named_operations(project) -> None:
    app, client = await project({"modules/article/router.py": "hook = {'disable': {'create_one': True}}\n"})
    admin = await _headers(app, client)
    assert_error(await client.post("/api/articles", json={"title": "x"}, headers=admin), 405, "MethodNotAllowed")
    assert (await client.get("/api/articles", headers=admin)).status_code == 200


async def test_deprecated_config_name_still_works_and_warns(project) -> None:
    with pytest.warns(DeprecationWarning, match="`config` is deprecated"):
        _app, client = await project({"modules/article/router.py": """
            config = {"find_many": {"authentication": False}}
        """})
    response = await client.get("/api/articles")
    assert response.status_code == 200, response.text


async def test_an_unknown_operation_in_a_hook_fails_at_startup(app_factory, monkeypatch, tmp_path) -> None:
    with pytest.raises(arkos.ConfigError, match="find_all"):
        await _build(app_factory, monkeypatch, tmp_path, {"modules/article/router.py": """
            hook = {"find_all": {"authentication": False}}
        """})


@pytest.mark.parametrize(("source", "named"), [
    ('hook = {"find_many": {"auth": False}}', "auth"),
    ('hook = {"find_many": "public"}', "find_many"),
    ('hook = {"find_many": {"authentication": "yes"}}', "authentication"),
    ('hook = ["find_many"]', "hook"),
])
async def test_a_malformed_hook_fails_at_startup_with_a_config_error(app_factory, monkeypatch, tmp_path, source,
                                                                     named) -> None:
    with pytest.raises(arkos.ConfigError, match=named):
        await _build(app_factory, monkeypatch, tmp_path, {"modules/article/router.py": source + "\n"})


# -- custom routes -------------------------------------------------------------------------------------

CUSTOM_ROUTER = """
    from arkos import ArkosRouter

    router = ArkosRouter()


    @router.get("/api/articles/stats")
    async def stats():
        return {"stats": True}


    @router.get("/api/articles/mine", authentication=True)
    async def mine():
        return {"mine": True}


    @router.get("/api/articles/export",
                authentication={"resource": "article", "action": "Export", "rule": ["Admin"]})
    async def export():
        return {"export": True}
"""


async def test_a_custom_route_takes_precedence_over_the_id_route(project) -> None:
    _app, client = await project({"modules/article/router.py": CUSTOM_ROUTER})
    response = await client.get("/api/articles/stats")
    assert response.status_code == 200, response.text
    assert response.json() == {"stats": True}


async def test_a_custom_route_with_authentication_true_needs_a_token(project) -> None:
    app, client = await project({"modules/article/router.py": CUSTOM_ROUTER})
    assert_error(await client.get("/api/articles/mine"), 401, "LoginRequired")
    bad = {"Authorization": "Bearer not-a-token"}
    assert_error(await client.get("/api/articles/mine", headers=bad), 401, "InvalidAuthToken")
    reader = await _headers(app, client, "reader", role="User")
    response = await client.get("/api/articles/mine", headers=reader)
    assert response.status_code == 200, response.text
    assert response.json() == {"mine": True}


async def test_a_custom_route_with_a_rule_authorizes(project) -> None:
    app, client = await project({"modules/article/router.py": CUSTOM_ROUTER})
    reader = await _headers(app, client, "reader", role="User")
    editor = await _headers(app, client, "boss", role="Admin")
    assert_error(await client.get("/api/articles/export"), 401, "LoginRequired")
    body = assert_error(await client.get("/api/articles/export", headers=reader), 403, "NotEnoughPermissions")
    assert body["message"] == "You cannot perform export for article"
    response = await client.get("/api/articles/export", headers=editor)
    assert response.status_code == 200, response.text


async def test_a_custom_route_asking_for_authentication_without_a_mode_fails(app_factory, monkeypatch,
                                                                             tmp_path) -> None:
    with pytest.raises(arkos.ConfigError, match="authentication"):
        await _build(app_factory, monkeypatch, tmp_path, {"modules/article/router.py": CUSTOM_ROUTER},
                     authentication={"mode": None})


# -- interceptors --------------------------------------------------------------------------------------

PUBLIC = {"modules/article/router.py": "hook = {op: {'authentication': False} for op in ("
          "'find_many', 'find_one', 'create_one', 'create_many', 'update_one', 'update_many', 'delete_one', "
          "'delete_many')}\n"}


async def test_before_create_one_can_change_the_body(project) -> None:
    _app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        def before_create_one(ctx):
            ctx.body["title"] = ctx.body["title"].upper()
            ctx.body["views"] = 42
    """})
    response = await client.post("/api/articles", json={"title": "quiet"})
    assert response.status_code == 201, response.text
    assert (response.json()["data"]["title"], response.json()["data"]["views"]) == ("QUIET", 42)
    stored = (await client.get("/api/articles")).json()["data"][0]
    assert stored["title"] == "QUIET"


async def test_after_find_many_can_change_data_and_status(project) -> None:
    _app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        async def after_find_many(ctx):
            ctx.data = {"count": ctx.data["total"], "titles": [row["title"] for row in ctx.data["data"]]}
            ctx.status = 206
    """})
    await create(client, "articles", {"title": "a"})
    response = await client.get("/api/articles")
    assert response.status_code == 206, response.text
    assert response.json() == {"count": 1, "titles": ["a"]}


async def test_on_error_receives_the_error_and_can_replace_it(project) -> None:
    _app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        from arkos import ArkosError


        def on_create_one_error(ctx):
            if ctx.error.code == "ValidationError":
                raise ArkosError("TitleRequired", "Give the article a title", status=422,
                                 meta={"was": ctx.error.code})
            ctx.error.meta["seen"] = ctx.error.code
    """})
    response = await client.post("/api/articles", json={"views": 1})
    body = assert_error(response, 422, "TitleRequired")
    assert body == {"status": "fail", "code": "TitleRequired", "message": "Give the article a title",
                    "meta": {"was": "ValidationError"}}
    response = await client.post("/api/articles", json={"title": "t", "nope": 1})
    body = assert_error(response, 400, "UnknownField")
    assert body["meta"]["seen"] == "UnknownField"
    assert (await client.get("/api/articles")).json()["total"] == 0


async def test_error_interceptors_also_see_authentication_errors(project) -> None:
    _app, client = await project({"modules/article/interceptors.py": """
        def on_find_many_error(ctx):
            ctx.error.meta["intercepted"] = True
    """})
    body = assert_error(await client.get("/api/articles"), 401, "LoginRequired")
    assert body["meta"]["intercepted"] is True


async def test_interceptors_run_in_order_around_the_handler(project) -> None:
    _app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        def _record(name):
            def interceptor(ctx):
                calls = ctx.additional.setdefault("calls", [])
                calls.append(f"{name}:{'after-handler' if ctx.data is not None else 'before-handler'}")
            return interceptor


        async def _finish(ctx):
            ctx.data["calls"] = ctx.additional["calls"]


        before_find_many = [_record("b1"), _record("b2")]
        after_find_many = [_record("a1"), _record("a2"), _finish]
    """})
    response = await client.get("/api/articles")
    assert response.status_code == 200, response.text
    assert response.json()["calls"] == ["b1:before-handler", "b2:before-handler", "a1:after-handler",
                                        "a2:after-handler"]


@pytest.mark.parametrize("source", ["before_find_many = 'not a function'\n",
                                    "def f(ctx):\n    pass\n\nafter_create_one = [f, 3]\n"])
async def test_a_non_callable_interceptor_fails_at_startup(app_factory, monkeypatch, tmp_path, source) -> None:
    with pytest.raises(arkos.ConfigError, match="interceptors"):
        await _build(app_factory, monkeypatch, tmp_path, {"modules/article/interceptors.py": source})


async def test_a_failing_after_interceptor_rolls_the_write_back(project) -> None:
    _app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        from arkos import ArkosError


        def _refuse(ctx):
            raise ArkosError("Refused", "not today", status=400)


        after_create_one = after_create_many = after_update_one = after_delete_one = after_delete_many = _refuse
    """})
    assert_error(await client.post("/api/articles", json={"title": "a"}), 400, "Refused")
    assert_error(await client.post("/api/articles/many", json=[{"title": "a"}, {"title": "b"}]), 400, "Refused")
    assert (await client.get("/api/articles")).json()["total"] == 0
    response = await client.post("/api/comments", json={"body": "x", "articleId": "none"})
    assert response.status_code == 401, response.text  # other modules keep their defaults


async def test_a_failing_after_interceptor_keeps_updates_and_deletes_undone(project) -> None:
    app, client = await project({**PUBLIC, "modules/article/interceptors.py": """
        def _crash(ctx):
            raise RuntimeError("after hook crashed")


        after_update_one = after_update_many = after_delete_one = after_delete_many = _crash
    """})
    import sqlalchemy as sa

    async with app.state.arkos.database.engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO articles (id, title, content, views, published, status, created_at) "
                                   "VALUES ('a1', 'old', '', 0, false, 'draft', CURRENT_TIMESTAMP)"))
    assert_error(await client.patch("/api/articles/a1", json={"title": "new"}), 500, "InternalServerError")
    assert_error(await client.patch("/api/articles/many?title=old", json={"title": "new"}), 500,
                 "InternalServerError")
    assert_error(await client.delete("/api/articles/a1"), 500, "InternalServerError")
    assert_error(await client.delete("/api/articles/many?title=old"), 500, "InternalServerError")
    rows = (await client.get("/api/articles")).json()["data"]
    assert [row["title"] for row in rows] == ["old"]
