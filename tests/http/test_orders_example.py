"""examples/orders: fine-grained access control (policy `can_*` checks in interceptors, a custom route).

The example has its own models, so on PostgreSQL it gets a schema of its own (the session schema from
conftest holds only the sample project's tables)."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import arkos
from arkos.users import create_user
from tests.conftest import JWT_SECRET, PASSWORD, client_for, login, pg_execute

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "orders"


def example_config() -> arkos.ArkosConfig:
    """examples/orders/arkos_config.py under a private name: imported as `arkos_config`, it would stay in
    sys.modules and become the project config of every later `arkos.init()` in this process."""
    spec = importlib.util.spec_from_file_location(f"_orders_config_{uuid.uuid4().hex[:8]}",
                                                  EXAMPLE / "arkos_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.config, arkos.ArkosConfig)
    return module.config


@pytest.fixture
async def orders_app(backend: str, database_options: dict[str, Any],
                     monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    schema = None
    database = dict(database_options)
    if backend == "postgresql":
        schema = f"orders_{uuid.uuid4().hex[:12]}"
        await pg_execute([f'CREATE SCHEMA "{schema}"'])
        database["schema_name"] = schema
    config = example_config()
    assert (config.package, config.authentication.mode) == ("orders", "static")
    app = arkos.init(config, models="orders.models:Base", database=database, env_file=None,
                     authentication={"bcrypt_rounds": 4, "jwt": {"secret": JWT_SECRET}})
    from orders.models import Base

    try:
        await app.state.arkos.database.create_all(Base.metadata)
        await app.state.arkos.database.create_all(arkos.arkos_metadata)
        yield app
    finally:
        await app.state.arkos.database.dispose()
        if schema is not None:
            await pg_execute([f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'])


@pytest.fixture
async def client(orders_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(orders_app) as c:
        yield c


@pytest.fixture
async def people(orders_app: FastAPI, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    headers = {}
    for name, role in (("sam", "Staff"), ("mia", "Manager"), ("cam", "Customer")):
        await create_user(orders_app.state.arkos, username=name, password=PASSWORD, fields={"role": role})
        headers[name] = await login(client, name)
    return headers


async def new_order(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/orders", json={"item": "Coffee beans", "quantity": 2, **fields},
                                 headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def completed_order(client: httpx.AsyncClient, people: dict[str, dict[str, str]]) -> dict[str, Any]:
    order = await new_order(client, people["sam"])
    response = await client.post(f"/api/orders/{order['id']}/complete", headers=people["mia"])
    assert response.status_code == 200, response.text
    return response.json()["data"]


def assert_forbidden(response: httpx.Response, message: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "NotEnoughPermissions"
    assert response.json()["message"] == message


async def test_staff_updates_a_pending_order(client, people) -> None:
    order = await new_order(client, people["sam"])
    assert order["status"] == "pending"
    response = await client.patch(f"/api/orders/{order['id']}", json={"quantity": 3}, headers=people["sam"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["quantity"] == 3


async def test_staff_cannot_update_a_completed_order(client, people) -> None:
    order = await completed_order(client, people)
    response = await client.patch(f"/api/orders/{order['id']}", json={"quantity": 9}, headers=people["sam"])
    assert_forbidden(response, "Only managers can change a completed order")
    check = await client.get(f"/api/orders/{order['id']}", headers=people["sam"])
    assert check.json()["data"]["quantity"] == 2  # unchanged


async def test_staff_cannot_complete_an_order(client, people) -> None:
    order = await new_order(client, people["sam"])
    by_route = await client.post(f"/api/orders/{order['id']}/complete", headers=people["sam"])
    by_patch = await client.patch(f"/api/orders/{order['id']}", json={"status": "completed"},
                                  headers=people["sam"])
    assert_forbidden(by_route, "Only managers can complete an order")
    assert_forbidden(by_patch, "Only managers can complete an order")
    check = await client.get(f"/api/orders/{order['id']}", headers=people["sam"])
    assert check.json()["data"]["status"] == "pending"


async def test_manager_completes_and_updates_completed_orders(client, people) -> None:
    first = await new_order(client, people["sam"])
    completed = await client.post(f"/api/orders/{first['id']}/complete", headers=people["mia"])
    assert completed.status_code == 200, completed.text
    assert completed.json()["data"]["status"] == "completed"
    changed = await client.patch(f"/api/orders/{first['id']}", json={"quantity": 5}, headers=people["mia"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"] == {**completed.json()["data"], "quantity": 5}
    second = await new_order(client, people["sam"])
    by_patch = await client.patch(f"/api/orders/{second['id']}", json={"status": "completed"},
                                  headers=people["mia"])
    assert by_patch.status_code == 200, by_patch.text
    assert by_patch.json()["data"]["status"] == "completed"


async def test_customer_orders_for_themselves_but_cannot_update_or_view(client, people) -> None:
    me = await client.get("/api/users/me", headers=people["cam"])
    order = await new_order(client, people["cam"], customerId=None)
    assert order["customerId"] == me.json()["data"]["id"]
    update = await client.patch(f"/api/orders/{order['id']}", json={"quantity": 1}, headers=people["cam"])
    listing = await client.get("/api/orders", headers=people["cam"])
    complete = await client.post(f"/api/orders/{order['id']}/complete", headers=people["cam"])
    assert_forbidden(update, "You cannot perform update for order")
    assert_forbidden(listing, "You cannot perform view for order")
    assert_forbidden(complete, "Only managers can complete an order")


async def test_customer_cannot_create_a_completed_order(client, people) -> None:
    response = await client.post("/api/orders", json={"item": "Tea", "status": "completed"},
                                 headers=people["cam"])
    assert_forbidden(response, "Only managers can complete an order")


async def test_bulk_update_is_disabled(client, people) -> None:
    order = await completed_order(client, people)
    response = await client.patch("/api/orders/many?status=completed", json={"quantity": 1},
                                  headers=people["sam"])
    # no bulk route: "many" is taken for an order id, which is not a number
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameter"
    check = await client.get(f"/api/orders/{order['id']}", headers=people["sam"])
    assert check.json()["data"]["quantity"] == 2


async def test_completing_an_unknown_order_is_404(client, people) -> None:
    response = await client.post("/api/orders/999/complete", headers=people["mia"])
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "NotFound"


async def test_updating_an_unknown_order_is_404(client, people) -> None:
    response = await client.patch("/api/orders/999", json={"quantity": 1}, headers=people["sam"])
    assert response.status_code == 404, response.text


async def test_policy_actions_are_listed_in_auth_actions(orders_app, client) -> None:
    await create_user(orders_app.state.arkos, username="root", password=PASSWORD, is_super_user=True)
    response = await client.get("/api/auth-actions/order", headers=await login(client, "root"))
    assert response.status_code == 200, response.text
    actions = {item["action"]: item for item in response.json()["data"]}
    assert set(actions) == {"Create", "View", "Update", "Delete", "UpdateCompleted", "Complete"}
    assert actions["UpdateCompleted"]["roles"] == ["Manager"]
    assert actions["UpdateCompleted"]["errorMessage"] == "Only managers can change a completed order"
