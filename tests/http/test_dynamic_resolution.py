"""Dynamic mode over HTTP: who may do what is read from the permission tables (reference §3.4, issue item 2).

A UserPermission row wins (Deny beats any role, Allow grants without one); otherwise any of the user's
roles granting (resource, action); no row → 403; super users bypass; "*" in code still allows any user.
"""

from __future__ import annotations

from typing import Any

import pytest

from arkos.auth.permission_models import Effect
from tests.conftest import login
from tests.http.auth_helpers import assert_error
from tests.http.dynamic_helpers import (
    add_user,
    assign,
    client_for,
    dyn_app_factory,
    dyn_database,
    dyn_pg_schema,
    grant,
    running,
    user_permission,
)

__all__ = ["dyn_app_factory", "dyn_database", "dyn_pg_schema"]  # fixtures used by this module

# username → (roles, user permissions on note) ; expected GET /api/notes and POST /api/notes
CASES: dict[str, dict[str, Any]] = {
    "nobody": {"roles": [], "overrides": [], "view": 403, "create": 403},
    "reader": {"roles": ["Reader"], "overrides": [], "view": 200, "create": 403},
    "denied": {"roles": ["Reader"], "overrides": [("View", Effect.Deny)], "view": 403, "create": 403},
    "allowed": {"roles": [], "overrides": [("View", Effect.Allow)], "view": 200, "create": 403},
    "both": {"roles": ["Reader", "Writer"], "overrides": [], "view": 200, "create": 201},
    "writer": {"roles": ["Writer"], "overrides": [], "view": 403, "create": 201},
    "deny_one_of_two": {"roles": ["Reader", "Writer"], "overrides": [("Create", Effect.Deny)], "view": 200,
                        "create": 403},
    "allow_over_nothing": {"roles": ["Empty"], "overrides": [("Create", Effect.Allow)], "view": 403,
                           "create": 201},
}


async def test_resolution_table(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await grant(app, "Reader", "note", "View")
    await grant(app, "Writer", "note", "Create")
    async with running(app), client_for(app) as client:
        await add_user(app, "root", super_user=True)
        for name, case in CASES.items():
            # A static role in the user's column is ignored in dynamic mode (the rules name Reader/Editor).
            await add_user(app, name, role="Editor")
            for role in case["roles"]:  # created when missing ("Empty" grants nothing)
                await assign(app, name, role)
            for action, effect in case["overrides"]:
                await user_permission(app, name, "note", action, effect)
        outcome: dict[str, tuple[int, int]] = {}
        for name in [*CASES, "root"]:
            headers = await login(client, name)
            view = (await client.get("/api/notes", headers=headers)).status_code
            create = (await client.post("/api/notes", headers=headers, json={"text": name})).status_code
            outcome[name] = (view, create)
        expected = {name: (case["view"], case["create"]) for name, case in CASES.items()}
        expected["root"] = (200, 201)
        assert outcome == expected


async def test_denial_body_and_case_sensitivity(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await add_user(app, "carol")
    await grant(app, "Lower", "note", "view")  # wrong case: no wildcard, no case folding
    await grant(app, "Lower", "Note", "View")
    await assign(app, "carol", "Lower")
    async with running(app), client_for(app) as client:
        headers = await login(client, "carol")
        response = await client.get("/api/notes", headers=headers)
        assert_error(response, 403, "NotEnoughPermissions", "You cannot perform view for note")
        client.cookies.clear()  # the login cookie would authenticate the next request
        assert (await client.get("/api/notes")).status_code == 401


async def test_a_star_rule_still_allows_any_logged_in_user(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await add_user(app, "dave")
    async with running(app), client_for(app) as client:
        assert (await client.get("/api/notes/export")).status_code == 401
        headers = await login(client, "dave")
        response = await client.get("/api/notes/export", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"exportedFor": "dave"}}


async def test_can_checks_read_the_database(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await add_user(app, "erin", role="Admin")  # the static role column means nothing here
    await add_user(app, "root", super_user=True)
    await grant(app, "Writer", "note", "Create")
    await assign(app, "erin", "Writer")
    await user_permission(app, "erin", "note", "View", Effect.Allow)
    async with running(app), client_for(app) as client:
        erin = (await client.get("/api/notes/abilities", headers=await login(client, "erin"))).json()["data"]
        assert erin == {"canCreate": True, "canView": True, "canDelete": False, "canExport": True}
        root = (await client.get("/api/notes/abilities", headers=await login(client, "root"))).json()["data"]
        assert root == {"canCreate": True, "canView": True, "canDelete": True, "canExport": True}


async def test_auth_actions_need_a_grant_and_list_no_roles(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await add_user(app, "fay")
    async with running(app), client_for(app) as client:
        headers = await login(client, "fay")
        assert_error(await client.get("/api/auth-actions", headers=headers), 403, "NotEnoughPermissions")
        await grant(app, "Auditor", "auth-action", "View")
        await assign(app, "fay", "Auditor")
        response = await client.get("/api/auth-actions", headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert all("roles" not in item for item in data)
        pairs = {(item["resource"], item["action"]) for item in data}
        assert {("note", "View"), ("note", "Export"), ("user-role", "Create"), ("auth-action", "View")} <= pairs
        one = (await client.get("/api/auth-actions/note", headers=headers)).json()["data"]
        assert {item["action"] for item in one} == {"Create", "View", "Update", "Delete", "Export"}


async def test_generated_management_routes_are_super_user_only_by_default(dyn_app_factory: Any) -> None:
    app = await dyn_app_factory()
    await add_user(app, "gus")
    await add_user(app, "root", super_user=True)
    async with running(app), client_for(app) as client:
        gus = await login(client, "gus")
        root = await login(client, "root")
        for path in ("/api/auth-roles", "/api/auth-permissions", "/api/auth-role-permissions", "/api/user-roles",
                     "/api/user-permissions"):
            assert (await client.get(path, headers=gus)).status_code == 403, path
            assert (await client.get(path, headers=root)).status_code == 200, path
            assert (await client.post(path, headers=gus, json={})).status_code == 403, path


@pytest.mark.parametrize("path", ["/api/user-roles/many", "/api/user-permissions/many",
                                  "/api/auth-role-permissions/many"])
async def test_bulk_grant_routes_are_not_mounted(dyn_app_factory: Any, path: str) -> None:
    app = await dyn_app_factory()
    await add_user(app, "root", super_user=True)
    async with client_for(app) as client:
        root = await login(client, "root")
        created = await client.post(path, headers=root, json=[{}])
        updated = await client.patch(path, headers=root, params={"id": "x"}, json={})
        # No route: the POST falls through to nothing (404/405), the PATCH hits /{id} with id "many".
        assert created.status_code in (404, 405), created.text
        assert updated.status_code in (400, 404, 405), updated.text
        assert not any(p == path and m in ("POST", "PATCH") for p, m, _r in app.state.arkos.routes)
