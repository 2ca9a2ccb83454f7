"""RouteTable: arkos's routes, one Starlette `Route` per path, found by a dict lookup instead of a scan.

Starlette tries routes in order, one regex each: with one route per (path, method), a request for the
tenth model ran ~50 regexes before reaching its own (~20 % of a cached GET's CPU, and twice the CPU
of a 401). The table groups the methods of a path in one `Route` (so a 405 lists all of them in
`Allow`), indexes those routes by their number of path segments and first three segments when
those are literal (`/api/posts/{id}` → (4, "", "api", "posts")), and asks only those few whether they
match, in the order their paths were added: matching, path parameters, 405s and redirects are
Starlette's own.

Tools that walk `app.routes` and read the matching route's attributes (OpenTelemetry's and
prometheus-fastapi-instrumentator's `route.path`) see the table; it answers them with the attributes
of the route it just matched (a context variable set by `matches`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, compile_path, get_route_path
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
_KEY_SEGMENTS = 3
_ROUTE = "arkos.route"
_matched: ContextVar[Route | None] = ContextVar("arkos_matched_route", default=None)


@dataclass
class _Path:
    name: str | None
    include_in_schema: bool
    endpoints: dict[str, Endpoint] = field(default_factory=dict)


def _key(path: str) -> tuple[Any, ...]:
    segments = path.split("/")
    return (len(segments), *segments[:_KEY_SEGMENTS])


class RouteTable(BaseRoute):
    """Collects routes during `init`; `install` builds them and puts the table in the app's router."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._paths: dict[str, _Path] = {}
        self._buckets: dict[tuple[Any, ...], list[Route]] = {}
        self._unindexed: list[Route] = []  # a parameter in the first segments, or one spanning segments
        self._installed = False

    def add(self, path: str, endpoint: Endpoint, *, methods: list[str], name: str | None = None,
            include_in_schema: bool = True) -> None:
        assert not self._installed, "routes are added during init, before install()"
        entry = self._paths.setdefault(path, _Path(name, include_in_schema))
        for method in methods:
            if method.upper() in entry.endpoints:
                raise ValueError(f"{method} {path} is defined twice")
            entry.endpoints[method.upper()] = endpoint

    def install(self, routes: list[BaseRoute]) -> None:
        for path, entry in self._paths.items():
            route = Route(path, _dispatch(entry.endpoints), methods=list(entry.endpoints), name=entry.name,
                          include_in_schema=entry.include_in_schema)
            self.routes.append(route)
            _regex, _format, convertors = compile_path(path)
            head = path.split("/")[:_KEY_SEGMENTS]
            if any("{" in segment for segment in head) or any(c.regex != "[^/]+" for c in convertors.values()):
                self._unindexed.append(route)
            else:
                self._buckets.setdefault(_key(path), []).append(route)
        if self._unindexed:  # keep the order of addition across both kinds
            order = {id(route): n for n, route in enumerate(self.routes)}
            for key, bucket in self._buckets.items():
                self._buckets[key] = sorted([*bucket, *self._unindexed], key=lambda r: order[id(r)])
        routes.append(self)
        self._installed = True

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        candidates = self._buckets.get(_key(get_route_path(scope)), self._unindexed)
        partial: tuple[Route, Scope] | None = None
        for route in candidates:
            match, child = route.matches(scope)
            if match is Match.FULL:
                _matched.set(route)
                return Match.FULL, {**child, _ROUTE: route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child)
        if partial is not None:
            _matched.set(partial[0])
            return Match.PARTIAL, {**partial[1], _ROUTE: partial[0]}
        _matched.set(None)
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_ROUTE].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)

    def __getattr__(self, name: str) -> Any:
        """`path`, `name`, `endpoint`, ... of the route `matches` just found, for instrumentation."""
        route = _matched.get() if not name.startswith("_") else None
        if route is None:
            raise AttributeError(name)
        return getattr(route, name)


def _dispatch(endpoints: dict[str, Endpoint]) -> Endpoint:
    if len(endpoints) == 1:
        return next(iter(endpoints.values()))
    if "GET" in endpoints and "HEAD" not in endpoints:  # Starlette answers HEAD with the GET route
        endpoints = {**endpoints, "HEAD": endpoints["GET"]}

    async def endpoint(request: Request) -> Response:
        # Starlette has already answered 405 for a method outside `endpoints`.
        return await endpoints[request.method](request)

    return endpoint
