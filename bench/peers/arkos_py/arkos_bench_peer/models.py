"""The peer workload's tables: `user` (arkos.UserMixin + a static role) and `post`.

`post` mirrors the other peers' table (`authorId` is a plain string column with no foreign key,
`createdAt` a timezone-aware timestamp). arkos speaks camelCase on the wire (`authorId`, `createdAt`)
and snake_case in Python and SQL (`author_id`, `created_at`). The database column names are left
at the attribute names on purpose: with `mapped_column("authorId")` under an `author_id` attribute,
arkos's generated create answers 503 (repository.insert_one passes attribute keys to a Core insert:
"Unconsumed column names: author_id").
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
    author_id: Mapped[str] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)
