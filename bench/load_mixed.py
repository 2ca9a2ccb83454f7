"""Mixed workload against `arkos start --workers 4` on PostgreSQL; optionally restarts PostgreSQL mid-run.

    .venv/bin/python bench/load_mixed.py --minutes 2                         # load (issue #8)
    .venv/bin/python bench/load_mixed.py --minutes 2 --restart-pg-at 40 --downtime 5   # fault run
    .venv/bin/python bench/fault_pg_restart.py                               # the same fault run

What it does, all on loopback (127.0.0.1), bounded in time (a hard alarm at minutes + 5 min):

1. PostgreSQL: by default a *private* cluster (initdb as the `postgres` user into a temp dir, port
   55432, trust auth, listening on 127.0.0.1 only) that is removed at the end, so the shared server on
   5432 is never restarted nor loaded with 4 workers' pools. `--pg shared` uses a scratch database on
   PG_ADMIN_URL instead (no restart allowed there).
2. Seeds the peer data set (bench/peers/arkos_py/seed.py: admin = super user, editor = role Editor,
   user = role User with no permission on posts; 1,000 posts; bcrypt cost 10).
3. Serves bench/load_app.py (the peer app + an `x-worker-pid` header) with `arkos start --workers 4`
   in its own session (killed by process group at the end).
4. Drives the workload from `--clients` processes × `--concurrency` asyncio tasks (httpx), weighted:
   list, get, create, update (PATCH of a post the same task created), 403 (role User lists posts),
   401 (no token, or a forged token), login, logout (login + DELETE /api/auth/logout + reuse of the
   revoked token, which must get 401) and reuse of earlier revoked tokens (401).
5. Reports per kind and overall: requests, throughput, p50/p99 latency, statuses; 5xx and transport
   errors are errors, expected 401/403 are not; any 2xx for a request without a valid token (or for
   the role-less user) is a "let through". RSS (VmRSS) of each worker at the start of the measured
   window and at the end (worker = child of the `arkos start` master, found in /proc).
6. Verifies every acknowledged write against the database: each 201 create is there with its last
   acknowledged title (or a later, unacknowledged one), each acknowledged logout's `jti` is in the
   deny-list. Missing acknowledged writes must be 0.

Fault mode (`--restart-pg-at S`, private cluster only): at S seconds into the measured window,
`pg_ctl stop -m fast` (or `--stop-mode immediate`), sleep `--downtime` seconds, `pg_ctl start`; the
database counts as back when `pg_isready` first succeeds (polled every 20 ms). Recovery time = from
then to the first 2xx of an authenticated, database-reading request (list/get/create/update) that was
*sent* after that instant: overall, and per worker (the last worker to recover gives "every worker").
5xx are counted by status and error code, split into before / during (stop issued → back) / after.

Results: a Markdown summary on stdout and the raw figures in bench/out/load-<stamp>.json; the server
log is kept in bench/out/load-<stamp>-server.log (tracebacks counted in the summary).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import pickle
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (BENCH, HOST, NS, PASSWORD, PYTHON, REPO, machine_note, pg_database,  # noqa: E402
                     stop_process_group, write_seed)

PEER = BENCH / "peers" / "arkos_py"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OUT = BENCH / "out"
EDITOR_ID = str(uuid.uuid5(NS, "user-editor"))
SEED_POST_IDS = [str(uuid.uuid5(NS, f"post-{i}")) for i in range(1000)]
DB_KINDS = ("list", "get", "create", "update")  # authenticated requests that read/write the database
EXPECTED = {"list": 200, "get": 200, "create": 201, "update": 200, "forbidden": 403, "unauth": 401,
            "login": 200, "logout": 204, "revoked": 401}
# kinds whose request carries no valid token (or a user without the permission): a 2xx is a security bug
MUST_REFUSE = ("forbidden", "unauth", "revoked")
DEFAULT_WEIGHTS = "list=26,get=26,create=12,update=12,forbidden=8,unauth=8,login=2,logout=1,revoked=5"


# ------------------------------------------------------------------ small helpers

def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in open(f"/proc/{pid}/status"):
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])  # kB
    return out


def children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid:
                kids.append(int(entry))
        except OSError:
            continue
    return kids


def worker_pids(master: int) -> list[int]:
    """uvicorn's workers are `multiprocessing.spawn` children of the master (not its resource tracker)."""
    pids = []
    for kid in children(master):
        with contextlib.suppress(OSError):
            cmd = open(f"/proc/{kid}/cmdline", "rb").read().replace(b"\0", b" ")
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                pids.append(kid)
    return sorted(pids)


