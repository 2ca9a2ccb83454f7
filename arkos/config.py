"""ArkosConfig and its parts: one validated, frozen object built from code, environment and `.env`."""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


MIN_SECRET_BYTES = 32


class ConfigError(ValueError):
    """A configuration mistake found at startup; its message names the key and what is allowed."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|y)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 31_557_600}


def parse_duration(value: str | int) -> int:
    """`30d`, `12h`, `90m`, `3600s` or a number of seconds → seconds (DECISIONS 2)."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30d, 12h, 90m, 3600s or a number of seconds")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value
    match = _DURATION.match(str(value))
    if not match or int(match.group(1)) <= 0:
        raise ValueError(
            f"must be a duration such as 30d, 12h, 90m, 3600s or a number of seconds; got {value!r}"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


class CookieConfig(_Frozen):
    secure: bool | None = Field(None, description="HTTPS-only cookie; default true in production")
    http_only: bool = Field(True, description="Blocks JavaScript access to the cookie")
    same_site: Literal["lax", "strict", "none"] | None = Field(
        None, description='SameSite policy; default "lax" in development, "none" in production'
    )
    domain: str | None = Field(None, description="Cookie domain; unset by default")


class JwtConfig(_Frozen):
    secret: SecretStr | None = Field(None, description="Signs and verifies tokens; required in production")
    expires_in: str | int = Field("30d", description="Token lifetime: 30d, 12h, 90m, 3600s or seconds")
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    cookie: CookieConfig = CookieConfig()

    @field_validator("expires_in", mode="before")
    @classmethod
    def _check_duration(cls, value: object) -> object:
        # before coercion: pydantic would otherwise turn `True` into a 1-second lifetime
        parse_duration(value)  # type: ignore[arg-type]
        return value

    @property
    def expires_in_seconds(self) -> int:
        return parse_duration(self.expires_in)


class LoginConfig(_Frozen):
    send_access_token_through: Literal["cookie-only", "response-only", "both"] = "both"
    allowed_usernames: tuple[str, ...] = ("username",)

    @field_validator("allowed_usernames")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one user field")
        return value


class AuthHooks(_Frozen):
    before: tuple[Callable[..., Any], ...] = ()
    after: tuple[Callable[..., Any], ...] = ()
    on_error: tuple[Callable[..., Any], ...] = ()

    @field_validator("before", "after", "on_error", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return _as_tuple(value)


class HooksConfig(_Frozen):
    authenticate: AuthHooks = AuthHooks()
    authorize: AuthHooks = AuthHooks()


class AuthenticationConfig(_Frozen):
    mode: Literal["static", "dynamic"] | None = Field(None, description="Permission mode; unset means no auth")
    enabled: bool = True
    login: LoginConfig = LoginConfig()
    jwt: JwtConfig = JwtConfig()
    bcrypt_rounds: int = Field(12, ge=4, le=31, description="bcrypt cost factor")
    user_model: str = Field("User", description="Name of the mapped class that holds users")
    password_regex: str = Field(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*\d).{8,}$")
    password_message: str = (
        "The new password must be at least 8 characters long and contain at least one uppercase letter, "
        "one lowercase letter, and one number"
    )
    hooks: HooksConfig = HooksConfig()

    @property
    def is_active(self) -> bool:
        return self.mode is not None and self.enabled


class DatabaseConfig(_Frozen):
    url: str = Field("sqlite+aiosqlite:///./arkos.db", description="SQLAlchemy async URL (DATABASE_URL)")
    echo: bool = False
    sqlite_read_lane: bool = Field(
        True, description="SQLite: run arkos's prebuilt hot reads on plain sqlite3 (see arkos/readlane.py)")
    postgresql_read_lane: bool = Field(
        True, description="PostgreSQL: run arkos's prebuilt hot reads on asyncpg directly, one round trip "
                          "each, in autocommit (see arkos/pglane.py)")
    read_lane_connections: int = Field(
        4, ge=1, le=100, description="PostgreSQL read lane: connections per worker (each held for one read)")
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(10, ge=0)
    pool_timeout_seconds: float = Field(10.0, gt=0)
    connect_timeout_seconds: float = Field(
        5.0, gt=0, description="PostgreSQL: give up opening a connection after this long (a 503, not a hang)")
    statement_timeout_ms: int | None = Field(None, ge=1, description="PostgreSQL statement_timeout")
    schema_name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="PostgreSQL search_path (one schema per tenant or test run)")

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db "
                f"(postgres:// and sqlite:/// are accepted too); got {value.split('@')[-1]!r}"
            )
        return value


