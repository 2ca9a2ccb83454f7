"""Uploads over a real socket (uvicorn in a subprocess): a client that disconnects mid-body leaves no file,
and a refused upload is answered before its body is sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
BOUNDARY = "arkosboundary"
PROJECT = {
    "abortproj/__init__.py": "",
    "abortproj/modules/file_upload/router.py": 'hook = {"upload_file": {"authentication": False}}\n',
    "abortproj/modules/media/router.py": """
        from arkos import ArkosRouter
        from arkos.uploads import UploadedFiles

        router = ArkosRouter(prefix="/api/media")


        @router.post("/public", uploads={"type": "single", "field": "file"})
        async def public(uploads: UploadedFiles) -> dict[str, object]:
            return {"url": uploads.body["file"]}


        @router.post("/private", authentication=True, uploads={"type": "single", "field": "file"})
        async def private(uploads: UploadedFiles) -> dict[str, object]:
            return {"url": uploads.body["file"]}
    """,
    "server_app.py": """
        import arkos

        app = arkos.init(
            env_file=None,
            models="tests.sample.models:Base",
            package="abortproj",
            database={{"url": "sqlite+aiosqlite:///{root}/server.db"}},
            authentication={{"mode": "static", "jwt": {{"secret": "server-test-secret-{pad}"}}}},
            file_upload={{"base_upload_dir": "{root}/uploads"}},
        )
    """,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    root = tmp_path_factory.mktemp("upload-server")
    for relative, source in PROJECT.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            textwrap.dedent(source).format(root=root, pad="x" * 32)
            if relative == "server_app.py"
            else textwrap.dedent(source)
        )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}
    for name in ("ARKOS_ENV", "DATABASE_URL", "JWT_SECRET", "ARKOS_CONFIG"):
        env.pop(name, None)
    log_file = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "server_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=env,
        # A file, not a pipe: an undrained pipe can block the server, and reading it can block the test.
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    pytest.fail(f"uvicorn did not start: {(root / 'server.log').read_text()}")
                time.sleep(0.1)
        yield port, root / "uploads"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


def request_head(path: str, port: int, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def part_head(field: str, filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode() + b"PK\x03\x04"


def entries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if not p.is_dir()] if root.exists() else []


def read_response(sock: socket.socket) -> bytes:
    """The status line, headers and body (by Content-Length) of one response."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(4096)
        if not data:
            return answer
        answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        data = sock.recv(4096)
        if not data:
            break
        body += data
    return head + b"\r\n\r\n" + body


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize(("path", "field"), [("/api/uploads/files", "files"), ("/api/media/public", "file")])
def test_upload_aborted_mid_body_leaves_no_file(server: tuple[int, Path], path: str, field: str) -> None:
    port, root = server
    before = set(entries(root))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(request_head(path, port, 50 * 1024 * 1024) + part_head(field, "big.zip"))
        for _ in range(32):  # 2 MiB of the announced 50 MiB
            sock.sendall(b"\x00" * 65536)
        # the server streams into a temp file beside the target: it exists while the body arrives
        assert wait_for(lambda: any(p.name.endswith(".part") for p in set(entries(root)) - before)), entries(
            root
        )
    finally:
        sock.close()  # abort mid-body
    assert wait_for(lambda: set(entries(root)) == before), entries(root)
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5).status == 200  # still serving


def test_anonymous_upload_is_answered_401_before_the_body_is_sent(server: tuple[int, Path]) -> None:
    port, root = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_head("/api/media/private", port, 1024**3))  # announces 1 GiB, sends none of it
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"LoginRequired" in answer
    assert not any(p.name.endswith(".part") for p in entries(root))


def test_completed_upload_over_the_socket_is_stored(server: tuple[int, Path]) -> None:
    port, root = server
    content = part_head("file", "small.zip") + b"\x00" * 1000 + f"\r\n--{BOUNDARY}--\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_head("/api/media/public", port, len(content)) + content)
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    name = answer.split(b"/api/uploads/files/")[1].split(b'"')[0].decode()
    assert (root / "files" / name).stat().st_size == 1004
