#!/usr/bin/env python3
"""arkos-py against the peers, from one results TSV of the shared harness (median over rounds).

Usage: ratios.py RESULTS_TSV [OURS] [REF]    defaults: arkos-py fastapi
Prints a markdown table: our req/s, the peers', ours ÷ REF (with the target), ours ÷ drf, and for
unauth_401 ours ÷ bare Starlette hello world (from the same run).
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict

KINDS = ["list_editor", "list_user_403", "get_one", "create", "unauth_401", "login"]
# ours ÷ fastapi-users targets (the issue); unauth_401 is compared with bare Starlette instead.
TARGETS = {"list_editor": 4.0, "get_one": 4.0, "create": 3.0, "list_user_403": 5.0}
HELLO_TARGET = 0.5


def main() -> None:
    path = sys.argv[1]
    ours = sys.argv[2] if len(sys.argv) > 2 else "arkos-py"
    ref = sys.argv[3] if len(sys.argv) > 3 else "fastapi"
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    per: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        if r["workers"] == "1":
            per[(r["peer"], r["kind"])].append(r)

    def med(peer: str, kind: str) -> float | None:
        rs = per.get((peer, kind))
        return statistics.median(float(r["rps"]) for r in rs) if rs else None

    def rounds(peer: str, kind: str) -> str:
        rs = sorted(per.get((peer, kind), []), key=lambda r: int(r["round"]))
        bad = "" if all(r["status_ok"] == "yes" for r in rs) else " (status NOT ok)"
        return " / ".join(f"{float(r['rps']):.0f}" for r in rs) + bad

    hello = med("hello-starlette", "hello")
    print(f"\n{ours} vs {ref} (median req/s over rounds; per-round values in brackets)\n")
    print(f"| kind | {ours} | {ref} | drf | {ours} ÷ {ref} | target | met | {ours} ÷ drf |")
    print("|---|---|---|---|---:|---:|---|---:|")
    for kind in KINDS:
        o, f, d = med(ours, kind), med(ref, kind), med("drf", kind)
        if o is None:
            continue
        ratio = f"{o / f:.2f}×" if f else "–"
        target, met = "", ""
        if kind in TARGETS and f:
            target = f"≥ {TARGETS[kind]:.0f}×"
            met = "yes" if o / f >= TARGETS[kind] else "no"
        elif kind == "login":
            target = "bcrypt-bound"
        elif kind == "unauth_401" and hello:
            target = f"≥ {HELLO_TARGET}× hello"
            met = f"{o / hello:.2f}× hello: " + ("yes" if o / hello >= HELLO_TARGET else "no")
        print(f"| {kind} | {o:.0f} ({rounds(ours, kind)}) | {f:.0f} ({rounds(ref, kind)}) | "
              f"{'–' if d is None else f'{d:.0f}'} | {ratio} | {target} | {met} | "
              f"{'–' if not d else f'{o / d:.2f}×'} |" if f else f"| {kind} | {o:.0f} | – | – | – | | | |")
    if hello:
        print(f"\nbare Starlette hello (same run): {hello:.0f} req/s ({rounds('hello-starlette', 'hello')})")
    cpu_table(path, ours, ref)


def cpu_table(path: str, ours: str, ref: str) -> None:
    """Server CPU per request (from RESULTS .cpu.tsv, written by the patched run.sh): the capacity ratio.

    On a shared VM the server rarely gets its whole core; CPU ms per request does not depend on how
    much of the core it got, so ref_cpu ÷ ours_cpu is the throughput ratio at equal CPU."""
    cpu_path = path[:-4] + ".cpu.tsv" if path.endswith(".tsv") else path + ".cpu.tsv"
    try:
        lines = [line.rstrip("\n").split("\t") for line in open(cpu_path) if line.strip()]
    except OSError:
        return
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for peer, _rnd, kind, requests, ticks, hz in lines:
        if requests and int(requests) > 0:
            per[(peer, kind)].append(1000 * int(ticks) / int(hz) / int(requests))

    def med(peer: str, kind: str) -> float | None:
        return statistics.median(per[(peer, kind)]) if per.get((peer, kind)) else None

    hello = med("hello-starlette", "hello")
    print("\nServer CPU per request, ms (median over rounds; all threads of the server process)\n")
    print(f"| kind | {ours} | {ref} | drf | {ref} ÷ {ours} (capacity ratio) | target | met |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for kind in KINDS:
        o, f, d = med(ours, kind), med(ref, kind), med("drf", kind)
        if o is None or f is None:
            continue
        target, met = "", ""
        if kind in TARGETS:
            target, met = f"≥ {TARGETS[kind]:.0f}×", ("yes" if f / o >= TARGETS[kind] else "no")
        elif kind == "unauth_401" and hello:
            target = f"≥ {HELLO_TARGET}× hello"
            met = f"hello ÷ ours = {hello / o:.2f}×: " + ("yes" if hello / o >= HELLO_TARGET else "no")
        print(f"| {kind} | {o:.3f} | {f:.3f} | {'–' if d is None else f'{d:.3f}'} | {f / o:.2f}× | {target} | {met} |")
    if hello:
        print(f"\nbare Starlette hello: {hello:.3f} ms CPU per request")


if __name__ == "__main__":
    main()