class QueryConfig(_Frozen):
    default_limit: int = Field(30, ge=1)
    max_limit: int = Field(100, ge=1)
    allow_limit_all: bool = False


class RateLimitConfig(_Frozen):
    """Reference defaults: 300 requests a minute per IP app-wide, 10 per 5 s on /api/auth/*."""

    enabled: bool = True
    global_limit: str | dict[str, int] | None = Field("300/minute", description="App-wide limit per client IP")
    auth_limit: str | dict[str, int] | None = Field("10/5 seconds", description="Shared by the /auth/* routes")

    @field_validator("global_limit", "auth_limit")
    @classmethod
    def _check_rate(cls, value: object) -> object:
        if value is not None:
            from arkos.ratelimit import parse_rate

            parse_rate(value)
        return value


class CorsConfig(_Frozen):
    """Cross-origin access. Development allows localhost front ends; production allows nothing unless listed."""

    allow_origins: tuple[str, ...] | None = Field(None, description="Exact origins; None: the environment default")
    allow_origin_regex: str | None = None
    allow_credentials: bool = True
    allow_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    allow_headers: tuple[str, ...] = ("Content-Type", "Authorization")
    max_age_seconds: int = 600

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsConfig:
        # Starlette answers "*" with credentials by echoing the caller's origin: every site could then
        # read a logged-in user's data with the cookie.
        if self.allow_origins and "*" in self.allow_origins and self.allow_credentials:
            raise ValueError('allow_origins "*" cannot be combined with allow_credentials=True (any site could '
                             "make cookie-authenticated requests): list the origins, or set allow_credentials=False")
        return self


class CsrfConfig(_Frozen):
    """Cookie-authenticated unsafe requests must come from a trusted origin (DECISIONS 12)."""

    enabled: bool = True
    trusted_origins: tuple[str, ...] = Field((), description="Origins allowed besides the API's own and CORS's")


_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")


class UploadRestriction(_Frozen):
    """Limits for one file type; a field left None keeps that type's built-in default (docs/uploads.md)."""

    max_size_bytes: int | None = Field(None, ge=1, description="Largest accepted file, enforced while streaming")
    max_count: int | None = Field(None, ge=1, description="Most files in one request")
    allowed_extensions: tuple[str, ...] | None = Field(
        None, description="Lower-case extensions without the dot; replaces the type's default allow-list")
    directory: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$",
                                  description="Sub-directory of base_upload_dir; default the type's name")

    @field_validator("allowed_extensions", mode="before")
    @classmethod
    def _normalize_extensions(cls, value: object) -> object:
        if value is None or isinstance(value, str):
            return value  # a bare string fails the tuple check with a clear message
        extensions = tuple(str(ext).strip().lower().lstrip(".") for ext in value)  # type: ignore[attr-defined]
        bad = [ext for ext in extensions if not _EXTENSION.match(ext)]
        if bad:
            raise ValueError(f"extensions must be letters and digits only (no dots or patterns); got {bad}")
        return extensions


class UploadRestrictions(_Frozen):
    images: UploadRestriction = UploadRestriction()
    videos: UploadRestriction = UploadRestriction()
    documents: UploadRestriction = UploadRestriction()
    files: UploadRestriction = UploadRestriction()


class FileUploadConfig(_Frozen):
    """The `/api/uploads` routes and every upload (also `uploads=` on ArkosRouter routes)."""

    enabled: bool = Field(True, description="False: the upload routes are not mounted")
    base_route: str = Field("/api/uploads", pattern=r"^(/[A-Za-z0-9_-]+)+$",
                            description="Where the upload routes are mounted (not under global_prefix)")
    base_upload_dir: str = Field("uploads", description="Root directory of LocalStorage, relative to the cwd")
    restrictions: UploadRestrictions = UploadRestrictions()
    max_image_pixels: int = Field(40_000_000, ge=1, description="Larger images are refused before decoding")
    max_image_dimension: int = Field(4096, ge=1, description="Largest width or height asked of ?width/?height")
    storage: Any = Field(None, description="An arkos.uploads.Storage; None: LocalStorage(base_upload_dir)")


