"""Protecting routes: ArkosRouter `authentication=`, CurrentUser on plain routes, route hooks, deny by default,
and the project's auth module (route hook and interceptors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from arkos.config import ConfigError
from tests.conftest import PASSWORD, AppFactory, client_for, login, make_user
from tests.http.auth_helpers import assert_error, bearer, sql, user_count, write_project

ARTICLE_ROUTER = """
    import arkos
    from arkos import ArkosRouter

    router = ArkosRouter()


    @router.get("/api/articles/dashboard", authentication=True)
    async def dashboard(user: arkos.CurrentUser):
        return {"dashboard": True, "username": user.get("username")}


    @router.get("/api/articles/stats", authentication=True)
    async def stats():
        return {"stats": True}


    @router.post("/api/articles/publish-all",
                 authentication={"resource": "article", "action": "PublishAll", "rule": ["Editor"]})
    async def publish_all():
        return {"published": True}


    @router.get("/api/articles/open")
    async def open_route():
        return {"open": True}


    hook = {"find_many": {"authentication": False}, "create_one": {"authentication": True}}
"""

PLAIN_ROUTER = """
    from fastapi import APIRouter, Depends

    import arkos

    router = APIRouter()


    @router.get("/api/whoami")
    async def whoami(user: arkos.CurrentUser):
        return {"id": user.id, "roles": list(user.roles), "superUser": user.is_super_user,
                "keys": sorted(user.fields)}


    @router.get("/api/whoami-depends")
    async def whoami_depends(user: arkos.Principal = Depends(arkos.get_current_user)):
        return {"id": user.id, "username": user["username"]}
"""

AUTH_ROUTER_DISABLE_SIGNUP = """
    hook = {"signup": {"disabled": True}}
"""

AUTH_ROUTER_DISABLE_MANY = """
    hook = {"disable": {"signup": True, "update_password": True}}
"""

AUTH_INTERCEPTORS = """
    from arkos import ArkosError


    async def after_login(ctx):
        user = ctx.additional["user"]
        ctx.data = {**(ctx.data or {}), "welcome": user.get("username"), "userKeys": sorted(user.fields)}


    def before_signup(ctx):
        raise ArkosError("SignupClosed", "Signups are closed for now", status=403)
