#!/usr/bin/env python3
"""CPU cost of one small SELECT through each layer under arkos on SQLite (no HTTP, one process).

    .venv/bin/python bench/sqlite_layers.py [N]

The statement is the shape of arkos's per-request user lookup (one row by primary key, 3-row table),
run N times (default 3000) sequentially: raw sqlite3; SQLAlchemy sync (pysqlite) with a pooled
connect / execute / first / rollback / close; SQLAlchemy asyncio + aiosqlite, the same unit of work
(what every arkos and fastapi-users request pays per statement on SQLite). Prints CPU µs per unit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from _common import scratch_dir

UID = "1c7c580b-34d2-581a-94e6-e15d50616674"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with scratch_dir("arkos-layers-") as tmp:
        path = f"{tmp}/layers.db"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE user (id VARCHAR(36) PRIMARY KEY, username VARCHAR(150), password VARCHAR(128))")
        con.executemany("INSERT INTO user VALUES (?, ?, ?)",
                        [(UID, "editor", "x"), ("a", "admin", "x"), ("b", "user", "x")])
        con.commit()
        stmt = sa.text("SELECT id, username FROM user WHERE id = :uid")

        c0 = time.process_time()
        for _ in range(n):
            con.execute("SELECT id, username FROM user WHERE id = ?", (UID,)).fetchone()
        raw = time.process_time() - c0

        engine = sa.create_engine(f"sqlite:///{path}")

        def sync_unit() -> None:
            with engine.connect() as c:
                c.execute(stmt, {"uid": UID}).first()
                c.rollback()

        for _ in range(200):
            sync_unit()
        c0 = time.process_time()
        for _ in range(n):
            sync_unit()
        sync = time.process_time() - c0
        engine.dispose()

        async def run_async() -> float:
            aengine = create_async_engine(f"sqlite+aiosqlite:///{path}")

            async def unit() -> None:
                async with aengine.connect() as c:
                    (await c.execute(stmt, {"uid": UID})).first()
                    await c.rollback()

            for _ in range(200):
                await unit()
            start = time.process_time()
            for _ in range(n):
                await unit()
            spent = time.process_time() - start
            await aengine.dispose()
            return spent

        try:
            import uvloop
            asynced = uvloop.run(run_async())
        except ImportError:
            asynced = asyncio.run(run_async())
        con.close()
    print(f"one SELECT by primary key, CPU per unit of work ({n} runs):")
    print(f"  raw sqlite3: execute + fetchone                          {1e6 * raw / n:8.1f} µs")
    print(f"  SQLAlchemy sync (pysqlite): connect/execute/first/rollback {1e6 * sync / n:8.1f} µs")
    print(f"  SQLAlchemy asyncio + aiosqlite: the same                 {1e6 * asynced / n:8.1f} µs")


if __name__ == "__main__":
    main()
