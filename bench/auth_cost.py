#!/usr/bin/env python3
"""What authentication costs: the same generated read with and without it, and login vs bare bcrypt.

    .venv/bin/python bench/auth_cost.py [--rounds 3] [--duration 8] [--skip-reads] [--skip-login]

1. Reads. One arkos app (bench/auth_app: SQLite scratch file, 3 users, 1,000 posts in two identical
   tables) serves GET /api/posts?limit=20 and /api/posts/{id} behind JWT authentication + the static
   policy (Editor may View; the Editor's bearer token is sent) and GET /api/open-posts… with the hook
   `{"find_many": {"authentication": False}, "find_one": {"authentication": False}}`. One uvicorn
   worker pinned to CPU 0, wrk on CPU 1, 32 connections, the two routes alternating within each round.
   Auth cost = 1 − authenticated ÷ open, by req/s and by server CPU per request. Target ≤ 10 %.
   (Authenticated = PyJWT HS256 decode + one SELECT of the user joined with the revocation check +
   the policy decision.)
2. Login. POST /api/auth/login (Editor, bcrypt cost 10) on the same app, server and wrk NOT pinned
   (bcrypt runs in the thread pool and may use every core), 16 connections; against a bare
   `bcrypt.checkpw` of a cost-10 hash in a ThreadPoolExecutor with one thread per core, for the same
   duration, alternating. Ratio = bare ÷ login; target ≤ 1.1× (login bound by bcrypt).
Results are also appended to bench/out/auth_cost.tsv.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import (BENCH, POST_ID, PYTHON, Server, login, machine_note, median, require_wrk, scratch_dir,
                     wrk)

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
    print(f"\n### authenticated vs open generated reads (SQLite, median of {rounds} rounds)\n")
    print("| route | authenticated req/s | open req/s | cost by req/s | CPU ms/req auth / open | cost by CPU | "
          "target ≤ 10 % |")
    print("|---|---:|---:|---:|---|---:|---|")
    for kind, _a, _o in READS:
        a, o = median(rps[(kind, "auth")]), median(rps[(kind, "open")])
        ca, co = median(cpu[(kind, "auth")]), median(cpu[(kind, "open")])
        cost_rps, cost_cpu = 1 - a / o, 1 - co / ca
        met = "yes" if max(cost_rps, cost_cpu) <= 0.10 else "no"
        print(f"| {kind} | {a:.0f} | {o:.0f} | {100 * cost_rps:.1f} % | {ca:.3f} / {co:.3f} | "
              f"{100 * cost_cpu:.1f} % | {met} |")
    print()


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--skip-login", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or not 1 <= args.duration <= 60:
        raise SystemExit("rounds must be 1..10 and duration 1..60 s")
    require_wrk()
    (BENCH / "out").mkdir(exist_ok=True)
    print(f"# auth_cost — {machine_note()}\n")
    rows: list[str] = []
    try:
        with scratch_dir("arkos-auth-") as tmp:
            env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/auth.db"}
            subprocess.run([PYTHON, "seed.py"], cwd=APP_DIR, check=True,
                           env={**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(APP_DIR), str(BENCH)])})
            if not args.skip_reads:
                with Server("auth-app", "app:app", 8141, APP_DIR, env, log=tmp / "reads.log") as srv:
                    reads(srv, args.rounds, args.duration, rows)
            if not args.skip_login:
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
