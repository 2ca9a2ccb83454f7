"""Fine-grained checks that depend on the row: the route's rule (Update) has already passed by now."""

import sqlalchemy as sa

from arkos import ArkosError, ErrorCode, RequestContext
from orders.models import Order, OrderStatus
from orders.modules.order.policy import order_policy

orders = Order.__table__


async def before_create_one(ctx: RequestContext) -> None:
    assert ctx.user is not None
    if "Customer" in ctx.user.roles:  # customers order for themselves
        ctx.body["customer_id"] = ctx.user.id
    if ctx.body.get("status") is OrderStatus.completed and not await order_policy.can_complete(ctx.user):
        raise ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, order_policy.Complete.denial_message())


async def before_update_one(ctx: RequestContext) -> None:
    try:
        order_id = int(ctx.request.path_params["id"])
    except ValueError:
        return  # the handler answers 400 for an id that is not a number
    conn = await ctx.connection()
    current = (await conn.execute(sa.select(orders.c.status).where(orders.c.id == order_id))).scalar()
    if current is None:
        return  # the handler answers 404
    if current is OrderStatus.completed and not await order_policy.can_update_completed(ctx.user):
        raise ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, order_policy.UpdateCompleted.denial_message())
    completing = ctx.body.get("status") is OrderStatus.completed and current is not OrderStatus.completed
    if completing and not await order_policy.can_complete(ctx.user):
        raise ArkosError(ErrorCode.NOT_ENOUGH_PERMISSIONS, order_policy.Complete.denial_message())
