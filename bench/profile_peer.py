#!/usr/bin/env python3
"""Where the arkos peer's time goes per request kind: wrk load + a py-spy sample of the server.

    python bench/profile_peer.py [KIND ...]     kinds: list_editor list_user_403 get_one create unauth_401
    env: PYSPY=/path/to/py-spy (default: `py-spy` on PATH; `pip install py-spy` in any venv),
         DURATION=10, TOP=35

Starts the peer app (bench/peers/arkos_py, SQLite, 1 uvicorn worker pinned to CPU 0), loads it with
wrk (CPU 1, 32 connections) and samples it with py-spy at 250 Hz (`--nonblocking`, so the sampler
does not stop the server); prints req/s under the sampler and the top frames (inclusive / self share
of samples, all threads: aiosqlite runs SQLite in one worker thread per connection).
Raw profiles stay in bench/out/profile-<kind>.raw.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

from _common import BENCH, POST_ID, Server, login, require_wrk, scratch_dir, write_seed, wrk, PYTHON

PEER = BENCH / "peers" / "arkos_py"
KINDS = {
    "list_editor": ("GET", "/api/posts?limit=20", "editor", None),
    "list_user_403": ("GET", "/api/posts?limit=20", "user", None),
    "get_one": ("GET", f"/api/posts/{POST_ID}", "editor", None),
    "create": ("POST", "/api/posts", "editor",
               {"title": "bench post", "content": "created by wrk", "authorId": "1c7c580b-34d2-581a-94e6-e15d50616674"}),
    "unauth_401": ("GET", "/api/posts?limit=20", None, None),
}


def main() -> None:
    require_wrk()
    pyspy = os.environ.get("PYSPY") or shutil.which("py-spy")
    if not pyspy:
        sys.exit("py-spy missing: python3 -m venv /tmp/prof && /tmp/prof/bin/pip install py-spy; PYSPY=/tmp/prof/bin/py-spy")
    duration = float(os.environ.get("DURATION", "10"))
    kinds = sys.argv[1:] or list(KINDS)
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    with scratch_dir("arkos-profile-") as tmp:
        seed = write_seed(tmp)
        env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db"}
        subprocess.run([PYTHON, "seed.py", str(seed)], cwd=PEER, env={**os.environ, **env}, check=True)
        with Server("arkos-py", "app:app", 8114, PEER, env, log=tmp / "server.log") as srv:
            tokens = {u: login(srv.base, u) for u in ("editor", "user")}
            for kind in kinds:
                method, path, user, body = KINDS[kind]
                raw = out / f"profile-{kind}.raw"
                result = {}

                def load() -> None:
                    result["r"] = wrk(srv.base + path, duration=duration + 2, method=method, body=body,
                                      token=tokens.get(user) if user else None, warmup=1)

                t = threading.Thread(target=load)
                t.start()
                subprocess.run(["sleep", "2"])
                subprocess.run([pyspy, "record", "-p", str(srv.proc.pid), "-d", str(int(duration)), "-r", "250",
                                "-f", "raw", "-o", str(raw), *os.environ.get("PYSPY_ARGS", "--gil").split()], check=True, capture_output=True)
                t.join()
                r = result["r"]
                print(f"\n=== {kind}: {r.rps:.0f} req/s under py-spy (p50 {r.p50_ms:.1f} ms, non2xx {r.non2xx})")
                subprocess.run([sys.executable, str(BENCH / "profile_top.py"), str(raw), os.environ.get("TOP", "35")],
                               check=True)


if __name__ == "__main__":
    main()
