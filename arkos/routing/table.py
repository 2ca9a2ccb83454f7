"""RouteTable: arkos's routes as one Starlette `Route` per path, dispatching on the method.

Starlette tries routes in order, one regex each. With one route per (path, method), a request for the
tenth model ran ~50 regexes before reaching its own; one route per path runs a third of them. They
stay plain `Route`s, in the order their paths were first added, so everything that walks `app.routes`
and reads `route.path` (OpenTelemetry, metrics instrumentators, `url_for`) sees what it expects, and
matching, 405s (with every method of the path in `Allow`) and redirects are Starlette's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class _Path:
    name: str | None
    include_in_schema: bool
    endpoints: dict[str, Endpoint] = field(default_factory=dict)


class RouteTable:
    """Collects routes during `init`; `install` appends them to the app's router once."""

    def __init__(self) -> None:
        self._paths: dict[str, _Path] = {}
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
            routes.append(Route(path, _dispatch(entry.endpoints), methods=list(entry.endpoints),
                                name=entry.name, include_in_schema=entry.include_in_schema))
        self._installed = True


def _dispatch(endpoints: dict[str, Endpoint]) -> Endpoint:
    if len(endpoints) == 1:
        return next(iter(endpoints.values()))
    if "GET" in endpoints and "HEAD" not in endpoints:  # Starlette answers HEAD with the GET route
        endpoints = {**endpoints, "HEAD": endpoints["GET"]}

    async def endpoint(request: Request) -> Response:
        # Starlette has already answered 405 for a method outside `endpoints`.
        return await endpoints[request.method](request)

    return endpoint