class ArkosConfig(_Frozen):
    """Everything arkos needs to build an app; built once at startup and never mutated."""

    env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    graceful_timeout_seconds: float = Field(
        30.0, gt=0, description="`arkos start`: how long in-flight requests may run after SIGTERM before they "
        "are cancelled (their transactions roll back)")
    global_prefix: str = "/api"
    package: str | None = Field(None, description="Project package holding models and modules/")
    models: Any = Field(None, description="DeclarativeBase subclass, list of models or 'pkg.module:Base'")
    database: DatabaseConfig = DatabaseConfig()
    authentication: AuthenticationConfig = AuthenticationConfig()
    query: QueryConfig = QueryConfig()
    redis_url: str | None = None
    redis_prefix: str = Field("arkos:", description="Prefix of every Redis key arkos writes")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    trusted_proxies: tuple[str, ...] = Field((), description="Proxies whose X-Forwarded-* headers are believed")
    rate_limit: RateLimitConfig = RateLimitConfig()
    cors: CorsConfig = CorsConfig()
    csrf: CsrfConfig = CsrfConfig()
    file_upload: FileUploadConfig = FileUploadConfig()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def cookie_secure(self) -> bool:
        configured = self.authentication.jwt.cookie.secure
        return self.is_production if configured is None else configured

    @property
    def cors_origin_regex(self) -> str | None:
        """The configured regex; in development with nothing configured, local front ends (any port)."""
        cors = self.cors
        if cors.allow_origins is None and cors.allow_origin_regex is None and self.is_development:
            return r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
        return cors.allow_origin_regex

    @property
    def cookie_same_site(self) -> str:
        configured = self.authentication.jwt.cookie.same_site
        return ("none" if self.is_production else "lax") if configured is None else configured

    @model_validator(mode="after")
    def _production_rules(self, info: ValidationInfo) -> ArkosConfig:
        # Checked once the environment is merged in (define_config): a typed ArkosConfig(...) built in
        # code may rightly lack a secret that JWT_SECRET will provide.
        if not (info.context or {}).get("complete"):
            return self
        auth = self.authentication
        if self.is_production and auth.is_active and not auth.jwt.secret:
            raise ValueError(
                "authentication.jwt.secret (env JWT_SECRET) is required in production: "
                "set JWT_SECRET to a long random string"
            )
        secret = auth.jwt.secret.get_secret_value() if auth.jwt.secret else ""
        if self.is_production and auth.is_active and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"authentication.jwt.secret (env JWT_SECRET) must be at least {MIN_SECRET_BYTES} bytes in "
                "production (HS256 needs a key as long as its hash); generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        if self.cookie_same_site == "none" and not self.cookie_secure:
            raise ValueError(
                "authentication.jwt.cookie: SameSite=None requires secure=True (browsers reject it otherwise); "
                "set JWT_COOKIE_SECURE=true or JWT_COOKIE_SAME_SITE=lax"
            )
        return self


