"""init(): config → database → models → auth → error handlers → routers; one short step each."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from arkos.auth.models import REQUIRED_USER_FIELDS, arkos_metadata
from arkos.auth.passwords import PasswordHasher
from arkos.auth.revocation import DatabaseRevocations, RedisRevocations, RevocationStore
from arkos.auth.routes import AUTH_OPERATION_NAMES, AUTH_OPERATIONS, AuthRoutes
from arkos.auth.service import AuthService
from arkos.auth.tokens import TokenService
from arkos.config import MIN_SECRET_BYTES, ArkosConfig, ConfigError, define_config, load_project_config
from arkos.crud.fields import ModelInfo, build_model_info
from arkos.crud.operations import HANDLERS, OPERATION_NAMES, OPERATIONS, make_validator
from arkos.db import Database
from arkos.discovery import ProjectModule, discover_modules, resolve_models
from arkos.errors import ArkosError, ErrorCode, error_response, handle_arkos_error, internal_error
from arkos.naming import to_camel
from arkos.openapi import install_openapi
from arkos.routing.interceptors import load_interceptors
from arkos.routing.options import (
    Requirement,
    RouteOptions,
    merge_options,
    read_hook,
    require_known_operations,
)
from arkos.routing.pipeline import CompiledRoute, run_pipeline
from arkos.routing.router import router_requirements
from arkos.routing.table import RouteTable

logger = logging.getLogger("arkos")


@dataclass(eq=False)
class Runtime:
    """The running app's parts, reachable from every request as `request.app.state.arkos`."""

    config: ArkosConfig
    database: Database
    registry: dict[type, ModelInfo]
    auth: AuthService
    passwords: PasswordHasher
    modules: dict[str, ProjectModule] = field(default_factory=dict)
    redis: Any = None
    routes: list[tuple[str, str, CompiledRoute]] = field(default_factory=list)
    permissions: Any = None  # DynamicPermissions in dynamic mode
    limiter: Any = None  # RateLimiter when rate limits are enabled
    uploads: Any = None  # UploadService: storage and file types, for upload routes and ArkosRouter uploads=
    permission_channel: Any = None
    route_table: RouteTable = field(default_factory=RouteTable)

    def model_info(self, name: str) -> ModelInfo:
        for info in self.registry.values():
            if info.name == name:
                return info
        raise KeyError(name)


def build_config(config: ArkosConfig | Mapping[str, Any] | None, options: Mapping[str, Any],
                 env_file: str | None) -> ArkosConfig:
    """The three ways of the seed: the project's config module, an ArkosConfig, or init(**options)."""
    base: ArkosConfig | Mapping[str, Any] | None = config
    if base is None:
        base = load_project_config()
    return define_config(base, env_file=env_file, **options)


def _user_model(config: ArkosConfig, registry: dict[type, ModelInfo]) -> ModelInfo | None:
    auth = config.authentication
    name = auth.user_model
    info = next((i for i in registry.values() if i.name == name), None)
    if not auth.is_active:
        return info
    if info is None:
        raise ConfigError(f"authentication.mode is {auth.mode!r} but there is no model named {name!r} "
                          "(set authentication.user_model, and mix arkos.UserMixin into it)")
    columns = {f.key for f in info.fields.values()}
    missing = [c for c in REQUIRED_USER_FIELDS if c not in columns]
    if not any(f.is_password for f in info.fields.values()):
        missing.append("password (with info={'password': True})")
    if auth.mode == "static" and not ({"role", "roles"} & columns):  # dynamic mode uses UserRole rows
        missing.append("role or roles (static mode)")
    if missing:
        raise ConfigError(f"{name} model is missing column(s) arkos needs: {', '.join(missing)}; "
                          "mix arkos.UserMixin into it")
    return info


def _revocations(config: ArkosConfig, redis: Any) -> RevocationStore:
    if redis is not None:
        return RedisRevocations(redis, config.redis_prefix)
    return DatabaseRevocations()


