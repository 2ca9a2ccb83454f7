"""ASGI entry point: `uvicorn orders.main:app` (what `arkos dev` runs)."""

import arkos

app = arkos.init()
