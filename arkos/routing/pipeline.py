"""The request pipeline, in order: authenticate → authorize → rate limit → validate → before → handler → after.

Errors from any stage go to the route's error interceptors and leave in the one error shape. The
request's database connection is committed only when every stage succeeded (one unit of work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from arkos.context import RequestContext
from arkos.db_errors import translate_db_error, is_db_error
from arkos.errors import ArkosError, error_response, internal_error, json_response
from arkos.routing.interceptors import Interceptors
from arkos.routing.options import RouteOptions

if TYPE_CHECKING:
    from arkos.app import Runtime
    from arkos.ratelimit import Limit
    from arkos.crud.fields import ModelInfo

Stage = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """Everything a route does, decided at startup; the pipeline only walks it."""

    operation: str
    options: RouteOptions
    handler: Stage
    validate: Stage | None = None
    interceptors: Interceptors = Interceptors()
    model: ModelInfo | None = None
    rate_limit: Limit | None = None


async def run_pipeline(route: CompiledRoute, request: Request, runtime: Runtime) -> Response:
    ctx = RequestContext(request, runtime, route.operation, route.model)
    try:
        try:
            requirement = route.options.authentication
            if requirement is not None:
                await runtime.auth.authenticate(ctx)  # 401
                if requirement.authorizes:
                    await runtime.auth.authorize(ctx, requirement)  # 403
            if route.rate_limit is not None and runtime.limiter is not None:
                ctx.headers.update(await runtime.limiter.hit(route.rate_limit, request.scope))  # 429
            if route.validate is not None:
                await route.validate(ctx)  # 400
            for before in route.interceptors.before:
                await before(ctx)
            await route.handler(ctx)
            for after in route.interceptors.after:
                await after(ctx)
            await _finish(ctx, commit=True)
        except Exception as exc:
            if is_db_error(exc):
                raise translate_db_error(exc) from exc
            raise
        return render(ctx)
    except ArkosError as error:
        return await _fail(route, ctx, error)
    except Exception as exc:  # the single place where unexpected errors become a 500
        return await _fail(route, ctx, internal_error(exc, debug=runtime.config.is_development))
    except BaseException:  # cancelled (client gone, shutdown timeout): roll back now, never commit half
        await _discard(ctx)
        raise


async def _fail(route: CompiledRoute, ctx: RequestContext, error: ArkosError) -> Response:
    await _discard(ctx)
    ctx.error = error
    for on_error in route.interceptors.on_error:
        try:
            await on_error(ctx)
        except ArkosError as replacement:  # an error interceptor replaces the error by raising
            ctx.error = replacement
            break
    response = error_response(ctx.error, debug=ctx.runtime.config.is_development)
    for name in ("RateLimit", "RateLimit-Policy"):  # a counted request says what is left, even when it fails
        if name in ctx.headers and name not in response.headers:
            response.headers[name] = ctx.headers[name]
    return response


async def _discard(ctx: RequestContext) -> None:
    try:
        await _finish(ctx, commit=False)
    except Exception:  # the connection may be gone (database down); the error already says so
        pass


_finishing: set[asyncio.Task[None]] = set()  # strong references: a shielded task must not be collected


async def _finish(ctx: RequestContext, *, commit: bool) -> None:
    """Commit or roll back. With a connection, to its end even if the request is cancelled meanwhile (client
    gone, shutdown timeout): the caller still sees the cancellation, the connection is never left half
    done. Without one (a 401, a 403, a lane read) there is nothing to protect: no task, no extra loop turn."""
    if not ctx.holds_connection:
        await ctx.finish(commit=commit)
        return
    task = asyncio.ensure_future(ctx.finish(commit=commit))
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    await asyncio.shield(task)


def render(ctx: RequestContext) -> Response:
    if isinstance(ctx.data, Response):  # a handler or interceptor that built its own response
        return ctx.data
    if ctx.data is None or ctx.status == 204:
        response = Response(status_code=ctx.status, headers=ctx.headers or None)
    else:
        response = json_response(ctx.data, ctx.status, ctx.headers or None)
    for name, value, attributes in ctx.cookies:
        response.set_cookie(name, value, **attributes)
    return response