def session_cpu(sid: int) -> float:
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            f = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            if int(f[3]) == sid:
                ticks += int(f[11]) + int(f[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children (PostgreSQL's postmaster)."""
    total = 0
    with contextlib.suppress(OSError, IndexError):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    for kid in children(pid):
        with contextlib.suppress(OSError, IndexError):
            f = open(f"/proc/{kid}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


# ------------------------------------------------------------------ private PostgreSQL cluster

class PrivateCluster:
    """initdb + pg_ctl as the `postgres` user in a temp dir; loopback only, trust auth; removed at the end."""

    def __init__(self, port: int, max_connections: int) -> None:
        self.port = port
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="arkos-load-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(["runuser", "-u", "postgres", "--", *args])

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args)

    def create(self) -> None:
        os.chmod(self.root, 0o755)
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "-E", "UTF8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = {self.max_connections}\n"
                       "shared_buffers = 128MB\nlog_min_messages = warning\n")
        self.start(wait=True)
        run([str(PG_BIN / "psql"), self.admin_url("postgres"), "-qAt", "-c", "CREATE DATABASE arkos_load"])

    def admin_url(self, db: str = "arkos_load") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{db}"

    def start(self, wait: bool) -> None:
        self._pg_ctl("start", "-l", str(self.log), "-w" if wait else "-W")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode, "-w")

    def postmaster(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return 0

    def ready(self) -> bool:
        return subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]).returncode == 0

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------ the load generator (client processes)

class Recorder:
    def __init__(self) -> None:
        # (kind, t0, t1, status or -1, error/code, worker pid or 0)
        self.records: list[tuple[str, float, float, int, str, int]] = []
        self.creates: list[dict[str, Any]] = []   # {title, id, acked, status}
        self.updates: list[dict[str, Any]] = []   # {id, title, acked, status, seq}
        self.logouts: list[dict[str, Any]] = []   # {jti, acked, status}
        self.samples_5xx: dict[str, list[str]] = defaultdict(list)


async def _request(http: Any, rec: Recorder, kind: str, method: str, url: str, token: str | None = None,
                   body: Any = None, close: bool = False) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if close:  # a new connection next time: the kernel spreads connections over the workers again
        headers["Connection"] = "close"
    t0 = time.monotonic()
    try:
        resp = await http.request(method, url, headers=headers, json=body)
    except Exception as exc:  # transport error: refused, reset, timeout
        rec.records.append((kind, t0, time.monotonic(), -1, type(exc).__name__, 0))
        return -1, None
    t1 = time.monotonic()
    data: Any = None
    code = ""
    if resp.content:
        with contextlib.suppress(ValueError):
            data = resp.json()
    if resp.status_code >= 400 and isinstance(data, dict):
        code = str(data.get("code", ""))
    if resp.status_code >= 500:
        key = f"{kind} {resp.status_code} {code}"
        if len(rec.samples_5xx[key]) < 2:
            rec.samples_5xx[key].append(resp.text[:300])
    rec.records.append((kind, t0, t1, resp.status_code, code, int(resp.headers.get("x-worker-pid", 0))))
    return resp.status_code, data


