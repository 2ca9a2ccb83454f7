#!/usr/bin/env python3
"""Upload throughput and server memory: arkos's streaming upload routes against a plain Starlette endpoint.

    .venv/bin/python bench/upload_bench.py [--size-mb 50] [--rounds 5] [--rss-sizes 10,50,100]

1. Throughput. A `size-mb` file (a .zip: its first bytes are a zip signature, the rest random) is POSTed
   as multipart/form-data over loopback to three uvicorn servers (one worker each, pinned to CPU 0 when
   there are two cores or more; the client is not pinned), alternating within each round:
     - plain:   a Starlette endpoint that streams `request.stream()` straight into a file (no parsing);
     - uploads: arkos `POST /api/uploads/files` (multipart parsing, size limit, content sniffing,
                temp file + rename);
     - router:  an ArkosRouter route with `uploads={"type": "single", "field": "file"}`.
   The arkos app has no authentication mode (one token check costs microseconds against a 50 MB body).
   Reported: median MB/s over the rounds, and arkos ÷ plain.
2. Memory. For each size in `rss-sizes`, a fresh server of each kind gets a 1 MB warm-up upload, then one
   upload of that size; the server's peak RSS (VmHWM) is read from /proc before and after. Streaming
   means the peak must not grow with the file.
Results are also appended to bench/out/upload_bench.tsv.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _common import BENCH, REPO, Server, machine_note, scratch_dir

BOUNDARY = "benchboundary" + uuid.uuid4().hex
BLOCK = os.urandom(1024 * 1024)
CHUNK = 256 * 1024

PLAIN_APP = """
    import os, uuid
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ROOT = {root!r}


    async def upload(request):
        path = os.path.join(ROOT, uuid.uuid4().hex + ".bin")
        size = 0
        with open(path, "wb") as file:
            async for chunk in request.stream():
                file.write(chunk)
                size += len(chunk)
        return JSONResponse({{"size": size}})


    async def home(request):
        return JSONResponse({{"ok": True}})


    app = Starlette(routes=[Route("/upload", upload, methods=["POST"]), Route("/", home)])
"""
ARKOS_APP = """
    import arkos

    app = arkos.init(
        env_file=None,
        package="benchproj",
        models=[],
        database={{"url": "sqlite+aiosqlite:///{root}/bench.db"}},
        file_upload={{"base_upload_dir": "{root}/uploads",
                      "restrictions": {{"files": {{"max_size_bytes": {limit}}}}}}},
    )
"""
ROUTER = """
    from arkos import ArkosRouter
    from arkos.uploads import UploadedFiles

    router = ArkosRouter()


    @router.post("/api/bench/upload", uploads={"type": "single", "field": "file"})
    async def upload(uploads: UploadedFiles) -> dict[str, object]:
        return {"size": uploads.file.size}
"""
KINDS = {"plain": ("plain_app:app", "/upload"), "uploads": ("arkos_app:app", "/api/uploads/files"),
         "router": ("arkos_app:app", "/api/bench/upload")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_apps(root: Path, limit: int) -> None:
    (root / "plain").mkdir()
    (root / "uploads").mkdir()
    (root / "plain_app.py").write_text(textwrap.dedent(PLAIN_APP).format(root=str(root / "plain")))
    (root / "arkos_app.py").write_text(textwrap.dedent(ARKOS_APP).format(root=root, limit=limit))
    router = root / "benchproj" / "modules" / "bench" / "router.py"
    router.parent.mkdir(parents=True)
    (root / "benchproj" / "__init__.py").write_text("")
    router.write_text(textwrap.dedent(ROUTER))


def body(size: int, field: str) -> tuple[int, Iterator[bytes]]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"big.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head + b"PK\x03\x04"
        sent = 4
        while sent < size:
            piece = BLOCK[: min(CHUNK, size - sent)]
            sent += len(piece)
            yield piece
        yield tail

    return len(head) + size + len(tail), chunks()


def upload(port: int, path: str, size: int, field: str) -> float:
    """One upload; returns seconds from the first byte sent to the complete response."""
    length, chunks = body(size, field)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    for chunk in chunks:
        conn.send(chunk)
    response = conn.getresponse()
    answer = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {answer[:300]!r}")
    return elapsed


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of the process in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            name, value = line.split(":", 1)
            values[name] = int(value.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


def clear(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".zip", ".bin"):
            path.unlink()


def server(kind: str, root: Path) -> Server:
    app, _ = KINDS[kind]
    return Server(kind, app, free_port(), root, env={"PYTHONPATH": str(REPO)}, log=root / f"{kind}.log")


def field_of(kind: str) -> str:
    return "files" if kind == "uploads" else "file"


def throughput(root: Path, size_mb: int, rounds: int) -> dict[str, float]:
    size = size_mb * 1024 * 1024
    servers = {kind: server(kind, root) for kind in KINDS}
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for item in servers.values():
            item.start()
        for kind, item in servers.items():  # warm-up
            upload(item.port, KINDS[kind][1], 1024 * 1024, field_of(kind))
        for _ in range(rounds):
            for kind, item in servers.items():
                times[kind].append(upload(item.port, KINDS[kind][1], size, field_of(kind)))
                clear(root)
    finally:
        for item in servers.values():
            item.stop()
    return {kind: size_mb / statistics.median(values) for kind, values in times.items()}


def memory(root: Path, sizes_mb: list[int]) -> list[tuple[str, int, float, float]]:
    rows = []
    for size_mb in sizes_mb:
        for kind in KINDS:
            with server(kind, root) as item:
                assert item.proc is not None
                upload(item.port, KINDS[kind][1], 1024 * 1024, field_of(kind))
                before, _ = peak_rss_mb(item.proc.pid)
                upload(item.port, KINDS[kind][1], size_mb * 1024 * 1024, field_of(kind))
                after, _ = peak_rss_mb(item.proc.pid)
            clear(root)
            rows.append((kind, size_mb, before, after))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rss-sizes", default="10,50,100")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rss_sizes.split(",")]
    print(machine_note())
    with scratch_dir("arkos-upload-bench-") as root:
        write_apps(root, limit=(max(sizes + [args.size_mb]) + 1) * 1024 * 1024)
        rates = throughput(root, args.size_mb, args.rounds)
        print(f"\nthroughput, {args.size_mb} MB multipart upload, median of {args.rounds} (MB/s):")
        for kind, rate in rates.items():
            print(f"  {kind:8} {rate:8.1f}   ({rate / rates['plain']:.2f}× plain)")
        rows = memory(root, sizes)
        print("\npeak RSS of the server process (MB): after a 1 MB warm-up → after one upload of the size")
        for kind, size_mb, before, after in rows:
            print(f"  {kind:8} {size_mb:4d} MB   {before:7.1f} → {after:7.1f}   (+{after - before:.1f})")
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    with open(out / "upload_bench.tsv", "a") as tsv:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for kind, rate in rates.items():
            tsv.write(f"{stamp}\tthroughput\t{kind}\t{args.size_mb}\t{rate:.1f}\n")
        for kind, size_mb, before, after in rows:
            tsv.write(f"{stamp}\tpeak_rss\t{kind}\t{size_mb}\t{before:.1f}\t{after:.1f}\n")


if __name__ == "__main__":
    main()
