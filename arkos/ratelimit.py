"""Rate limits over the `limits` library: per client IP, in memory or in Redis (shared by every worker).

Three kinds, all counted per client IP (reference §1.7, §5.9, §8):

* the global limit (`rate_limit.global_limit`, default 300 a minute), an ASGI middleware before routing;
* the auth limit (`rate_limit.auth_limit`, default 10 per 5 s), one counter shared by every `/auth/*` route;
* per-route limits (`rate_limit=` on an ArkosRouter route or in a route-hook entry), after authentication.

With `redis_url` set the counters live in Redis under `redis_prefix`, so a limit holds across workers
and hosts; otherwise each process counts in memory. Over a limit: 429 `TooManyRequests` with the
draft-7 `RateLimit` / `RateLimit-Policy` headers and `Retry-After`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arkos.errors import ArkosError, ErrorCode, error_response

logger = logging.getLogger("arkos.ratelimit")

_DICT_KEYS = {"window_ms", "windowMs", "max", "limit"}
RATE_HELP = "use '10/15 minutes' or {'window_ms': 900000, 'max': 10}"


def parse_rate(value: object) -> RateLimitItem:
    """`{"window_ms": 900_000, "max": 10}` (the reference's form) or `"10/15 minutes"` (the limits form)."""
    if isinstance(value, RateLimitItem):
        return value
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError as exc:
            raise ValueError(f"invalid rate limit {value!r}: {RATE_HELP}") from exc
    if isinstance(value, Mapping):
        unknown = set(value) - _DICT_KEYS
        if unknown:
            raise ValueError(f"invalid rate limit: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"{RATE_HELP}")
        window_ms, maximum = value.get("window_ms", value.get("windowMs")), value.get("max", value.get("limit"))
        if not _positive_int(window_ms) or not _positive_int(maximum):
            raise ValueError(f"a rate limit dict needs positive integers window_ms and max; {RATE_HELP}")
        return RateLimitItemPerSecond(maximum, max(math.ceil(window_ms / 1000), 1))
    raise ValueError(f"invalid rate limit {value!r}: {RATE_HELP}")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _networks(proxies: Sequence[str]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


class ClientAddress:
    """The client's IP; `X-Forwarded-For` is believed only when the peer is a configured proxy (DECISIONS 12)."""

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
        forwarded = ",".join(value.decode("latin-1") for name, value in scope.get("headers", ())
                             if name == b"x-forwarded-for")
        # Walk from the nearest hop back: each trusted proxy appended the address it saw, so the first
        # address that is not one of ours is the client (whatever the client wrote further left is ignored).
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return peer


@dataclass(frozen=True, slots=True)
class Limit:
    item: RateLimitItem
    scope: str  # routes sharing a scope share one counter per client
    message: str = "Too many requests, please try again later"


Limits = Limit | Sequence[Limit]


class RateLimiter:
    def __init__(self, storage: Storage, addresses: ClientAddress) -> None:
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.addresses = addresses

    @classmethod
    def create(cls, redis_url: str | None, prefix: str, trusted_proxies: Sequence[str]) -> RateLimiter:
        storage: Storage
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}ratelimit")
        else:
            storage = MemoryStorage()
        return cls(storage, ClientAddress(trusted_proxies))

    async def close(self) -> None:
        """Release the Redis connection `limits` opened (it has no close of its own)."""
        client = getattr(getattr(self.strategy.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()

    async def hit(self, limits: Limits, scope: Scope) -> dict[str, str]:
        """Count one request against each limit in turn; over one, raise 429 with the RateLimit headers.

        Returns the headers of the limit closest to running out, for the response.
        """
        key = self.addresses.of(scope)
        chosen: tuple[int, dict[str, str]] | None = None
        for limit in (limits,) if isinstance(limits, Limit) else limits:
            try:
                allowed = await self.strategy.hit(limit.item, limit.scope, key)
                stats = await self.strategy.get_window_stats(limit.item, limit.scope, key)
            except Exception:  # a limiter outage must not take the API down with it
                logger.exception("rate limit storage unavailable; request not counted")
                continue
            reset = max(math.ceil(stats.reset_time - time.time()), 1)
            headers = {
                "RateLimit-Policy": f"{limit.item.amount};w={limit.item.get_expiry()}",
                "RateLimit": f"limit={limit.item.amount}, remaining={stats.remaining}, reset={reset}",
            }
            if not allowed:
                raise ArkosError(ErrorCode.TOO_MANY_REQUESTS, limit.message,
                                 headers={**headers, "Retry-After": str(reset)})
            if chosen is None or stats.remaining < chosen[0]:
                chosen = (stats.remaining, headers)
        return chosen[1] if chosen else {}


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
            headers = await self.limiter.hit(self.limit, scope)
        except ArkosError as error:
            await error_response(error, debug=self.debug)(scope, receive, send)
            return
        if not headers:
            await self.app(scope, receive, send)
            return
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", ())}
                # A route's own (stricter) limit already said how much is left: keep its headers.
                extra = [h for h in raw if h[0] not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
