"""The app served by test_concurrency.py: the sample models, its options from the environment (JSON), and
every answer naming the worker process that gave it (`X-Worker-Pid`)."""

from __future__ import annotations

import json
import os
from typing import Any

import arkos

class WorkerPid:
    """ASGI wrapper adding `X-Worker-Pid` to HTTP responses; lifespan and the rest pass through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-worker-pid", str(os.getpid()).encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_pid)


app = WorkerPid(arkos.init(env_file=None, **json.loads(os.environ["CONCURRENCY_APP_OPTIONS"])))
