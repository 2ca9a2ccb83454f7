"""User (arkos.UserMixin + a static role), Post (authenticated routes) and OpenPost (same table shape,
find_many / find_one with authentication off through its route hook)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import arkos


class Base(DeclarativeBase):
    pass


class UserRole(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"
    User = "User"


class User(arkos.UserMixin, Base):
    __tablename__ = "user"

    role: Mapped[UserRole] = arkos.role_column(UserRole, default=UserRole.User)
    email: Mapped[str | None] = mapped_column(sa.String(320), unique=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _PostColumns:
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[str] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)


class Post(_PostColumns, Base):
    __tablename__ = "post"


class OpenPost(_PostColumns, Base):
    __tablename__ = "open_post"


# Dynamic mode's tables (bench/dynamic_vs_static.py runs this app with AUTH_MODE=dynamic too).
AuthRole, AuthPermission, AuthRolePermission, UserRole_, UserPermission = arkos.define_permission_models(
    Base, user_model=User
).all()