class _Environment(BaseSettings):
    """The environment variables arkos reads (and `.env`), by their documented names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    ARKOS_ENV: str | None = None
    DATABASE_URL: str | None = None
    JWT_SECRET: str | None = None
    JWT_EXPIRES_IN: str | None = None
    JWT_COOKIE_SECURE: str | None = None
    JWT_COOKIE_HTTP_ONLY: str | None = None
    JWT_COOKIE_SAME_SITE: str | None = None
    JWT_COOKIE_DOMAIN: str | None = None
    REDIS_URL: str | None = None
    HOST: str | None = None
    PORT: str | None = None


# env var -> (config path, allowed values for the error message)
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "ARKOS_ENV": ("env",),
    "DATABASE_URL": ("database", "url"),
    "JWT_SECRET": ("authentication", "jwt", "secret"),
    "JWT_EXPIRES_IN": ("authentication", "jwt", "expires_in"),
    "JWT_COOKIE_SECURE": ("authentication", "jwt", "cookie", "secure"),
    "JWT_COOKIE_HTTP_ONLY": ("authentication", "jwt", "cookie", "http_only"),
    "JWT_COOKIE_SAME_SITE": ("authentication", "jwt", "cookie", "same_site"),
    "JWT_COOKIE_DOMAIN": ("authentication", "jwt", "cookie", "domain"),
    "REDIS_URL": ("redis_url",),
    "HOST": ("host",),
    "PORT": ("port",),
}
_ENV_BY_PATH = {path: name for name, path in ENV_KEYS.items()}
_BOOL_ENV = {"JWT_COOKIE_SECURE", "JWT_COOKIE_HTTP_ONLY"}


def _env_value(name: str, raw: str) -> object:
    if name in _BOOL_ENV:
        lowered = raw.strip().lower()
        if lowered not in {"true", "false", "1", "0"}:
            raise ConfigError(f"{name}: must be true or false; got {raw!r}")
        return lowered in {"true", "1"}
    if name == "JWT_EXPIRES_IN" and raw.strip().isascii() and raw.strip().isdigit():
        return int(raw)
    return raw


def _environment_layer(env_file: str | os.PathLike[str] | None) -> dict[str, Any]:
    settings = _Environment(_env_file=env_file)  # type: ignore[call-arg]
    layer: dict[str, Any] = {}
    for name, path in ENV_KEYS.items():
        raw = getattr(settings, name)
        if raw is None or raw == "":
            continue
        _set_path(layer, path, _env_value(name, raw))
    return layer


def _set_path(target: dict[str, Any], path: Sequence[str], value: object) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _as_plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        value = _as_plain(value)
        current = _as_plain(merged.get(key))
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _as_tuple(value: object) -> object:
    if value is None:
        return ()
    if callable(value):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


def _explain(error: ValidationError, env_layer: Mapping[str, Any]) -> ConfigError:
    lines = []
    for item in error.errors():
        path = tuple(str(part) for part in item["loc"] if not isinstance(part, int))
        key = ".".join(path) or "config"
        env_name = _ENV_BY_PATH.get(path)
        if env_name and _lookup(env_layer, path) is not None:
            key = f"{key} (env {env_name})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {message}")
    return ConfigError("Invalid arkos configuration:\n  " + "\n  ".join(lines))


def _fill_unset(merged: dict[str, Any], env_layer: Mapping[str, Any]) -> dict[str, Any]:
    """An explicit None means "not set": the environment still applies. The seed's explicit wiring
    (`secret: process.env.JWT_SECRET`) is `os.environ.get(...)` in Python, None when the value is in `.env`."""
    for path in ENV_KEYS.values():
        env_value = _lookup(env_layer, path)
        parent = _lookup(merged, path[:-1]) if len(path) > 1 else merged
        if env_value is not None and isinstance(parent, dict) and parent.get(path[-1]) is None:
            parent[path[-1]] = env_value
    return merged


def _lookup(tree: Mapping[str, Any], path: Sequence[str]) -> object:
    node: object = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def define_config(
    config: ArkosConfig | Mapping[str, Any] | None = None,
    /,
    *,
    env_file: str | os.PathLike[str] | None = ".env",
    **options: Any,
) -> ArkosConfig:
    """Build the validated config: defaults < environment and `.env` < what the code says.

    Raises ConfigError naming every bad key (and its environment variable) with what is allowed.
    """
    explicit: dict[str, Any] = {}
    if config is not None:
        explicit = deep_merge(explicit, _as_plain(config) if isinstance(config, BaseModel) else config)  # type: ignore[arg-type]
    explicit = deep_merge(explicit, options)
    env_layer = _environment_layer(env_file)
    try:
        return ArkosConfig.model_validate(_fill_unset(deep_merge(env_layer, explicit), env_layer),
                                          context={"complete": True})
    except ValidationError as exc:
        raise _explain(exc, env_layer) from None


def load_project_config(module_name: str | None = None) -> ArkosConfig | None:
    """Import the project config module (`ARKOS_CONFIG` or `arkos_config`) and return its config, if any."""
    name = module_name or os.environ.get("ARKOS_CONFIG") or "arkos_config"
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name and not os.environ.get("ARKOS_CONFIG") and module_name is None:
            return None
        raise
    for attr in ("config", "arkos_config", "default"):
        found = getattr(module, attr, None)
        if isinstance(found, ArkosConfig):
            return found
    raise ConfigError(f"{name}: expected a module-level `config = define_config(...)`")
