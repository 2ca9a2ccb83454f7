#!/usr/bin/env python3
"""Generated CRUD vs hand-written FastAPI + SQLAlchemy, same query, same JSON, side by side in one run.

    .venv/bin/python bench/crud_vs_handwritten.py [--backend sqlite|pg|both] [--rounds 2] [--duration 8]

Three apps serve GET /api/posts?limit=20 (a page of 20 of the 1,000 common-seed posts, with the total)
and GET /api/posts/{id}, authentication off everywhere (so only the CRUD layer differs):

* `generated`   arkos.init(models=Base): arkos's generated find_many / find_one;
* `hand-orm`    FastAPI + AsyncSession + ORM rows + pydantic response models (the idiomatic way);
* `hand-core`   FastAPI + Core, prebuilt statements, orjson (what a careful hand-written endpoint does).

Each is one uvicorn worker (uvloop, httptools) pinned to CPU 0, loaded by wrk (1 thread, CPU 1,
32 connections); the servers run side by side and are measured in turn, the order rotating each
round. Per (app, kind): req/s and the server's CPU per request (ms, all threads), median over rounds.
SQLite: a scratch file. PostgreSQL: a scratch database `arkos_bench_crud` on 127.0.0.1:5432
(user postgres, trust auth; PG_ADMIN_URL to change), dropped at the end. Target: generated ≥ 0.9×
hand-written. Results are also appended to bench/out/crud_vs_handwritten.tsv.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import (BENCH, POST_ID, PYTHON, Server, http, machine_note, median, pg_available, pg_database,
                     require_wrk, scratch_dir, wrk)

APPS = (("generated", "crud_apps.generated:app", 8131), ("hand-orm", "crud_apps.handwritten_orm:app", 8132),
        ("hand-core", "crud_apps.handwritten_core:app", 8133))
KINDS = (("find_many", "/api/posts?limit=20"), ("find_one", f"/api/posts/{POST_ID}"))
TARGET = 0.9


def check_same_json(servers: list[Server]) -> None:
    """Every app must answer the same body (dates compared as instants) before anything is measured."""
    for _kind, path in KINDS:
        bodies = {}
        for s in servers:
            status, body = http("GET", s.base + path)
            if status != 200:
                raise SystemExit(f"{s.name} {path}: HTTP {status} {body}")
            bodies[s.name] = body
        ref = bodies["generated"]
        for name, body in bodies.items():
            if _normalized(body) != _normalized(ref):
                raise SystemExit(f"{name} answers {path} differently from generated:\n{str(body)[:600]}\n{str(ref)[:600]}")


def _normalized(value: object) -> object:
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        import datetime as dt
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()  # SQLite: naive = UTC
    return value


def run_backend(backend: str, url: str, rounds: int, duration: float, rows: list[str]) -> None:
    env = {"DATABASE_URL": url}
    subprocess.run([PYTHON, "-m", "crud_apps.seed"], cwd=BENCH, env={**os.environ, **env,
                   "PYTHONPATH": str(BENCH)}, check=True)
    servers = [Server(name, app, port, BENCH, env, log=BENCH / "out" / f"crud-{backend}-{name}.log")
               for name, app, port in APPS]
    try:
        for s in servers:
            s.start()
        check_same_json(servers)
        rps: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        for r in range(rounds):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for kind, path in KINDS:
                for s in order:
                    w = wrk(s.base + path, duration=duration, server=s)
                    if not w.ok(200) or w.socket_errors:
                        print(f"  ! {s.name} {kind}: non2xx={w.non2xx} socket errors={w.socket_errors}")
                    rps.setdefault((s.name, kind), []).append(w.rps)
                    cpu.setdefault((s.name, kind), []).append(w.cpu_ms_per_req)
                    print(f"  {backend:6} r{r + 1} {kind:9} {s.name:9} {w.rps:8.0f} req/s  "
                          f"cpu {w.cpu_ms_per_req:6.3f} ms/req  p50 {w.p50_ms:6.1f} ms  p99 {w.p99_ms:6.1f} ms",
                          flush=True)
                    rows.append("\t".join(map(str, (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), backend,
                                                    r + 1, kind, s.name, f"{w.rps:.1f}",
                                                    f"{w.cpu_ms_per_req:.4f}", w.p50_ms, w.p99_ms, w.non2xx))))
    finally:
        for s in servers:
            s.stop()
    print(f"\n### {backend}: median of {rounds} rounds, {duration:.0f} s each, 32 connections, 1 worker\n")
    print("| route | generated req/s | hand-orm req/s | hand-core req/s | gen ÷ orm | gen ÷ core | "
          "CPU ms/req gen / orm / core | gen ÷ core by CPU | target ≥ 0.9× core |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    for kind, _path in KINDS:
        g, o, c = (median(rps[(n, kind)]) for n in ("generated", "hand-orm", "hand-core"))
        cg, co, cc = (median(cpu[(n, kind)]) for n in ("generated", "hand-orm", "hand-core"))
        by_cpu = cc / cg
        met = "yes" if min(g / c, by_cpu) >= TARGET else ("by CPU only" if by_cpu >= TARGET else "no")
        print(f"| {kind} | {g:.0f} | {o:.0f} | {c:.0f} | {g / o:.2f}× | {g / c:.2f}× | "
              f"{cg:.3f} / {co:.3f} / {cc:.3f} | {by_cpu:.2f}× | {met} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "pg", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or not 1 <= args.duration <= 60:
        raise SystemExit("rounds must be 1..10 and duration 1..60 s")
    require_wrk()
    (BENCH / "out").mkdir(exist_ok=True)
    print(f"# crud_vs_handwritten — {machine_note()}\n")
    rows: list[str] = []
    try:
        if args.backend in ("sqlite", "both"):
            with scratch_dir("arkos-crud-") as tmp:
                run_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/crud.db", args.rounds, args.duration, rows)
        if args.backend in ("pg", "both"):
            if not pg_available():
                print("PostgreSQL at 127.0.0.1:5432 not reachable: skipped")
            else:
                with pg_database("arkos_bench_crud") as url:
                    run_backend("pg", url, args.rounds, args.duration, rows)
    finally:
        if rows:
            out = BENCH / "out" / "crud_vs_handwritten.tsv"
            new = not out.exists()
            with open(out, "a") as f:
                if new:
                    f.write("date\tbackend\tround\tkind\tapp\trps\tcpu_ms_per_req\tp50_ms\tp99_ms\tnon2xx\n")
                f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    sys.exit(main())
