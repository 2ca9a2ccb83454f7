"""arkos: SQLAlchemy models → a secured REST API on FastAPI (JWT, RBAC, generated CRUD routes)."""

from arkos.app import Runtime, create_app, init
from arkos.auth.models import UserMixin, arkos_metadata, role_column, roles_column
from arkos.auth.permission_models import Effect, PermissionModels, define_permission_models
from arkos.auth.policy import ArkosPolicy
from arkos.auth.principal import Principal
from arkos.config import ArkosConfig, ConfigError, define_config
from arkos.context import RequestContext
from arkos.errors import ArkosError, ErrorCode
from arkos.routing.router import ArkosRouter, CurrentUser, authorize, get_current_user

__all__ = [
    "ArkosConfig",
    "ArkosError",
    "ArkosPolicy",
    "ArkosRouter",
    "ConfigError",
    "CurrentUser",
    "Effect",
    "ErrorCode",
    "PermissionModels",
    "Principal",
    "RequestContext",
    "Runtime",
    "UserMixin",
    "arkos_metadata",
    "authorize",
    "create_app",
    "define_config",
    "define_permission_models",
    "get_current_user",
    "init",
    "role_column",
    "roles_column",
]