def init(
    config: ArkosConfig | Mapping[str, Any] | None = None,
    /,
    *,
    env_file: str | None = ".env",
    **options: Any,
) -> FastAPI:
    """Build the ASGI app: generated routes for every model, auth routes, the project's own routers."""
    cfg = build_config(config, options, env_file)
    models = resolve_models(cfg)
    registry = {model: build_model_info(model) for model in models}
    user_info = _user_model(cfg, registry)
    redis = _redis_client(cfg.redis_url) if cfg.redis_url else None
    tokens = TokenService(cfg.authentication.jwt)
    secret = cfg.authentication.jwt.secret
    if cfg.authentication.is_active and secret and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
        logger.warning("JWT_SECRET is shorter than %d bytes: fine for a try-out, refused in production",
                       MIN_SECRET_BYTES)
    if cfg.authentication.is_active and not tokens.has_secret:
        logger.warning("No JWT secret configured (JWT_SECRET): logins will answer 500 MissingJwtSecret. "
                       "Set JWT_SECRET in .env for development; production refuses to start without it.")
    runtime = Runtime(
        config=cfg,
        database=Database(cfg.database),
        registry=registry,
        auth=AuthService(cfg, user_info, tokens, _revocations(cfg, redis)),
        passwords=PasswordHasher(cfg.authentication.bcrypt_rounds),
        modules=discover_modules(cfg.package),
        redis=redis,
    )
    if cfg.authentication.is_active and cfg.authentication.mode == "dynamic":
        _setup_dynamic(runtime, models)
    if cfg.rate_limit.enabled:
        from arkos.ratelimit import RateLimiter

        runtime.limiter = RateLimiter.create(cfg.redis_url, cfg.redis_prefix, cfg.trusted_proxies)
    guarded_docs = cfg.is_production and cfg.authentication.is_active
    app = FastAPI(
        title="arkos API",
        lifespan=_lifespan(runtime),
        docs_url=None if guarded_docs else f"{cfg.global_prefix}/docs",
        openapi_url=None if guarded_docs else f"{cfg.global_prefix}/openapi.json",
        redoc_url=None,
    )
    app.state.arkos = runtime
    runtime.uploads = _upload_service(cfg)
    _add_error_handlers(app)
    _add_middleware(app, runtime)
    _mount_project_routers(app, runtime)
    if cfg.authentication.is_active and user_info is not None:
        _mount_auth_routes(app, runtime)
    if cfg.file_upload.enabled:  # DECISIONS 11: False turns the routes off (not inverted)
        _mount_upload_routes(app, runtime)
    _mount_model_routes(app, runtime)
    if cfg.authentication.is_active:
        _mount_auth_actions(app, runtime)
    _mount_health(app, runtime)
    _mount_welcome(app, runtime)
    install_openapi(app, runtime)
    if guarded_docs:
        _mount_guarded_docs(app, runtime)
    runtime.route_table.install(app.router.routes)  # after the project's own routers
    if cfg.file_upload.enabled:
        from arkos.uploads.openapi import install_upload_openapi

        install_upload_openapi(app, runtime)
    return app


def _setup_dynamic(runtime: Runtime, models: list[type]) -> None:
    from arkos.auth.dynamic_setup import build_dynamic
    from arkos.auth.permission_models import find_permission_models

    permission_models = find_permission_models(models)
    if permission_models is None:
        raise ConfigError("authentication.mode is 'dynamic' but the permission tables are not among the models: "
                          "add `AuthRole, AuthPermission, AuthRolePermission, UserRole, UserPermission = "
                          "arkos.define_permission_models(Base, user_model=User)` to your models module")
    runtime.permissions, runtime.permission_channel = build_dynamic(
        runtime.config, runtime.database, permission_models, runtime.redis)
    runtime.auth.permissions = runtime.permissions


def _redis_client(url: str) -> Any:
    import redis.asyncio as redis_asyncio

    return redis_asyncio.from_url(url)


def _lifespan(runtime: Runtime) -> Any:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runtime.config.authentication.is_active and isinstance(runtime.auth.revocations, DatabaseRevocations):
            await _ensure_arkos_tables(runtime.database)
        if runtime.permission_channel is not None:
            await runtime.permission_channel.start()
        try:
            yield
        finally:
            if runtime.permission_channel is not None:
                await runtime.permission_channel.stop()
            await runtime.database.dispose()
            if runtime.limiter is not None:
                await runtime.limiter.close()
            if runtime.redis is not None:
                await runtime.redis.aclose()

    return lifespan


