"""ArkosRouter: a FastAPI APIRouter whose routes take `authentication=`; and dependencies for plain routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.params import Depends as DependsParam

from arkos.auth.principal import Principal
from arkos.context import RequestContext
from arkos.db_errors import is_db_error, translate_db_error
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.options import Requirement, normalize_rule, resolve_authentication

_USER_STATE = "arkos_user"


async def _check(request: Request, requirement: Requirement) -> Principal | None:
    runtime = request.app.state.arkos
    if not runtime.config.authentication.is_active:
        return None
    ctx = RequestContext(request, runtime, "custom")
    try:
        await runtime.auth.authenticate(ctx)
        if requirement.authorizes:
            await runtime.auth.authorize(ctx, requirement)
    except Exception as exc:
        if is_db_error(exc):
            raise translate_db_error(exc) from exc
        raise
    finally:
        try:
            await ctx.finish(commit=False)
        except Exception:
            pass
    setattr(request.state, _USER_STATE, ctx.user)
    return ctx.user


def _guard(requirement: Requirement) -> Callable[..., Any]:
    async def guard(request: Request) -> Principal | None:
        return await _check(request, requirement)

    guard.arkos_requirement = requirement  # type: ignore[attr-defined]
    return guard


async def get_current_user(request: Request) -> Principal:
    """FastAPI dependency: the authenticated user (authenticating now if no arkos guard ran yet)."""
    user = getattr(request.state, _USER_STATE, None)
    if user is None:
        user = await _check(request, Requirement())
    if user is None:
        raise ArkosError(ErrorCode.LOGIN_REQUIRED)
    return user


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def authorize(action: str, resource: str, rule: object = None) -> DependsParam:
    """`Depends(...)` for plain FastAPI routes: authenticate, then authorize `action` on `resource`."""
    return Depends(_guard(Requirement(resource=resource, action=action, rule=normalize_rule(rule))))


class ArkosRouter(APIRouter):
    """An APIRouter whose route decorators also take `authentication=`.

    `authentication=True` requires a logged-in user; `policy.Create` or
    `{"resource": "post", "action": "Create", "rule": ["Admin"]}` also authorizes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requirements: list[tuple[str, Requirement]] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any], *,
                      authentication: object = None, **kwargs: Any) -> None:
        requirement = resolve_authentication(authentication, resource=None, action=None)
        if requirement is not None:
            dependencies: list[Any] = list(kwargs.pop("dependencies", None) or [])
            dependencies.insert(0, Depends(_guard(requirement)))
            kwargs["dependencies"] = dependencies
            self.requirements.append((path, requirement))
            openapi_extra = dict(kwargs.pop("openapi_extra", None) or {})
            openapi_extra.setdefault("security", [{"BearerAuth": []}, {"CookieAuth": []}])
            kwargs["openapi_extra"] = openapi_extra
        super().add_api_route(path, endpoint, **kwargs)

    def api_route(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:
        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(path, func, authentication=authentication, **kwargs)
            return func

        return decorator

    def _method(self, method: str, path: str, authentication: object, kwargs: dict[str, Any]) -> Callable[..., Any]:
        return self.api_route(path, methods=[method], authentication=authentication, **kwargs)

    def get(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._method("GET", path, authentication, kwargs)

    def post(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._method("POST", path, authentication, kwargs)

    def put(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._method("PUT", path, authentication, kwargs)

    def patch(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._method("PATCH", path, authentication, kwargs)

    def delete(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        return self._method("DELETE", path, authentication, kwargs)


def router_requirements(router: APIRouter) -> Sequence[tuple[str, Requirement]]:
    return getattr(router, "requirements", ())
