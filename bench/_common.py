"""Helpers shared by the bench scripts: seed data, uvicorn subprocesses, wrk runs, PostgreSQL scratch DBs.

Loopback only (127.0.0.1); every server is started in its own session and killed by its process group
when the `with` block ends; every load run is bounded by its duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
PASSWORD = "Passw0rd!"
PG_ADMIN = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


# ------------------------------------------------------------------ seed (same rows as the peers)

NS = uuid.UUID("6f1c2a3e-0b5d-4d6e-9a61-5b0c8e2f7a10")  # common/make_seed.py of the shared harness
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
    "tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, "
    "quis nostrud exercitation ullamco laboris nisi ut"
)


def make_seed(n_posts: int = 1000) -> dict[str, Any]:
    """The shared harness's common/make_seed.py data set (3 users, 1,000 posts), byte for byte."""
    users = [
        {"id": str(uuid.uuid5(NS, f"user-{u}")), "username": u, "email": e, "role": r, "isSuperUser": su,
         "password": PASSWORD}
        for (u, e, r, su) in (("admin", "admin@example.com", "Admin", True),
                              ("editor", "editor@example.com", "Editor", False),
                              ("user", "user@example.com", "User", False))
    ]
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    posts = [
        {"id": str(uuid.uuid5(NS, f"post-{i}")), "title": f"Post number {i}", "content": LOREM,
         "authorId": users[1]["id"],
         "createdAt": (t0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        for i in range(n_posts)
    ]
    return {"users": users, "posts": posts}


POST_ID = str(uuid.uuid5(NS, "post-0"))  # ff38f64c-1ad4-537e-8502-1be4f8c74e8c


def write_seed(directory: Path) -> Path:
    path = directory / "seed.json"
    path.write_text(json.dumps(make_seed()))
    return path


# ------------------------------------------------------------------ pinning

def pins() -> tuple[list[str], list[str]]:
    """Server on CPU 0, wrk on CPU 1 (as the shared harness) when there are 2+ cores and taskset."""
    if os.environ.get("PIN", "1") == "1" and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    return [], []


# ------------------------------------------------------------------ servers


def stop_process_group(proc: subprocess.Popen[bytes] | None, *, timeout: float) -> None:
    """SIGTERM the process group (a server and its workers), SIGKILL it if still there after `timeout` s."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class Server:
    name: str
    app: str  # module:attr
    port: int
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    pin: bool = True
    log: Path | None = None
    prefix: Sequence[str] = ()  # run under this (valgrind ...) instead of pinned
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        srv_pin, _ = pins() if self.pin and not self.prefix else ([], [])
        cmd = [*srv_pin, *self.prefix, PYTHON, "-m", "uvicorn", self.app, "--host", HOST, "--port", str(self.port),
               "--workers", "1", "--no-access-log", "--log-level", "warning"]
        extra = [p for p in (self.env.get("PYTHONPATH"), os.environ.get("PYTHONPATH")) if p]
        env = {**os.environ, **self.env, "PYTHONPATH": os.pathsep.join([str(self.cwd), str(BENCH), *extra])}
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:] if self.log else ""
                raise RuntimeError(f"{self.name} died at start-up (exit {self.proc.returncode})\n{tail}")
            try:
                urllib.request.urlopen(self.base + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is up
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up on port {self.port}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process_group(proc, timeout=10)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http(method: str, url: str, body: Any = None, token: str | None = None,
         timeout: float = 30.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw


def login(base: str, username: str) -> str:
    status, body = http("POST", base + "/api/auth/login", {"username": username, "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login {username}: HTTP {status} {body}")
    return body["accessToken"]


# ------------------------------------------------------------------ wrk

def session_cpu_seconds(sid: int) -> float:
    """User + system CPU time of every process (all threads) in session `sid` (a server's setsid group)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    cpu_s: float = float("nan")  # server CPU seconds during the measured run (all its threads)

    @property
    def cpu_ms_per_req(self) -> float:
        """Server CPU per request: on this noisy shared VM far steadier than req/s (1000 / it = req/s per
        fully available core)."""
        return 1000 * self.cpu_s / self.requests if self.requests else float("nan")

    def ok(self, expect: int) -> bool:
        return self.requests > 0 and (self.non2xx == 0 if expect < 300 else self.non2xx == self.requests)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str, pct: str) -> float:
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def require_wrk() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get update && apt-get install -y wrk")


def wrk(url: str, *, duration: float, conns: int = 32, method: str = "GET", body: Any = None,
        token: str | None = None, warmup: float = 2.0, pin: bool = True, server: Server | None = None) -> WrkResult:
    """A warm-up run (discarded), then the measured run; one wrk thread, pinned to CPU 1."""
    _, wrk_pin = pins() if pin else ([], [])
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": "" if body is None else json.dumps(body),
           "WRK_CTYPE": "application/json" if body is not None else "", "WRK_AUTH": token or ""}
    base = [*wrk_pin, "wrk", "-t1", f"-c{conns}", "--timeout", "10s", "--latency", "-s", str(BENCH / "wrk.lua")]
    if warmup > 0:
        subprocess.run([*base, f"-d{max(1, round(warmup))}s", url], env=env, capture_output=True, check=True)
    sid = server.proc.pid if server is not None and server.proc is not None else None
    cpu0 = session_cpu_seconds(sid) if sid else 0.0
    text = subprocess.run([*base, f"-d{max(1, round(duration))}s", url], env=env, capture_output=True, text=True,
                          check=True).stdout
    cpu = session_cpu_seconds(sid) - cpu0 if sid else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    n = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        rps=float(m.group(1)) if m else float("nan"),
        p50_ms=_ms(text, "50"),
        p99_ms=_ms(text, "99"),
        requests=int(n.group(1)) if n else 0,
        non2xx=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        cpu_s=cpu,
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------ PostgreSQL scratch database

def _psql(sql: str, url: str = PG_ADMIN) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], check=True,
                   capture_output=True, env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})


def pg_available() -> bool:
    if not shutil.which("psql"):
        return False
    try:
        _psql("SELECT 1")
        return True
    except (subprocess.CalledProcessError, OSError):
        return False


@contextlib.contextmanager
def pg_database(name: str) -> Iterator[str]:
    """A fresh database on the admin server (127.0.0.1:5432, trust auth), dropped afterwards."""
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name)
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(f"CREATE DATABASE {name}")
    admin = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{admin.split('://', 1)[1]}/{name}"
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def machine_note() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} vCPU ({cpu}), "
            f"load avg {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, Python {sys.version.split()[0]}")
