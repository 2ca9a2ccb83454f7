#!/usr/bin/env python3
"""What authentication costs: the same generated read with and without it, and login vs bare bcrypt.

    .venv/bin/python bench/auth_cost.py [--rounds 7] [--duration 4] [--skip-reads] [--skip-login]
                                        [--instructions [--requests 300]]

1. Reads. One arkos app (bench/auth_app: SQLite scratch file, 3 users, 1,000 posts in two identical
   tables) serves GET /api/posts?limit=20 and /api/posts/{id} behind JWT authentication + the static
   policy (Editor may View; the Editor's bearer token is sent) and GET /api/open-posts… with the hook
   `{"find_many": {"authentication": False}, "find_one": {"authentication": False}}`. One uvicorn
   worker pinned to CPU 0, wrk on CPU 1, 32 connections, the two routes back to back in each round
   (order alternating). Auth cost = 1 − authenticated ÷ open, by req/s and by server CPU per request,
   taken per round (the two runs of a round are seconds apart, so the drift of this shared VM's speed
   cancels out) and the median over rounds. Target ≤ 10 %.
   (Authenticated = PyJWT HS256 decode, memoised + the user and revocation lookup, or its verdict
   reused while SQLite's `PRAGMA data_version` is unchanged + the policy decision.)
2. Login. POST /api/auth/login (Editor, bcrypt cost 10) on the same app, server and wrk NOT pinned
   (bcrypt runs in the thread pool and may use every core), 16 connections; against a bare
   `bcrypt.checkpw` of a cost-10 hash in a ThreadPoolExecutor with one thread per core, for the same
   duration, alternating. Ratio = bare ÷ login; target ≤ 1.1× (login bound by bcrypt).
3. `--instructions` (valgrind): the same four reads, `--requests` each on one keep-alive connection,
   against one uvicorn process under callgrind (bench/auth_app/valgrind_app.py), counting the server's
   instructions per request. Not a throughput figure, but exact: the same count run after run, whatever
   else the machine does, so it shows what a change to the hot path does when wrk's noise hides it.
Results are also appended to bench/out/auth_cost.tsv.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (BENCH, HOST, POST_ID, PYTHON, Server, login, machine_note, median, pg_available, pg_database,
                     require_wrk, scratch_dir, wrk)

APP_DIR = BENCH / "auth_app"
READS = (("find_many", "/api/posts?limit=20", "/api/open-posts?limit=20"),
         ("find_one", f"/api/posts/{POST_ID}", f"/api/open-posts/{POST_ID}"))
BARE = r"""
import os, sys, time, bcrypt
from concurrent.futures import ThreadPoolExecutor
hashed = bcrypt.hashpw(b"Passw0rd!", bcrypt.gensalt(10))
duration = float(sys.argv[1]); threads = os.cpu_count() or 1
stop = time.monotonic() + duration
def worker(_):
    n = 0
    while time.monotonic() < stop:
        assert bcrypt.checkpw(b"Passw0rd!", hashed)
        n += 1
    return n
start = time.monotonic()
with ThreadPoolExecutor(threads) as pool:
    total = sum(pool.map(worker, range(threads)))
