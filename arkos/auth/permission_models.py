"""Dynamic mode's tables, declared on the project's own Base: roles, permissions and who holds them."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship


class Effect(enum.Enum):
    Allow = "Allow"
    Deny = "Deny"


def _id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class PermissionModels:
    """The mapped classes `define_permission_models` created."""

    AuthRole: type
    AuthPermission: type
    AuthRolePermission: type
    UserRole: type
    UserPermission: type

    def all(self) -> tuple[type, ...]:
        return (self.AuthRole, self.AuthPermission, self.AuthRolePermission, self.UserRole, self.UserPermission)


def define_permission_models(base: type, *, user_model: type, table_prefix: str = "") -> PermissionModels:
    """Declare AuthRole, AuthPermission, AuthRolePermission, UserRole and UserPermission on `base`.

    Call it once in the project's models module (after the User model) and export the classes, so that
    Alembic and `arkos db push` see the tables: `AuthRole, ... = define_permission_models(Base, user_model=User)`.
    """
    user_table = user_model.__table__  # type: ignore[attr-defined]
    user_pk = next(iter(user_table.primary_key.columns))
    user_fk = f"{user_table.name}.{user_pk.name}"
    user_type = user_pk.type
    p = table_prefix

    auth_role = type("AuthRole", (base,), {
        "__tablename__": f"{p}auth_role",
        "__arkos_kind__": "auth_role",
        "__annotations__": {"id": Mapped[str], "name": Mapped[str], "description": Mapped[str | None]},
        "id": mapped_column(sa.String(36), primary_key=True, default=_id),
        "name": mapped_column(sa.String(100), unique=True),
        "description": mapped_column(sa.String(500), nullable=True),
    })
    auth_permission = type("AuthPermission", (base,), {
        "__tablename__": f"{p}auth_permission",
        "__arkos_kind__": "auth_permission",
        "__table_args__": (sa.UniqueConstraint("resource", "action", name=f"uq_{p}auth_permission_resource_action"),),
        "__annotations__": {"id": Mapped[str], "resource": Mapped[str], "action": Mapped[str],
                            "description": Mapped[str | None]},
        "id": mapped_column(sa.String(36), primary_key=True, default=_id),
        "resource": mapped_column(sa.String(100)),
        "action": mapped_column(sa.String(100), default="View"),
        "description": mapped_column(sa.String(500), nullable=True),
    })
    role_permission = type("AuthRolePermission", (base,), {
        "__tablename__": f"{p}auth_role_permission",
        "__arkos_kind__": "auth_role_permission",
        "__table_args__": (sa.UniqueConstraint("role_id", "permission_id", name=f"uq_{p}auth_role_permission"),),
        "__annotations__": {"id": Mapped[str], "role_id": Mapped[str], "permission_id": Mapped[str]},
        "id": mapped_column(sa.String(36), primary_key=True, default=_id),
        "role_id": mapped_column(sa.ForeignKey(f"{p}auth_role.id", ondelete="CASCADE"), index=True),
        "permission_id": mapped_column(sa.ForeignKey(f"{p}auth_permission.id", ondelete="CASCADE"), index=True),
        "role": relationship(auth_role),
        "permission": relationship(auth_permission),
    })
    user_role = type("UserRole", (base,), {
        "__tablename__": f"{p}user_role",
        "__arkos_kind__": "user_role",
        "__table_args__": (sa.UniqueConstraint("user_id", "role_id", name=f"uq_{p}user_role"),),
        "__annotations__": {"id": Mapped[str], "user_id": Mapped[Any], "role_id": Mapped[str]},
        "id": mapped_column(sa.String(36), primary_key=True, default=_id),
        "user_id": mapped_column(user_type, sa.ForeignKey(user_fk, ondelete="CASCADE"), index=True),
        "role_id": mapped_column(sa.ForeignKey(f"{p}auth_role.id", ondelete="CASCADE"), index=True),
        "role": relationship(auth_role),
        "user": relationship(user_model),
    })
    user_permission = type("UserPermission", (base,), {
        "__tablename__": f"{p}user_permission",
        "__arkos_kind__": "user_permission",
        "__table_args__": (sa.UniqueConstraint("user_id", "permission_id", name=f"uq_{p}user_permission"),),
        "__annotations__": {"id": Mapped[str], "user_id": Mapped[Any], "permission_id": Mapped[str],
                            "effect": Mapped[Effect]},
        "id": mapped_column(sa.String(36), primary_key=True, default=_id),
        "user_id": mapped_column(user_type, sa.ForeignKey(user_fk, ondelete="CASCADE"), index=True),
        "permission_id": mapped_column(sa.ForeignKey(f"{p}auth_permission.id", ondelete="CASCADE"), index=True),
        "effect": mapped_column(sa.Enum(Effect, name=f"{p}permission_effect"), default=Effect.Allow),
        "permission": relationship(auth_permission),
        "user": relationship(user_model),
    })
    return PermissionModels(auth_role, auth_permission, role_permission, user_role, user_permission)


def find_permission_models(models: list[type]) -> PermissionModels | None:
    kinds = {getattr(m, "__arkos_kind__", None): m for m in models}
    names = ("auth_role", "auth_permission", "auth_role_permission", "user_role", "user_permission")
    if not all(name in kinds for name in names):
        return None
    return PermissionModels(*(kinds[name] for name in names))
