"""The demo (examples/blog) works as its README says: built from its own config, models and modules,
seeded like seed.py (admin super user, editor, reader, posts by the editor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fuzz.demo import DEMO_PASSWORD, build_demo_app, seed_demo
from tests.http.crud_helpers import assert_error


class Demo:
    def __init__(self, client: httpx.AsyncClient, users: dict[str, dict[str, Any]]) -> None:
        self.client = client
        self.users = users
        self.headers: dict[str, dict[str, str]] = {}

    async def login(self, username: str) -> dict[str, str]:
        response = await self.client.post("/api/auth/login", json={"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 200, response.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {response.json()['accessToken']}"}


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    app = build_demo_app(tmp_path / "blog.db")
    users = await seed_demo(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        demo = Demo(client, users)
        for name in ("admin", "editor", "reader"):
            demo.headers[name] = await demo.login(name)
        yield demo
    await app.state.arkos.database.dispose()


async def test_an_editor_creates_and_updates_posts_as_their_author(demo: Demo) -> None:
    editor = demo.headers["editor"]
    created = await demo.client.post("/api/posts", json={"title": "Mine", "content": "Body"}, headers=editor)
    assert created.status_code == 201, created.text
    post = created.json()["data"]
    assert post["authorId"] == demo.users["editor"]["id"]  # set from the logged-in user
    updated = await demo.client.patch(f"/api/posts/{post['id']}", json={"published": True}, headers=editor)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["published"] is True
    # deleting is for admins
    assert_error(await demo.client.delete(f"/api/posts/{post['id']}", headers=editor), 403, "NotEnoughPermissions")
    assert (await demo.client.delete(f"/api/posts/{post['id']}", headers=demo.headers["admin"])).status_code == 204


async def test_an_explicit_author_is_kept_for_admins(demo: Demo) -> None:
    body = {"title": "For the editor", "content": "x", "authorId": demo.users["editor"]["id"]}
    created = await demo.client.post("/api/posts", json=body, headers=demo.headers["admin"])
    assert created.status_code == 201, created.text
    assert created.json()["data"]["authorId"] == demo.users["editor"]["id"]


async def test_a_reader_may_only_view_posts(demo: Demo) -> None:
    reader = demo.headers["reader"]
    listed = await demo.client.get("/api/posts?sort=title&limit=5", headers=reader)
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 6 and listed.json()["results"] == 5
    post_id = listed.json()["data"][0]["id"]
    assert (await demo.client.get(f"/api/posts/{post_id}", headers=reader)).status_code == 200
    assert_error(await demo.client.post("/api/posts", json={"title": "t", "content": "c"}, headers=reader), 403,
                 "NotEnoughPermissions")
    assert_error(await demo.client.patch(f"/api/posts/{post_id}", json={"title": "t"}, headers=reader), 403,
                 "NotEnoughPermissions")
    assert_error(await demo.client.delete(f"/api/posts/{post_id}", headers=reader), 403, "NotEnoughPermissions")


async def test_posts_need_a_login(demo: Demo) -> None:
    assert_error(await demo.client.get("/api/posts"), 401, "LoginRequired")
    assert_error(await demo.client.get("/api/posts/dashboard"), 401, "LoginRequired")


async def test_bulk_post_creation_is_disabled(demo: Demo) -> None:
    response = await demo.client.post("/api/posts/many", json=[{"title": "t", "content": "c"}],
                                      headers=demo.headers["admin"])
    assert response.status_code in {404, 405}, response.text


async def test_comments_are_for_super_users_only(demo: Demo) -> None:
    post_id = "00000000-0000-4000-8000-000000000001"
    body = {"content": "Nice", "postId": post_id, "authorId": demo.users["reader"]["id"]}
    for name in ("editor", "reader"):
        assert_error(await demo.client.get("/api/comments", headers=demo.headers[name]), 403, "NotEnoughPermissions")
        assert_error(await demo.client.post("/api/comments", json=body, headers=demo.headers[name]), 403,
                     "NotEnoughPermissions")
    created = await demo.client.post("/api/comments", json=body, headers=demo.headers["admin"])
    assert created.status_code == 201, created.text
    listed = await demo.client.get("/api/comments", headers=demo.headers["admin"])
    assert listed.json()["total"] == 1


async def test_the_dashboard_is_for_any_logged_in_user(demo: Demo) -> None:
    for name, can_create in (("editor", True), ("reader", False), ("admin", True)):
        response = await demo.client.get("/api/posts/dashboard", headers=demo.headers[name])
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"username": name, "canCreate": can_create}}


async def test_login_by_email_and_the_me_routes(demo: Demo) -> None:
    response = await demo.client.post("/api/auth/login?usernameField=email",
                                      json={"email": "reader@example.com", "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['accessToken']}"}
    me = await demo.client.get("/api/users/me", headers=headers)
    assert me.json()["data"]["username"] == "reader"
    assert "password" not in me.json()["data"]
    assert_error(await demo.client.patch("/api/users/me", json={"role": "Admin"}, headers=headers), 400,
                 "ForbiddenField")


async def test_the_demo_documents_its_routes(demo: Demo) -> None:
    schema = (await demo.client.get("/api/openapi.json")).json()
    assert {"/api/posts", "/api/posts/{id}", "/api/posts/dashboard", "/api/comments", "/api/auth/login"} <= set(
        schema["paths"])
    assert "post" not in schema["paths"].get("/api/posts/many", {})  # create_many is disabled
