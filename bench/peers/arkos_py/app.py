"""Benchmark peer: arkos (Python). Generated CRUD routes for `post`, JWT auth, static RBAC policy.

Run:  uvicorn app:app --host 127.0.0.1 --port 8004 --workers 1 --no-access-log
Env:  DATABASE_URL (default sqlite+aiosqlite:///./bench.db), JWT_SECRET
"""

import arkos

from arkos_bench_peer.settings import options

app = arkos.init(env_file=None, **options())