"""


async def project_app(app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      files: dict[str, str], **overrides: Any) -> FastAPI:
    package = write_project(tmp_path, monkeypatch, files)
    return await app_factory(package=package, **overrides)


async def seeded(app: FastAPI, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """admin (super user), editor (Editor), reader (User): name → Authorization header."""
    headers = {}
    for name, role, su in (("admin", "Admin", True), ("editor", "Editor", False), ("reader", "User", False)):
        await make_user(app, name, role=role, is_super_user=su)
        headers[name] = await login(client, name)
    client.cookies.clear()  # each request below says explicitly which token it carries
    return headers


# -- ArkosRouter `authentication=` -----------------------------------------------------------------------


async def test_custom_route_with_authentication_true(app_factory: AppFactory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/article/router.py": ARTICLE_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        assert_error(await client.get("/api/articles/dashboard"), 401, "LoginRequired",
                     "You are not logged in! please log in to get access")
        assert_error(await client.get("/api/articles/dashboard", headers=bearer("junk")), 401, "InvalidAuthToken")
        response = await client.get("/api/articles/dashboard", headers=headers["reader"])
        assert response.status_code == 200, response.text
        assert response.json() == {"dashboard": True, "username": "reader"}

        assert_error(await client.get("/api/articles/stats"), 401, "LoginRequired")
        stats = await client.get("/api/articles/stats", headers=headers["reader"])
        assert stats.status_code == 200, stats.text
        assert stats.json() == {"stats": True}

        public = await client.get("/api/articles/open")
        assert public.status_code == 200, public.text


async def test_custom_route_with_a_rule_authorizes(app_factory: AppFactory, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/article/router.py": ARTICLE_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        assert_error(await client.post("/api/articles/publish-all"), 401, "LoginRequired")
        assert_error(await client.post("/api/articles/publish-all", headers=headers["reader"]), 403,
                     "NotEnoughPermissions")
        for name in ("editor", "admin"):
            response = await client.post("/api/articles/publish-all", headers=headers[name])
            assert response.status_code == 200, response.text


async def test_custom_route_enforces_account_states(app_factory: AppFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/article/router.py": ARTICLE_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        assert (await client.delete("/api/auth/logout", headers=headers["editor"])).status_code == 204
        assert_error(await client.get("/api/articles/dashboard", headers=headers["editor"]), 401,
                     "InvalidAuthToken")
        await sql(app, "UPDATE users SET is_active = :f WHERE username = 'reader'", f=False)
        assert_error(await client.get("/api/articles/dashboard", headers=headers["reader"]), 401,
                     "AccountInactive")


async def test_custom_route_asking_for_authentication_without_a_mode_fails_at_init(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError) as caught:
        await project_app(app_factory, tmp_path, monkeypatch, {"modules/article/router.py": ARTICLE_ROUTER},
                          authentication={"mode": None})
    message = str(caught.value)
    assert "/api/articles/dashboard" in message or "article" in message
    assert "authentication.mode" in message


# -- plain FastAPI routes: CurrentUser and Depends(get_current_user) -------------------------------------


async def test_plain_route_with_current_user(app_factory: AppFactory, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/misc/router.py": PLAIN_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        for path in ("/api/whoami", "/api/whoami-depends"):
            assert_error(await client.get(path), 401, "LoginRequired")
            assert_error(await client.get(path, headers=bearer("a.b.c")), 401, "InvalidAuthToken")
        me = await client.get("/api/whoami", headers=headers["editor"])
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["roles"] == ["Editor"] and body["superUser"] is False
        assert "password" not in body["keys"] and "apiSecret" not in body["keys"]
        admin = await client.get("/api/whoami-depends", headers=headers["admin"])
        assert admin.status_code == 200, admin.text
        assert admin.json()["username"] == "admin"


async def test_plain_route_refuses_changed_password_tokens(app_factory: AppFactory, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/misc/router.py": PLAIN_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        changed = await client.post("/api/auth/update-password", headers=headers["reader"],
                                    json={"currentPassword": PASSWORD, "newPassword": "N3w-Passw0rd!"})
        assert changed.status_code == 200, changed.text
        assert_error(await client.get("/api/whoami", headers=headers["reader"]), 401, "PasswordChanged")
        fresh = await client.get("/api/whoami", headers=bearer(changed.json()["accessToken"]))
        assert fresh.status_code == 200, fresh.text


TAMPER_ROUTER = """
    import arkos
    from fastapi import APIRouter

    router = APIRouter()


    @router.get("/api/tamper")
    async def tamper(user: arkos.CurrentUser):
        user["roles"].append("Admin")  # a list: this request's own copy
        try:
            user.fields["isSuperUser"] = True
            blocked = False
        except TypeError:
            blocked = True
        return {"roles": user["roles"], "principalRoles": list(user.roles), "blocked": blocked}
