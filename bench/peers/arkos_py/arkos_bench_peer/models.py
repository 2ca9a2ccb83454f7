"""The peer workload's tables: `user` (arkos.UserMixin + a static role) and `post`.

`post` mirrors the other peers' table column by column (`authorId` is a plain string column with no
foreign key, `createdAt` a timezone-aware timestamp); on the wire arkos speaks camelCase, so the
Python attributes are snake_case and the database column names are the peers' own.
"""

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


class Post(Base):
    __tablename__ = "post"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[str] = mapped_column("authorId", sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column("createdAt", sa.DateTime(timezone=True), default=_now)
