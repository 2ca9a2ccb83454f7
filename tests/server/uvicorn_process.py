"""Start a real uvicorn process for server tests: a log file (never a pipe), readiness polling, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

READY_SECONDS = 60  # a loaded CI machine can take a while to import the app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not become ready within {READY_SECONDS} s:\n{log.read_text()}")


@contextmanager
def uvicorn_process(app: str, app_dir: Path, env: Mapping[str, str], *, log: Path,
                    ready_path: str = "/api/health/live", workers: int = 1) -> Iterator[str]:
    """Run `uvicorn app` from `app_dir` on a free port; yields its base URL and always stops it.

    `workers` > 1 starts uvicorn's supervisor with that many worker processes on the one socket; ready
    means one of them answers.
    """
    port = free_port()
    extra = ["--workers", str(workers)] if workers > 1 else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
             "--app-dir", str(app_dir), "--log-level", "warning", *extra],
            cwd=app_dir, stdout=out, stderr=subprocess.STDOUT, env=dict(env),
            start_new_session=True,  # its own process group: a hung stop kills the workers too
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, base_url + ready_path, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
