"""Models of the operations tests (outage, shutdown): users and a table written in two halves."""

import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arkos import UserMixin, role_column


class Base(DeclarativeBase):
    pass


class Role(enum.Enum):
    Admin = "Admin"
    User = "User"


class User(UserMixin, Base):
    __tablename__ = "users"

    role: Mapped[Role | None] = role_column(Role, default=Role.User)


class Entry(Base):
    """A slow request writes part 1, waits, then part 2 of one batch, in one transaction."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch: Mapped[str] = mapped_column(sa.String(64))
    part: Mapped[int] = mapped_column(default=1)
