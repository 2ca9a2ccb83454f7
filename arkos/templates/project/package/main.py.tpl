"""ASGI entry point: `arkos dev` and `arkos start` serve `{{ package }}.main:app`."""

import arkos

app = arkos.init()
