"""The authenticate step (401s): token extraction, token validity and account states on every request."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from arkos.auth.tokens import TokenService
from arkos.config import JwtConfig
from tests.conftest import JWT_SECRET, PASSWORD, AppFactory, client_for, make_user
from tests.http.auth_helpers import COOKIE, STRONG_PASSWORD, assert_error, bearer, claims, login_token, sql

ME = "/api/users/me"
LOGIN_REQUIRED = "You are not logged in! please log in to get access"
INVALID_TOKEN = "Your auth token is invalid, please login again."
NO_LONGER_EXISTS = "The user belonging to this token no longer exists"
PASSWORD_CHANGED = "User recently changed password! Please log in again."


def token_for(user_id: str, *, now: float | None = None, **jwt_options: Any) -> str:
    """A token the app itself would issue (same secret), at a chosen time."""
    return TokenService(JwtConfig(secret=JWT_SECRET, **jwt_options)).issue(user_id, now=now)[0]


def as_timestamp(value: Any) -> float:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return float((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())


# -- no token ---------------------------------------------------------------------------------------------
# The `users` fixture logs in through `client`, whose cookie jar then holds the last token: tests that
# mean "no token" clear the jar first.


async def test_no_token_is_login_required(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    client.cookies.clear()
    response = await client.get(ME)
    assert_error(response, 401, "LoginRequired", LOGIN_REQUIRED)


async def test_login_required_on_generated_and_auth_routes(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    client.cookies.clear()
    for method, path in (("GET", "/api/articles"), ("POST", "/api/articles"), ("GET", "/api/comments/1"),
                         ("DELETE", "/api/auth/logout"), ("POST", "/api/auth/update-password"),
                         ("PATCH", ME), ("DELETE", ME)):
        response = await client.request(method, path, json={} if method in {"POST", "PATCH"} else None)
        assert_error(response, 401, "LoginRequired", LOGIN_REQUIRED)


async def test_other_authorization_schemes_are_ignored(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    client.cookies.clear()
    token = users["reader"]["headers"]["Authorization"].removeprefix("Bearer ")
    for header in (f"bearer {token}", f"BEARER {token}", f"Basic {token}", "Bearer ", "Bearer", token):
        response = await client.get(ME, headers={"Authorization": header})
        assert_error(response, 401, "LoginRequired", LOGIN_REQUIRED)


async def test_cookie_value_no_token_is_login_required(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    client.cookies.clear()
    response = await client.get(ME, headers={"Cookie": f"{COOKIE}=no-token"})
    assert_error(response, 401, "LoginRequired", LOGIN_REQUIRED)


async def test_empty_cookie_is_login_required(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    client.cookies.clear()
    response = await client.get(ME, headers={"Cookie": f'{COOKIE}=""'})
    assert response.status_code == 401, response.text
    assert response.json()["code"] in {"LoginRequired", "InvalidAuthToken"}


# -- where the token comes from --------------------------------------------------------------------------


async def test_bearer_header_works(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    response = await client.get(ME, headers=users["reader"]["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] == "reader"


async def test_cookie_alone_works(app: FastAPI, users: dict[str, Any]) -> None:
    token = users["editor"]["headers"]["Authorization"].removeprefix("Bearer ")
    async with client_for(app) as fresh:
        response = await fresh.get(ME, headers={"Cookie": f"{COOKIE}={token}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] == "editor"


async def test_header_wins_over_cookie(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    cookie_token = users["editor"]["headers"]["Authorization"].removeprefix("Bearer ")
    response = await client.get(ME, headers={**users["reader"]["headers"], "Cookie": f"{COOKIE}={cookie_token}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] == "reader"


async def test_bad_header_wins_over_a_good_cookie(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    cookie_token = users["editor"]["headers"]["Authorization"].removeprefix("Bearer ")
    response = await client.get(ME, headers={"Authorization": "Bearer not-a-token",
                                             "Cookie": f"{COOKIE}={cookie_token}"})
    assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_ignored_header_falls_back_to_the_cookie(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    cookie_token = users["editor"]["headers"]["Authorization"].removeprefix("Bearer ")
    for header in ("bearer whatever", "Bearer ", "Basic dXNlcjpwYXNz"):
        response = await client.get(ME, headers={"Authorization": header, "Cookie": f"{COOKIE}={cookie_token}"})
        assert response.status_code == 200, (header, response.text)
        assert response.json()["data"]["username"] == "editor"


# -- token validity --------------------------------------------------------------------------------------


async def test_garbage_token_is_invalid(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    for token in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x", "x" * 5000):
        response = await client.get(ME, headers=bearer(token))
        assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_expired_token_is_invalid(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    expired = token_for(users["reader"]["user"]["id"], now=time.time() - 7200, expires_in="1h")
    response = await client.get(ME, headers=bearer(expired))
    assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_wrong_signature_is_invalid(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    good = users["reader"]["headers"]["Authorization"].removeprefix("Bearer ")
    forged = jwt.encode(claims(good), "someone-else-" + "q" * 40, algorithm="HS256")
    response = await client.get(ME, headers=bearer(forged))
    assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_token_for_another_users_id_needs_the_secret(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    good = users["reader"]["headers"]["Authorization"].removeprefix("Bearer ")
    header, _, signature = good.split(".")
    payload = claims(good) | {"id": users["admin"]["user"]["id"]}
    body = jwt.utils.base64url_encode(jwt.api_jwt.json.dumps(payload).encode()).decode()
    response = await client.get(ME, headers=bearer(f"{header}.{body}.{signature}"))
    assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_hs512_or_unsigned_token_with_the_same_secret_is_invalid(client: httpx.AsyncClient,
                                                                        users: dict[str, Any]) -> None:
    payload = claims(users["admin"]["headers"]["Authorization"].removeprefix("Bearer "))
    for token in (jwt.encode(payload, JWT_SECRET + "p" * 20, algorithm="HS512"),
                  jwt.encode(payload, None, algorithm="none")):
        response = await client.get(ME, headers=bearer(token))
        assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_token_with_an_id_of_the_wrong_shape_is_invalid(client: httpx.AsyncClient,
                                                              users: dict[str, Any]) -> None:
    now = time.time()
    for user_id in ({"$ne": None}, ["x"], True):
        token = jwt.encode({"id": user_id, "iat": now, "exp": int(now) + 60, "jti": "j" * 32, "typ": "access"},
                           JWT_SECRET, algorithm="HS256")
        response = await client.get(ME, headers=bearer(token))
        assert_error(response, 401, "InvalidAuthToken", INVALID_TOKEN)


async def test_token_of_an_unknown_user_is_user_no_longer_exists(client: httpx.AsyncClient,
                                                                 users: dict[str, Any]) -> None:
    response = await client.get(ME, headers=bearer(token_for("00000000-0000-0000-0000-000000000000")))
    assert_error(response, 401, "UserNoLongerExists", NO_LONGER_EXISTS)


async def test_deleted_user_is_user_no_longer_exists(app: FastAPI, client: httpx.AsyncClient,
                                                     users: dict[str, Any]) -> None:
    await sql(app, "DELETE FROM users WHERE username = 'reader'")
    response = await client.get(ME, headers=users["reader"]["headers"])
    assert_error(response, 401, "UserNoLongerExists", NO_LONGER_EXISTS)


# -- account states, checked on every request ------------------------------------------------------------


async def test_inactive_user_is_refused_on_every_route(app: FastAPI, client: httpx.AsyncClient,
                                                       users: dict[str, Any]) -> None:
    await sql(app, "UPDATE users SET is_active = :f WHERE username = 'admin'", f=False)
    headers = users["admin"]["headers"]
    for method, path in (("GET", ME), ("GET", "/api/users"), ("GET", "/api/comments"),
                         ("DELETE", "/api/auth/logout")):
        response = await client.request(method, path, headers=headers)
        assert_error(response, 401, "AccountInactive")
    update = await client.post("/api/auth/update-password", headers=headers,
                               json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert_error(update, 401, "AccountInactive")


async def test_reactivated_user_gets_access_back(app: FastAPI, client: httpx.AsyncClient,
                                                 users: dict[str, Any]) -> None:
    await sql(app, "UPDATE users SET is_active = :f WHERE username = 'reader'", f=False)
    assert_error(await client.get(ME, headers=users["reader"]["headers"]), 401, "AccountInactive")
    await sql(app, "UPDATE users SET is_active = :t WHERE username = 'reader'", t=True)
    response = await client.get(ME, headers=users["reader"]["headers"])
    assert response.status_code == 200, response.text


async def test_admin_deactivating_a_user_blocks_their_token(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    reader_id = users["reader"]["user"]["id"]
    patched = await client.patch(f"/api/users/{reader_id}", headers=users["admin"]["headers"],
                                 json={"isActive": False})
    assert patched.status_code == 200, patched.text
    assert_error(await client.get(ME, headers=users["reader"]["headers"]), 401, "AccountInactive")


async def test_self_deleted_account_kills_tokens_and_login(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    other = await login_token(client, "reader")
    deleted = await client.delete(ME, headers=users["reader"]["headers"])
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"message": "Account deleted successfully"}

    same_token = await client.get(ME, headers=users["reader"]["headers"])
    assert same_token.status_code == 401, same_token.text
    assert same_token.json()["code"] in {"InvalidAuthToken", "UserNoLongerExists"}
    assert_error(await client.get(ME, headers=bearer(other)), 401, "UserNoLongerExists", NO_LONGER_EXISTS)
    assert_error(await client.get("/api/articles", headers=bearer(other)), 401, "UserNoLongerExists")
    relogin = await client.post("/api/auth/login", json={"username": "reader", "password": PASSWORD})
    assert_error(relogin, 401, "IncorrectCredentials", "Incorrect username or password")


async def test_password_change_kills_older_tokens(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    older = await login_token(client, "reader")
    current = users["reader"]["headers"]
    changed = await client.post("/api/auth/update-password", headers=current,
                                json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["accessToken"]
    for headers in (current, bearer(older)):
        assert_error(await client.get(ME, headers=headers), 401, "PasswordChanged", PASSWORD_CHANGED)
        assert_error(await client.delete("/api/auth/logout", headers=headers), 401, "PasswordChanged")
    response = await client.get(ME, headers=bearer(fresh))
    assert response.status_code == 200, response.text


async def test_token_issued_in_the_same_second_as_the_change_dies(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Log in, change the password at once: the login token must fail, even within the same second."""
    await make_user(app, "quick")
    token = await login_token(client, "quick")
    changed = await client.post("/api/auth/update-password", headers=bearer(token),
                                json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert changed.status_code == 200, changed.text
    assert_error(await client.get(ME, headers=bearer(token)), 401, "PasswordChanged", PASSWORD_CHANGED)

    # Deterministically in the same second: a token issued a moment before the recorded change.
    row = await sql(app, "SELECT id, password_changed_at FROM users WHERE username = 'quick'")
    user_id, changed_at = row[0][0], as_timestamp(row[0][1])
    same_second = math.floor(changed_at) if changed_at > math.floor(changed_at) else changed_at - 1e-3
    assert same_second < changed_at
    old = token_for(user_id, now=same_second)
    assert math.floor(claims(old)["iat"]) == math.floor(changed_at) or changed_at == math.floor(changed_at)
    assert_error(await client.get(ME, headers=bearer(old)), 401, "PasswordChanged", PASSWORD_CHANGED)
    # And the new token, issued at or after the change, works.
    response = await client.get(ME, headers=bearer(changed.json()["accessToken"]))
    assert response.status_code == 200, response.text


async def test_token_issued_after_a_direct_password_change_works(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "later")
    before = await login_token(client, "later")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    await sql(app, "UPDATE users SET password_changed_at = :t WHERE username = 'later'", t=past)
    response = await client.get(ME, headers=bearer(before))
    assert response.status_code == 200, response.text


# -- what the request's user carries ---------------------------------------------------------------------


async def test_me_never_carries_the_password_hash_or_sensitive_fields(app: FastAPI, client: httpx.AsyncClient,
                                                                      users: dict[str, Any]) -> None:
    await sql(app, "UPDATE users SET api_secret = 'top-secret' WHERE username = 'reader'")
    response = await client.get(ME, headers=users["reader"]["headers"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert "password" not in data
    assert "apiSecret" not in data and "api_secret" not in data
    assert "$2" not in response.text and "top-secret" not in response.text
    assert data["id"] == users["reader"]["user"]["id"]


async def test_token_from_an_app_with_another_secret_is_invalid(app_factory: AppFactory) -> None:
    """Two apps with different secrets: a token of one is invalid on the other."""
    first = await app_factory()
    await make_user(first, "alice")
    other = await app_factory(authentication={"jwt": {"secret": "a-different-secret-" + "d" * 40}})
    async with client_for(first) as one, client_for(other) as two:
        token = await login_token(one, "alice")
        assert (await one.get(ME, headers=bearer(token))).status_code == 200
        assert_error(await two.get(ME, headers=bearer(token)), 401, "InvalidAuthToken", INVALID_TOKEN)
