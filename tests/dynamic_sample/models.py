"""Models for the dynamic-mode tests: a User (with a static role column, used only by migrate-to-dynamic),
a Note, and the permission tables on the same Base."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arkos import UserMixin, define_permission_models, role_column


class Base(DeclarativeBase):
    pass


class Role(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"
    Reader = "Reader"


class User(UserMixin, Base):
    __tablename__ = "dyn_user"

    role: Mapped[Role | None] = role_column(Role)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.String(200))


AuthRole, AuthPermission, AuthRolePermission, UserRole, UserPermission = define_permission_models(
    Base, user_model=User
).all()
