"""Settings shared by app.py and seed.py (environment: DATABASE_URL, JWT_SECRET, ARKOS_RATE_LIMIT)."""

import os

import arkos

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./bench.db")
SECRET = os.environ.get("JWT_SECRET", "bench-secret-not-for-production-0123456789abcdef")
BCRYPT_ROUNDS = 10  # as every peer


def options() -> dict:
    opts = {
        "env": "production",
        "models": "arkos_bench_peer.models:Base",
        "package": "arkos_bench_peer",
        "database": {"url": DATABASE_URL},
        "authentication": {
            "mode": "static",
            "jwt": {"secret": SECRET, "expires_in": "1h"},
            "bcrypt_rounds": BCRYPT_ROUNDS,
        },
    }
    # A load test from one loopback address would only measure 429s under arkos's default rate limits
    # (300/minute per IP app-wide): switched off, as the shared harness does for the Node arkos peer.
    # ARKOS_RATE_LIMIT=on keeps them.
    if "rate_limit" in arkos.ArkosConfig.model_fields and os.environ.get("ARKOS_RATE_LIMIT") != "on":
        opts["rate_limit"] = {"enabled": False}
    return opts
