"""GET /api/auth-actions[/{resource}]: the registry of declared actions and its guard (reference §4.4-4.5,
DECISIONS 9); the commands `arkos export auth-actions`, `arkos generate policy|auth-configs`, `arkos can`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arkos.cli import app as cli_app
from tests.conftest import JWT_SECRET, client_for
from tests.http.project_helpers import headers_for, make_project

ENVELOPE = {"total", "results", "data"}
SAMPLE_RESOURCES = ("article", "comment", "gadget", "member", "profile", "user")
CRUD = ("Create", "View", "Update", "Delete")


def by_key(data: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keys = [(item["resource"], item["action"]) for item in data]
    assert len(keys) == len(set(keys)), "an (action, resource) pair is listed twice"
    return {(item["resource"], item["action"]): item for item in data}


# -- the list ------------------------------------------------------------------------------------------------


async def test_super_user_lists_every_declared_action(app, client, users) -> None:
    response = await client.get("/api/auth-actions", headers=users["admin"]["headers"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["total"] == body["results"] == len(body["data"])
    actions = by_key(body["data"])
    for resource in SAMPLE_RESOURCES:  # every generated route's action
        for action in CRUD:
            assert (resource, action) in actions, (resource, action)
    assert actions[("article", "Create")] == {
        "action": "Create", "resource": "article", "name": "Create Article", "description": "Create Article",
        "errorMessage": "You cannot perform create for article", "roles": ["Admin", "Editor"],
    }
    assert actions[("article", "View")]["roles"] == ["*"]
    assert actions[("article", "Delete")]["roles"] == ["Admin"]
    assert actions[("comment", "Create")]["roles"] == []  # no policy: super users only
    seed = actions[("auth-action", "View")]
    assert seed["errorMessage"] == "You cannot perform view for auth action"
    assert seed["roles"] == []
    # authenticate-only routes (login, /users/me) are not actions
    assert all(item["action"] is not None for item in body["data"])


DETAILED_FILES = {
    "modules/article/policy.py": """
        from arkos import ArkosPolicy

        article_policy = (
            ArkosPolicy("article")
            .rule("View", "*")
            .rule("Publish", {"roles": ["Editor"], "name": "Publish articles",
                              "description": "Make an article public",
                              "errorMessage": "Only editors publish"})
        )
    """,
    "modules/article/router.py": """
        from arkos import ArkosRouter
        from PKG.modules.article.policy import article_policy

        router = ArkosRouter()
        hook = {"find_many": {"authentication": article_policy.View}}


        @router.post("/api/articles/{article_id}/publish", authentication=article_policy.Publish)
        async def publish(article_id: str) -> dict[str, object]:
            return {"data": article_id}


        @router.post("/api/articles/{article_id}/republish",
                     authentication={"resource": "article", "action": "Publish", "rule": ["Editor"]})
        async def republish(article_id: str) -> dict[str, object]:
            return {"data": article_id}


        @router.get("/api/users/report", authentication={"resource": "user", "action": "GenerateReport"})
        async def report() -> dict[str, object]:
            return {"data": "report"}
    """,
}


async def test_detailed_rule_text_and_duplicates_listed_once(app_factory, tmp_path, monkeypatch) -> None:
    app = await app_factory(package=make_project(tmp_path, monkeypatch, DETAILED_FILES))
    async with client_for(app) as client:
        root = await headers_for(client, app, "root", is_super_user=True)
        response = await client.get("/api/auth-actions", headers=root)
    assert response.status_code == 200, response.text
    actions = by_key(response.json()["data"])  # fails on duplicates
    assert actions[("article", "Publish")] == {
        "action": "Publish", "resource": "article", "name": "Publish articles",
        "description": "Make an article public", "errorMessage": "Only editors publish", "roles": ["Editor"],
    }
    assert actions[("article", "View")]["roles"] == ["*"]
    assert actions[("user", "GenerateReport")] == {
        "action": "GenerateReport", "resource": "user", "name": "Generate Report User",
        "description": "Generate Report User", "errorMessage": "You cannot perform generate report for user",
        "roles": [],
    }


async def test_filter_by_resource(app, client, users) -> None:
    headers = users["admin"]["headers"]
    articles = await client.get("/api/auth-actions/article", headers=headers)
    unknown = await client.get("/api/auth-actions/no-such-thing", headers=headers)
    assert articles.status_code == 200, articles.text
    body = articles.json()
    assert set(body) == ENVELOPE
    assert sorted(item["action"] for item in body["data"]) == sorted(CRUD)
    assert {item["resource"] for item in body["data"]} == {"article"}
    assert body["total"] == body["results"] == 4
    assert unknown.status_code == 200, unknown.text
    assert unknown.json() == {"total": 0, "results": 0, "data": []}


# -- the guard -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth-actions", "/api/auth-actions/article"])
async def test_only_super_users_may_view_auth_actions_by_default(app, users, path: str) -> None:
    async with client_for(app) as client:
        denied = {name: await client.get(path, headers=users[name]["headers"])
                  for name in ("editor", "reader", "norole")}
    async with client_for(app) as anonymous_client:
        anonymous = await anonymous_client.get(path)
    for name, response in denied.items():
        assert response.status_code == 403, (name, response.text)
        assert response.json()["code"] == "NotEnoughPermissions"
        assert response.json()["message"] == "You cannot perform view for auth action"
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "LoginRequired"


async def test_auth_router_hook_can_open_the_list(app_factory, tmp_path, monkeypatch) -> None:
    package = make_project(tmp_path, monkeypatch, {"modules/auth/router.py": """
        hook = {"find_many_auth_action": {"authentication": True},
                "find_one_auth_action": {"authentication": False}}
    """})
    app = await app_factory(package=package)
    async with client_for(app) as client:
        reader = await headers_for(client, app, "reader", roles=("User",))
        listed = await client.get("/api/auth-actions", headers=reader)
    async with client_for(app) as anonymous_client:
        anonymous_list = await anonymous_client.get("/api/auth-actions")
        anonymous_one = await anonymous_client.get("/api/auth-actions/article")
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] > 0
    assert anonymous_list.status_code == 401, anonymous_list.text
    assert anonymous_one.status_code == 200, anonymous_one.text


async def test_auth_action_policy_grants_view_to_a_role(app_factory, tmp_path, monkeypatch) -> None:
    package = make_project(tmp_path, monkeypatch, {"modules/auth_action/policy.py": """
        from arkos import ArkosPolicy

        auth_action_policy = ArkosPolicy("auth-action").rule("View", ["Editor"])
    """})
    app = await app_factory(package=package)
    async with client_for(app) as client:
        editor = await headers_for(client, app, "editor", roles=("Editor",))
        reader = await headers_for(client, app, "reader", roles=("User",))
        allowed = await client.get("/api/auth-actions", headers=editor)
        denied = await client.get("/api/auth-actions", headers=reader)
    assert allowed.status_code == 200, allowed.text
    assert by_key(allowed.json()["data"])[("auth-action", "View")]["roles"] == ["Editor"]
    assert denied.status_code == 403, denied.text


async def test_auth_actions_routes_do_not_exist_without_authentication(app_factory) -> None:
    app = await app_factory(authentication={"mode": None})
    async with client_for(app) as client:
        response = await client.get("/api/auth-actions")
    assert response.status_code == 404, response.text


# -- the command line (SQLite project in tmp_path) -----------------------------------------------------------

CLI_POLICY = """
    from arkos import ArkosPolicy

    article_policy = (
        ArkosPolicy("article").rule("View", "*").rule("Create", ["Editor"]).rule("Delete", ["Admin"])
    )
