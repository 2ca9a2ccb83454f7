"""Settings shared by app.py and seed.py (environment: DATABASE_URL, JWT_SECRET)."""

import os

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./bench.db")
SECRET = os.environ.get("JWT_SECRET", "bench-secret-not-for-production-0123456789abcdef")
BCRYPT_ROUNDS = 10  # as every peer


def options() -> dict:
    return {
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
