"""Signup and /api/users/me: hashing, mass assignment refused, profile edits, self-deletion, admin edits."""

from __future__ import annotations

from typing import Any

import bcrypt
import httpx
from fastapi import FastAPI

from tests.conftest import PASSWORD, make_user
from tests.http.auth_helpers import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    login_token,
    set_cookies,
    sql,
    stored_password,
    user_count,
)

ME = "/api/users/me"
SIGNUP = "/api/auth/signup"
WHEN = "2020-01-01T00:00:00Z"
# Every privileged field of the seed's User model, in camelCase and snake_case, with a tempting value.
PRIVILEGED: dict[str, Any] = {
    "isSuperUser": True, "is_super_user": True,
    "isStaff": True, "is_staff": True,
    "isActive": False, "is_active": False,
    "role": "Admin",
    "passwordChangedAt": WHEN, "password_changed_at": WHEN,
    "lastLoginAt": WHEN, "last_login_at": WHEN,
    "deletedSelfAccountAt": WHEN, "deleted_self_account_at": WHEN,
    "id": "11111111-2222-3333-4444-555555555555",
}


async def signup(client: httpx.AsyncClient, username: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    return await client.post(SIGNUP, json={"username": username, "password": password, **extra})


async def user_row(app: FastAPI, username: str) -> dict[str, Any]:
    rows = await sql(app, "SELECT id, role, is_super_user, is_staff, is_active, password_changed_at, "
                          "last_login_at, deleted_self_account_at, email FROM users WHERE username = :u", u=username)
    assert rows, f"no user {username}"
    keys = ("id", "role", "is_super_user", "is_staff", "is_active", "password_changed_at", "last_login_at",
            "deleted_self_account_at", "email")
    return dict(zip(keys, rows[0]))


# -- signup ----------------------------------------------------------------------------------------------


async def test_signup_returns_201_with_the_user_and_no_password(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await signup(client, "alice", email="alice@example.com")
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["data"]
    data = body["data"]
    assert data["username"] == "alice"
    assert data["email"] == "alice@example.com"
    assert data["isSuperUser"] is False and data["isStaff"] is False and data["isActive"] is True
    assert data["role"] == "User"
    assert "password" not in data and "apiSecret" not in data
    assert "accessToken" not in body
    assert set_cookies(response) == []
    assert await user_count(app, "alice") == 1


async def test_signed_up_user_can_log_in(client: httpx.AsyncClient) -> None:
    assert (await signup(client, "alice")).status_code == 201
    token = await login_token(client, "alice")
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] == "alice"


async def test_password_is_stored_as_a_bcrypt_hash(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await signup(client, "alice")).status_code == 201
    stored = await stored_password(app, "alice")
    assert stored is not None and stored != PASSWORD
    assert stored.startswith(("$2a$", "$2b$", "$2y$"))
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


async def test_a_client_supplied_bcrypt_hash_is_hashed_again(app: FastAPI, client: httpx.AsyncClient) -> None:
    original = "Hidden-Passw0rd"
    looks_hashed = bcrypt.hashpw(original.encode(), bcrypt.gensalt(4)).decode()
    while not (any(c.isupper() for c in looks_hashed) and any(c.islower() for c in looks_hashed)
               and any(c.isdigit() for c in looks_hashed)):  # the strength rule must not be what refuses it
        looks_hashed = bcrypt.hashpw(original.encode(), bcrypt.gensalt(4)).decode()
    response = await signup(client, "hashy", looks_hashed)
    assert response.status_code == 201, response.text
    stored = await stored_password(app, "hashy")
    assert stored is not None and stored != looks_hashed
    assert bcrypt.checkpw(looks_hashed.encode(), stored.encode())
    # The hash works as a password (it is one); the password it hashes does not.
    assert (await client.post("/api/auth/login", json={"username": "hashy", "password": looks_hashed})
            ).status_code == 200
    refused = await client.post("/api/auth/login", json={"username": "hashy", "password": original})
    assert_error(refused, 401, "IncorrectCredentials")


async def test_duplicate_username_is_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await signup(client, "alice")).status_code == 201
    response = await signup(client, "alice", "Other-Passw0rd")
    assert_error(response, 409, "DuplicateRecords")
    assert "$2" not in response.text
    assert await user_count(app, "alice") == 1


