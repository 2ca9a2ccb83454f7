"""The user model's required columns (the seed's table) as a mixin, role columns, and arkos's own tables."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

# Columns a client may never set through signup, /users/me or bulk routes (DECISIONS 5).
PRIVILEGED_USER_FIELDS = (
    "id",
    "is_super_user",
    "is_staff",
    "is_active",
    "role",
    "roles",
    "password_changed_at",
    "last_login_at",
    "deleted_self_account_at",
)
REQUIRED_USER_FIELDS = (
    "id",
    "password",
    "password_changed_at",
    "last_login_at",
    "is_super_user",
    "is_staff",
    "deleted_self_account_at",
    "is_active",
)


def _new_id() -> str:
    return str(uuid.uuid4())


class UserMixin:
    """Mix into the project's `User` model to get every column arkos needs.

    Add `role = role_column(UserRole)` (or `roles = roles_column(UserRole)`) for static mode.
    Extend `__privileged__` to protect more columns from clients.
    """

    __privileged__: tuple[str, ...] = PRIVILEGED_USER_FIELDS

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=_new_id)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True, index=True)
    password: Mapped[str] = mapped_column(sa.String(128), info={"sensitive": True, "password": True})
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    is_super_user: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    is_staff: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    deleted_self_account_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())


def role_column(roles: type[enum.Enum], *, default: enum.Enum | None = None) -> Any:
    """Static mode, one role per user: an enum column (the seed's `role UserRole @default(User)`)."""
    return mapped_column(
        sa.Enum(roles, name=f"{roles.__name__.lower()}", values_callable=lambda e: [m.value for m in e]),
        default=default,
        nullable=default is None,
    )


def roles_column(roles: type[enum.Enum]) -> Any:
    """Static mode, several roles per user: a PostgreSQL enum array, a JSON list on SQLite."""
    enum_type = sa.Enum(roles, name=f"{roles.__name__.lower()}", values_callable=lambda e: [m.value for m in e])
    return mapped_column(
        sa.JSON().with_variant(postgresql.ARRAY(enum_type), "postgresql"),
        default=list,
        info={"enum": roles},
    )


# arkos's own tables live in their own metadata: `arkos db push` and the Alembic template include it.
arkos_metadata = sa.MetaData()

revoked_tokens = sa.Table(
    "arkos_revoked_token",
    arkos_metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
