"""Static mode over HTTP: who may do what on generated and custom routes (reference §3, DECISIONS 8 and 9)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

import arkos
from arkos.auth import auth_config
from tests.conftest import client_for, login, make_user
from tests.http.project_helpers import add_user, headers_for, make_project
from tests.sample.models import Article, Comment

ARTICLE_ID = "00000000-0000-4000-8000-000000000001"
COMMENT_ID = 1000

REPORT_FILES = {
    "modules/article/policy.py": """
        # View *, Create and Update Admin+Editor, Delete Admin
        from tests.sample.modules.article.policy import article_policy
    """,
    "modules/report/policy.py": """
        from arkos import ArkosPolicy

        report_policy = ArkosPolicy("report").rule("View", ["User"])
    """,
    "modules/report/router.py": """
        from arkos import ArkosRouter, CurrentUser
        from PKG.modules.report.policy import report_policy

        router = ArkosRouter()


        @router.get("/api/reports/open", authentication=True)
        async def open_report(user: CurrentUser) -> dict[str, object]:
            return {"data": {"id": user.id}}


        @router.get("/api/reports/summary", authentication=report_policy.View)
        async def summary() -> dict[str, object]:
            return {"data": "summary"}


        @router.post("/api/reports/publish", authentication={
            "resource": "report", "action": "Publish", "rule": {"roles": ["Editor"]}})
        async def publish() -> dict[str, object]:
            return {"data": "published"}


        @router.delete("/api/reports/purge", authentication={"resource": "report", "action": "Purge"})
        async def purge() -> dict[str, object]:
            return {"data": "purged"}
    """,
}

# (operation, resource) → the request; generated routes for article (policy) and comment (no policy),
# custom ArkosRouter routes for report. Destructive requests come last: one app serves a user's whole row.
REQUESTS: dict[tuple[str, str], tuple[str, str, dict[str, Any] | None]] = {
    ("view", "article"): ("GET", "/api/articles", None),
    ("create", "article"): ("POST", "/api/articles", {"title": "New"}),
    ("update", "article"): ("PATCH", f"/api/articles/{ARTICLE_ID}", {"title": "Changed"}),
    ("view", "comment"): ("GET", "/api/comments", None),
    ("create", "comment"): ("POST", "/api/comments", {"body": "Nice", "articleId": ARTICLE_ID}),
    ("open", "report"): ("GET", "/api/reports/open", None),
    ("view", "report"): ("GET", "/api/reports/summary", None),
    ("publish", "report"): ("POST", "/api/reports/publish", None),
    ("purge", "report"): ("DELETE", "/api/reports/purge", None),
    ("delete", "article"): ("DELETE", f"/api/articles/{ARTICLE_ID}", None),
}

# Who is calling. `staff` has role User and isStaff: the flag grants nothing beyond the role.
USERS: dict[str, dict[str, Any]] = {
    "super": {"roles": (), "is_super_user": True},
    "editor": {"roles": ("Editor",)},
    "reader": {"roles": ("User",)},
    "staff": {"roles": ("User",), "is_staff": True},
    "norole": {"roles": ()},
    "multi": {"roles": ("Editor", "User")},
}
MEMBER_ONLY = {"norole", "multi"}  # the User model's single `role` column always holds one role

# The one table: (operation, resource) → status for each user, in the order of USERS.
MATRIX: list[tuple[str, str, int, int, int, int, int, int]] = [
    # operation  resource   super editor reader staff norole multi
    ("view",     "article",  200,  200,   200,   200,  200,   200),
    ("create",   "article",  201,  201,   403,   403,  403,   201),
    ("update",   "article",  200,  200,   403,   403,  403,   200),
    ("delete",   "article",  204,  403,   403,   403,  403,   403),
    ("view",     "comment",  200,  403,   403,   403,  403,   403),
    ("create",   "comment",  201,  403,   403,   403,  403,   403),
    ("open",     "report",   200,  200,   200,   200,  200,   200),
    ("view",     "report",   200,  403,   200,   200,  403,   200),
    ("publish",  "report",   200,  200,   403,   403,  403,   200),
    ("purge",    "report",   200,  403,   403,   403,  403,   403),
]
assert {(op, res) for op, res, *_ in MATRIX} == set(REQUESTS)

# One case per (user model, user): each builds one app (a fresh database costs about a second) and walks
# that user's column of the table; a failure shows the whole column's diff.
CASES = [
    pytest.param(model, user, {f"{op} {res}": statuses[index] for op, res, *statuses in MATRIX},
                 id=f"{model}-{user}")
    for model in ("User", "Member")
    for index, user in enumerate(USERS)
    if not (model == "User" and user in MEMBER_ONLY)
]


async def seed(app: FastAPI) -> None:
    async with app.state.arkos.database.engine.begin() as conn:
        await conn.execute(sa.insert(Article.__table__).values(id=ARTICLE_ID, title="Seeded"))
        await conn.execute(sa.insert(Comment.__table__).values(id=COMMENT_ID, body="First",
                                                                article_id=ARTICLE_ID))


def assert_denied(response: httpx.Response, message: str) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "NotEnoughPermissions"
    assert body["message"] == message
    return body


@pytest.mark.parametrize(("user_model", "user", "expected"), CASES)
async def test_permission_matrix(app_factory, tmp_path, monkeypatch, user_model: str, user: str,
                                 expected: dict[str, int]) -> None:
    package = make_project(tmp_path, monkeypatch, REPORT_FILES)
    app = await app_factory(package=package, authentication={"user_model": user_model})
    await seed(app)
    statuses: dict[str, int] = {}
    denials: dict[str, object] = {}
    async with client_for(app) as client:
        headers = await headers_for(client, app, user, **USERS[user])
        for (operation, resource), (method, path, body) in REQUESTS.items():
            response = await client.request(method, path, json=body, headers=headers)
            statuses[f"{operation} {resource}"] = response.status_code
            if response.status_code == 403:
                denials[f"{operation} {resource}"] = (response.json()["code"], response.json()["message"])
    assert statuses == expected
    assert denials == {key: ("NotEnoughPermissions", f"You cannot perform {key.replace(' ', ' for ')}")
                       for key in denials}


async def test_every_protected_route_answers_401_without_a_token(app_factory, tmp_path, monkeypatch) -> None:
    app = await app_factory(package=make_project(tmp_path, monkeypatch, REPORT_FILES))
    async with client_for(app) as client:
        responses = {f"{op} {res}": await client.request(method, path, json=body)
                     for (op, res), (method, path, body) in REQUESTS.items()}
    assert {key: r.status_code for key, r in responses.items()} == {key: 401 for key in responses}
    assert {r.json()["code"] for r in responses.values()} == {"LoginRequired"}


# -- several roles: the Member model's `roles` list ----------------------------------------------------------


async def test_member_roles_are_stored_and_returned_as_a_list(app_factory) -> None:
    app = await app_factory(authentication={"user_model": "Member"})
    member = await add_user(app, "multi", roles=("Editor", "User"))
    assert [getattr(role, "value", role) for role in member["roles"]] == ["Editor", "User"]
    async with client_for(app) as client:
        root = await headers_for(client, app, "root", is_super_user=True)
        response = await client.get(f"/api/members/{member['id']}", headers=root)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["roles"] == ["Editor", "User"]


async def test_super_user_sets_member_roles_over_http(app_factory) -> None:
    app = await app_factory(authentication={"user_model": "Member"})
    async with client_for(app) as client:
        root = await headers_for(client, app, "root", is_super_user=True)
        created = await client.post("/api/members", headers=root,
                                    json={"username": "m", "password": "Passw0rd-1", "roles": ["User", "Editor"]})
        bogus = await client.post("/api/members", headers=root,
                                  json={"username": "b", "password": "Passw0rd-1", "roles": ["Owner"]})
        changed = await client.patch(f"/api/members/{created.json()['data']['id']}", headers=root,
                                     json={"roles": ["Admin"]})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["roles"] == ["User", "Editor"]
    assert bogus.status_code == 400, bogus.text
    assert bogus.json()["code"] == "ValidationError"
    assert bogus.json()["meta"] == {"field": "roles"}
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["roles"] == ["Admin"]


@pytest.mark.parametrize("roles", [["Editor", "Bogus"], "Editor", [1]],
                         ids=["unknown-role", "not-a-list", "number"])
async def test_member_roles_outside_the_enum_are_refused_on_every_backend(app_factory, roles: object) -> None:
    app = await app_factory(authentication={"user_model": "Member"})
    with pytest.raises(arkos.ArkosError) as caught:
        await arkos.users.create_user(app.state.arkos, username="bad", password="Passw0rd-Test",
                                      fields={"roles": roles})
    assert caught.value.status == 400
    assert caught.value.code == "ValidationError"
    assert caught.value.meta == {"field": "roles"}


async def test_member_roles_accept_enum_names_and_members(app_factory) -> None:
    from tests.sample.models import Role

    app = await app_factory(authentication={"user_model": "Member"})
    member = await arkos.users.create_user(app.state.arkos, username="m", password="Passw0rd-Test",
                                           fields={"roles": [Role.Admin, "Editor"]})
    assert [getattr(r, "value", r) for r in member["roles"]] == ["Admin", "Editor"]


# -- wildcards mean one thing (DECISIONS 8) ------------------------------------------------------------------

WILDCARDS = ["*", ["*"], {"roles": "*"}, {"roles": ["*"]}]


def wildcard_files(form: object) -> dict[str, str]:
    return {
        "modules/article/policy.py": f"""
            from arkos import ArkosPolicy

            article_policy = ArkosPolicy("article").rule("View", {form!r}).rule("Create", {form!r})
        """,
        "modules/wild/router.py": f"""
            from arkos import ArkosPolicy, ArkosRouter, CurrentUser

            wild_policy = ArkosPolicy("wild").rule("Peek", {form!r})
            router = ArkosRouter()


            @router.get("/api/wild/policy", authentication=wild_policy.Peek)
            async def via_policy(user: CurrentUser) -> dict[str, object]:
                return {{"data": {{"canPeek": await wild_policy.can_peek(user)}}}}


            @router.get("/api/wild/rule",
                        authentication={{"resource": "wild", "action": "Peek", "rule": {form!r}}})
            async def via_rule() -> dict[str, object]:
                return {{"data": "ok"}}
        """,
    }


@pytest.mark.parametrize("form", WILDCARDS, ids=["star", "list", "roles-star", "roles-list"])
async def test_each_wildcard_form_allows_any_authenticated_user(app_factory, tmp_path, monkeypatch,
                                                                form: object) -> None:
    package = make_project(tmp_path, monkeypatch, wildcard_files(form))
    app = await app_factory(package=package, authentication={"user_model": "Member"})
    paths = ("/api/articles", "/api/wild/policy", "/api/wild/rule")
    async with client_for(app) as client:
        nobody = await headers_for(client, app, "nobody", roles=())
        reader = await headers_for(client, app, "reader", roles=("User",))
        created = await client.post("/api/articles", json={"title": "Mine"}, headers=nobody)
        as_nobody = [await client.get(path, headers=nobody) for path in paths]
        as_reader = [await client.get(path, headers=reader) for path in paths]
    async with client_for(app) as anonymous_client:  # no cookie from the logins above
        anonymous = [await anonymous_client.get(path) for path in paths]
    assert created.status_code == 201, created.text
    assert [r.status_code for r in as_nobody] == [200, 200, 200], [r.text for r in as_nobody]
    assert [r.status_code for r in as_reader] == [200, 200, 200], [r.text for r in as_reader]
    # the can_* check agrees with the route
    assert as_nobody[1].json() == as_reader[1].json() == {"data": {"canPeek": True}}
    assert [r.status_code for r in anonymous] == [401, 401, 401]


# -- each route's rule is its own (DECISIONS 8) --------------------------------------------------------------

UNMERGED_FILES = {
    "modules/article/policy.py": """
        from arkos import ArkosPolicy

        article_policy = ArkosPolicy("article").rule("View", "*").rule("Create", ["Editor"])
    """,
    "modules/article/router.py": """
        from arkos import ArkosRouter

        router = ArkosRouter()


        @router.post("/api/articles/special",
                     authentication={"resource": "article", "action": "Create", "rule": ["Admin"]})
        async def special() -> dict[str, object]:
            return {"data": "special"}
    """,
}


async def test_rules_are_not_merged_across_registrations(app_factory, tmp_path, monkeypatch) -> None:
    app = await app_factory(package=make_project(tmp_path, monkeypatch, UNMERGED_FILES))
    async with client_for(app) as client:
        editor = await headers_for(client, app, "editor", roles=("Editor",))
        boss = await headers_for(client, app, "boss", roles=("Admin",))  # the role, not a super user
        editor_generated = await client.post("/api/articles", json={"title": "A"}, headers=editor)
        editor_custom = await client.post("/api/articles/special", headers=editor)
        boss_generated = await client.post("/api/articles", json={"title": "B"}, headers=boss)
        boss_custom = await client.post("/api/articles/special", headers=boss)
    assert editor_generated.status_code == 201, editor_generated.text
    assert_denied(editor_custom, "You cannot perform create for article")
    assert_denied(boss_generated, "You cannot perform create for article")
    assert boss_custom.status_code == 200, boss_custom.text


# -- the 403 message and its explanation ---------------------------------------------------------------------

MESSAGE_FILES = {
    "modules/article/policy.py": """
        from arkos import ArkosPolicy

        article_policy = (
            ArkosPolicy("article")
            .rule("View", "*")
            .rule("Delete", ["Admin"], error_message="Only admins may delete articles")
        )
    """,
    "modules/article/router.py": """
        from arkos import ArkosRouter

        router = ArkosRouter()


        @router.post("/api/articles/archive", authentication={
            "resource": "article", "action": "Archive",
            "rule": {"roles": ["Admin"], "errorMessage": "Archiving is for admins"}})
        async def archive() -> dict[str, object]:
            return {"data": "archived"}


        @router.post("/api/articles/feature", authentication={
            "resource": "article", "action": "Feature",
            "rule": {"roles": ["Admin"], "error_message": "Featuring is for admins"}})
        async def feature() -> dict[str, object]:
            return {"data": "featured"}
    """,
}


async def test_custom_error_message_replaces_the_default(app_factory, tmp_path, monkeypatch) -> None:
    app = await app_factory(package=make_project(tmp_path, monkeypatch, MESSAGE_FILES))
    await seed(app)
    async with client_for(app) as client:
        editor = await headers_for(client, app, "editor", roles=("Editor",))
        by_policy = await client.delete(f"/api/articles/{ARTICLE_ID}", headers=editor)
        camel = await client.post("/api/articles/archive", headers=editor)
        snake = await client.post("/api/articles/feature", headers=editor)
        by_default = await client.post("/api/articles", json={"title": "x"}, headers=editor)  # no Create rule
    assert_denied(by_policy, "Only admins may delete articles")
    assert_denied(camel, "Archiving is for admins")
    assert_denied(snake, "Featuring is for admins")
    assert_denied(by_default, "You cannot perform create for article")


@pytest.mark.parametrize(("roles", "decided_by"), [
    (("Editor",), "none of the user's roles is granted"),
    ((), "the user has no role"),
], ids=["wrong-role", "no-role"])
async def test_development_403_explains_the_decision(app_factory, roles: tuple[str, ...],
                                                     decided_by: str) -> None:
    app = await app_factory(authentication={"user_model": "Member"})
    await seed(app)
    async with client_for(app) as client:
        headers = await headers_for(client, app, "someone", roles=roles)
        response = await client.delete(f"/api/articles/{ARTICLE_ID}", headers=headers)
    body = assert_denied(response, "You cannot perform delete for article")
    assert body["meta"] == {"explain": {
        "resource": "article", "action": "Delete", "mode": "static",
        "ruleRoles": ["Admin"], "userRoles": list(roles), "decidedBy": decided_by,
    }}


async def test_development_403_without_any_rule_says_only_super_users_may(app, client, users) -> None:
    response = await client.get("/api/comments", headers=users["editor"]["headers"])
    body = assert_denied(response, "You cannot perform view for comment")
    explain = body["meta"]["explain"]
    assert explain["ruleRoles"] == []
    assert explain["userRoles"] == ["Editor"]
    assert "only super users" in explain["decidedBy"]


async def test_production_403_has_no_explanation(app_factory) -> None:
    app = await app_factory(env="production")
    await seed(app)
    async with client_for(app) as client:
        await make_user(app, "editor", role="Editor")
        headers = await login(client, "editor")
        response = await client.delete(f"/api/articles/{ARTICLE_ID}", headers=headers)
    body = assert_denied(response, "You cannot perform delete for article")
    assert body["meta"] == {}
    assert "stack" not in body


# -- plain FastAPI routes: Depends(arkos.authorize(...)) -----------------------------------------------------


async def test_plain_fastapi_route_with_authorize_dependency(app_factory) -> None:
    app = await app_factory()

    async def create_post(user: arkos.CurrentUser) -> dict[str, object]:
        return {"data": {"by": user["username"]}}

    app.add_api_route("/api/plain/posts", create_post, methods=["POST"],
                      dependencies=[arkos.authorize("Create", "post", ["Admin"])])
    async with client_for(app) as client:
        boss = await headers_for(client, app, "boss", roles=("Admin",))
        editor = await headers_for(client, app, "editor", roles=("Editor",))
        root = await headers_for(client, app, "root", is_super_user=True)
        allowed = await client.post("/api/plain/posts", headers=boss)
        denied = await client.post("/api/plain/posts", headers=editor)
        super_user = await client.post("/api/plain/posts", headers=root)
    async with client_for(app) as client:
        anonymous = await client.post("/api/plain/posts")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"data": {"by": "boss"}}
    body = assert_denied(denied, "You cannot perform create for post")
    assert body["meta"]["explain"]["ruleRoles"] == ["Admin"]
    assert super_user.status_code == 200, super_user.text
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "LoginRequired"


# -- deprecated styles: `config` in router.py and modules/<m>/auth.py ----------------------------------------


async def test_router_config_instead_of_hook_warns_and_still_applies(app_factory, tmp_path,
                                                                     monkeypatch) -> None:
    package = make_project(tmp_path, monkeypatch, {"modules/comment/router.py": """
        config = {"find_many": {"authentication": False}}
    """})
    with pytest.warns(DeprecationWarning, match="`config` is deprecated, rename it to `hook`"):
        app = await app_factory(package=package)
    async with client_for(app) as client:
        public = await client.get("/api/comments")
        protected = await client.post("/api/comments", json={"body": "x", "articleId": ARTICLE_ID})
    assert public.status_code == 200, public.text
    assert protected.status_code == 401, protected.text


async def build_with_auth_py(app_factory, tmp_path, monkeypatch, source: str) -> FastAPI:
    """An app whose comment module has a deprecated auth.py; the warning is asserted each time."""
    monkeypatch.setattr(auth_config, "_warned", set())
    package = make_project(tmp_path, monkeypatch, {"modules/comment/auth.py": source})
    deprecated = r"modules/comment/auth\.py: auth config files are deprecated"
    with pytest.warns(DeprecationWarning, match=deprecated):
        app = await app_factory(package=package)
    await seed(app)
    return app


async def test_auth_py_warns_once_per_module(app_factory, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(auth_config, "_warned", set())
    package = make_project(tmp_path, monkeypatch,
                           {"modules/comment/auth.py": "access_control = ['Editor']\n"})
    with pytest.warns(DeprecationWarning) as record:
        await app_factory(package=package)
    messages = [str(w.message) for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1
    assert messages[0].endswith("declare an ArkosPolicy in modules/comment/policy.py instead")


COMMENT_REQUESTS = {
    "view": ("GET", "/api/comments", None),
    "create": ("POST", "/api/comments", {"body": "Hi", "articleId": ARTICLE_ID}),
    "delete": ("DELETE", f"/api/comments/{COMMENT_ID}", None),
}

AUTH_PY_USERS = {"reader": {"roles": ("User",)}, "editor": {"roles": ("Editor",)},
                 "boss": {"roles": ("Admin",)}, "root": {"is_super_user": True}}

# auth.py source → {(user or None for no token, operation): status}; one app per source.
AUTH_PY_CASES = {
    "authentication_control = False": {
        (None, "view"): 200, (None, "create"): 201, (None, "delete"): 204,
    },
    "authentication_control = {'Create': False}": {
        (None, "create"): 201, (None, "view"): 401,
        ("reader", "view"): 403,  # no access_control: super users only
    },
    "access_control = ['Editor']": {  # a list applies to every action
        ("editor", "view"): 200, ("editor", "create"): 201, ("reader", "view"): 403,
        ("editor", "delete"): 204,
    },
    # per action; a missing action is super users only
    "access_control = {'View': '*', 'Delete': ['Admin']}": {
        ("reader", "view"): 200, ("editor", "delete"): 403, ("boss", "create"): 403, ("root", "create"): 201,
        ("boss", "delete"): 204,
    },
}


@pytest.mark.parametrize("source", list(AUTH_PY_CASES))
async def test_auth_py_semantics(app_factory, tmp_path, monkeypatch, source: str) -> None:
    app = await build_with_auth_py(app_factory, tmp_path, monkeypatch, source + "\n")
    expected = AUTH_PY_CASES[source]
    statuses: dict[tuple[str | None, str], int] = {}
    async with client_for(app) as client:
        headers = {user: await headers_for(client, app, user, **AUTH_PY_USERS[user])
                   for user in {user for user, _ in expected if user}}
    for user, operation in expected:
        method, path, body = COMMENT_REQUESTS[operation]
        async with client_for(app) as client:  # a fresh client: no cookie left by the logins
            response = await client.request(method, path, json=body, headers=headers.get(user, {}))
        statuses[(user, operation)] = response.status_code
        if response.status_code == 403:
            assert_denied(response, f"You cannot perform {operation} for comment")
    assert statuses == expected


async def test_policy_wins_over_auth_py(app_factory, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(auth_config, "_warned", set())
    package = make_project(tmp_path, monkeypatch, {
        "modules/comment/auth.py": "authentication_control = False\n",
        "modules/comment/policy.py": """
            from arkos import ArkosPolicy

            comment_policy = ArkosPolicy("comment").rule("View", ["Editor"])
        """,
    })
    with pytest.warns(DeprecationWarning, match="auth config files are deprecated"):
        app = await app_factory(package=package)
    await seed(app)
    async with client_for(app) as client:
        anonymous_view = await client.get("/api/comments")
        anonymous_create = await client.post("/api/comments", json={"body": "x", "articleId": ARTICLE_ID})
    assert anonymous_view.status_code == 401, anonymous_view.text  # the policy's View rule applies
    assert anonymous_create.status_code == 201, anonymous_create.text  # no policy rule for Create: auth.py's