async def test_weak_passwords_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    for weak in ("abc", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "Sh0rt"):
        response = await signup(client, "weakling", weak)
        assert_error(response, 400, "PasswordDoesNotMeetRequirements")
    assert await user_count(app, "weakling") == 0


async def test_signup_password_over_72_bytes_is_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await signup(client, "longpw", "Aa1" + "x" * 70)
    assert_error(response, 400, "PasswordTooLong")
    assert await user_count(app, "longpw") == 0


async def test_signup_with_missing_or_non_string_password_is_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    for body in ({"username": "nopw"}, {"username": "nopw", "password": ""}, {"username": "nopw", "password": 12345},
                 {"username": "nopw", "password": {"$ne": 1}}, {"password": PASSWORD}):
        response = await client.post(SIGNUP, json=body)
        assert response.status_code == 400, (body, response.text)
    assert await user_count(app, "nopw") == 0


async def test_signup_refuses_each_privileged_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    for field, value in PRIVILEGED.items():
        response = await signup(client, "sneaky", **{field: value})
        body = assert_error(response, 400, "ForbiddenField")
        assert field in body["message"], body
        assert body["meta"].get("field") == field, body
        assert await user_count(app, "sneaky") == 0, field


async def test_signup_refuses_privileged_fields_mixed_with_valid_ones(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await signup(client, "sneaky", email="s@example.com", nickname="s", isSuperUser=True, role="Admin")
    assert_error(response, 400, "ForbiddenField")
    assert await user_count(app, "sneaky") == 0


async def test_signup_refuses_unknown_fields_and_relations(app: FastAPI, client: httpx.AsyncClient) -> None:
    for field, value in (("shoeSize", 42), ("profile", {"nickname": "x"}), ("articles", [{"title": "x"}]),
                         ("apiSecret", "mine")):
        response = await signup(client, "sneaky", **{field: value})
        assert response.status_code == 400, (field, response.text)
        assert field in response.json()["message"]
    assert await user_count(app, "sneaky") == 0


# -- GET / PATCH /api/users/me ---------------------------------------------------------------------------


async def test_get_me(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.get(ME, headers=users["editor"]["headers"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == users["editor"]["user"]["id"]
    assert data["username"] == "editor" and data["role"] == "Editor"
    assert "password" not in data


async def test_patch_me_updates_own_fields(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.patch(ME, headers=users["reader"]["headers"],
                                  json={"email": "new-reader@example.com", "nickname": "Rea"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["email"] == "new-reader@example.com" and data["nickname"] == "Rea"
    assert "password" not in data
    assert (await user_row(app, "reader"))["email"] == "new-reader@example.com"
    again = await client.get(ME, headers=users["reader"]["headers"])
    assert again.json()["data"]["email"] == "new-reader@example.com"


async def test_patch_me_with_a_password_is_refused(app: FastAPI, client: httpx.AsyncClient,
                                                   users: dict[str, Any]) -> None:
    before = await stored_password(app, "reader")
    for body in ({"password": STRONG_PASSWORD}, {"email": "x@example.com", "password": STRONG_PASSWORD}):
        response = await client.patch(ME, headers=users["reader"]["headers"], json=body)
        assert_error(response, 400, "InvalidFieldPassword",
                     "In order to update password use the update-password endpoint.")
    assert await stored_password(app, "reader") == before
    assert (await user_row(app, "reader"))["email"] == "reader@example.com"


async def test_patch_me_refuses_each_privileged_field(app: FastAPI, client: httpx.AsyncClient,
                                                      users: dict[str, Any]) -> None:
    before = await user_row(app, "reader")
    for field, value in PRIVILEGED.items():
        for body in ({field: value}, {"email": "changed@example.com", field: value}):
            response = await client.patch(ME, headers=users["reader"]["headers"], json=body)
            error = assert_error(response, 400, "ForbiddenField")
            assert field in error["message"], error
            assert error["meta"].get("field") == field, error
    assert await user_row(app, "reader") == before
    me = await client.get(ME, headers=users["reader"]["headers"])
    assert me.status_code == 200, me.text
    assert me.json()["data"]["isSuperUser"] is False and me.json()["data"]["role"] == "User"


async def test_patch_me_with_an_empty_body_is_400(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.patch(ME, headers=users["reader"]["headers"], json={})
    assert response.status_code == 400, response.text


async def test_patch_me_to_a_taken_username_is_409(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.patch(ME, headers=users["reader"]["headers"], json={"username": "admin"})
    assert_error(response, 409, "DuplicateRecords")


# -- DELETE /api/users/me --------------------------------------------------------------------------------


async def test_delete_me_soft_deletes_and_answers_200(app: FastAPI, client: httpx.AsyncClient,
                                                      users: dict[str, Any]) -> None:
    response = await client.delete(ME, headers=users["reader"]["headers"])
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Account deleted successfully"}
    row = await user_row(app, "reader")
    assert row["deleted_self_account_at"] is not None
    after = await client.get(ME, headers=users["reader"]["headers"])
    assert after.status_code == 401, after.text
    assert after.json()["code"] in {"InvalidAuthToken", "UserNoLongerExists"}
    assert_error(await client.post("/api/auth/login", json={"username": "reader", "password": PASSWORD}),
                 401, "IncorrectCredentials")


async def test_delete_me_does_not_touch_other_users(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    assert (await client.delete(ME, headers=users["reader"]["headers"])).status_code == 200
    response = await client.get(ME, headers=users["editor"]["headers"])
    assert response.status_code == 200, response.text


# -- an admin editing users through /api/users/{id} ------------------------------------------------------


async def test_admin_setting_a_password_kills_that_users_older_tokens(app: FastAPI, client: httpx.AsyncClient,
                                                                       users: dict[str, Any]) -> None:
    reader_id = users["reader"]["user"]["id"]
    assert (await user_row(app, "reader"))["password_changed_at"] is None
    response = await client.patch(f"/api/users/{reader_id}", headers=users["admin"]["headers"],
                                  json={"password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    assert "password" not in response.json()["data"]
    assert response.json()["data"]["passwordChangedAt"] is not None
    assert (await user_row(app, "reader"))["password_changed_at"] is not None
    stored = await stored_password(app, "reader")
    assert stored is not None and bcrypt.checkpw(STRONG_PASSWORD.encode(), stored.encode())

    assert_error(await client.get(ME, headers=users["reader"]["headers"]), 401, "PasswordChanged")
    assert (await client.get(ME, headers=users["admin"]["headers"])).status_code == 200
    assert_error(await client.post("/api/auth/login", json={"username": "reader", "password": PASSWORD}),
                 401, "IncorrectCredentials")
    fresh = await login_token(client, "reader", STRONG_PASSWORD)
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200


async def test_admin_may_set_a_role(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    reader_id = users["reader"]["user"]["id"]
    response = await client.patch(f"/api/users/{reader_id}", headers=users["admin"]["headers"],
                                  json={"role": "Editor"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["role"] == "Editor"
    me = await client.get(ME, headers=users["reader"]["headers"])
    assert me.json()["data"]["role"] == "Editor"


async def test_admin_creating_a_user_hashes_the_password(app: FastAPI, client: httpx.AsyncClient,
                                                         users: dict[str, Any]) -> None:
    response = await client.post("/api/users", headers=users["admin"]["headers"],
                                 json={"username": "made", "password": STRONG_PASSWORD, "role": "Editor"})
    assert response.status_code == 201, response.text
    assert "password" not in response.json()["data"]
    stored = await stored_password(app, "made")
    assert stored is not None and stored != STRONG_PASSWORD
    assert bcrypt.checkpw(STRONG_PASSWORD.encode(), stored.encode())
    assert (await client.get(ME, headers=bearer(await login_token(client, "made", STRONG_PASSWORD)))
            ).json()["data"]["role"] == "Editor"


async def test_non_super_users_cannot_edit_other_users(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    admin_id = users["admin"]["user"]["id"]
    for name in ("editor", "reader"):
        response = await client.patch(f"/api/users/{admin_id}", headers=users[name]["headers"],
                                      json={"password": STRONG_PASSWORD})
        assert_error(response, 403, "NotEnoughPermissions")
    assert (await client.get(ME, headers=users["admin"]["headers"])).status_code == 200


async def test_make_user_helper_and_signup_agree(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "seeded")
    assert (await signup(client, "seeded")).status_code == 409
