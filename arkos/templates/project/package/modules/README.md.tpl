# modules/

One folder per resource, named like the model in snake_case (`user/`, `blog_post/`), holding any of:

- `router.py`: `router = ArkosRouter()` for custom routes, and `hook = {...}` to configure generated routes
- `interceptors.py`: `async def before_create_one(ctx)`, `after_find_many(ctx)`, ...
- `policy.py`: `ArkosPolicy("user").rule("Create", ["Admin"])` for static permissions
