"""Rate limits over the `limits` library: per client IP, in memory or in Redis (shared by every worker)."""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from arkos.errors import ArkosError, ErrorCode, error_response

logger = logging.getLogger("arkos.ratelimit")


def parse_rate(value: object) -> RateLimitItem:
    """`{"window_ms": 900_000, "max": 10}` (the reference's form) or `"10/15 minutes"` (the limits form)."""
    if isinstance(value, RateLimitItem):
        return value
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError as exc:
            raise ValueError(f"invalid rate limit {value!r}: use '10/15 minutes' or "
                             "{'window_ms': 900000, 'max': 10}") from exc
    if isinstance(value, Mapping):
        window_ms, maximum = value.get("window_ms", value.get("windowMs")), value.get("max", value.get("limit"))
        if not isinstance(window_ms, int) or not isinstance(maximum, int) or window_ms <= 0 or maximum <= 0:
            raise ValueError("a rate limit dict needs positive integers window_ms and max")
        return RateLimitItemPerSecond(maximum, max(math.ceil(window_ms / 1000), 1))
    raise ValueError(f"invalid rate limit {value!r}")


def _networks(proxies: Sequence[str]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


class ClientAddress:
    """The client's IP; `X-Forwarded-For` is believed only when the peer is a configured proxy."""

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._trusted = _networks(trusted_proxies)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    def of(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._trusted or not self._is_trusted(peer):
            return peer
        forwarded = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                forwarded = f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
        # Walk from the nearest hop back; the first address not ours is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return peer


@dataclass(frozen=True, slots=True)
class Limit:
    item: RateLimitItem
    scope: str  # routes sharing a scope share one counter per client
    message: str = "Too many requests, please try again later"


class RateLimiter:
    def __init__(self, storage: Storage, addresses: ClientAddress) -> None:
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.addresses = addresses

    @classmethod
    def create(cls, redis_url: str | None, prefix: str, trusted_proxies: Sequence[str]) -> RateLimiter:
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}ratelimit")
        else:
            storage = MemoryStorage()
        return cls(storage, ClientAddress(trusted_proxies))

    async def hit(self, limit: Limit, scope: Scope) -> dict[str, str]:
        """Count one request; over the limit raise 429 with the standard RateLimit headers."""
        key = self.addresses.of(scope)
        try:
            allowed = await self.strategy.hit(limit.item, limit.scope, key)
            stats = await self.strategy.get_window_stats(limit.item, limit.scope, key)
        except Exception:  # a limiter outage must not take the API down with it
            logger.exception("rate limit storage unavailable; request not counted")
            return {}
        reset = max(math.ceil(stats.reset_time - _now()), 0)
        headers = {
            "RateLimit-Policy": f"{limit.item.amount};w={limit.item.get_expiry()}",
            "RateLimit": f"limit={limit.item.amount}, remaining={stats.remaining}, reset={reset}",
        }
        if not allowed:
            raise ArkosError(ErrorCode.TOO_MANY_REQUESTS, limit.message, headers={**headers, "Retry-After": str(reset)})
        return headers


def _now() -> float:
    import time

    return time.time()


class GlobalRateLimitMiddleware:
    """The app-wide limit (reference: 300 requests a minute per IP), before any routing."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, limit: Limit, debug: bool = False) -> None:
        self.app = app
        self.limiter = limiter
        self.limit = limit
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.limiter.hit(self.limit, scope)
        except ArkosError as error:
            await error_response(error, debug=self.debug)(scope, receive, send)
            return
        await self.app(scope, receive, send)
