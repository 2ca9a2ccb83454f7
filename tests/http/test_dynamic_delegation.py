"""Delegation and the escalation rule (DECISIONS 13): granting roles and permissions is super-user only
unless the database delegates it, and a delegate can never hand out a role or permission it does not hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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
    ids,
    running,
    user_permission,
)

__all__ = ["dyn_app_factory", "dyn_database", "dyn_pg_schema"]

# What the Manager role may manage (the delegation), plus one ordinary permission it holds.
MANAGER_GRANTS = [
    ("user-role", "Create"), ("user-role", "Update"), ("user-role", "Delete"),
    ("auth-role-permission", "Create"),
    ("user-permission", "Create"), ("user-permission", "Update"), ("user-permission", "Delete"),
    ("auth-permission", "Update"),
    ("note", "View"),
]


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    dana: dict[str, str]  # the delegate's headers
    root: dict[str, str]
    tom: dict[str, Any]  # the target user
    dana_user: dict[str, Any]
    role: dict[str, Any]  # role name → id
    permission: dict[tuple[str, str], Any]  # (resource, action) → id


@pytest.fixture
async def world(dyn_app_factory: Any) -> AsyncIterator[World]:
    app = await dyn_app_factory()
    for resource, action in MANAGER_GRANTS:
        await grant(app, "Manager", resource, action)
    await grant(app, "Admin", "note", "Delete")
    await grant(app, "Helper", "note", "Create")
    dana = await add_user(app, "dana")
    await add_user(app, "root", super_user=True)
    tom = await add_user(app, "tom")
    await assign(app, "dana", "Manager")
    roles = {name: (await ids(app, "AuthRole", "name", name))[0] for name in ("Manager", "Admin", "Helper")}
    permissions = {}
    for resource, action in [("note", "View"), ("note", "Delete"), ("note", "Create")]:
        [permissions[(resource, action)]] = [
            i for i in await ids(app, "AuthPermission", "resource", resource)
            if i in await ids(app, "AuthPermission", "action", action)]
    async with running(app), client_for(app) as client:
        yield World(app, client, await login(client, "dana"), await login(client, "root"), tom, dana, roles,
                    permissions)


async def test_a_delegate_cannot_grant_a_role_it_does_not_hold(world: World) -> None:
    response = await world.client.post("/api/user-roles", headers=world.dana,
                                       json={"userId": world.tom["id"], "roleId": world.role["Admin"]})
    assert_error(response, 403, "NotEnoughPermissions", "You cannot grant a role you do not hold")
    assert await ids(world.app, "UserRole", "user_id", world.tom["id"]) == []
    # ... nor to itself
    own = await world.client.post("/api/user-roles", headers=world.dana,
                                  json={"userId": world.dana_user["id"], "roleId": world.role["Admin"]})
    assert own.status_code == 403, own.text


async def test_a_delegate_can_grant_a_role_it_holds_and_it_applies_at_once(world: World) -> None:
    tom_headers = await login(world.client, "tom")
    assert (await world.client.get("/api/notes", headers=tom_headers)).status_code == 403  # now cached
    response = await world.client.post("/api/user-roles", headers=world.dana,
                                       json={"userId": world.tom["id"], "roleId": world.role["Manager"]})
    assert response.status_code == 201, response.text
    assert (await world.client.get("/api/notes", headers=tom_headers)).status_code == 200


async def test_a_delegate_cannot_move_a_user_role_to_a_role_it_lacks(world: World) -> None:
    created = await world.client.post("/api/user-roles", headers=world.dana,
                                      json={"userId": world.tom["id"], "roleId": world.role["Manager"]})
    row_id = created.json()["data"]["id"]
    response = await world.client.patch(f"/api/user-roles/{row_id}", headers=world.dana,
                                        json={"roleId": world.role["Admin"]})
    assert_error(response, 403, "NotEnoughPermissions")
    # The super user may.
    assert (await world.client.patch(f"/api/user-roles/{row_id}", headers=world.root,
                                     json={"roleId": world.role["Admin"]})).status_code == 200


async def test_a_delegate_cannot_add_a_permission_it_lacks_to_a_role(world: World) -> None:
    lacking = await world.client.post("/api/auth-role-permissions", headers=world.dana, json={
        "roleId": world.role["Manager"], "permissionId": world.permission[("note", "Delete")]})
    assert_error(lacking, 403, "NotEnoughPermissions", "You cannot grant a permission you do not hold")
    held = await world.client.post("/api/auth-role-permissions", headers=world.dana, json={
        "roleId": world.role["Helper"], "permissionId": world.permission[("note", "View")]})
    assert held.status_code == 201, held.text


async def test_a_delegate_cannot_allow_a_permission_it_lacks(world: World) -> None:
    user_id = world.tom["id"]
    lacking = await world.client.post("/api/user-permissions", headers=world.dana, json={
        "userId": user_id, "permissionId": world.permission[("note", "Delete")], "effect": "Allow"})
    assert_error(lacking, 403, "NotEnoughPermissions", "You cannot grant a permission you do not hold")
    default_effect = await world.client.post("/api/user-permissions", headers=world.dana, json={
        "userId": user_id, "permissionId": world.permission[("note", "Delete")]})  # Allow by default
    assert default_effect.status_code == 403, default_effect.text
    held = await world.client.post("/api/user-permissions", headers=world.dana, json={
        "userId": user_id, "permissionId": world.permission[("note", "View")], "effect": "Allow"})
    assert held.status_code == 201, held.text
    # Restricting is always possible: a Deny on what the delegate lacks.
    deny = await world.client.post("/api/user-permissions", headers=world.dana, json={
        "userId": user_id, "permissionId": world.permission[("note", "Create")], "effect": "Deny"})
    assert deny.status_code == 201, deny.text
    # ... but turning that Deny into an Allow is granting.
    flipped = await world.client.patch(f"/api/user-permissions/{deny.json()['data']['id']}", headers=world.dana,
                                       json={"effect": "Allow"})
    assert flipped.status_code == 403, flipped.text


async def test_a_delegate_under_a_deny_does_not_hold_the_permission(world: World) -> None:
    await user_permission(world.app, "dana", "note", "View", Effect.Deny)
    response = await world.client.post("/api/user-permissions", headers=world.dana, json={
        "userId": world.tom["id"], "permissionId": world.permission[("note", "View")], "effect": "Allow"})
    assert response.status_code == 403, response.text


async def test_a_delegate_cannot_lift_a_deny_on_what_it_lacks(world: World) -> None:
    await user_permission(world.app, "tom", "note", "Delete", Effect.Deny)
    await user_permission(world.app, "tom", "note", "View", Effect.Deny)
    rows = {}
    for row_id in await ids(world.app, "UserPermission", "user_id", world.tom["id"]):
        found = (await world.client.get(f"/api/user-permissions/{row_id}", headers=world.root)).json()["data"]
        rows[found["permissionId"]] = row_id
    lacking = rows[world.permission[("note", "Delete")]]
    response = await world.client.delete(f"/api/user-permissions/{lacking}", headers=world.dana)
    assert_error(response, 403, "NotEnoughPermissions", "You cannot lift a Deny on a permission you do not hold")
    moved = await world.client.patch(f"/api/user-permissions/{lacking}", headers=world.dana,
                                     json={"permissionId": world.permission[("note", "View")]})
    assert moved.status_code == 403, moved.text
    bulk = await world.client.delete("/api/user-permissions/many", headers=world.dana,
                                     params={"userId": world.tom["id"]})
    assert bulk.status_code == 403, bulk.text
    assert len(await ids(world.app, "UserPermission", "user_id", world.tom["id"])) == 2
    # A Deny on something the delegate holds may be lifted.
    held = rows[world.permission[("note", "View")]]
    assert (await world.client.delete(f"/api/user-permissions/{held}", headers=world.dana)).status_code == 204


async def test_a_delegate_cannot_repoint_a_permission_it_holds(world: World) -> None:
    permission_id = world.permission[("note", "View")]
    response = await world.client.patch(f"/api/auth-permissions/{permission_id}", headers=world.dana,
                                        json={"action": "Purge"})
    assert_error(response, 403, "NotEnoughPermissions")
    bulk = await world.client.patch("/api/auth-permissions/many", headers=world.dana,
                                    params={"resource": "note"}, json={"resource": "user"})
    assert bulk.status_code == 403, bulk.text


async def test_revoking_is_not_restricted(world: World) -> None:
    await assign(world.app, "tom", "Admin")
    [row_id] = await ids(world.app, "UserRole", "user_id", world.tom["id"])
    response = await world.client.delete(f"/api/user-roles/{row_id}", headers=world.dana)
    assert response.status_code == 204, response.text


async def test_a_super_user_grants_anything(world: World) -> None:
    response = await world.client.post("/api/user-roles", headers=world.root,
                                       json={"userId": world.tom["id"], "roleId": world.role["Admin"]})
    assert response.status_code == 201, response.text
    tom = await login(world.client, "tom")
    assert (await world.client.delete("/api/notes/1", headers=tom)).status_code == 404  # allowed, no such note
