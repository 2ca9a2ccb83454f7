"""CORS defaults (development: local front ends; production: nothing unless configured) and the CSRF
origin check on cookie-authenticated state-changing requests (DECISIONS 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import arkos
from arkos.config import ConfigError
from tests.conftest import JWT_SECRET, client_for, login, make_user
from tests.http.crud_helpers import assert_error

PREFLIGHT = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "content-type"}
PRODUCTION = {"env": "production", "authentication": {"jwt": {"secret": JWT_SECRET}}}


async def preflight(app: FastAPI, origin: str, path: str = "/api/users/me") -> httpx.Response:
    async with client_for(app) as client:
        return await client.options(path, headers={"Origin": origin, **PREFLIGHT})


# -- CORS -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"])
async def test_development_allows_local_front_ends(app_factory, origin: str) -> None:
    app = await app_factory()
    response = await preflight(app, origin)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    async with client_for(app) as client:
        simple = await client.get("/api", headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example",
                                    "http://evil.example/http://localhost:5173"])
async def test_development_refuses_other_origins(app_factory, origin: str) -> None:
    app = await app_factory()
    response = await preflight(app, origin)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    async with client_for(app) as client:
        simple = await client.get("/api", headers={"Origin": origin})
    assert "access-control-allow-origin" not in simple.headers


async def test_production_without_origins_sends_no_cors_headers(app_factory) -> None:
    app = await app_factory(**PRODUCTION)
    response = await preflight(app, "http://localhost:5173")
    assert not any(name.startswith("access-control-") for name in response.headers)
    async with client_for(app) as client:
        simple = await client.get("/api", headers={"Origin": "https://app.example.com"})
    assert simple.status_code == 200
    assert not any(name.startswith("access-control-") for name in simple.headers)


async def test_production_allows_the_configured_origins(app_factory) -> None:
    app = await app_factory(**PRODUCTION, cors={"allow_origins": ["https://app.example.com"]})
    allowed = await preflight(app, "https://app.example.com")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    refused = await preflight(app, "http://localhost:5173")
    assert "access-control-allow-origin" not in refused.headers


async def test_an_origin_regex_and_custom_headers(app_factory) -> None:
    app = await app_factory(cors={"allow_origin_regex": r"https://[a-z]+\.example\.com",
                                  "allow_headers": ["Content-Type", "Authorization", "X-Request-Id"],
                                  "max_age_seconds": 60})
    async with client_for(app) as client:
        response = await client.options("/api/users/me", headers={
            "Origin": "https://shop.example.com", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-request-id"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-max-age"] == "60"
    # with a regex configured, the development localhost default no longer applies
    assert "access-control-allow-origin" not in (await preflight(app, "http://localhost:5173")).headers


def test_a_wildcard_origin_with_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match="allow_credentials"):
        arkos.define_config(env_file=None, cors={"allow_origins": ["*"]})
    config = arkos.define_config(env_file=None, cors={"allow_origins": ["*"], "allow_credentials": False})
    assert config.cors.allow_origins == ("*",)


# -- CSRF -----------------------------------------------------------------------------------------------------


@asynccontextmanager
async def cookie_client(app: FastAPI, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client that carries only the login cookie, like a browser (no Authorization header)."""
    await make_user(app, "amy", **overrides)
    async with client_for(app) as client:
        token = (await login(client, "amy"))["Authorization"].removeprefix("Bearer ")
        client.cookies.clear()
        client.cookies.set("arkos_access_token", token)
        yield client


async def patch_me(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.patch("/api/users/me", json={"nickname": "amy"}, headers=headers)


async def test_cookie_request_without_origin_is_refused(app_factory) -> None:
    app = await app_factory()
    async with cookie_client(app) as client:
        body = assert_error(await patch_me(client), 403, "CsrfFailed")
        assert body["meta"] == {"reason": "no Origin or Referer header"}
        # reads are not checked
        assert (await client.get("/api/users/me")).status_code == 200


async def test_cookie_request_from_the_same_host_passes(app_factory) -> None:
    app = await app_factory()
    async with cookie_client(app) as client:
        response = await patch_me(client, {"Origin": "http://test"})
        assert response.status_code == 200, response.text
        assert response.json()["data"]["nickname"] == "amy"
        # without Origin, the Referer's origin counts
        assert (await patch_me(client, {"Referer": "http://test/settings/profile"})).status_code == 200
        assert (await patch_me(client, {"Origin": "null", "Referer": "http://test/x"})).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://test.evil.example", "http://test:8080",
                                    "http://[", "not a url", "null", "javascript:alert(1)"])
async def test_cookie_request_from_a_foreign_origin_is_refused(app_factory, origin: str) -> None:
    app = await app_factory()
    async with cookie_client(app) as client:
        assert_error(await patch_me(client, {"Origin": origin}), 403, "CsrfFailed", origin)
        assert_error(await client.delete("/api/users/me", headers={"Origin": origin}), 403, "CsrfFailed", origin)
        assert_error(await client.post("/api/auth/update-password", headers={"Origin": origin},
                                       json={"currentPassword": "x", "newPassword": "y"}), 403, "CsrfFailed")
        assert_error(await client.delete("/api/auth/logout", headers={"Referer": f"{origin}/page"}), 403,
                     "CsrfFailed")


async def test_cookie_request_from_a_trusted_origin_passes(app_factory) -> None:
    app = await app_factory(csrf={"trusted_origins": ["https://admin.example.com"]},
                            cors={"allow_origins": ["https://app.example.com"]})
    async with cookie_client(app) as client:
        for origin in ("https://admin.example.com", "https://APP.example.com", "https://app.example.com"):
            assert (await patch_me(client, {"Origin": origin})).status_code == 200, origin
        # the localhost default of development is replaced by the configured origins
        assert_error(await patch_me(client, {"Origin": "http://localhost:5173"}), 403, "CsrfFailed")


async def test_development_local_front_ends_pass_the_check(app_factory) -> None:
    app = await app_factory()
    async with cookie_client(app) as client:
        assert (await patch_me(client, {"Origin": "http://localhost:5173"})).status_code == 200


async def test_a_bearer_header_is_not_checked(app_factory) -> None:
    app = await app_factory()
    await make_user(app, "bob")
    async with client_for(app) as client:
        headers = await login(client, "bob")
        client.cookies.clear()
        response = await client.patch("/api/users/me", json={"nickname": "bob"}, headers=headers)
        assert response.status_code == 200, response.text
        response = await client.patch("/api/users/me", json={"nickname": "bob"},
                                      headers={**headers, "Origin": "https://evil.example"})
        assert response.status_code == 200, response.text


async def test_the_check_can_be_switched_off(app_factory) -> None:
    app = await app_factory(csrf={"enabled": False})
    async with cookie_client(app) as client:
        assert (await patch_me(client)).status_code == 200


async def test_the_check_covers_generated_and_custom_routes(app_factory) -> None:
    app = await app_factory()
    async with cookie_client(app, is_super_user=True) as client:
        assert_error(await client.post("/api/articles", json={"title": "t"}), 403, "CsrfFailed")
        created = await client.post("/api/articles", json={"title": "t"}, headers={"Origin": "http://test"})
        assert created.status_code == 201, created.text
