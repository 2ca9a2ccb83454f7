#!/usr/bin/env python3
"""Dynamic mode with a warm cache against static mode, on the same authenticated find_many.

    .venv/bin/python bench/dynamic_vs_static.py [--rounds 3] [--duration 8]

bench/auth_app is seeded once (SQLite scratch file) with its static policy and, through
`migrate_to_dynamic`, the same grants as database rows. Two uvicorn workers serve it, one with
AUTH_MODE=static and one with AUTH_MODE=dynamic (same file, same users and tokens); wrk alternates
between them on GET /api/posts?limit=20 with the Editor's token. Target: dynamic ≥ 0.95× static.
The cold path is counted in statements, not timed: see tests/http/test_dynamic_cache.py
(a warm decision adds no statement, a cold one adds exactly one).
"""

from __future__ import annotations

import argparse
import os
import subprocess

from _common import BENCH, PYTHON, Server, login, machine_note, median, require_wrk, scratch_dir, wrk

APP_DIR = BENCH / "auth_app"
PATH = "/api/posts?limit=20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8)
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or not 1 <= args.duration <= 60:
        raise SystemExit("rounds must be 1..10 and duration 1..60 s")
    require_wrk()
    print(f"# dynamic_vs_static — {machine_note()}\n")
    with scratch_dir("arkos-dyn-") as tmp:
        env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/auth.db"}
        path = os.pathsep.join([str(APP_DIR), str(BENCH)])
        subprocess.run([PYTHON, "seed.py"], cwd=APP_DIR, check=True,
                       env={**os.environ, **env, "AUTH_MODE": "dynamic", "PYTHONPATH": path})
        rps: dict[str, list[float]] = {"static": [], "dynamic": []}
        cpu: dict[str, list[float]] = {"static": [], "dynamic": []}
        with Server("static", "app:app", 8151, APP_DIR, {**env, "AUTH_MODE": "static"}, log=tmp / "s.log") as st, \
                Server("dynamic", "app:app", 8152, APP_DIR, {**env, "AUTH_MODE": "dynamic"},
                       log=tmp / "d.log") as dy:
            token = login(st.base, "editor")
            servers = [("static", st), ("dynamic", dy)]
            for r in range(args.rounds):
                for mode, srv in (servers if r % 2 == 0 else servers[::-1]):
                    w = wrk(srv.base + PATH, duration=args.duration, token=token, server=srv)
                    if not w.ok(200) or w.socket_errors:
                        print(f"  ! {mode}: non2xx={w.non2xx} socket errors={w.socket_errors}")
                    rps[mode].append(w.rps)
                    cpu[mode].append(w.cpu_ms_per_req)
                    print(f"  r{r + 1} {mode:7} {w.rps:8.0f} req/s  cpu {w.cpu_ms_per_req:6.3f} ms/req", flush=True)
    s, d = median(rps["static"]), median(rps["dynamic"])
    cs, cd = median(cpu["static"]), median(cpu["dynamic"])
    print(f"\n| static req/s | dynamic (warm) req/s | dynamic ÷ static (req/s) | CPU ms static / dynamic | "
          f"dynamic ÷ static (capacity) | target ≥ 0.95× |\n|---:|---:|---:|---|---:|---|\n"
          f"| {s:.0f} | {d:.0f} | {d / s:.2f}× | {cs:.3f} / {cd:.3f} | {cs / cd:.2f}× | "
          f"{'yes' if min(d / s, cs / cd) >= 0.95 else 'no'} |\n")


if __name__ == "__main__":
    main()
