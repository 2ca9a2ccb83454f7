"""ArkosRouter: a FastAPI APIRouter whose routes take `authentication=`; and dependencies for plain routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.params import Depends as DependsParam

from arkos.auth.principal import Principal
from arkos.context import RequestContext
from arkos.db_errors import is_db_error, translate_db_error
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.options import Requirement, normalize_rule, resolve_authentication
from arkos.routing.validation import check_spec, validate_request

_USER_STATE = "arkos_user"


async def _check(request: Request, requirement: Requirement) -> Principal | None:
    runtime = request.app.state.arkos
    auth = runtime.config.authentication
    if auth.mode is None:  # deny by default: a guard without an auth system is a setup mistake
        raise ArkosError(ErrorCode.INTERNAL, "This route asks for authentication but authentication.mode "
                         "is not set in the arkos config")
    if not auth.enabled:
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


def _rate_limiter(value: object, scope: str) -> Callable[..., Any]:
    from arkos.ratelimit import Limit, parse_rate

    limit = Limit(parse_rate(value), scope)

    async def rate_limit(request: Request, response: Response) -> None:
        limiter = request.app.state.arkos.limiter
        if limiter is not None:
            response.headers.update(await limiter.hit(limit, request.scope))

    rate_limit.arkos_rate_limit = limit  # type: ignore[attr-defined]  # documented by arkos.openapi
    return rate_limit


def _validator(spec: Mapping[str, Any]) -> Callable[..., Any]:
    async def validate(request: Request) -> None:
        max_bytes = request.app.state.arkos.config.max_body_bytes
        request.state.validated = await validate_request(request, spec, max_bytes)

    validate.arkos_validation = spec  # type: ignore[attr-defined]  # documented by arkos.openapi
    return validate


class ArkosRouter(APIRouter):
    """An APIRouter whose route decorators also take `authentication=`.

    `authentication=True` requires a logged-in user; `policy.Create` or
    `{"resource": "post", "action": "Create", "rule": ["Admin"]}` also authorizes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.upload_defaults: dict[str, Any] | None = kwargs.pop("uploads", None)  # merged under each route's
        super().__init__(*args, **kwargs)
        self.requirements: list[tuple[str, Requirement]] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any], *, authentication: object = None,
                      rate_limit: object = None, validation: object = None, **kwargs: Any) -> None:
        uploads = kwargs.pop("uploads", None)
        if uploads is not None:  # streamed by a dependency placed after the guard and the other stages (P3)
            from arkos.uploads.custom import with_uploads

            kwargs = with_uploads(path, endpoint, uploads, getattr(self, "upload_defaults", None), kwargs)
        requirement = resolve_authentication(authentication, resource=None, action=None)
        # The pipeline's order: authenticate → authorize → rate limit → validate, then the endpoint.
        stages: list[Any] = []
        if requirement is not None:
            stages.append(Depends(_guard(requirement)))
        methods = sorted(kwargs.get("methods") or ("GET",))
        if rate_limit is not None:  # one counter per route (method and path), shared by every worker
            stages.append(Depends(_rate_limiter(rate_limit, f"route:{','.join(methods)} {self.prefix}{path}")))
        spec = check_spec(validation, path) if validation is not None else None
        if spec is not None:
            stages.append(Depends(_validator(spec)))
        if stages:
            kwargs["dependencies"] = stages + list(kwargs.pop("dependencies", None) or [])
        if requirement is not None:
            self.requirements.append((path, requirement))
            openapi_extra = dict(kwargs.pop("openapi_extra", None) or {})
            openapi_extra.setdefault("security", [{"BearerAuth": []}, {"CookieAuth": []}])
            kwargs["openapi_extra"] = openapi_extra
        super().add_api_route(path, endpoint, **kwargs)

    def api_route(self, path: str, *, authentication: object = None, **kwargs: Any) -> Callable[..., Any]:
        """Like APIRouter.api_route, plus `authentication=`, `rate_limit=` and `validation=`."""
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