print(total / (time.monotonic() - start))
"""


def reads(srv: Server, rounds: int, duration: float, rows: list[str]) -> None:
    token = login(srv.base, "editor")
    rps: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for kind, auth_path, open_path in READS:
            variants = [("auth", auth_path, token), ("open", open_path, None)]
            for variant, path, tok in (variants if r % 2 == 0 else variants[::-1]):
                w = wrk(srv.base + path, duration=duration, token=tok, server=srv)
                if not w.ok(200) or w.socket_errors:
                    print(f"  ! {kind} {variant}: non2xx={w.non2xx} socket errors={w.socket_errors}")
                rps.setdefault((kind, variant), []).append(w.rps)
                cpu.setdefault((kind, variant), []).append(w.cpu_ms_per_req)
                print(f"  r{r + 1} {kind:9} {variant:4} {w.rps:8.0f} req/s  cpu {w.cpu_ms_per_req:6.3f} ms/req  "
                      f"p50 {w.p50_ms:6.1f} ms", flush=True)
                rows.append(_row("reads", r + 1, kind, variant, w.rps, w.cpu_ms_per_req))
    backend = "PostgreSQL" if "postgresql" in srv.env.get("DATABASE_URL", "") else "SQLite"
    print(f"\n### authenticated vs open generated reads ({backend}, {rounds} rounds of {duration:g} s)\n")
    print("| route | authenticated req/s | open req/s | CPU ms/req auth / open | cost by req/s | cost by CPU | "
          "target ≤ 10 % |")
    print("|---|---:|---:|---|---:|---:|---|")
    for kind, _a, _o in READS:
        a, o, ca, co = rps[(kind, "auth")], rps[(kind, "open")], cpu[(kind, "auth")], cpu[(kind, "open")]
        cost_rps = median([1 - x / y for x, y in zip(a, o)])
        cost_cpu = median([1 - y / x for x, y in zip(ca, co)])
        met = "yes" if max(cost_rps, cost_cpu) <= 0.10 else "no"
        print(f"| {kind} | {median(a):.0f} | {median(o):.0f} | {median(ca):.3f} / {median(co):.3f} | "
              f"{100 * cost_rps:.1f} % | {100 * cost_cpu:.1f} % | {met} |")
    print("\n(costs: median over rounds of each round's pair; req/s and CPU columns: medians)\n")


def instructions(env: dict[str, str], tmp: Path, requests: int, rows: list[str]) -> None:
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("--instructions needs valgrind (apt-get install -y valgrind)")
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/callgrind.%p"]
    srv = Server("auth-app-callgrind", "valgrind_app:app", 8143, APP_DIR, {**env, "PYTHONHASHSEED": "0"},
                 log=tmp / "callgrind.log", prefix=prefix)
    srv.start(timeout=300)
    try:
        assert srv.proc is not None
        pid = str(srv.proc.pid)
        token = login(srv.base, "editor")
        conn = http.client.HTTPConnection(HOST, srv.port, timeout=120)

        def batch(path: str, tok: str | None) -> int:
            control = ["callgrind_control"]
            for _ in range(20):
                _get(conn, path, tok)
            subprocess.run([*control, "-i", "on", pid], check=True, capture_output=True)
            _get(conn, path, tok)
            subprocess.run([*control, "-z", pid], check=True, capture_output=True)
            for _ in range(requests):
                _get(conn, path, tok)
            before = set(tmp.glob(f"callgrind.{pid}.*"))
            subprocess.run([*control, "-d", pid], check=True, capture_output=True)
            subprocess.run([*control, "-i", "off", pid], check=True, capture_output=True)
            dump = next(iter(set(tmp.glob(f"callgrind.{pid}.*")) - before))
            totals = next(line for line in dump.read_text().splitlines() if line.startswith("totals:"))
            return int(totals.split()[1])

        batch(READS[0][2], None)  # the first batch after instrumenting costs more: discarded
        counts: dict[tuple[str, str], float] = {}
        for kind, auth_path, open_path in READS:
            for variant, path, tok in (("open", open_path, None), ("auth", auth_path, token)):
                counts[(kind, variant)] = batch(path, tok) / requests
                print(f"  {kind:9} {variant:4} {counts[(kind, variant)]:10,.0f} instructions/request", flush=True)
                rows.append(_row("instructions", 1, kind, variant, counts[(kind, variant)], float("nan")))
    finally:
        srv.stop()
    print(f"\n### instructions per request (callgrind, one uvicorn worker, {requests} requests each)\n")
    print("| route | authenticated | open | authentication | cost |")
    print("|---|---:|---:|---:|---:|")
    for kind, _a, _o in READS:
        a, o = counts[(kind, "auth")], counts[(kind, "open")]
        print(f"| {kind} | {a:,.0f} | {o:,.0f} | {a - o:,.0f} | {100 * (1 - o / a):.1f} % |")
    print()


def _get(conn: http.client.HTTPConnection, path: str, token: str | None) -> None:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}")


def logins(srv: Server, rounds: int, duration: float, rows: list[str]) -> None:
    body = {"username": "editor", "password": "Passw0rd!"}
    bare, served = [], []
    for r in range(rounds):
        steps = ["bare", "login"] if r % 2 == 0 else ["login", "bare"]
        for step in steps:
            if step == "bare":
                out = subprocess.run([PYTHON, "-c", BARE, str(duration)], capture_output=True, text=True, check=True)
                value = float(out.stdout.strip())
                bare.append(value)
                print(f"  r{r + 1} bare bcrypt.checkpw x{os.cpu_count()} threads {value:6.1f} checks/s", flush=True)
                rows.append(_row("login", r + 1, "bcrypt", "bare", value, float("nan")))
            else:
                w = wrk(srv.base + "/api/auth/login", duration=duration, conns=16, method="POST", body=body,
                        warmup=3, pin=False, server=srv)
                if not w.ok(200) or w.socket_errors:
                    print(f"  ! login: non2xx={w.non2xx} socket errors={w.socket_errors}")
                served.append(w.rps)
                print(f"  r{r + 1} POST /api/auth/login         {w.rps:6.1f} req/s  p50 {w.p50_ms:.0f} ms  "
                      f"p99 {w.p99_ms:.0f} ms", flush=True)
                rows.append(_row("login", r + 1, "login", "arkos", w.rps, w.cpu_ms_per_req))
    b, s = median(bare), median(served)
    print(f"\n### login vs bare bcrypt (cost 10, {os.cpu_count()} cores, median of {rounds} rounds)\n")
    print("| bare checkpw /s (thread pool, all cores) | POST /api/auth/login /s | bare ÷ login | target ≤ 1.1× |")
    print("|---:|---:|---:|---|")
    print(f"| {b:.1f} | {s:.1f} | {b / s:.2f}× | {'yes' if b / s <= 1.1 else 'no'} |\n")


def _row(part: str, rnd: int, kind: str, variant: str, rps: float, cpu: float) -> str:
    return "\t".join(map(str, (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), part, rnd, kind, variant,
                               f"{rps:.2f}", f"{cpu:.4f}")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--skip-login", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "pg"), default="sqlite",
                        help="pg: a scratch database on 127.0.0.1:5432 instead of a SQLite file")
    parser.add_argument("--instructions", action="store_true", help="count instructions/request under callgrind")
    parser.add_argument("--requests", type=int, default=300, help="requests per route with --instructions")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 15 or not 1 <= args.duration <= 60 or not 10 <= args.requests <= 10_000:
        raise SystemExit("rounds must be 1..15, duration 1..60 s and requests 10..10000")
    if not args.instructions:
        require_wrk()
    (BENCH / "out").mkdir(exist_ok=True)
    print(f"# auth_cost — {machine_note()}\n")
    rows: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(scratch_dir("arkos-auth-"))
            env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/auth.db"}
            if args.backend == "pg":
                if not pg_available():
                    raise SystemExit("--backend pg: no PostgreSQL at 127.0.0.1:5432")
                env["DATABASE_URL"] = stack.enter_context(pg_database("arkos_bench_auth"))
            subprocess.run([PYTHON, "seed.py"], cwd=APP_DIR, check=True,
                           env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(APP_DIR), str(BENCH)])})
            if args.instructions:
                instructions(env, tmp, args.requests, rows)
            elif not args.skip_reads:
                with Server("auth-app", "app:app", 8141, APP_DIR, env, log=tmp / "reads.log") as srv:
                    reads(srv, args.rounds, args.duration, rows)
            if not args.skip_login and not args.instructions:
                with Server("auth-app", "app:app", 8142, APP_DIR, env, pin=False, log=tmp / "login.log") as srv:
                    logins(srv, max(2, args.rounds - 1), max(args.duration, 10), rows)
    finally:
        if rows:
            out = BENCH / "out" / "auth_cost.tsv"
            new = not out.exists()
            with open(out, "a") as f:
                if new:
                    f.write("date\tpart\tround\tkind\tvariant\trps\tcpu_ms_per_req\n")
                f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    sys.exit(main())
