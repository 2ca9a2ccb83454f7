"""The mixed workload of load_mixed.py while PostgreSQL is restarted mid-run (issue #8, fault script).

    .venv/bin/python bench/fault_pg_restart.py                       # 2 min, stop at +40 s, 5 s down
    .venv/bin/python bench/fault_pg_restart.py --minutes 0.5 --restart-pg-at 10 --downtime 3
    .venv/bin/python bench/fault_pg_restart.py --stop-mode immediate  # a crash: WAL recovery on start

Always on a private PostgreSQL cluster (initdb into a temp dir as the `postgres` user, 127.0.0.1:55432,
removed at the end): the shared server on 5432 is never touched. Every option of load_mixed.py applies;
this script only changes the defaults (`--restart-pg-at 40 --downtime 5`). Exit status 1 when an
acknowledged write is missing or a request without a valid token got a 2xx.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_mixed import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(restart_pg_at=40.0, downtime=5.0, pg="private"))