async def _ensure_arkos_tables(database: Database) -> None:
    try:
        await database.create_all(arkos_metadata)
    except Exception:  # another worker created them first; the next query tells if they are really missing
        logger.debug("arkos tables: create_all raced with another process", exc_info=True)


def _endpoint(route: CompiledRoute, runtime: Runtime) -> Any:
    async def endpoint(request: Request) -> Response:
        return await run_pipeline(route, request, runtime)

    return endpoint


def _add_route(app: FastAPI, runtime: Runtime, path: str, method: str, route: CompiledRoute) -> None:
    """Generated routes are plain Starlette routes (no dependency solving on the hot path); OpenAPI
    describes them from `runtime.routes`."""
    runtime.route_table.add(path, _endpoint(route, runtime), methods=[method], name=route.operation)
    runtime.routes.append((path, method, route))


def _hook_of(module: ProjectModule | None, known: tuple[str, ...]) -> Mapping[str, Any]:
    if module is None or module.router is None:
        return {}
    where = f"modules/{module.name}/router.py"
    hook = read_hook(module.router, where)
    require_known_operations(hook, known, where)
    return hook


def _is_disabled(hook: Mapping[str, Any], operation: str) -> bool:
    disable = hook.get("disable")
    if disable is True:
        return True
    return isinstance(disable, Mapping) and bool(disable.get(operation))


def _mount_model_routes(app: FastAPI, runtime: Runtime) -> None:
    cfg = runtime.config
    for info in runtime.registry.values():
        if getattr(info.model, "__arkos_routes__", True) is False:
            continue
        module = runtime.modules.get(info.resource.replace("-", "_"))
        hook = _hook_of(module, OPERATION_NAMES)
        for op in OPERATIONS:
            default_auth = _default_requirement(module, info, op.action) if cfg.authentication.is_active else None
            options = merge_options(RouteOptions(authentication=default_auth), hook.get(op.name),
                                    where=f"{info.name}.{op.name}", resource=info.resource, action=op.action)
            if options.disabled or _is_disabled(hook, op.name) or _forbidden_bulk(info, op.name):
                continue
            interceptors = load_interceptors(module.interceptors if module else None, op.name,
                                             f"modules/{info.resource}/interceptors.py")
            if runtime.permissions is not None:
                from arkos.auth.dynamic_setup import builtin_interceptors, combine

                interceptors = combine(builtin_interceptors(runtime, info.model, op.name), interceptors)
            route = CompiledRoute(
                operation=op.name,
                options=options,
                handler=HANDLERS[op.name],
                validate=make_validator(op, options.extra.get("validation")),
                interceptors=interceptors,
                model=info,
                rate_limit=route_limit(options, f"{info.resource}.{op.name}"),
            )
            _add_route(app, runtime, f"{cfg.global_prefix}/{info.route}{op.suffix}", op.method, route)


def _forbidden_bulk(info: ModelInfo, operation: str) -> bool:
    from arkos.auth.dynamic_setup import FORBIDDEN_BULK, GRANTING_KINDS

    return getattr(info.model, "__arkos_kind__", None) in GRANTING_KINDS and operation in FORBIDDEN_BULK


def _default_requirement(module: ProjectModule | None, info: ModelInfo, action: str) -> Requirement | None:
    """Deny by default: the module's policy, else its (deprecated) auth.py, else super users only."""
    from arkos.auth.auth_config import legacy_requirement
    from arkos.auth.policy import module_policies

    for policy in module_policies(module):
        if policy.resource == info.resource and action in policy.rules:
            return policy.requirement(action)
    legacy = legacy_requirement(module, info.resource, action)
    if legacy is not False:
        return legacy  # type: ignore[return-value]
    return Requirement(resource=info.resource, action=action)


