"""The demo's models: the seed's User, plus Post and Comment."""

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from arkos import UserMixin, define_permission_models, role_column


class Base(DeclarativeBase):
    pass


class UserRole(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"
    User = "User"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class User(UserMixin, Base):
    __tablename__ = "user"

    role: Mapped[UserRole] = role_column(UserRole, default=UserRole.User)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now, onupdate=_now)

    posts: Mapped[list["Post"]] = relationship(back_populates="author")


class Post(Base):
    __tablename__ = "post"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    published: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[str] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)

    author: Mapped[User] = relationship(back_populates="posts")
    comments: Mapped[list["Comment"]] = relationship(back_populates="post")


class Comment(Base):
    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    content: Mapped[str] = mapped_column(sa.Text)
    post_id: Mapped[str] = mapped_column(sa.ForeignKey("post.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)

    post: Mapped[Post] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()


# Dynamic mode's tables (AUTH_MODE=dynamic): roles and permissions stored in the database.
AuthRole, AuthPermission, AuthRolePermission, UserRole, UserPermission = define_permission_models(
    Base, user_model=User
).all()
