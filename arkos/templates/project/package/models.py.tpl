"""{{ name }}'s models: every mapped class gets REST routes under /api."""

import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arkos import UserMixin, role_column


class Base(DeclarativeBase):
    pass


class UserRole(enum.Enum):
    Admin = "Admin"
    User = "User"


class User(UserMixin, Base):
    __tablename__ = "user"

    role: Mapped[UserRole] = role_column(UserRole, default=UserRole.User)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
