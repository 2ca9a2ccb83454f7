"""uvicorn app:app — DATABASE_URL, JWT_SECRET as the peer app; bcrypt cost 10."""

import os

import arkos

options = {
    "env": "production",
    "models": "arkos_auth_bench.models:Base",
    "package": "arkos_auth_bench",
    "database": {"url": os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./auth.db")},
    "authentication": {
        "mode": os.environ.get("AUTH_MODE", "static"),
        "jwt": {"secret": os.environ.get("JWT_SECRET", "bench-secret-not-for-production-0123456789abcdef"),
                "expires_in": "1h"},
        "bcrypt_rounds": 10,
    },
}
if "rate_limit" in arkos.ArkosConfig.model_fields:  # one loopback client: no 429s in a load test
    options["rate_limit"] = {"enabled": False}
app = arkos.init(env_file=None, **options)