"""


@pytest.fixture
def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A project using the sample models: its own config module, package, SQLite file and environment."""
    config_module = f"arkos_config_{uuid.uuid4().hex[:10]}"
    package = make_project(tmp_path, monkeypatch, {"modules/article/policy.py": CLI_POLICY})
    root = tmp_path / "projects"
    (root / f"{config_module}.py").write_text(
        "from arkos import define_config\n\n"
        f"config = define_config(package={package!r}, models='tests.sample.models:Base',\n"
        "                       authentication={'mode': 'static', 'bcrypt_rounds': 4})\n"
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("ARKOS_CONFIG", config_module)
    monkeypatch.setenv("JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    return {"root": root, "package": package, "modules": root / package / "modules"}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args), catch_exceptions=False)


def test_export_auth_actions_writes_the_list(cli_project: dict[str, Any]) -> None:
    result = run("export", "auth-actions", "--path", "exports")
    assert result.exit_code == 0, result.output
    target = cli_project["root"] / "exports" / "auth-actions.json"
    data = json.loads(target.read_text())
    actions = by_key(data)
    assert actions[("article", "Create")]["roles"] == ["Editor"]
    assert actions[("comment", "View")]["errorMessage"] == "You cannot perform view for comment"
    assert ("auth-action", "View") in actions
    assert "Wrote" in result.output


def test_export_auth_actions_merges_unless_overwrite(cli_project: dict[str, Any]) -> None:
    target = cli_project["root"] / "auth-actions.json"
    custom = {"action": "Approve", "resource": "invoice", "name": "Approve Invoice", "description": "x",
              "errorMessage": "y", "roles": ["Manager"]}
    stale = {"action": "Create", "resource": "article", "name": "Old", "description": "Old",
             "errorMessage": "Old", "roles": []}
    target.write_text(json.dumps([custom, stale]))
    merged = run("export", "auth-actions")
    assert merged.exit_code == 0, merged.output
    actions = by_key(json.loads(target.read_text()))
    assert actions[("invoice", "Approve")] == custom  # kept
    assert actions[("article", "Create")]["roles"] == ["Editor"]  # refreshed
    assert "Updated" in merged.output
    replaced = run("export", "auth-actions", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert ("invoice", "Approve") not in by_key(json.loads(target.read_text()))


def test_generate_policy_writes_a_loadable_policy(cli_project: dict[str, Any]) -> None:
    result = run("generate", "policy", "--module", "comment")
    assert result.exit_code == 0, result.output
    target = cli_project["modules"] / "comment" / "policy.py"
    namespace: dict[str, Any] = {}
    exec(compile(target.read_text(), str(target), "exec"), namespace)  # noqa: S102 - our own generated file
    policy = namespace["comment_policy"]
    assert policy.resource == "comment"
    assert list(policy.rules) == ["Create", "View", "Update", "Delete"]
    assert policy.Create.rule.roles == ()  # super users only until someone adds roles
    assert policy.Create.display_name() == "Create Comment"
    again = run("generate", "policy", "--module", "comment")
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert run("generate", "policy", "--module", "comment", "--overwrite").exit_code == 0


def test_generate_policy_for_a_module_without_model_has_no_rules(cli_project: dict[str, Any]) -> None:
    result = run("generate", "policy", "--module", "report")
    assert result.exit_code == 0, result.output
    namespace: dict[str, Any] = {}
    exec((cli_project["modules"] / "report" / "policy.py").read_text(), namespace)  # noqa: S102
    assert dict(namespace["report_policy"].rules) == {}


def test_generate_auth_configs_writes_the_deprecated_file(cli_project: dict[str, Any]) -> None:
    result = run("generate", "auth-configs", "--module", "blog-post")
    assert result.exit_code == 0, result.output
    target = cli_project["modules"] / "blog_post" / "auth.py"
    namespace: dict[str, Any] = {}
    exec(target.read_text(), namespace)  # noqa: S102
    assert namespace["authentication_control"] == dict.fromkeys(("Create", "View", "Update", "Delete"), True)
    assert namespace["access_control"]["Update"] == {
        "roles": [], "name": "Update Blog Post",
        "description": "Permission to update existing blog post records",
    }


def _cli_users() -> None:
    assert run("db", "push").exit_code == 0
    for args in (("--username", "alice", "--role", "Editor"), ("--username", "bob", "--role", "User"),
                 ("--username", "root", "--superuser")):
        result = run("users", "create", *args, "--password", "Passw0rd-Test")
        assert result.exit_code == 0, result.output


def _explain(output: str) -> dict[str, Any]:
    """The first `{"explain": ...}` block the command printed."""
    document, _end = json.JSONDecoder().raw_decode(output[output.index("\n{") + 1:])
    return document["explain"]


def test_can_says_yes_and_why(cli_project: dict[str, Any]) -> None:
    _cli_users()
    result = run("can", "--user", "alice", "--action", "Create", "--resource", "article")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("alice may Create article")
    assert _explain(result.output) == {"resource": "article", "action": "Create", "mode": "static",
                                       "ruleRoles": ["Editor"], "userRoles": ["Editor"],
                                       "decidedBy": "role Editor is granted"}


def test_can_says_no_and_why(cli_project: dict[str, Any]) -> None:
    _cli_users()
    denied = run("can", "--user", "bob", "--action", "Delete", "--resource", "article")
    undeclared = run("can", "--user", "alice", "--action", "Archive", "--resource", "article")
    super_user = run("can", "--user", "root", "--action", "Archive", "--resource", "article")
    assert denied.exit_code == 1, denied.output
    assert denied.output.startswith("bob may NOT Delete article")
    assert _explain(denied.output)["decidedBy"] == "none of the user's roles is granted"
    assert undeclared.exit_code == 1
    assert "declared nowhere" in undeclared.output
    assert super_user.exit_code == 0
    assert _explain(super_user.output)["decidedBy"] == "super user"


def test_can_with_an_unknown_user_fails_with_a_message(cli_project: dict[str, Any]) -> None:
    _cli_users()
    result = run("can", "--user", "nobody", "--action", "View", "--resource", "article")
    assert result.exit_code == 1
    assert "No user 'nobody'" in result.output


def test_can_explains_exactly_like_the_403(cli_project: dict[str, Any]) -> None:
    import asyncio

    import arkos

    _cli_users()
    cli = run("can", "--user", "bob", "--action", "Delete", "--resource", "article")

    async def delete_as_bob() -> Any:
        app = arkos.init(env_file=None)
        try:
            async with client_for(app) as client:
                login = await client.post("/api/auth/login",
                                          json={"username": "bob", "password": "Passw0rd-Test"})
                headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
                return await client.delete("/api/articles/whatever", headers=headers)
        finally:
            await app.state.arkos.database.dispose()

    response = asyncio.run(delete_as_bob())
    assert response.status_code == 403, response.text
    assert _explain(cli.output) == response.json()["meta"]["explain"]
