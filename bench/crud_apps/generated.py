"""arkos's generated routes for Post, authentication off: GET /api/posts and GET /api/posts/{id}."""

import arkos

from crud_apps.models import DATABASE_URL, Base

options = {"env": "production", "models": Base, "database": {"url": DATABASE_URL}}
if "rate_limit" in arkos.ArkosConfig.model_fields:  # one loopback client: no 429s in a load test
    options["rate_limit"] = {"enabled": False}
app = arkos.init(env_file=None, **options)
