"""The seed's configuration table seen from a client: the token, the cookie and the login response."""

from __future__ import annotations

import math
from typing import Any

import httpx
import jwt
import pytest

from arkos.config import ConfigError
from tests.conftest import AppFactory, client_for, make_user
from tests.http.auth_helpers import assert_error, bearer, claims, set_cookies, the_cookie

ENV_SECRET = "env-secret-" + "e" * 48
LOGIN = {"username": "alice", "password": "Passw0rd-Test"}


async def login_response(app_factory: AppFactory, **overrides: Any) -> httpx.Response:
    app = await app_factory(**overrides)
    await make_user(app, "alice")
    async with client_for(app) as client:
        return await client.post("/api/auth/login", json=LOGIN)


def assert_lifetime(token: str, seconds: int, secret: str | None = None) -> None:
    payload = claims(token, secret) if secret else claims(token)
    assert payload["exp"] == math.floor(payload["iat"]) + seconds, payload
    assert 0 <= seconds - (payload["exp"] - payload["iat"]) < 1, payload


# -- jwt.secret / JWT_SECRET -----------------------------------------------------------------------------


async def test_login_without_any_secret_in_development_is_500_missing_jwt_secret(app_factory: AppFactory) -> None:
    response = await login_response(app_factory, authentication={"jwt": {"secret": None}})
    body = assert_error(response, 500, "MissingJwtSecret")
    assert "JWT_SECRET" in body["message"]
    assert set_cookies(response) == []


async def test_without_a_secret_protected_routes_still_answer_401(app_factory: AppFactory) -> None:
    app = await app_factory(authentication={"jwt": {"secret": None}})
    async with client_for(app) as client:
        forged = jwt.encode({"id": "x", "iat": 1, "exp": 4_000_000_000, "jti": "j", "typ": "access"},
                            "guess-" + "g" * 40, algorithm="HS256")
        response = await client.get("/api/users/me", headers=bearer(forged))
    assert_error(response, 401, "InvalidAuthToken")


async def test_production_without_secret_fails_at_init(app_factory: AppFactory) -> None:
    with pytest.raises(ConfigError) as caught:
        await app_factory(env="production", authentication={"jwt": {"secret": None}})
    assert "JWT_SECRET" in str(caught.value)


async def test_secret_from_config_signs_the_token(app_factory: AppFactory) -> None:
    secret = "config-secret-" + "c" * 48
    response = await login_response(app_factory, authentication={"jwt": {"secret": secret}})
    assert response.status_code == 200, response.text
    assert claims(response.json()["accessToken"], secret)["typ"] == "access"


