"""POST /api/auth/login: username fields, credential checks, uniform failures and account states."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import PASSWORD, AppFactory, client_for, make_user
from tests.http.auth_helpers import assert_error, bearer, claims, sql

ALLOWED = ["username", "email", "profile.nickname"]
INCORRECT = "Incorrect username or password"


@pytest.fixture
async def multi_app(app_factory: AppFactory) -> FastAPI:
    app = await app_factory(authentication={"login": {"allowed_usernames": ALLOWED}})
    await make_user(app, "alice", email="alice@example.com", nickname="top-level-nick")
    await make_user(app, "root", role="Admin", is_super_user=True)
    return app


@pytest.fixture
async def multi_client(multi_app: FastAPI) -> Any:
    async with client_for(multi_app) as client:
        yield client


async def me(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/api/users/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


# -- choosing the username field --------------------------------------------------------------------------


async def test_login_by_username_returns_a_working_token(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.post("/api/auth/login", json={"username": "reader", "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()["accessToken"]
    assert claims(token)["id"] == users["reader"]["user"]["id"]
    assert (await me(client, token))["username"] == "reader"


async def test_first_allowed_field_is_used_without_query(multi_client: httpx.AsyncClient) -> None:
    response = await multi_client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_username_field_query_selects_email(multi_client: httpx.AsyncClient) -> None:
    response = await multi_client.post("/api/auth/login", params={"usernameField": "email"},
                                       json={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert (await me(multi_client, response.json()["accessToken"]))["username"] == "alice"


async def test_username_field_query_with_wrong_email_is_incorrect_credentials(
    multi_client: httpx.AsyncClient,
) -> None:
    response = await multi_client.post("/api/auth/login", params={"usernameField": "email"},
                                       json={"email": "nobody@example.com", "password": PASSWORD})
    assert_error(response, 401, "IncorrectCredentials", "Incorrect email or password")


async def test_username_field_not_in_the_list_is_400(multi_client: httpx.AsyncClient) -> None:
    for field in ("nickname", "password", "isSuperUser", "id", "profile", "Email", "profile.bio", ""):
        response = await multi_client.post("/api/auth/login", params={"usernameField": field},
                                           json={field or "x": "alice", "username": "alice", "password": PASSWORD})
        assert_error(response, 400, "InvalidUsernameField", "Invalid usernameField parameter, it is not allowed!")


async def test_username_field_given_twice_is_400(multi_client: httpx.AsyncClient) -> None:
    response = await multi_client.post("/api/auth/login?usernameField=email&usernameField=username",
                                       json={"email": "alice@example.com", "username": "alice",
                                             "password": PASSWORD})
    assert_error(response, 400, "InvalidUsernameField")


async def test_nested_relation_field_profile_nickname(multi_app: FastAPI, multi_client: httpx.AsyncClient) -> None:
    root = await multi_client.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
    assert root.status_code == 200, root.text
    alice_id = (await sql(multi_app, "SELECT id FROM users WHERE username = 'alice'"))[0][0]
    created = await multi_client.post("/api/profiles", headers=bearer(root.json()["accessToken"]),
                                      json={"nickname": "ali", "userId": alice_id})
    assert created.status_code == 201, created.text

    response = await multi_client.post("/api/auth/login", params={"usernameField": "profile.nickname"},
                                       json={"nickname": "ali", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert (await me(multi_client, response.json()["accessToken"]))["username"] == "alice"

    # The user's own `nickname` column is not what profile.nickname looks at.
    wrong = await multi_client.post("/api/auth/login", params={"usernameField": "profile.nickname"},
                                    json={"nickname": "top-level-nick", "password": PASSWORD})
    assert_error(wrong, 401, "IncorrectCredentials", "Incorrect nickname or password")


async def test_nested_field_via_direct_sql_profile(multi_app: FastAPI, multi_client: httpx.AsyncClient) -> None:
    alice_id = (await sql(multi_app, "SELECT id FROM users WHERE username = 'alice'"))[0][0]
    await sql(multi_app, "INSERT INTO profiles (nickname, user_id) VALUES ('sqlnick', :uid)", uid=alice_id)
    response = await multi_client.post("/api/auth/login", params={"usernameField": "profile.nickname"},
                                       json={"nickname": "sqlnick", "password": PASSWORD})
    assert response.status_code == 200, response.text
    bad_password = await multi_client.post("/api/auth/login", params={"usernameField": "profile.nickname"},
                                           json={"nickname": "sqlnick", "password": "Wrong-Passw0rd"})
    assert_error(bad_password, 401, "IncorrectCredentials", "Incorrect nickname or password")


async def test_the_string_null_never_matches_a_missing_value(multi_app: FastAPI,
                                                              multi_client: httpx.AsyncClient) -> None:
    """`root` has no email: the identifier "null" must be compared as text, never become `IS NULL`."""
    response = await multi_client.post("/api/auth/login", params={"usernameField": "email"},
                                       json={"email": "null", "password": PASSWORD})
    assert_error(response, 401, "IncorrectCredentials", "Incorrect email or password")


async def test_identifiers_are_matched_literally(multi_client: httpx.AsyncClient) -> None:
    for value in ("%", "_", "alice%", "a*", "alice,root", "Alice", " alice", "alice "):
        response = await multi_client.post("/api/auth/login", json={"username": value, "password": PASSWORD})
        assert_error(response, 401, "IncorrectCredentials", INCORRECT)


async def test_identifiers_no_column_can_hold_match_nobody(multi_client: httpx.AsyncClient) -> None:
    """A NUL byte or an over-long value is not a 500 (PostgreSQL refuses NUL in text): it matches nobody."""
    for value in ("ali\x00ce", "a" * 1000):
        response = await multi_client.post("/api/auth/login", json={"username": value, "password": PASSWORD})
        assert_error(response, 401, "IncorrectCredentials", INCORRECT)


# -- missing and malformed credentials --------------------------------------------------------------------


async def test_missing_fields_are_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "reader")
    for body in ({}, {"username": "reader"}, {"password": PASSWORD}, {"username": "", "password": PASSWORD},
                 {"username": "reader", "password": ""}, {"username": None, "password": PASSWORD},
                 {"email": "reader@example.com", "password": PASSWORD}):
        response = await client.post("/api/auth/login", json=body)
        assert_error(response, 400, "MissingCredentialFields", "Please provide both username and password")


async def test_missing_fields_message_names_the_chosen_field(multi_client: httpx.AsyncClient) -> None:
    response = await multi_client.post("/api/auth/login", params={"usernameField": "profile.nickname"},
                                       json={"password": PASSWORD})
    assert_error(response, 400, "MissingCredentialFields", "Please provide both nickname and password")


NON_STRINGS: tuple[Any, ...] = (123, 0.5, True, {"$ne": 1}, {"startsWith": "a"}, {"not": "x"}, {"equals": "reader"},
                               ["reader"], ["reader", "admin"])


async def test_non_string_username_is_400_never_500(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "reader")
    for username in NON_STRINGS:
        response = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 400, (username, response.text)
        assert response.json()["status"] == "fail"
        assert "accessToken" not in response.json()


async def test_non_string_password_is_the_same_400_for_known_and_unknown_users(app: FastAPI,
                                                                                 client: httpx.AsyncClient) -> None:
    await make_user(app, "reader")
    for password in (12345678, True, 1.5, {"$ne": 1}, {"startsWith": "P"}, [PASSWORD]):
        known = await client.post("/api/auth/login", json={"username": "reader", "password": password})
        unknown = await client.post("/api/auth/login", json={"username": "ghost", "password": password})
        assert known.status_code == 400, (password, known.text)
        assert unknown.status_code == 400, (password, unknown.text)
        assert unknown.json() == known.json()


async def test_a_body_that_is_not_a_json_object_is_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "reader")
    for body in ('["reader", "x"]', '"reader"', "42", "null", "{not json", ""):
        response = await client.post("/api/auth/login", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (body, response.text)


async def test_password_over_72_bytes_is_400(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "reader")
    for password in ("A1" + "a" * 71, "é" * 37, "P" * 200):
        assert len(password.encode()) > 72
        for username in ("reader", "ghost"):
            response = await client.post("/api/auth/login", json={"username": username, "password": password})
            assert_error(response, 400, "PasswordTooLong")


async def test_a_72_byte_prefix_of_the_password_is_not_enough(app: FastAPI, client: httpx.AsyncClient) -> None:
    """bcrypt would silently truncate: the 72-byte prefix of a longer password must not log in."""
    await make_user(app, "longpass", password="Aa1" + "x" * 69)  # exactly 72 bytes, accepted
    ok = await client.post("/api/auth/login", json={"username": "longpass", "password": "Aa1" + "x" * 69})
    longer = await client.post("/api/auth/login", json={"username": "longpass", "password": "Aa1" + "x" * 70})
    assert ok.status_code == 200, ok.text
    assert_error(longer, 400, "PasswordTooLong")


# -- uniform failures ------------------------------------------------------------------------------------


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    wrong = await client.post("/api/auth/login", json={"username": "reader", "password": "Wrong-Passw0rd"})
    unknown = await client.post("/api/auth/login", json={"username": "ghost", "password": "Wrong-Passw0rd"})
    assert_error(wrong, 401, "IncorrectCredentials", INCORRECT)
    assert_error(unknown, 401, "IncorrectCredentials", INCORRECT)
    assert wrong.json() == unknown.json()
    assert wrong.headers.get_list("set-cookie") == unknown.headers.get_list("set-cookie") == []


async def test_password_hash_itself_is_not_a_password(app: FastAPI, client: httpx.AsyncClient,
                                                     users: dict[str, Any]) -> None:
    stored = (await sql(app, "SELECT password FROM users WHERE username = 'reader'"))[0][0]
    response = await client.post("/api/auth/login", json={"username": "reader", "password": stored})
    assert_error(response, 401, "IncorrectCredentials", INCORRECT)


# -- side effects and account states ----------------------------------------------------------------------


async def test_last_login_at_is_written_on_every_success(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "alice")
    assert (await sql(app, "SELECT last_login_at FROM users WHERE username = 'alice'"))[0][0] is None
    first = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert first.status_code == 200, first.text
    first_seen = (await me(client, first.json()["accessToken"]))["lastLoginAt"]
    assert first_seen is not None
    second = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert second.status_code == 200, second.text
    second_seen = (await me(client, second.json()["accessToken"]))["lastLoginAt"]
    assert second_seen is not None and second_seen >= first_seen


async def test_failed_login_does_not_write_last_login_at(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "alice")
    response = await client.post("/api/auth/login", json={"username": "alice", "password": "Wrong-Passw0rd"})
    assert_error(response, 401, "IncorrectCredentials")
    assert (await sql(app, "SELECT last_login_at FROM users WHERE username = 'alice'"))[0][0] is None


async def test_inactive_user_with_the_right_password_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "sleepy", is_active=False)
    response = await client.post("/api/auth/login", json={"username": "sleepy", "password": PASSWORD})
    assert response.status_code == 401, response.text
    assert "accessToken" not in response.json()
    assert response.headers.get_list("set-cookie") == []
    assert (await sql(app, "SELECT last_login_at FROM users WHERE username = 'sleepy'"))[0][0] is None


async def test_inactive_user_with_a_wrong_password_looks_like_any_failure(app: FastAPI,
                                                                           client: httpx.AsyncClient) -> None:
    await make_user(app, "sleepy", is_active=False)
    response = await client.post("/api/auth/login", json={"username": "sleepy", "password": "Wrong-Passw0rd"})
    assert_error(response, 401, "IncorrectCredentials", INCORRECT)


async def test_self_deleted_user_cannot_log_in(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "gone")
    await sql(app, "UPDATE users SET deleted_self_account_at = CURRENT_TIMESTAMP WHERE username = 'gone'")
    response = await client.post("/api/auth/login", json={"username": "gone", "password": PASSWORD})
    assert_error(response, 401, "IncorrectCredentials", INCORRECT)
