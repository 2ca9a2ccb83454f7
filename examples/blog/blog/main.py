"""ASGI entry point: `uvicorn blog.main:app` (what `make demo` and `arkos dev` run)."""

import arkos

app = arkos.init()
