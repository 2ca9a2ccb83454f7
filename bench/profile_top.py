#!/usr/bin/env python3
"""Top frames of a py-spy `--format raw` (collapsed stacks) profile: inclusive and self share.

Usage: profile_top.py PROFILE.raw [N] [--thread MAIN_ONLY_SUBSTRING]
Frames are grouped by `function (file)` without line numbers. Inclusive = share of samples whose
stack contains the frame; self = share where it is the innermost frame.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

LINE = re.compile(r"^(.*) (\d+)$")
FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/arkos/", "lib/python3.11/"):
        if marker in path:
            path = (marker.strip("/") + "/" if marker == "/arkos/" else "") + path.split(marker, 1)[1]
            break
    return f"{m.group('fn')} ({path})"


def main() -> None:
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 40
    only = sys.argv[sys.argv.index("--thread") + 1] if "--thread" in sys.argv else None
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for raw in open(path):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        stack, count = m.group(1), int(m.group(2))
        frames = stack.split(";")
        if only and only not in frames[0]:
            continue
        total += count
        names = [short(f) for f in frames[1:] if f]  # frames[0] is the thread
        for name in set(names):
            incl[name] += count
        if names:
            self_[names[-1]] += count
    print(f"{total} samples{' (thread filter: ' + only + ')' if only else ''}\n")
    print(f"{'incl%':>6} {'self%':>6}  frame")
    for name, c in incl.most_common(n):
        print(f"{100 * c / total:6.1f} {100 * self_[name] / total:6.1f}  {name}")
    print("\ntop self:")
    for name, c in self_.most_common(n // 2):
        print(f"{100 * c / total:6.1f}  {name}")


if __name__ == "__main__":
    main()
