"""The generated order routes, minus the bulk ones (they would bypass the per-order checks in
interceptors.py), plus `POST /api/orders/{order_id}/complete` for managers."""

import sqlalchemy as sa
from fastapi import Request

from arkos import ArkosError, ArkosRouter, ErrorCode
from orders.models import Order, OrderStatus
from orders.modules.order.policy import order_policy

orders = Order.__table__
router = ArkosRouter()

hook = {
    "create_many": {"disabled": True},
    "update_many": {"disabled": True},
    "delete_many": {"disabled": True},
}


@router.post("/api/orders/{order_id}/complete", authentication=order_policy.Complete)
async def complete_order(order_id: int, request: Request) -> dict[str, object]:
    """Mark an order as completed (managers only, by the policy's `Complete` rule)."""
    database = request.app.state.arkos.database
    async with database.engine.begin() as conn:
        await conn.execute(sa.update(orders).where(orders.c.id == order_id)
                           .values(status=OrderStatus.completed))
        row = (await conn.execute(sa.select(orders).where(orders.c.id == order_id))).first()
    if row is None:
        raise ArkosError(ErrorCode.NOT_FOUND, f"Order with ID {order_id} not found")
    return {"data": {"id": row.id, "item": row.item, "quantity": row.quantity, "status": row.status.value,
                     "customerId": row.customer_id}}
