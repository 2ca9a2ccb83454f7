"""Rate limits: the global limiter, the shared /api/auth/* limiter, per-route limits (ArkosRouter and
route hooks), client keys behind proxies, and Redis storage shared by several app instances.

The base test options switch rate limits off; every test here switches them back on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from arkos.config import ConfigError
from arkos.ratelimit import ClientAddress, parse_rate
from tests.conftest import PASSWORD, make_user
from tests.http.crud_helpers import assert_error, bearer, unique_package, write_package

ON = {"enabled": True}
CUSTOM_ROUTER = """
    from fastapi import Request

    from arkos import ArkosRouter

    router = ArkosRouter()


    @router.get("/api/ping", rate_limit="2/minute")
    async def ping() -> dict[str, object]:
        return {"data": "pong"}


    @router.post("/api/ping", rate_limit={"window_ms": 60_000, "max": 3})
    async def ping_post() -> dict[str, object]:
        return {"data": "posted"}


    @router.get("/api/private", authentication=True, rate_limit="2/minute")
    async def private() -> dict[str, object]:
        return {"data": "secret"}


    @router.get("/api/free")
    async def free() -> dict[str, object]:
        return {"data": "free"}
"""

Project = Callable[..., Awaitable[FastAPI]]


def client_at(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client whose TCP peer address (what the ASGI server reports) is `ip`."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://test")


@pytest.fixture
async def project(app_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Project:
    monkeypatch.syspath_prepend(str(tmp_path))

    async def make(files: Mapping[str, str], **overrides: Any) -> FastAPI:
        package = unique_package("ratelimit_pkg")
        write_package(tmp_path, package, files)
        return await app_factory(package=package, **overrides)

    return make


def assert_limited(response: httpx.Response, policy: str, message: str = "Too many requests, please try again later"
                   ) -> None:
    body = assert_error(response, 429, "TooManyRequests")
    assert body["message"] == message
    assert response.headers["RateLimit-Policy"] == policy
    assert response.headers["RateLimit"].startswith(f"limit={policy.split(';')[0]}, remaining=0, reset=")
    assert int(response.headers["Retry-After"]) >= 1


# -- parsing ---------------------------------------------------------------------------------------------


def test_both_spellings_of_a_limit_mean_the_same() -> None:
    as_text = parse_rate("10/15 minutes")
    as_dict = parse_rate({"window_ms": 900_000, "max": 10})
    assert (as_text.amount, as_text.get_expiry()) == (10, 900)
    assert (as_dict.amount, as_dict.get_expiry()) == (10, 900)
    assert parse_rate({"windowMs": 1500, "limit": 3}).get_expiry() == 2  # rounded up to whole seconds


@pytest.mark.parametrize("value", ["ten a minute", "", {"window_ms": 1000}, {"window_ms": True, "max": 2},
                                   {"window_ms": 1000, "max": 0}, {"window": 1000, "max": 2}, 5, None],
                         ids=repr)
def test_a_bad_limit_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_rate(value)


async def test_a_bad_limit_in_config_fails_at_startup(app_factory) -> None:
    with pytest.raises(ConfigError, match="rate_limit.global_limit"):
        await app_factory(rate_limit={"enabled": True, "global_limit": "lots"})


# -- the /api/auth/* limiter ----------------------------------------------------------------------------


async def test_the_eleventh_auth_request_within_five_seconds_gets_429(app_factory) -> None:
    app = await app_factory(rate_limit=ON)
    await make_user(app, "amy")
    async with client_at(app) as client:
        for attempt in range(10):
            path = "/api/auth/login" if attempt % 2 else "/api/auth/signup"  # one counter for every /auth/ route
            response = await client.post(path, json={"username": "amy", "password": "wrong"})
            assert response.status_code in {400, 401}, response.text
            assert response.headers["RateLimit-Policy"] == "10;w=5"
            assert response.headers["RateLimit"].startswith(f"limit=10, remaining={9 - attempt}, reset=")
        limited = await client.post("/api/auth/login", json={"username": "amy", "password": PASSWORD})
        assert_limited(limited, "10;w=5")
        # /users/me is not under /auth: still served
        assert_error(await client.get("/api/users/me"), 401, "LoginRequired")
    async with client_at(app, "127.0.0.2") as other:  # another client has its own counter
        assert (await other.post("/api/auth/login", json={"username": "amy", "password": PASSWORD})).status_code == 200


async def test_the_auth_limiter_can_be_switched_off(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": True, "auth_limit": None})
    await make_user(app, "amy")
    async with client_at(app) as client:
        for _ in range(15):
            response = await client.post("/api/auth/login", json={"username": "amy", "password": "wrong"})
            assert response.status_code == 401, response.text
            assert "RateLimit-Policy" not in response.headers or response.headers["RateLimit-Policy"] != "10;w=5"


async def test_disabled_rate_limits_count_nothing(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": False})
    assert app.state.arkos.limiter is None
    async with client_at(app) as client:
        for _ in range(15):
            response = await client.post("/api/auth/login", json={"username": "x", "password": "wrong"})
            assert response.status_code == 401
            assert "RateLimit" not in response.headers


async def test_an_auth_hook_changes_the_limit_of_one_route(project) -> None:
    app = await project({"modules/auth/router.py": 'hook = {"login": {"rate_limit": "2/minute"}}\n'},
                        rate_limit=ON)
    async with client_at(app) as client:
        for _ in range(2):
            assert (await client.post("/api/auth/login", json={"username": "x", "password": "y"})).status_code == 401
        assert_limited(await client.post("/api/auth/login", json={"username": "x", "password": "y"}), "2;w=60")
        # signup still counts against the shared limit, which login no longer uses
        response = await client.post("/api/auth/signup", json={})
        assert response.headers["RateLimit-Policy"] == "10;w=5"


# -- the global limiter ----------------------------------------------------------------------------------


async def test_the_global_limit_defaults_to_300_a_minute(app_factory) -> None:
    app = await app_factory(rate_limit=ON)
    async with client_at(app) as client:
        response = await client.get("/api")
    assert response.status_code == 200
    assert response.headers["RateLimit-Policy"] == "300;w=60"
    assert response.headers["RateLimit"].startswith("limit=300, remaining=299, reset=")


async def test_the_global_limit_covers_every_route(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": True, "global_limit": "4/minute", "auth_limit": None})
    async with client_at(app) as client:
        for path in ("/api", "/api/articles", "/api/nowhere", "/api/health/live"):
            response = await client.get(path)
            assert response.status_code != 429, path
        for path in ("/api", "/api/articles", "/api/auth/login"):
            assert_limited(await client.get(path), "4;w=60", message="Too many requests")
    async with client_at(app, "127.0.0.9") as other:
        assert (await other.get("/api")).status_code == 200


async def test_the_global_limit_can_be_switched_off(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": True, "global_limit": None})
    async with client_at(app) as client:
        response = await client.get("/api")
    assert response.status_code == 200
    assert "RateLimit" not in response.headers


async def test_a_429_from_the_global_limit_still_carries_cors_headers(app_factory) -> None:
    app = await app_factory(rate_limit={"enabled": True, "global_limit": "1/minute"})
    origin = {"Origin": "http://localhost:5173"}
    async with client_at(app) as client:
        await client.get("/api", headers=origin)
        response = await client.get("/api", headers=origin)
    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"


# -- per-route limits --------------------------------------------------------------------------------------


async def test_a_route_hook_limits_one_generated_route(project, admin_headers_for) -> None:
    app = await project({"modules/article/router.py": """
        hook = {"find_many": {"rate_limit": {"window_ms": 60_000, "max": 2}, "authentication": False}}
    """}, rate_limit={"enabled": True, "global_limit": None})
    async with client_at(app) as client:
        for _ in range(2):
            response = await client.get("/api/articles")
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Policy"] == "2;w=60"
        assert_limited(await client.get("/api/articles"), "2;w=60")
        headers = await admin_headers_for(app, client)
        # another operation of the same model has no limit
        assert (await client.get("/api/articles/missing", headers=headers)).status_code == 404


async def test_arkos_router_limits_count_per_route(project) -> None:
    app = await project({"modules/ping/router.py": CUSTOM_ROUTER}, rate_limit={"enabled": True, "global_limit": None})
    async with client_at(app) as client:
        for _ in range(2):
            response = await client.get("/api/ping")
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Policy"] == "2;w=60"
        assert_limited(await client.get("/api/ping"), "2;w=60")
        # POST on the same path has its own counter and its own (dict) limit
        for _ in range(3):
            assert (await client.post("/api/ping")).status_code == 200
        assert_limited(await client.post("/api/ping"), "3;w=60")
        assert (await client.get("/api/free")).status_code == 200


async def test_a_route_limit_counts_after_authentication(project) -> None:
    app = await project({"modules/ping/router.py": CUSTOM_ROUTER}, rate_limit={"enabled": True, "global_limit": None})
    await make_user(app, "amy")
    async with client_at(app) as client:
        for _ in range(4):  # refused before the limiter: not counted
            assert_error(await client.get("/api/private"), 401, "LoginRequired")
        headers = await bearer(client, "amy")
        assert (await client.get("/api/private", headers=headers)).status_code == 200
        assert (await client.get("/api/private", headers=headers)).status_code == 200
        assert_limited(await client.get("/api/private", headers=headers), "2;w=60")


# -- client addresses ---------------------------------------------------------------------------------------


async def test_a_spoofed_forwarded_for_does_not_reset_a_limit(project) -> None:
    app = await project({"modules/ping/router.py": CUSTOM_ROUTER}, rate_limit={"enabled": True, "global_limit": None})
    async with client_at(app, "203.0.113.7") as client:  # not a configured proxy
        for n in range(2):
            assert (await client.get("/api/ping", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code == 200
        limited = await client.get("/api/ping", headers={"X-Forwarded-For": "198.51.100.99"})
    assert_limited(limited, "2;w=60")


async def test_a_trusted_proxy_forwards_the_client_address(project) -> None:
    app = await project({"modules/ping/router.py": CUSTOM_ROUTER}, trusted_proxies=["10.0.0.0/8"],
                        rate_limit={"enabled": True, "global_limit": None})
    async with client_at(app, "10.1.2.3") as proxy:
        for _ in range(2):
            assert (await proxy.get("/api/ping", headers={"X-Forwarded-For": "198.51.100.1"})).status_code == 200
        assert_limited(await proxy.get("/api/ping", headers={"X-Forwarded-For": "198.51.100.1"}), "2;w=60")
        # another client behind the same proxy has its own counter
        assert (await proxy.get("/api/ping", headers={"X-Forwarded-For": "198.51.100.2"})).status_code == 200
        # what the client wrote itself, left of the proxy's entry, is ignored
        spoofed = await proxy.get("/api/ping", headers={"X-Forwarded-For": "192.0.2.55, 198.51.100.1"})
        assert spoofed.status_code == 429


def test_client_address_walks_the_forwarded_chain_from_the_nearest_hop() -> None:
    addresses = ClientAddress(["10.0.0.0/8", "fd00::/8"])

    def scope(peer: str, *forwarded: str) -> dict[str, Any]:
        return {"client": (peer, 1), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}

    assert addresses.of(scope("10.0.0.1", "1.1.1.1")) == "1.1.1.1"
    assert addresses.of(scope("10.0.0.1", "6.6.6.6, 1.1.1.1, 10.0.0.2")) == "1.1.1.1"  # two proxies
    assert addresses.of(scope("10.0.0.1", "6.6.6.6", "1.1.1.1")) == "1.1.1.1"  # repeated headers
    assert addresses.of(scope("10.0.0.1")) == "10.0.0.1"  # no header: the proxy itself
    assert addresses.of(scope("fd00::1", "2001:db8::5")) == "2001:db8::5"
    assert addresses.of(scope("8.8.8.8", "1.1.1.1")) == "8.8.8.8"  # not a proxy
    assert ClientAddress([]).of(scope("10.0.0.1", "1.1.1.1")) == "10.0.0.1"  # no proxies configured
    assert addresses.of({"client": None, "headers": []}) == "unknown"


def test_a_bad_trusted_proxy_fails_at_startup() -> None:
    import arkos

    with pytest.raises(ConfigError, match="trusted_proxies"):
        arkos.define_config(env_file=None, trusted_proxies=["proxy.internal"])


# -- Redis ---------------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_counters_are_shared_by_app_instances(project, redis_url: tuple[str, str]) -> None:
    import redis

    url, prefix = redis_url
    options = {"redis_url": url, "redis_prefix": prefix, "rate_limit": {"enabled": True, "global_limit": None}}
    files = {"modules/ping/router.py": CUSTOM_ROUTER}
    first, second = await project(files, **options), await project(files, **options)
    async with client_at(first) as one, client_at(second) as two:
        assert (await one.get("/api/ping")).status_code == 200
        assert (await two.get("/api/ping")).status_code == 200
        assert_limited(await one.get("/api/ping"), "2;w=60")
        assert_limited(await two.get("/api/ping"), "2;w=60")
    client = redis.Redis.from_url(url)
    try:
        assert list(client.scan_iter(f"{prefix}ratelimit*")), "the counters live under the configured prefix"
    finally:
        client.close()


async def test_an_unreachable_limiter_store_lets_requests_through(project) -> None:
    app = await project({"modules/ping/router.py": CUSTOM_ROUTER}, redis_url="redis://127.0.0.1:9/0",
                        rate_limit={"enabled": True, "global_limit": None})
    app.state.arkos.redis = None  # only the limiter uses the dead Redis here
    async with client_at(app) as client:
        for _ in range(4):
            response = await client.get("/api/ping")
            assert response.status_code == 200, response.text


@pytest.fixture
def admin_headers_for() -> Callable[[FastAPI, httpx.AsyncClient], Awaitable[dict[str, str]]]:
    async def make(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
        await make_user(app, "root", is_super_user=True)
        return await bearer(client, "root")

    return make
