"""Posts are written by whoever creates them."""

from arkos import RequestContext


async def before_create_one(ctx: RequestContext) -> None:
    assert ctx.user is not None
    ctx.body.setdefault("author_id", ctx.user.id)
