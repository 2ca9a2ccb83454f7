"""Logout (server-side revocation, cookie cleared alike) and update-password (every older token dies)."""

from __future__ import annotations

from typing import Any

import bcrypt
import httpx
import pytest
import redis
from fastapi import FastAPI

from tests.conftest import PASSWORD, AppFactory, client_for, make_user
from tests.http.auth_helpers import (
    COOKIE,
    STRONG_PASSWORD,
    assert_error,
    bearer,
    claims,
    cookie_flags,
    login_token,
    set_cookies,
    sql,
    stored_password,
    the_cookie,
)

ME = "/api/users/me"
LOGOUT = "/api/auth/logout"
UPDATE = "/api/auth/update-password"
# A cookie-authenticated unsafe request must come from the API's own (or a trusted) origin (DECISIONS 12).
SAME_ORIGIN = {"Origin": "http://test"}


async def app_with_alice(app_factory: AppFactory, **overrides: Any) -> FastAPI:
    app = await app_factory(**overrides)
    await make_user(app, "alice")
    return app


async def login(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response


# -- logout ----------------------------------------------------------------------------------------------


async def test_logout_is_204_and_kills_only_that_token(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        other = (await login(client)).json()["accessToken"]
        client.cookies.clear()
        response = await client.delete(LOGOUT, headers=bearer(token))
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert_error(await client.get(ME, headers=bearer(token)), 401, "InvalidAuthToken")
        assert_error(await client.delete(LOGOUT, headers=bearer(token)), 401, "InvalidAuthToken")
        still = await client.get(ME, headers=bearer(other))
        assert still.status_code == 200, still.text


async def test_logout_without_a_token_is_login_required(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        assert_error(await client.delete(LOGOUT), 401, "LoginRequired")


async def test_logout_through_the_cookie_jar_clears_the_cookie(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        await login(client)
        assert (await client.get(ME)).status_code == 200
        response = await client.delete(LOGOUT, headers=SAME_ORIGIN)
        assert response.status_code == 204, response.text
        assert client.cookies.get(COOKIE) in (None, "", "no-token")
        assert_error(await client.get(ME), 401, "LoginRequired")


async def test_a_revoked_token_replayed_as_a_cookie_is_still_dead(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        assert (await client.delete(LOGOUT, headers=SAME_ORIGIN)).status_code == 204
        client.cookies.clear()
        response = await client.get(ME, headers={"Cookie": f"{COOKIE}={token}"})
        assert_error(response, 401, "InvalidAuthToken")


async def test_cookie_logout_from_another_site_is_refused(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        await login(client)
        for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}):
            response = await client.delete(LOGOUT, headers=headers)
            assert_error(response, 403, "CsrfFailed")
        assert (await client.get(ME)).status_code == 200  # still logged in
        token = client.cookies.get(COOKIE)
        assert token
        # The Authorization header is never added by a browser on its own: no origin check.
        assert (await client.delete(LOGOUT, headers=bearer(token))).status_code == 204


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"env": "production"},
        {"authentication": {"jwt": {"cookie": {"domain": "example.com", "same_site": "strict"}}}},
        {"authentication": {"jwt": {"cookie": {"http_only": False, "secure": True, "same_site": "none"}}}},
    ],
    ids=["development", "production", "domain-strict", "not-http-only"],
)
async def test_logout_clears_the_cookie_with_the_login_attributes(app_factory: AppFactory,
                                                                  overrides: dict[str, Any]) -> None:
    app = await app_with_alice(app_factory, **overrides)
    async with client_for(app) as client:
        logged_in = await login(client)
        set_cookie = the_cookie(logged_in)
        response = await client.delete(LOGOUT, headers=bearer(logged_in.json()["accessToken"]))
        assert response.status_code == 204, response.text
        cleared = the_cookie(response)
    assert cleared["value"] in ("", "no-token")
    assert cleared.get("max-age") == "0" or "expires" in cleared
    assert cookie_flags(cleared) == cookie_flags(set_cookie)
    if overrides.get("env") == "production":
        assert cleared["secure"] is True and cleared["samesite"].lower() == "none"
    if "domain" in str(overrides):
        assert cleared["domain"].lstrip(".") == "example.com"


async def test_logout_with_response_only_delivery_still_revokes(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory,
                               authentication={"login": {"send_access_token_through": "response-only"}})
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        assert (await client.delete(LOGOUT, headers=bearer(token))).status_code == 204
        assert_error(await client.get(ME, headers=bearer(token)), 401, "InvalidAuthToken")


async def test_revocation_is_shared_by_every_app_on_the_same_database(app_factory: AppFactory) -> None:
    first = await app_with_alice(app_factory)
    second = await app_factory()  # another worker: same database, fresh process state
    async with client_for(first) as one, client_for(second) as two:
        token = (await login(one)).json()["accessToken"]
        assert (await two.get(ME, headers=bearer(token))).status_code == 200
        assert (await one.delete(LOGOUT, headers=bearer(token))).status_code == 204
        assert_error(await two.get(ME, headers=bearer(token)), 401, "InvalidAuthToken")


@pytest.mark.redis
async def test_logout_with_redis_revocation(app_factory: AppFactory, redis_url: tuple[str, str]) -> None:
    url, prefix = redis_url
    app = await app_with_alice(app_factory, redis_url=url, redis_prefix=prefix)
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        other = (await login(client)).json()["accessToken"]
        client.cookies.clear()
        response = await client.delete(LOGOUT, headers=bearer(token))
        assert response.status_code == 204, response.text
        assert_error(await client.get(ME, headers=bearer(token)), 401, "InvalidAuthToken")
        assert (await client.get(ME, headers=bearer(other))).status_code == 200

    # The deny-list entry lives in Redis under the configured prefix, expiring with the token.
    direct = redis.Redis.from_url(url)
    try:
        keys = list(direct.scan_iter(f"{prefix}*"))
        assert keys, "no revocation key written under the configured prefix"
        lifetime = claims(token)["exp"] - int(claims(token)["iat"])
        assert all(0 < direct.ttl(key) <= lifetime + 1 for key in keys)
    finally:
        direct.close()
    assert await sql(app, "SELECT jti FROM arkos_revoked_token") == []


@pytest.mark.redis
async def test_redis_revocation_is_shared_by_every_app(app_factory: AppFactory, redis_url: tuple[str, str]) -> None:
    url, prefix = redis_url
    first = await app_with_alice(app_factory, redis_url=url, redis_prefix=prefix)
    second = await app_factory(redis_url=url, redis_prefix=prefix)
    async with client_for(first) as one, client_for(second) as two:
        token = (await login(one)).json()["accessToken"]
        assert (await one.delete(LOGOUT, headers=bearer(token))).status_code == 204
        assert_error(await two.get(ME, headers=bearer(token)), 401, "InvalidAuthToken")


# -- update-password -------------------------------------------------------------------------------------


async def test_update_password_missing_fields(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    for body in ({}, {"currentPassword": PASSWORD}, {"newPassword": STRONG_PASSWORD},
                 {"currentPassword": "", "newPassword": STRONG_PASSWORD}, {"currentPassword": PASSWORD,
                                                                           "newPassword": None}):
        response = await client.post(UPDATE, headers=users["reader"]["headers"], json=body)
        assert_error(response, 400, "MissingPasswordFields", "currentPassword and newPassword are required")


async def test_update_password_wrong_current(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    before = await stored_password(app, "reader")
    for new in (STRONG_PASSWORD, "weak"):
        response = await client.post(UPDATE, headers=users["reader"]["headers"],
                                     json={"currentPassword": "Wrong-Passw0rd", "newPassword": new})
        assert_error(response, 400, "IncorrectCurrentPassword", "Current password is incorrect")
    assert await stored_password(app, "reader") == before
    assert (await client.get(ME, headers=users["reader"]["headers"])).status_code == 200


async def test_update_password_weak_new(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    before = await stored_password(app, "reader")
    for weak in ("short1A", "alllowercase1", "ALLUPPERCASE1", "NoDigitsAtAll"):
        response = await client.post(UPDATE, headers=users["reader"]["headers"],
                                     json={"currentPassword": PASSWORD, "newPassword": weak})
        assert_error(response, 400, "PasswordDoesNotMeetRequirements")
    assert await stored_password(app, "reader") == before


async def test_update_password_malformed_values_are_400(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    for body in ({"currentPassword": PASSWORD, "newPassword": "Aa1" + "x" * 70},
                 {"currentPassword": PASSWORD, "newPassword": 12345678},
                 {"currentPassword": {"$ne": 1}, "newPassword": STRONG_PASSWORD},
                 {"currentPassword": [PASSWORD], "newPassword": STRONG_PASSWORD}):
        response = await client.post(UPDATE, headers=users["reader"]["headers"], json=body)
        assert response.status_code == 400, (body, response.text)
    assert (await client.get(ME, headers=users["reader"]["headers"])).status_code == 200


async def test_update_password_success(app: FastAPI, client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    older = await login_token(client, "reader")
    response = await client.post(UPDATE, headers=users["reader"]["headers"],
                                 json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "message", "accessToken"}
    assert body["status"] == "success" and body["message"] == "Password updated successfully!"
    fresh = body["accessToken"]
    assert claims(fresh)["id"] == users["reader"]["user"]["id"]
    assert the_cookie(response)["value"] == fresh

    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200
    for stale in (users["reader"]["headers"], bearer(older)):
        assert_error(await client.get(ME, headers=stale), 401, "PasswordChanged",
                     "User recently changed password! Please log in again.")
    # Other users are untouched.
    assert (await client.get(ME, headers=users["editor"]["headers"])).status_code == 200

    stored = await stored_password(app, "reader")
    assert stored is not None and bcrypt.checkpw(STRONG_PASSWORD.encode(), stored.encode())
    me = (await client.get(ME, headers=bearer(fresh))).json()["data"]
    assert me["passwordChangedAt"] is not None
    assert_error(await client.post("/api/auth/login", json={"username": "reader", "password": PASSWORD}),
                 401, "IncorrectCredentials")
    assert await login_token(client, "reader", STRONG_PASSWORD)


async def test_update_password_twice_in_a_row(client: httpx.AsyncClient, users: dict[str, Any]) -> None:
    first = await client.post(UPDATE, headers=users["reader"]["headers"],
                              json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
    assert first.status_code == 200, first.text
    token = first.json()["accessToken"]
    second = await client.post(UPDATE, headers=bearer(token),
                               json={"currentPassword": STRONG_PASSWORD, "newPassword": "Third-Passw0rd"})
    assert second.status_code == 200, second.text
    assert_error(await client.get(ME, headers=bearer(token)), 401, "PasswordChanged")
    assert (await client.get(ME, headers=bearer(second.json()["accessToken"]))).status_code == 200


async def test_update_password_cookie_only_sets_the_cookie_and_omits_the_token(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory, authentication={"login": {"send_access_token_through": "cookie-only"}})
    async with client_for(app) as client:
        await login(client)
        response = await client.post(UPDATE, headers=SAME_ORIGIN,
                                     json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "success", "message": "Password updated successfully!"}
        assert claims(the_cookie(response)["value"])["typ"] == "access"
        assert (await client.get(ME)).status_code == 200  # the jar holds the fresh cookie


async def test_update_password_response_only_sets_no_cookie(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory, authentication={"login": {"send_access_token_through": "response-only"}})
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        response = await client.post(UPDATE, headers=bearer(token),
                                     json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
        assert response.status_code == 200, response.text
        assert "accessToken" in response.json()
        assert set_cookies(response) == []


async def test_update_password_needs_a_token(app_factory: AppFactory) -> None:
    app = await app_with_alice(app_factory)
    async with client_for(app) as client:
        response = await client.post(UPDATE, json={"currentPassword": PASSWORD, "newPassword": STRONG_PASSWORD})
        assert_error(response, 401, "LoginRequired")


async def test_unreachable_redis_revocation_store_fails_closed(app_factory: AppFactory) -> None:
    """No request is let through because the revocation lookup could not be answered (DECISIONS 15)."""
    app = await app_with_alice(app_factory, redis_url="redis://127.0.0.1:1/0", redis_prefix="arkos-test-down:")
    async with client_for(app) as client:
        token = (await login(client)).json()["accessToken"]
        client.cookies.clear()
        for method, path in (("GET", ME), ("DELETE", LOGOUT), ("GET", "/api/comments")):
            response = await client.request(method, path, headers=bearer(token))
            assert_error(response, 503, "ServiceUnavailable")