async def _client(spec: dict[str, Any], cid: int) -> Recorder:
    import httpx

    rec = Recorder()
    kinds, weights = zip(*spec["weights"].items())
    editor_tokens: list[str] = spec["editor_tokens"]
    admin_token: str = spec["admin_token"]
    user_token: str = spec["user_token"]
    forged = spec["forged_token"]
    revoked: list[str] = []
    end = spec["end_at"]
    limits = httpx.Limits(max_connections=spec["concurrency"], max_keepalive_connections=spec["concurrency"])
    timeout = httpx.Timeout(spec["timeout"])

    async def task(tid: int) -> None:
        rng = random.Random(f"{spec['run_id']}-{cid}-{tid}")
        own: list[tuple[str, str]] = []  # (post id, create title) acknowledged by this task
        n = 0
        while time.monotonic() < end:
            n += 1
            kind = rng.choices(kinds, weights)[0]
            token = rng.choice(editor_tokens)
            if kind == "update" and not own:
                kind = "create"
            if kind == "list":
                await _request(http, rec, kind, "GET", "/api/posts?limit=20",
                               admin_token if rng.random() < 0.2 else token)
            elif kind == "get":
                await _request(http, rec, kind, "GET", f"/api/posts/{rng.choice(SEED_POST_IDS)}", token,
                               close=rng.random() < spec["reconnect"])
            elif kind == "create":
                title = f"load-{spec['run_id']}-{cid}-{tid}-{n}"
                status, data = await _request(http, rec, kind, "POST", "/api/posts", token,
                                              {"title": title, "content": "load test", "authorId": EDITOR_ID})
                acked = status == 201 and isinstance(data, dict) and "id" in data.get("data", {})
                post_id = data["data"]["id"] if acked else None
                rec.creates.append({"title": title, "id": post_id, "acked": acked, "status": status})
                if acked:
                    own.append((post_id, title))
            elif kind == "update":
                post_id, base = rng.choice(own)
                title = f"{base}~u{n}"
                status, data = await _request(http, rec, kind, "PATCH", f"/api/posts/{post_id}", token,
                                              {"title": title})
                acked = status == 200 and isinstance(data, dict) and data.get("data", {}).get("title") == title
                rec.updates.append({"id": post_id, "title": title, "acked": acked, "status": status,
                                    "t": time.monotonic()})
            elif kind == "forbidden":
                await _request(http, rec, kind, "GET", "/api/posts?limit=20", user_token)
            elif kind == "unauth":
                await _request(http, rec, kind, "GET", "/api/posts?limit=20", forged if n % 2 else None)
            elif kind == "login":
                await _request(http, rec, kind, "POST", "/api/auth/login",
                               body={"username": rng.choice(["editor", "admin", "user"]), "password": PASSWORD})
            elif kind == "logout":
                status, data = await _request(http, rec, "login", "POST", "/api/auth/login",
                                              body={"username": "editor", "password": PASSWORD})
                if status != 200 or not isinstance(data, dict) or "accessToken" not in data:
                    continue
                fresh = data["accessToken"]
                status, _ = await _request(http, rec, "logout", "DELETE", "/api/auth/logout", fresh)
                rec.logouts.append({"jti": jti_of(fresh), "acked": status == 204, "status": status})
                if status == 204:
                    revoked.append(fresh)
                    await _request(http, rec, "revoked", "GET", "/api/posts?limit=20", fresh)
            elif kind == "revoked":
                if revoked:
                    await _request(http, rec, kind, "GET", "/api/posts?limit=20", rng.choice(revoked))

    while time.monotonic() < spec["start_at"]:
        await asyncio.sleep(min(0.05, spec["start_at"] - time.monotonic()))
    async with httpx.AsyncClient(base_url=spec["base"], limits=limits, timeout=timeout) as http:
        await asyncio.gather(*(task(t) for t in range(spec["concurrency"])))
    return rec


def client_process(spec: dict[str, Any], cid: int, out: str) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    rec = asyncio.run(_client(spec, cid))
    cpu = os.times()
    with open(out, "wb") as f:
        pickle.dump({"records": rec.records, "creates": rec.creates, "updates": rec.updates,
                     "logouts": rec.logouts, "samples_5xx": dict(rec.samples_5xx),
                     "cpu_s": cpu.user + cpu.system}, f)


# ------------------------------------------------------------------ server

def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    import httpx

    r = httpx.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"} if token else {},
                      timeout=30)
    return r.status_code, (r.json() if r.content else None)


