"""Models covering string (uuid) and integer keys, relations both ways, sensitive fields and column types."""

import datetime as dt
import decimal
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from arkos import UserMixin, role_column, roles_column


class Base(DeclarativeBase):
    pass


class Role(enum.Enum):
    Admin = "Admin"
    Editor = "Editor"
    User = "User"


class Status(enum.Enum):
    draft = "draft"
    published = "published"


class User(UserMixin, Base):
    __tablename__ = "users"

    role: Mapped[Role | None] = role_column(Role, default=Role.User)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    nickname: Mapped[str | None] = mapped_column(sa.String(50))
    api_secret: Mapped[str | None] = mapped_column(sa.String(64), info={"sensitive": True})

    articles: Mapped[list["Article"]] = relationship(back_populates="author")
    profile: Mapped["Profile | None"] = relationship(back_populates="user", uselist=False)


class Profile(Base):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    nickname: Mapped[str] = mapped_column(sa.String(50), unique=True)
    bio: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)

    user: Mapped[User] = relationship(back_populates="profile")


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text, default="")
    views: Mapped[int] = mapped_column(default=0)
    published: Mapped[bool] = mapped_column(default=False)
    status: Mapped[Status] = mapped_column(sa.Enum(Status), default=Status.draft)
    author_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )

    author: Mapped[User | None] = relationship(back_populates="articles")
    comments: Mapped[list["Comment"]] = relationship(back_populates="article")


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(sa.String(500))
    article_id: Mapped[str] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"))

    article: Mapped[Article] = relationship(back_populates="comments")


class Gadget(Base):
    """Every column type the query features coerce."""

    __tablename__ = "gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(20))
    price: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(10, 2), default=decimal.Decimal("0"))
    weight: Mapped[float | None] = mapped_column(sa.Float)
    in_stock: Mapped[bool] = mapped_column(default=True)
    released_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    code: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    specs: Mapped[dict | None] = mapped_column(sa.JSON)
    internal_cost: Mapped[int | None] = mapped_column(info={"sensitive": True})


class Member(UserMixin, Base):
    """A user model with several roles (static mode `roles`)."""

    __tablename__ = "members"

    roles: Mapped[list[str]] = roles_column(Role)