def _mount_auth_routes(app: FastAPI, runtime: Runtime) -> None:
    module = runtime.modules.get("auth")
    hook = _hook_of(module, AUTH_OPERATION_NAMES + ("find_many_auth_action", "find_one_auth_action"))
    handlers = AuthRoutes(runtime)
    prefix = runtime.config.global_prefix
    auth_limit = None
    if runtime.config.rate_limit.auth_limit is not None:
        from arkos.ratelimit import Limit, parse_rate

        auth_limit = Limit(parse_rate(runtime.config.rate_limit.auth_limit), "auth")  # one counter for /auth/*
    for op in AUTH_OPERATIONS:
        default = RouteOptions(authentication=Requirement(resource="auth") if op.authenticated else None)
        options = merge_options(default, hook.get(op.name), where=f"auth.{op.name}", resource="auth",
                                action=None)
        if options.disabled or _is_disabled(hook, op.name):
            continue
        route = CompiledRoute(
            operation=op.name,
            options=options,
            handler=handlers.handlers[op.name],
            validate=handlers.read_body if op.method in {"POST", "PATCH"} and op.name != "logout" else None,
            interceptors=load_interceptors(module.interceptors if module else None, op.name,
                                           "modules/auth/interceptors.py"),
            model=runtime.auth.user_info,
            rate_limit=route_limit(options, f"auth.{op.name}",
                                   default=auth_limit if op.path.startswith("/auth/") else None),
        )
        _add_route(app, runtime, f"{prefix}{op.path}", op.method, route)


def _mount_auth_actions(app: FastAPI, runtime: Runtime) -> None:
    """`GET /api/auth-actions[/{resource}]`, guarded by View on `auth-action` (DECISIONS 9)."""
    from arkos.auth.actions import AUTH_ACTION_OPERATIONS, AUTH_ACTION_RESOURCE, AuthActionRoutes
    from arkos.auth.policy import module_rule

    module = runtime.modules.get("auth")
    hook = _hook_of(module, AUTH_OPERATION_NAMES + AUTH_ACTION_OPERATIONS)
    handlers = AuthActionRoutes(runtime)
    rule = module_rule(runtime.modules.get("auth_action"), AUTH_ACTION_RESOURCE, "View")
    prefix = runtime.config.global_prefix
    for name, suffix, handler in (("find_many_auth_action", "", handlers.find_many),
                                  ("find_one_auth_action", "/{resource}", handlers.find_one)):
        default = RouteOptions(authentication=Requirement(resource=AUTH_ACTION_RESOURCE, action="View", rule=rule))
        options = merge_options(default, hook.get(name), where=f"auth.{name}", resource=AUTH_ACTION_RESOURCE,
                                action="View")
        if options.disabled or _is_disabled(hook, name):
            continue
        route = CompiledRoute(operation=name, options=options, handler=handler,
                              interceptors=load_interceptors(module.interceptors if module else None, name,
                                                             "modules/auth/interceptors.py"))
        _add_route(app, runtime, f"{prefix}/auth-actions{suffix}", "GET", route)


def _upload_service(cfg: ArkosConfig) -> Any:
    from arkos.uploads.service import UploadService

    return UploadService(cfg.file_upload)


def _mount_upload_routes(app: FastAPI, runtime: Runtime) -> None:
    """`file_upload.base_route` routes: View/Create/Update/Delete on `file-upload` (DECISIONS 9)."""
    from arkos.uploads.routes import UPLOAD_OPERATION_NAMES, build_upload_routes

    module = runtime.modules.get("file_upload")
    hook = _hook_of(module, UPLOAD_OPERATION_NAMES)
    for path, method, route in build_upload_routes(runtime, module, hook, limit_of=route_limit):
        if not _is_disabled(hook, route.operation):
            _add_route(app, runtime, path, method, route)


def _mount_project_routers(app: FastAPI, runtime: Runtime) -> None:
    """Custom routers come first, so they take precedence over generated routes with the same path."""
    for module in runtime.modules.values():
        router = getattr(module.router, "router", None) if module.router else None
        if router is None:
            continue
        if router_requirements(router) and not runtime.config.authentication.mode:
            path = router_requirements(router)[0][0]
            raise ConfigError(f"modules/{module.name}/router.py: route {path} asks for authentication, "
                              "but authentication.mode is not set")
        app.include_router(router)


