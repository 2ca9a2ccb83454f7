"""Users with one role each, and orders that move from pending to completed."""

import enum

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from arkos import UserMixin, role_column


class Base(DeclarativeBase):
    pass


class UserRole(enum.Enum):
    Staff = "Staff"
    Manager = "Manager"
    Customer = "Customer"


class OrderStatus(enum.Enum):
    pending = "pending"
    completed = "completed"


class User(UserMixin, Base):
    __tablename__ = "user"

    role: Mapped[UserRole] = role_column(UserRole, default=UserRole.Customer)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True)

    orders: Mapped[list["Order"]] = relationship(back_populates="customer")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[OrderStatus] = mapped_column(
        sa.Enum(OrderStatus, name="order_status", values_callable=lambda e: [m.value for m in e]),
        default=OrderStatus.pending,
    )
    customer_id: Mapped[str | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)

    customer: Mapped[User | None] = relationship(back_populates="orders")
