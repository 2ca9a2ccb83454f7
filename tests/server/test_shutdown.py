"""Graceful shutdown of `arkos start` (issue #8, item 4), on SQLite and PostgreSQL.

Requests in flight when SIGTERM arrives finish with their normal answer, new connections are refused,
and the process exits within `--graceful-timeout`. A request still running when that timeout hits is
cancelled: its transaction rolls back (no half-written rows) and a cut upload leaves no partial file.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.ops_helpers import APP, admin_headers, entry_parts, ops_database, server_env, wait_for
from tests.server.uvicorn_process import free_port, wait_until_ready

pytestmark = pytest.mark.server

BOUNDARY = "arkosboundary"
UPLOAD_BYTES = 256 * 1024


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    with ops_database(request.param, tmp_path) as database:
        yield database


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    marks: Path
    uploads: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def arkos_start(database: dict[str, str], tmp_path: Path, graceful_timeout: float) -> Iterator[Server]:
    """`arkos start` (the production command) from an empty directory; always stopped on the way out."""
    port = free_port()
    env = server_env(database["url"], database["schema"], tmp_path)
    log = tmp_path / "arkos-start.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "arkos.cli", "start", "--app", APP, "--host", "127.0.0.1",
             "--port", str(port), "--graceful-timeout", str(graceful_timeout)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log, tmp_path / "marks", tmp_path / "uploads")
    try:
        wait_until_ready(process, f"{server.url}/api/health/ready", log)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.part")] if root.exists() else []


class SlowUpload:
    """A multipart upload over a raw socket whose body is sent in two halves, on the test's command."""

    def __init__(self, port: int, token_header: str) -> None:
        content = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="slow.zip"\r\n'
                   "Content-Type: application/zip\r\n\r\n").encode() + b"PK\x03\x04" + b"\x00" * UPLOAD_BYTES
        self.body = content + f"\r\n--{BOUNDARY}--\r\n".encode()
        head = (f"POST /api/uploads/files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: {token_header}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n").encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(head + self.body[: len(self.body) // 2])

    def finish(self) -> bytes:
        self.sock.sendall(self.body[len(self.body) // 2:])
        answer = b""
        while data := self.sock.recv(65536):
            answer += data
        self.sock.close()
        return answer

    def wait_for_answer(self) -> bytes:
        """Whatever the server sends before it closes the socket (nothing, when it was cancelled)."""
        answer = b""
        try:
            while data := self.sock.recv(65536):
                answer += data
        except OSError:
            pass
        self.sock.close()
        return answer


def start_slow_requests(pool: ThreadPoolExecutor, server: Server, headers: dict[str, str], delay: float,
                        kinds: tuple[str, ...] = ("create", "custom")) -> list[Future[httpx.Response]]:
    """`create`: a generated create writing two halves on the request's connection (an interceptor);
    `custom`: a custom route doing the same in `engine.begin()`. Returns once each has written half."""
    started = []
    for kind in kinds:
        if kind == "create":
            started.append(pool.submit(httpx.post, f"{server.url}/api/entries", json={"batch": "create"},
                                       headers={**headers, "X-Delay": str(delay)}, timeout=30))
        else:
            started.append(pool.submit(httpx.post, f"{server.url}/api/slow-pair/custom?delay={delay}",
                                       headers=headers, timeout=30))
        mark = server.marks / f"{kind}.started"
        wait_for(mark.exists, 10, f"the slow {kind} never started")
    return started


def test_sigterm_lets_in_flight_requests_finish(database: dict[str, str], tmp_path: Path) -> None:
    graceful = 10.0
    with ThreadPoolExecutor(2) as pool, arkos_start(database, tmp_path, graceful) as server:
        headers = admin_headers(server.url)
        upload = SlowUpload(server.port, headers["Authorization"])
        wait_for(lambda: partial_files(server.uploads), 10, "the upload never reached the storage")
        # on SQLite the second writer waits for the first to commit: they overlap, one after the other
        create, custom = start_slow_requests(pool, server, headers, delay=1.0)

        server.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        wait_for(lambda: refuses_connections(server.port), 5, "new connections still accepted after SIGTERM")
        uploaded = upload.finish()  # the rest of the body arrives after SIGTERM

        assert create.result().status_code == 201, create.result().text
        assert custom.result().status_code == 200, custom.result().text
        assert uploaded.startswith(b"HTTP/1.1 200"), uploaded[:300]
        try:
            returncode = server.process.wait(timeout=graceful + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"arkos start still runs {graceful + 5} s after SIGTERM:\n{server.output()}")
        elapsed = time.monotonic() - stopped_at
    print(f"exit status {returncode}, {elapsed:.2f} s after SIGTERM")
    assert returncode in (0, -signal.SIGTERM), server.output()
    assert elapsed < graceful, f"{elapsed:.1f} s: it waited for the timeout instead of the requests"
    assert "Application shutdown complete" in server.output(), server.output()  # the lifespan ran
    assert entry_parts(database) == [("create", 1), ("create", 2), ("custom", 1), ("custom", 2)]
    assert partial_files(server.uploads) == []
    stored = [p for p in (server.uploads / "files").iterdir()]
    assert [p.stat().st_size for p in stored] == [4 + UPLOAD_BYTES], stored


def test_requests_past_the_graceful_timeout_roll_back(database: dict[str, str], tmp_path: Path) -> None:
    graceful = 1.0
    with ThreadPoolExecutor(2) as pool, arkos_start(database, tmp_path, graceful) as server:
        headers = admin_headers(server.url)
        upload = SlowUpload(server.port, headers["Authorization"])  # its second half never comes
        wait_for(lambda: partial_files(server.uploads), 10, "the upload never reached the storage")
        # SQLite has one writer at a time: a second slow writer would wait for the first (then time out)
        kinds = ("create",) if database["url"].startswith("sqlite") else ("create", "custom")
        requests = start_slow_requests(pool, server, headers, delay=30, kinds=kinds)

        server.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        try:
            returncode = server.process.wait(timeout=graceful + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"arkos start still runs {graceful + 10} s after SIGTERM:\n{server.output()}")
        elapsed = time.monotonic() - stopped_at
        answers = []
        for future in requests:
            try:
                answers.append(future.result().status_code)
            except httpx.TransportError as exc:  # the connection closed without an answer
                answers.append(type(exc).__name__)
        uploaded = upload.wait_for_answer()
    print(f"exit status {returncode}, {elapsed:.2f} s after SIGTERM, answers {answers}")
    assert returncode in (0, -signal.SIGTERM), server.output()
    assert elapsed < graceful + 5, f"{elapsed:.1f} s after SIGTERM"
    assert "timeout graceful shutdown exceeded" in server.output(), server.output()
    assert not any(isinstance(a, int) and a < 300 for a in answers), answers  # nothing claimed success
    assert not uploaded.startswith(b"HTTP/1.1 2"), uploaded[:300]
    assert entry_parts(database) == []  # part 1 of each request was never committed
    assert partial_files(server.uploads) == []
    assert not (server.uploads / "files").exists() or list((server.uploads / "files").iterdir()) == []