"""


async def test_a_request_cannot_change_the_user_the_next_one_sees(app_factory: AppFactory, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The requests of one token share its Principal: fields are read-only, lists are copied per request."""
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/misc/router.py": TAMPER_ROUTER},
                            authentication={"user_model": "Member"})
    await make_user(app, "member", role=None, roles=["User"])
    async with client_for(app) as client:
        headers = await login(client, "member")
        for _ in range(3):  # the same token each time: no append accumulates, no flag sticks
            response = await client.get("/api/tamper", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == {"roles": ["User", "Admin"], "principalRoles": ["User"], "blocked": True}
        me = await client.get("/api/users/me", headers=headers)
        assert me.json()["data"]["roles"] == ["User"] and me.json()["data"]["isSuperUser"] is False
        assert_error(await client.get("/api/comments", headers=headers), 403, "NotEnoughPermissions")


# -- route hooks on generated routes ---------------------------------------------------------------------


async def test_route_hook_makes_find_many_public_and_create_one_login_only(
    app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch, {"modules/article/router.py": ARTICLE_ROUTER})
    async with client_for(app) as client:
        headers = await seeded(app, client)
        listed = await client.get("/api/articles")
        assert listed.status_code == 200, listed.text

        assert_error(await client.post("/api/articles", json={"title": "x"}), 401, "LoginRequired")
        created = await client.post("/api/articles", headers=headers["reader"], json={"title": "by reader"})
        assert created.status_code == 201, created.text
        article_id = created.json()["data"]["id"]

        # Operations the hook does not mention keep the default: token required, super users only.
        assert_error(await client.get(f"/api/articles/{article_id}"), 401, "LoginRequired")
        assert_error(await client.get(f"/api/articles/{article_id}", headers=headers["reader"]), 403,
                     "NotEnoughPermissions")
        assert_error(await client.delete(f"/api/articles/{article_id}", headers=headers["editor"]), 403,
                     "NotEnoughPermissions")
        found = await client.get(f"/api/articles/{article_id}", headers=headers["admin"])
        assert found.status_code == 200, found.text


# -- deny by default --------------------------------------------------------------------------------------

COMMENT_OPERATIONS: list[tuple[str, str, Any]] = [
    ("GET", "/api/comments", None),
    ("POST", "/api/comments", {"body": "hi", "articleId": "{article}"}),
    ("POST", "/api/comments/many", [{"body": "many", "articleId": "{article}"}]),
    ("GET", "/api/comments/{comment}", None),
    ("PATCH", "/api/comments/{comment}", {"body": "edited"}),
    ("PATCH", "/api/comments/many?body=many", {"body": "many-edited"}),
    ("DELETE", "/api/comments/many?body=many-edited", None),
    ("DELETE", "/api/comments/{comment}", None),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


async def test_model_without_policy_denies_everyone_but_super_users(app: FastAPI, client: httpx.AsyncClient,
                                                                    users: dict[str, Any]) -> None:
    await make_user(app, "staffer", is_staff=True)
    tokens = {name: users[name]["headers"] for name in ("editor", "reader", "norole")}
    tokens["staffer"] = await login(client, "staffer")
    client.cookies.clear()
    admin = users["admin"]["headers"]

    article = await client.post("/api/articles", headers=admin, json={"title": "host"})
    assert article.status_code == 201, article.text
    comment = await client.post("/api/comments", headers=admin, json={"body": "seed",
                                                                      "articleId": article.json()["data"]["id"]})
    assert comment.status_code == 201, comment.text
    ids = {"article": article.json()["data"]["id"], "comment": comment.json()["data"]["id"]}

    for name, headers in tokens.items():
        for method, path, body in COMMENT_OPERATIONS:
            response = await client.request(method, _fill(path, ids), headers=headers, json=_fill(body, ids))
            assert response.status_code == 403, (name, method, path, response.text)
            assert response.json()["code"] == "NotEnoughPermissions"
        for method, path, body in COMMENT_OPERATIONS:
            anonymous = await client.request(method, _fill(path, ids), json=_fill(body, ids))
            assert anonymous.status_code == 401, (method, path, anonymous.text)

    for method, path, body in COMMENT_OPERATIONS:
        response = await client.request(method, _fill(path, ids), headers=admin, json=_fill(body, ids))
        assert response.status_code in {200, 201, 204}, (method, path, response.text)


async def test_user_without_any_role_gets_403_not_500(app_factory: AppFactory) -> None:
    """The `Member` model keeps several roles; an empty list is a user with no role at all."""
    app = await app_factory(authentication={"user_model": "Member"})
    await make_user(app, "nobody", role=None)
    await make_user(app, "boss", role=None, is_super_user=True)
    async with client_for(app) as client:
        headers = await login(client, "nobody")
        me = await client.get("/api/users/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["data"]["roles"] == []
        for path in ("/api/comments", "/api/members", "/api/users"):
            assert_error(await client.get(path, headers=headers), 403, "NotEnoughPermissions")
        # The sample article policy says View "*": any authenticated user, role or not.
        assert (await client.get("/api/articles", headers=headers)).status_code == 200
        boss = await login(client, "boss")
        assert (await client.get("/api/comments", headers=boss)).status_code == 200


async def test_staff_flag_grants_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "staffer", role="User", is_staff=True)
    headers = await login(client, "staffer")
    for path in ("/api/users", "/api/comments", "/api/profiles", "/api/gadgets"):
        assert_error(await client.get(path, headers=headers), 403, "NotEnoughPermissions")
    me = await client.get("/api/users/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["data"]["isStaff"] is True


# -- the project's auth module: route hook and interceptors ----------------------------------------------


async def test_auth_route_hook_disables_signup(app_factory: AppFactory, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch,
                            {"modules/auth/router.py": AUTH_ROUTER_DISABLE_SIGNUP})
    await make_user(app, "alice")
    async with client_for(app) as client:
        response = await client.post("/api/auth/signup", json={"username": "bob", "password": PASSWORD})
        assert response.status_code == 404, response.text
        assert (await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
                ).status_code == 200
    assert await user_count(app, "bob") == 0


async def test_auth_route_hook_disable_map(app_factory: AppFactory, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch,
                            {"modules/auth/router.py": AUTH_ROUTER_DISABLE_MANY})
    await make_user(app, "alice")
    async with client_for(app) as client:
        headers = await login(client, "alice")
        signup = await client.post("/api/auth/signup", json={"username": "bob", "password": PASSWORD})
        assert signup.status_code == 404, signup.text
        update = await client.post("/api/auth/update-password", headers=headers,
                                   json={"currentPassword": PASSWORD, "newPassword": "N3w-Passw0rd!"})
        assert update.status_code == 404, update.text
        assert (await client.get("/api/users/me", headers=headers)).status_code == 200


async def test_auth_interceptors_change_login_data_and_refuse_signup(app_factory: AppFactory, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch,
                            {"modules/auth/interceptors.py": AUTH_INTERCEPTORS})
    await make_user(app, "alice")
    async with client_for(app) as client:
        response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["welcome"] == "alice"
        assert "password" not in body["userKeys"] and "apiSecret" not in body["userKeys"]
        assert (await client.get("/api/users/me", headers=bearer(body["accessToken"]))).status_code == 200

        refused = await client.post("/api/auth/signup", json={"username": "bob", "password": PASSWORD})
        assert_error(refused, 403, "SignupClosed", "Signups are closed for now")
    assert await user_count(app, "bob") == 0


BODY_INTERCEPTORS = """
async def before_signup(ctx):
    # The body is parsed before the before-interceptors run, so they can read and change it.
    ctx.body["nickname"] = ctx.body["username"].upper()


async def before_login(ctx):
    ctx.body["username"] = ctx.body["username"].strip().lower()
"""


async def test_auth_before_interceptors_see_and_change_the_body(app_factory: AppFactory, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app = await project_app(app_factory, tmp_path, monkeypatch,
                            {"modules/auth/interceptors.py": BODY_INTERCEPTORS})
    async with client_for(app) as client:
        created = await client.post("/api/auth/signup", json={"username": "zoe", "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["data"]["nickname"] == "ZOE"
        logged_in = await client.post("/api/auth/login", json={"username": "  ZOE ", "password": PASSWORD})
        assert logged_in.status_code == 200, logged_in.text
        assert "accessToken" in logged_in.json()
