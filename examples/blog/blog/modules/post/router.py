"""Post routes: the generated ones, plus a dashboard for logged-in users."""

from arkos import ArkosRouter, CurrentUser

from blog.modules.post.policy import post_policy

router = ArkosRouter()


@router.get("/api/posts/dashboard", authentication=True)
async def dashboard(user: CurrentUser) -> dict[str, object]:
    """How many posts the caller wrote; any logged-in user."""
    return {"data": {"username": user["username"], "canCreate": await post_policy.can_create(user)}}


hook = {
    "find_many": {"authentication": post_policy.View},
    "create_many": {"disabled": True},
}