def start_server(args: argparse.Namespace, env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    cmd = [str(Path(PYTHON).parent / "arkos"), "start", "--workers", str(args.workers), "--app", "load_app:app",
           "--host", HOST, "--port", str(args.port)]
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    base = f"http://{HOST}:{args.port}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"arkos start died (exit {proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(Exception):
            status, _ = http_json("GET", base + "/api/health/ready")
            if status == 200 and len(worker_pids(proc.pid)) == args.workers:
                return proc
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"arkos start not ready in 90 s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    stop_process_group(proc, timeout=20)  # 4 workers finish their requests first


# ------------------------------------------------------------------ verification

async def verify(db_url: str, creates: list[dict[str, Any]], updates: list[dict[str, Any]],
                 logouts: list[dict[str, Any]], redis_url: str | None, redis_prefix: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        acked_ids = [c["id"] for c in creates if c["acked"]]
        rows = await conn.fetch("SELECT id, title FROM post WHERE id = ANY($1::varchar[])", acked_ids)
        in_db = {r["id"]: r["title"] for r in rows}
        history: dict[str, list[tuple[str, bool]]] = {c["id"]: [(c["title"], True)] for c in creates if c["acked"]}
        for u in sorted(updates, key=lambda u: u["t"]):  # one task per post, so this is the send order
            history[u["id"]].append((u["title"], u["acked"]))
        missing_creates = [i for i in acked_ids if i not in in_db]
        lost_updates = []
        unacked_applied = 0
        for post_id, steps in history.items():
            if post_id not in in_db:
                continue
            last_ack = max(i for i, (_, acked) in enumerate(steps) if acked)
            allowed = {title for title, _ in steps[last_ack:]}
            if in_db[post_id] not in allowed:
                lost_updates.append({"id": post_id, "db": in_db[post_id], "expected": steps[last_ack][0]})
            elif in_db[post_id] != steps[last_ack][0]:
                unacked_applied += 1
        unacked_titles = [c["title"] for c in creates if not c["acked"]]
        unacked_created = await conn.fetchval("SELECT count(*) FROM post WHERE title = ANY($1::varchar[])",
                                              unacked_titles) if unacked_titles else 0
        acked_jtis = [lo["jti"] for lo in logouts if lo["acked"]]
        if redis_url:
            import redis.asyncio as aioredis

            client = aioredis.from_url(redis_url)
            present = sum([bool(await client.exists(f"{redis_prefix}revoked:{j}")) for j in acked_jtis])
            await client.aclose()
        else:
            present = await conn.fetchval("SELECT count(*) FROM arkos_revoked_token WHERE jti = ANY($1::varchar[])",
                                          acked_jtis) if acked_jtis else 0
        total_posts = await conn.fetchval("SELECT count(*) FROM post")
    finally:
        await conn.close()
    return {
        "acked_creates": len(acked_ids), "missing_creates": len(missing_creates),
        "acked_updates": sum(u["acked"] for u in updates), "lost_updates": len(lost_updates),
        "lost_update_examples": lost_updates[:5],
        "unacked_creates": len(unacked_titles), "unacked_creates_committed": unacked_created,
        "unacked_updates": sum(not u["acked"] for u in updates), "unacked_updates_applied_last": unacked_applied,
        "acked_logouts": len(acked_jtis), "missing_revocations": len(acked_jtis) - present,
        "posts_in_db": total_posts,
    }


# ------------------------------------------------------------------ report

def summarize(records: list[tuple[str, float, float, int, str, int]], t_begin: float, t_end: float,
              fault: dict[str, float] | None) -> dict[str, Any]:
    window = [r for r in records if t_begin <= r[1] < t_end]
    duration = t_end - t_begin
    per_kind: dict[str, Any] = {}
    for kind in [*EXPECTED, "all"]:
        rows = window if kind == "all" else [r for r in window if r[0] == kind]
        if not rows:
            continue
        lat = [(r[2] - r[1]) * 1000 for r in rows]
        statuses = Counter(r[3] for r in rows)
        errors_5xx = sum(n for s, n in statuses.items() if s >= 500)
        transport = statuses.get(-1, 0)
        unexpected = sum(1 for r in rows if 0 <= r[3] < 500 and r[3] != EXPECTED[r[0]])
        let_through = sum(1 for r in rows if r[0] in MUST_REFUSE and 200 <= r[3] < 300)
        per_kind[kind] = {
            "requests": len(rows), "rps": len(rows) / duration, "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "5xx": errors_5xx,
            "transport_errors": transport, "unexpected_4xx_or_2xx": unexpected, "let_through": let_through,
        }
    out: dict[str, Any] = {"duration_s": duration, "kinds": per_kind}
    out["requests_per_worker"] = {str(k): v for k, v in sorted(Counter(r[5] for r in window).items())}
    errors = Counter((r[3], r[4]) for r in window if r[3] >= 500 or r[3] == -1)
    out["errors_by_status_code"] = {f"{s} {c}".strip(): n for (s, c), n in sorted(errors.items())}
    if fault:
        t_stop, t_up = fault["t_stop_issued"], fault["t_up"]
        # before: answered before the stop was issued; after: sent once the DB was back; outage: the rest
        # (in flight at some point between the two, including requests cut off by the shutdown)
        phases = {"before": lambda r: r[2] < t_stop, "outage": lambda r: r[2] >= t_stop and r[1] < t_up,
                  "after": lambda r: r[1] >= t_up}
        out["errors_by_phase"] = {
            name: {f"{s} {c}".strip(): n for (s, c), n in sorted(Counter(
                (r[3], r[4]) for r in records if pred(r) and (r[3] >= 500 or r[3] == -1)).items())}
            for name, pred in phases.items()
        }
        late = [r for r in records if r[1] >= t_up and (r[3] >= 500 or r[3] == -1)]
        out["last_error_after_up_s"] = max((r[2] - t_up for r in late), default=None)
        ok_after = [r for r in records if r[0] in DB_KINDS and r[1] >= t_up and 200 <= r[3] < 300]
        first = min(ok_after, key=lambda r: r[2], default=None)
        out["recovery_first_success_s"] = first[2] - t_up if first else None
        per_worker: dict[int, float] = {}
        for r in ok_after:
            per_worker[r[5]] = min(per_worker.get(r[5], float("inf")), r[2] - t_up)
        out["recovery_per_worker_s"] = {str(k): v for k, v in sorted(per_worker.items())}
        out["recovery_all_workers_s"] = max(per_worker.values()) if per_worker else None
        out["workers_seen_after_up"] = len(per_worker)
        fails = [r for r in records if r[0] in DB_KINDS and t_stop <= r[1] and r[3] >= 500]
        out["first_5xx_after_stop_s"] = min((r[2] - t_stop for r in fails), default=None)
        pre = [r for r in records if r[0] in DB_KINDS and r[2] < t_stop and 200 <= r[3] < 300]
        out["db_requests_in_outage"] = sum(1 for r in records if r[0] in DB_KINDS and r[2] >= t_stop and r[1] < t_up)
        out["db_ok_in_outage"] = sum(1 for r in records if r[0] in DB_KINDS and r[2] >= t_stop and r[1] < t_up
                                     and 200 <= r[3] < 300)
        out["last_success_before_stop_s"] = (max(r[2] for r in pre) - t_stop) if pre else None
    return out


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = ["| kind | requests | req/s | p50 ms | p99 ms | statuses | 5xx | transport err | unexpected | let through |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for kind, k in s["kinds"].items():
        st = ", ".join(f"{c}: {n}" for c, n in k["statuses"].items())
        lines.append(f"| {kind} | {k['requests']} | {k['rps']:.1f} | {k['p50_ms']:.0f} | {k['p99_ms']:.0f} | {st} | "
                     f"{k['5xx']} | {k['transport_errors']} | {k['unexpected_4xx_or_2xx']} | {k['let_through']} |")
    lines.append("")
    lines.append("| worker pid | RSS start MiB | RSS end MiB | growth MiB | peak (VmHWM) MiB |")
    lines.append("|---|---:|---:|---:|---:|")
    for pid, m in report["rss"].items():
        lines.append(f"| {pid} | {m['start_kb'] / 1024:.1f} | {m['end_kb'] / 1024:.1f} | "
                     f"{(m['end_kb'] - m['start_kb']) / 1024:+.1f} | {m['hwm_kb'] / 1024:.1f} |")
    lines.append("")
    lines.append(f"errors (whole measured window): {s['errors_by_status_code'] or 'none'}")
    v = report["verify"]
    lines.append(f"acknowledged writes: {v['acked_creates']} creates (missing {v['missing_creates']}), "
                 f"{v['acked_updates']} updates (lost {v['lost_updates']}), {v['acked_logouts']} logouts "
                 f"(revocation missing {v['missing_revocations']}); unacknowledged: {v['unacked_creates']} creates "
                 f"({v['unacked_creates_committed']} committed anyway), {v['unacked_updates']} updates "
                 f"({v['unacked_updates_applied_last']} applied last)")
    if "fault" in report:
        f = report["fault"]
        lines.append(f"fault: stop -m {f['mode']} issued at +{f['stop_at_s']:.1f} s, stopped after "
                     f"{f['stop_took_s']:.2f} s, down {f['downtime_s']:.1f} s, accepting again "
                     f"{f['start_took_s']:.2f} s after pg_ctl start (outage {f['outage_s']:.2f} s)")
        lines.append(f"errors by phase: {s['errors_by_phase']}")
        lines.append(f"DB requests (list/get/create/update) in flight during the outage: {s['db_requests_in_outage']} "
                     f"({s['db_ok_in_outage']} got 2xx); first 5xx {s['first_5xx_after_stop_s']} s after stop")
        lines.append(f"recovery: first success {s['recovery_first_success_s']} s after the DB was back; every worker "
                     f"{s['recovery_all_workers_s']} s ({s['workers_seen_after_up']} workers answered); per worker {s['recovery_per_worker_s']}; last error "
                     f"{s['last_error_after_up_s']} s after the DB was back")
    per_worker = ", ".join(f"{p}: {n}" for p, n in s["requests_per_worker"].items())
    lines.append(f"requests per worker pid: {per_worker}")
    lines.append(f"CPU in the measured window ({s['duration_s']:.0f} s, 2 cores = {2 * s['duration_s']:.0f} core-s): "
                 f"arkos {report['workers']} workers {report['server_cpu_s']:.0f} s, PostgreSQL "
                 f"{report['postgres_cpu_s']:.0f} s, load generator {report['client_cpu_s']:.0f} s (whole run incl. "
                 f"warm-up); machine busy {100 * report['machine_busy_share']:.0f} % (other sessions included)")
    lines.append(f"worker PIDs changed: {report['workers_replaced']}; "
                 f"server log tracebacks: {report['log_tracebacks']}, ERROR lines: {report['log_errors']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ main

def parse_args(argv: list[str] | None = None, **defaults: Any) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=2.0, help="measured window (default 2)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the measured window")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--clients", type=int, default=2, help="load-generator processes")
    p.add_argument("--concurrency", type=int, default=16, help="asyncio tasks (connections) per client process")
    p.add_argument("--timeout", type=float, default=15.0, help="per-request timeout, seconds")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS)
    p.add_argument("--reconnect", type=float, default=0.1,
                   help="share of `get` requests sent with Connection: close, so that keep-alive connections "
                        "are spread over every worker again (default 0.1, i.e. ~2.5 %% of all requests)")
    p.add_argument("--port", type=int, default=8060, help="arkos port (another free one if taken)")
    p.add_argument("--pg", choices=("private", "shared"), default="private",
                   help="private: own initdb cluster (default); shared: scratch DB on PG_ADMIN_URL")
    p.add_argument("--pg-port", type=int, default=55432)
    p.add_argument("--pool-size", type=int, default=10, help="database.pool_size per worker")
    p.add_argument("--max-overflow", type=int, default=10, help="database.max_overflow per worker")
    p.add_argument("--redis", default=None, help="REDIS_URL for the app (keys under a unique prefix, deleted after)")
    p.add_argument("--restart-pg-at", type=float, default=None, help="seconds into the measured window")
    p.add_argument("--downtime", type=float, default=5.0, help="seconds PostgreSQL stays down")
    p.add_argument("--stop-mode", choices=("fast", "immediate", "smart"), default="fast")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default bench/out/load-<stamp>.json)")
    p.set_defaults(**defaults)
    args = p.parse_args(argv)
    if args.restart_pg_at is not None and args.pg != "private":
        p.error("--restart-pg-at needs --pg private (the shared server must never be restarted)")
    return args


def main(argv: list[str] | None = None, **defaults: Any) -> int:
    args = parse_args(argv, **defaults)
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(","))}
    unknown = set(weights) - set(EXPECTED)
    if unknown:
        sys.exit(f"unknown kinds in --weights: {sorted(unknown)}")
    limit = int(args.minutes * 60 + args.warmup + 300)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError(f"hard limit {limit} s reached")))
    signal.alarm(limit)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    OUT.mkdir(exist_ok=True)
    out_json = args.out or OUT / f"load-{stamp}.json"
    server_log = out_json.with_name(out_json.stem + "-server.log")
    args.port = free_port(args.port)
    run_id = secrets.token_hex(3)
    redis_prefix = f"arkos-load-{run_id}:"
    note = machine_note()
    print(f"machine: {note}", flush=True)

    cluster: PrivateCluster | None = None
    server: subprocess.Popen[bytes] | None = None
    scratch = Path(tempfile.mkdtemp(prefix="arkos-load-"))
    stack = contextlib.ExitStack()
    try:
        if args.pg == "private":
            need = args.workers * (args.pool_size + args.max_overflow) + 20
            cluster = PrivateCluster(free_port(args.pg_port), max(100, need))
            cluster.create()
            db_admin = cluster.admin_url()
            print(f"private PostgreSQL on {HOST}:{cluster.port} ({cluster.root}), max_connections {cluster.max_connections}",
                  flush=True)
        else:
            db_async = stack.enter_context(pg_database("arkos_bench_load"))
            db_admin = db_async.replace("postgresql+asyncpg://", "postgresql://")
        db_url = db_admin.replace("postgresql://", "postgresql+asyncpg://")

        env = {**os.environ, "DATABASE_URL": db_url, "JWT_SECRET": secrets.token_urlsafe(48), "ARKOS_ENV": "production",
               "PYTHONPATH": os.pathsep.join([str(BENCH), str(PEER), str(REPO)]),
               "LOAD_POOL_SIZE": str(args.pool_size), "LOAD_MAX_OVERFLOW": str(args.max_overflow)}
        env.pop("REDIS_URL", None)
        if args.redis:
            env["REDIS_URL"] = args.redis
            env["LOAD_REDIS_PREFIX"] = redis_prefix
        seed = write_seed(scratch)
        run([PYTHON, str(PEER / "seed.py"), str(seed)], cwd=PEER, env=env)
        server = start_server(args, env, server_log, scratch)
        base = f"http://{HOST}:{args.port}"
        pids = worker_pids(server.pid)
        print(f"arkos start --workers {args.workers} on {base}: master {server.pid}, workers {pids}", flush=True)

        tokens = {u: http_json("POST", base + "/api/auth/login", {"username": u, "password": PASSWORD})[1]["accessToken"]
                  for u in ("admin", "user")}
        editor_tokens = [http_json("POST", base + "/api/auth/login", {"username": "editor", "password": PASSWORD})[1]
                         ["accessToken"] for _ in range(4)]
        head, payload, sig = editor_tokens[0].split(".")
        forged = f"{head}.{payload}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"

        now = time.monotonic()
        start_at = now + 3.0  # client processes import httpx first
        t_begin = start_at + args.warmup
        t_end = t_begin + args.minutes * 60
        spec = {"base": base, "weights": weights, "editor_tokens": editor_tokens, "admin_token": tokens["admin"],
                "user_token": tokens["user"], "forged_token": forged, "start_at": start_at, "end_at": t_end,
                "concurrency": args.concurrency, "timeout": args.timeout, "run_id": run_id,
                "reconnect": args.reconnect}
        ctx = multiprocessing.get_context("spawn")
        outs = [scratch / f"client-{i}.pickle" for i in range(args.clients)]
        procs = [ctx.Process(target=client_process, args=(spec, i, str(outs[i])), daemon=True)
                 for i in range(args.clients)]
        for p in procs:
            p.start()

        rss: dict[int, dict[str, int]] = {}
        fault: dict[str, Any] = {}
        cpu0 = 0.0
        pg_cpu_start = [0.0]
        pg_cpu_parts: list[float] = []

        def wait_until(t: float) -> None:
            while (left := t - time.monotonic()) > 0:
                time.sleep(min(left, 0.2))

        def restarter() -> None:
            assert cluster is not None
            wait_until(t_begin + args.restart_pg_at)
            pg_cpu_parts.append(tree_cpu(cluster.postmaster()) - pg_cpu_start[0])
            fault["t_stop_issued"] = time.monotonic()
            cluster.stop(args.stop_mode)
            fault["t_stopped"] = time.monotonic()
            time.sleep(args.downtime)
            fault["t_start_issued"] = time.monotonic()
            cluster.start(wait=False)
            while not cluster.ready():
                time.sleep(0.02)
            fault["t_up"] = time.monotonic()
            pg_cpu_start[0] = tree_cpu(cluster.postmaster())

        thread = None
        if args.restart_pg_at is not None:
            thread = threading.Thread(target=restarter, daemon=True)
            thread.start()
        wait_until(t_begin)
        pids_begin = worker_pids(server.pid)
        for pid in pids_begin:
            rss[pid] = {"start_kb": proc_status(pid).get("VmRSS", 0)}
        cpu0 = session_cpu(server.pid)
        busy0 = machine_busy()
        if cluster is not None:
            pg_cpu_start[0] = tree_cpu(cluster.postmaster())
        print(f"measuring for {args.minutes} min from now ({time.strftime('%H:%M:%S')})", flush=True)
        wait_until(t_end)
        pids_end = worker_pids(server.pid)
        for pid in pids_begin:
            st = proc_status(pid)
            rss[pid].update(end_kb=st.get("VmRSS", 0), hwm_kb=st.get("VmHWM", 0))
        server_cpu = session_cpu(server.pid) - cpu0
        busy1 = machine_busy()
        machine_busy_share = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
        pg_cpu = (sum(pg_cpu_parts) + tree_cpu(cluster.postmaster()) - pg_cpu_start[0]) if cluster else float("nan")
        for p in procs:
            p.join(timeout=args.timeout + 30)
            if p.is_alive():
                p.kill()
        if thread is not None:
            thread.join(timeout=60)

        records: list[Any] = []
        creates: list[Any] = []
        updates: list[Any] = []
        logouts: list[Any] = []
        samples: dict[str, list[str]] = {}
        client_cpu = 0.0
        for path in outs:
            with open(path, "rb") as f:
                part = pickle.load(f)
            records += part["records"]
            creates += part["creates"]
            updates += part["updates"]
            logouts += part["logouts"]
            samples.update(part["samples_5xx"])
            client_cpu += part["cpu_s"]
        if cluster is not None and not cluster.ready():
            cluster.start(wait=True)
        verdict = asyncio.run(verify(db_admin, creates, updates, logouts, args.redis, redis_prefix))
        log_text = server_log.read_text(errors="replace")
        report: dict[str, Any] = {
            "machine": note, "args": {k: str(v) for k, v in vars(args).items()}, "workers": args.workers,
            "summary": summarize(records, t_begin, t_end, fault if "t_up" in fault else None),
            "rss": {str(pid): m for pid, m in rss.items()},
            "workers_replaced": pids_begin != pids_end or sorted(pids_begin) != sorted(pids),
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "postgres_cpu_s": pg_cpu,
            "machine_busy_share": machine_busy_share, "verify": verdict, "samples_5xx": samples,
            "log_tracebacks": log_text.count("Traceback (most recent call last)"),
            "log_errors": sum(1 for line in log_text.splitlines() if "ERROR" in line),
            "server_log": str(server_log),
        }
        if "t_up" in fault:
            report["fault"] = {
                "mode": args.stop_mode, "stop_at_s": fault["t_stop_issued"] - t_begin,
                "stop_took_s": fault["t_stopped"] - fault["t_stop_issued"], "downtime_s": args.downtime,
                "start_took_s": fault["t_up"] - fault["t_start_issued"],
                "outage_s": fault["t_up"] - fault["t_stop_issued"],
            }
        out_json.write_text(json.dumps(report, indent=2, default=str))
        print(markdown(report))
        if samples:
            print("5xx samples:", json.dumps(samples, indent=1)[:3000])
        print(f"raw figures: {out_json}; server log: {server_log}")
        bad = (verdict["missing_creates"] + verdict["lost_updates"] + verdict["missing_revocations"]
               + sum(k["let_through"] for k in report["summary"]["kinds"].values()))
        return 1 if bad else 0
    finally:
        signal.alarm(0)
        stop_server(server)
        stack.close()
        if cluster is not None:
            cluster.remove()
        if args.redis:
            with contextlib.suppress(Exception):
                import redis

                client = redis.Redis.from_url(args.redis)
                keys = list(client.scan_iter(f"{redis_prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
