"""A first end-to-end pass: sign up, log in, list, deny."""

import httpx

from tests.conftest import login, make_user


async def test_signup_login_and_default_deny(app, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/signup", json={"username": "alice", "password": "Passw0rd-1"})
    assert response.status_code == 201, response.text
    assert "password" not in response.json()["data"]
    headers = await login(client, "alice", "Passw0rd-1")
    response = await client.get("/api/users", headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "NotEnoughPermissions"


async def test_super_user_lists_users_without_password(app, client: httpx.AsyncClient) -> None:
    await make_user(app, "root", is_super_user=True)
    headers = await login(client, "root")
    response = await client.get("/api/users", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1
    assert "password" not in body["data"][0]
    assert "apiSecret" not in body["data"][0]