async def test_secret_from_env_signs_the_token(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", ENV_SECRET)
    app = await app_factory(authentication={"jwt": {"secret": None}})
    await make_user(app, "alice")
    async with client_for(app) as client:
        response = await client.post("/api/auth/login", json=LOGIN)
        assert response.status_code == 200, response.text
        token = response.json()["accessToken"]
        assert claims(token, ENV_SECRET)["typ"] == "access"
        me = await client.get("/api/users/me", headers=bearer(token))
    assert me.status_code == 200, me.text


async def test_env_secret_in_production_lets_the_app_start(app_factory: AppFactory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", ENV_SECRET)
    app = await app_factory(env="production", authentication={"jwt": {"secret": None}})
    assert app.state.arkos.config.is_production


# -- jwt.expires_in / JWT_EXPIRES_IN ---------------------------------------------------------------------


async def test_default_lifetime_is_30_days(app_factory: AppFactory) -> None:
    response = await login_response(app_factory)
    assert response.status_code == 200, response.text
    assert_lifetime(response.json()["accessToken"], 30 * 86400)
    assert the_cookie(response)["max-age"] == str(30 * 86400)


@pytest.mark.parametrize(("value", "seconds"), [("1h", 3600), ("90m", 5400), (3600, 3600), ("2d", 172_800)])
async def test_lifetime_from_config(app_factory: AppFactory, value: str | int, seconds: int) -> None:
    response = await login_response(app_factory, authentication={"jwt": {"expires_in": value}})
    assert response.status_code == 200, response.text
    assert_lifetime(response.json()["accessToken"], seconds)
    assert the_cookie(response)["max-age"] == str(seconds)


@pytest.mark.parametrize(("value", "seconds"), [("3600", 3600), ("12h", 43_200), ("3600s", 3600)])
async def test_lifetime_from_env(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch,
                                 value: str, seconds: int) -> None:
    """`JWT_EXPIRES_IN=3600` means seconds (the reference made it 3.6 s and a 500 on login)."""
    monkeypatch.setenv("JWT_EXPIRES_IN", value)
    response = await login_response(app_factory)
    assert response.status_code == 200, response.text
    assert_lifetime(response.json()["accessToken"], seconds)
    assert the_cookie(response)["max-age"] == str(seconds)


async def test_bad_env_lifetime_fails_at_init_naming_the_variable(app_factory: AppFactory,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_EXPIRES_IN", "2 hours")
    with pytest.raises(ConfigError) as caught:
        await app_factory()
    assert "JWT_EXPIRES_IN" in str(caught.value)


# -- the cookie: secure, http_only, same_site ------------------------------------------------------------


async def test_development_cookie_defaults(app_factory: AppFactory) -> None:
    cookie = the_cookie(await login_response(app_factory))
    assert cookie["samesite"].lower() == "lax"
    assert "secure" not in cookie
    assert cookie["httponly"] is True
    assert cookie["path"] == "/"
    assert "domain" not in cookie


async def test_production_cookie_defaults(app_factory: AppFactory) -> None:
    cookie = the_cookie(await login_response(app_factory, env="production"))
    assert cookie["samesite"].lower() == "none"
    assert cookie["secure"] is True
    assert cookie["httponly"] is True


async def test_production_from_env_cookie_defaults(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKOS_ENV", "production")
    cookie = the_cookie(await login_response(app_factory))
    assert cookie["samesite"].lower() == "none"
    assert cookie["secure"] is True


async def test_cookie_options_from_config(app_factory: AppFactory) -> None:
    cookie = the_cookie(await login_response(
        app_factory,
        authentication={"jwt": {"cookie": {"secure": True, "http_only": False, "same_site": "strict"}}},
    ))
    assert cookie["samesite"].lower() == "strict"
    assert cookie["secure"] is True
    assert "httponly" not in cookie


async def test_cookie_options_from_env(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SECURE", "true")
    monkeypatch.setenv("JWT_COOKIE_HTTP_ONLY", "false")
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", "strict")
    cookie = the_cookie(await login_response(app_factory))
    assert cookie["samesite"].lower() == "strict"
    assert cookie["secure"] is True
    assert "httponly" not in cookie


async def test_seed_env_block_gives_a_secure_same_site_none_http_only_cookie(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"JWT_SECRET": ENV_SECRET, "JWT_EXPIRES_IN": "30d", "JWT_COOKIE_SECURE": "true",
                        "JWT_COOKIE_HTTP_ONLY": "true", "JWT_COOKIE_SAME_SITE": "none"}.items():
        monkeypatch.setenv(name, value)
    response = await login_response(app_factory, authentication={"jwt": {"secret": None}})
    cookie = the_cookie(response)
    assert (cookie["samesite"].lower(), cookie["secure"], cookie["httponly"]) == ("none", True, True)
    assert_lifetime(response.json()["accessToken"], 30 * 86400, ENV_SECRET)


async def test_cookie_config_wins_over_env(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_SAME_SITE", "strict")
    monkeypatch.setenv("JWT_COOKIE_HTTP_ONLY", "false")
    cookie = the_cookie(await login_response(
        app_factory, authentication={"jwt": {"cookie": {"same_site": "lax", "http_only": True}}}))
    assert cookie["samesite"].lower() == "lax"
    assert cookie["httponly"] is True


async def test_cookie_secure_false_in_production_by_config(app_factory: AppFactory) -> None:
    cookie = the_cookie(await login_response(
        app_factory, env="production", authentication={"jwt": {"cookie": {"secure": False, "same_site": "lax"}}}))
    assert "secure" not in cookie
    assert cookie["samesite"].lower() == "lax"


async def test_forwarded_proto_from_an_untrusted_client_does_not_change_the_cookie(app_factory: AppFactory) -> None:
    """The reference trusted X-Forwarded-Proto from anyone; here only configuration decides (DECISIONS 12)."""
    app = await app_factory()
    await make_user(app, "alice")
    async with client_for(app) as client:
        response = await client.post("/api/auth/login", json=LOGIN, headers={"X-Forwarded-Proto": "https"})
    cookie = the_cookie(response)
    assert "secure" not in cookie
    assert cookie["samesite"].lower() == "lax"


async def test_cookie_domain_from_config(app_factory: AppFactory) -> None:
    cookie = the_cookie(await login_response(app_factory,
                                             authentication={"jwt": {"cookie": {"domain": "example.com"}}}))
    assert cookie["domain"].lstrip(".") == "example.com"


async def test_cookie_domain_from_env(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_COOKIE_DOMAIN", "api.example.org")
    cookie = the_cookie(await login_response(app_factory))
    assert cookie["domain"].lstrip(".") == "api.example.org"


# -- login.send_access_token_through ---------------------------------------------------------------------


async def test_send_through_both_is_the_default(app_factory: AppFactory) -> None:
    response = await login_response(app_factory)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["accessToken"]
    assert the_cookie(response)["value"] == body["accessToken"]


async def test_send_through_response_only(app_factory: AppFactory) -> None:
    response = await login_response(app_factory,
                                    authentication={"login": {"send_access_token_through": "response-only"}})
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["accessToken"]
    assert set_cookies(response) == []


async def test_send_through_cookie_only(app_factory: AppFactory) -> None:
    app = await app_factory(authentication={"login": {"send_access_token_through": "cookie-only"}})
    await make_user(app, "alice")
    async with client_for(app) as client:
        response = await client.post("/api/auth/login", json=LOGIN)
        assert response.status_code == 200, response.text
        assert response.content == b""
        cookie = the_cookie(response)
        assert claims(cookie["value"])["typ"] == "access"
        me = await client.get("/api/users/me")  # the client's cookie jar carries the token
    assert me.status_code == 200, me.text
    assert me.json()["data"]["username"] == "alice"


# -- login.allowed_usernames -----------------------------------------------------------------------------


async def test_allowed_usernames_default_is_username_only(app_factory: AppFactory) -> None:
    app = await app_factory()
    await make_user(app, "alice", email="alice@example.com")
    async with client_for(app) as client:
        ok = await client.post("/api/auth/login", json=LOGIN)
        by_email = await client.post("/api/auth/login", params={"usernameField": "email"},
                                     json={"email": "alice@example.com", "password": LOGIN["password"]})
    assert ok.status_code == 200, ok.text
    assert_error(by_email, 400, "InvalidUsernameField", "Invalid usernameField parameter, it is not allowed!")


async def test_allowed_usernames_first_entry_is_the_default_field(app_factory: AppFactory) -> None:
    app = await app_factory(authentication={"login": {"allowed_usernames": ["email", "username"]}})
    await make_user(app, "alice", email="alice@example.com")
    async with client_for(app) as client:
        by_email = await client.post("/api/auth/login",
                                     json={"email": "alice@example.com", "password": LOGIN["password"]})
        by_username_body_only = await client.post("/api/auth/login", json=LOGIN)
    assert by_email.status_code == 200, by_email.text
    assert_error(by_username_body_only, 400, "MissingCredentialFields", "Please provide both email and password")


@pytest.mark.parametrize("field", ["shoeSize", "password", "apiSecret", "profile.shoeSize", "team.name"])
async def test_allowed_usernames_naming_an_unknown_or_sensitive_field_fails_at_init(app_factory: AppFactory,
                                                                                    field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await app_factory(authentication={"login": {"allowed_usernames": ["username", field]}})
    assert "allowed_usernames" in str(caught.value)
    assert field in str(caught.value)