def _mount_guarded_docs(app: FastAPI, runtime: Runtime) -> None:
    """In production the API docs are for super users only (as in the reference)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    prefix = runtime.config.global_prefix
    requirement = Requirement(resource="docs", action="View")

    async def schema(ctx: Any) -> None:
        ctx.data = app.openapi()

    async def page(ctx: Any) -> None:
        ctx.data = get_swagger_ui_html(openapi_url=f"{prefix}/openapi.json", title="API docs")

    for path, handler in ((f"{prefix}/openapi.json", schema), (f"{prefix}/docs", page)):
        route = CompiledRoute(operation="docs", options=RouteOptions(authentication=requirement), handler=handler)

        runtime.route_table.add(path, _endpoint(route, runtime), methods=["GET"], include_in_schema=False)


def _mount_health(app: FastAPI, runtime: Runtime) -> None:
    """Liveness (the process answers) and readiness (the database, and Redis when configured, answer)."""
    import sqlalchemy as sa

    from arkos.errors import json_response

    async def live(_request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(_request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with runtime.database.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports, it never raises
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if runtime.redis is not None:
            try:
                await runtime.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"unavailable: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return json_response({"status": "ok" if healthy else "unavailable", "checks": checks},
                             200 if healthy else 503)

    prefix = runtime.config.global_prefix
    runtime.route_table.add(f"{prefix}/health/live", live, methods=["GET"], include_in_schema=False)
    runtime.route_table.add(f"{prefix}/health/ready", ready, methods=["GET"], include_in_schema=False)


def _mount_welcome(app: FastAPI, runtime: Runtime) -> None:
    async def welcome(_request: Request) -> Response:
        from arkos.errors import json_response

        return json_response({"message": "Welcome to your arkos API"})

    runtime.route_table.add(runtime.config.global_prefix, welcome, methods=["GET"], name="welcome")


def _add_middleware(app: FastAPI, runtime: Runtime) -> None:
    """Outermost first: CORS answers preflights, then the app-wide rate limit, then the body size limit."""
    cfg = runtime.config
    from arkos.routing.validation import BodyLimitMiddleware

    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.max_body_bytes, debug=cfg.is_development)
    if runtime.limiter is not None and cfg.rate_limit.global_limit is not None:
        from arkos.ratelimit import GlobalRateLimitMiddleware, Limit, parse_rate

        app.add_middleware(GlobalRateLimitMiddleware, limiter=runtime.limiter,
                           limit=Limit(parse_rate(cfg.rate_limit.global_limit), "global", "Too many requests"),
                           debug=cfg.is_development)
    cors = cfg.cors
    origins = cors.allow_origins
    regex = cfg.cors_origin_regex
    if origins or regex:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(origins or ()), allow_origin_regex=regex,
                           allow_credentials=cors.allow_credentials, allow_methods=list(cors.allow_methods),
                           allow_headers=list(cors.allow_headers), max_age=cors.max_age_seconds)


def route_limit(options: RouteOptions, scope: str, default: Any = None) -> Any:
    """A route's `rate_limit` option (hook or ArkosRouter) → Limit; `None`/False in a hook switches it off."""
    if "rate_limit" not in options.extra:
        return default
    value = options.extra["rate_limit"]
    if value in (None, False):
        return None
    from arkos.ratelimit import Limit, parse_rate

    return Limit(parse_rate(value), scope)


def _add_error_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    app.add_exception_handler(ArkosError, handle_arkos_error)
    # Custom routes that use the engine themselves: a database error is answered here, like in the
    # pipeline, rather than by the catch-all (which Starlette re-raises, so every outage or statement
    # timeout would also be logged as "Exception in ASGI application").
    app.add_exception_handler(SQLAlchemyError, _unexpected_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    debug = request.app.state.arkos.config.is_development
    if exc.status_code == 404:
        route = f"{request.method} {request.url.path}"
        error = ArkosError(ErrorCode.ROUTE_NOT_FOUND, f"Route {route} was not found", meta={"route": route})
    elif exc.status_code == 405:
        error = ArkosError(ErrorCode.METHOD_NOT_ALLOWED, f"Method {request.method} is not allowed here")
    else:
        error = ArkosError(ErrorCode.UNKNOWN, str(exc.detail), status=exc.status_code)
    response = error_response(error, debug=debug)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(to_camel(str(p)) for p in e.get("loc", ()) if p not in ("body", "query", "path")),
         "location": str(e.get("loc", ("",))[0]), "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    return error_response(ArkosError(ErrorCode.VALIDATION, "Invalid request data", meta={"errors": errors}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    from arkos.db_errors import is_db_error, translate_db_error

    debug = request.app.state.arkos.config.is_development
    error = translate_db_error(exc) if is_db_error(exc) else internal_error(exc, debug=debug)
    return error_response(error, debug=debug)


create_app = init
