#!/usr/bin/env bash
# arkos (Python) in the shared peer harness, in the same interleaved run_all.sh round as the peers.
#
#   bench/peers/run.sh [ROUNDS] [PEERS...]       defaults: 2   fastapi arkos-py drf
#
# 1. copies the read-only shared harness (../shared/bench-peers) to a writable dir ($WORK,
#    default /tmp/arkos-bench-peers; an existing copy is reused, so the peer venvs stay),
# 2. copies bench/peers/arkos_py there as peer_arkos_py and adds an `arkos-py` case to its run.sh
#    (port 8004, uvicorn 1 worker, this repo's .venv; same seed, users, password, bcrypt cost 10
#    and routes as the other peers),
# 3. installs what is missing (wrk from Debian; the fastapi and drf peer venvs from PyPI;
#    NODE=1 also runs the harness's setup.sh for the Node arkos peer, which takes minutes),
# 4. runs `run_all.sh ROUNDS PEERS...` with the bare Starlette hello reference (HELLOS, default
#    "hello-starlette") in each round, so every ratio below comes from one run.
#
# Env: WORK, SHARED (harness source), ARKOS_PYTHON (default: <repo>/.venv/bin/python), NODE=1,
#      HELLOS, and the harness's own knobs (DURATION, WARMUP, CONNS, KINDS, DB=pg, ...).
# Prints the harness summary plus arkos-py ÷ fastapi ratios. Loopback only; every loop bounded.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SHARED="${SHARED:-$REPO/../shared/bench-peers}"
WORK="${WORK:-/tmp/arkos-bench-peers}"
export ARKOS_PYTHON="${ARKOS_PYTHON:-$REPO/.venv/bin/python}"
ROUNDS="${1:-2}"; shift || true
PEERS=("$@"); [ ${#PEERS[@]} -gt 0 ] || PEERS=(fastapi arkos-py drf)
export HELLOS="${HELLOS-hello-starlette}"

[ -d "$SHARED" ] || { echo "shared harness not found at $SHARED (set SHARED=...)" >&2; exit 1; }
if [ ! -f "$WORK/run_all.sh" ]; then
  mkdir -p "$WORK"; cp -r "$SHARED/." "$WORK/"; chmod -R u+w "$WORK"
fi
rm -rf "$WORK/peer_arkos_py"; mkdir -p "$WORK/peer_arkos_py"
cp -r "$HERE/arkos_py/." "$WORK/peer_arkos_py/"
find "$WORK/peer_arkos_py" -name __pycache__ -prune -exec rm -rf {} +

# Add the arkos-py case to the copied run.sh (once), right before the hello-world references.
if ! grep -q '^    arkos-py)' "$WORK/run.sh"; then
  python3 - "$WORK/run.sh" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
case = r'''    arkos-py)
      PORT=8004; DIR="$BENCH/peer_arkos_py"
      export DATABASE_URL="sqlite+aiosqlite:///$DIR/bench.db" ARKOS_ENV=production
      [ "$DB" = pg ] && export DATABASE_URL="postgresql+asyncpg://$PG_URL_BASE/bench_arkos_py" PGDB=bench_arkos_py
      SEED=("${ARKOS_PYTHON:-python3}" seed.py "$OUT/seed.json")
      START=("${ARKOS_PYTHON:-python3}" -m uvicorn app:app --host $HOST --port $PORT
             --workers "$WORKERS" --no-access-log --log-level warning)
      LOGIN_PATH=/api/auth/login; LOGIN_CT=application/json; TOKEN_KEY=accessToken
      login_body() { echo "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}"; }
      DBFILES=("$DIR/bench.db") ;;
'''
anchor = "    hello-fastapi|hello-starlette)\n"
assert anchor in text, "run.sh layout changed: no hello-fastapi case"
open(path, "w").write(text.replace(anchor, case + anchor, 1))
PY
fi
# Server CPU per request (all processes of the server's session, all threads) next to req/s: on a
# noisy shared VM the CPU cost is much steadier than the throughput. Rows go to RESULTS with .cpu.tsv.
if ! grep -q 'session_cpu_ticks' "$WORK/run.sh"; then
  python3 - "$WORK/run.sh" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
helper = r'''session_cpu_ticks() {  # utime + stime (clock ticks) of every process in session $SERVER_PID
  python3 -c '
import os, sys
sid, total = int(sys.argv[1]), 0
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(f[3]) == sid:
            total += int(f[11]) + int(f[12])
print(total)' "$SERVER_PID"
}

'''
measured = '''  "${WRK_PIN[@]}" wrk "${wrk_args[@]}" -d"${DURATION}s" "$url" >"$raw"\n'''
wrapped = ('''  local c0 c1; c0=$(session_cpu_ticks)\n''' + measured +
           '''  c1=$(session_cpu_ticks)\n'''
           '''  printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$LABEL" "$ROUND" "$kind" "$(grep -oE '[0-9]+ requests in' "$raw" | cut -d' ' -f1)" "$((c1 - c0))" "$(getconf CLK_TCK)" >>"${RESULTS%.tsv}.cpu.tsv"\n''')
assert measured in text and "\nbench() {" in text, "run.sh layout changed"
text = text.replace(measured, wrapped, 1).replace("\n# bench KIND", "\n" + helper + "# bench KIND", 1)
open(path, "w").write(text)
PY
fi

# Setup: only what is missing.
if ! command -v wrk >/dev/null; then apt-get update -qq && apt-get install -y -qq wrk; fi
for peer in fastapi drf; do
  venv="$WORK/.venv-$peer"; probe=uvicorn; [ $peer = drf ] && probe=rest_framework
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "import $probe" 2>/dev/null || "$venv/bin/pip" install -q -r "$WORK/peer_$peer/requirements.txt"
done
[ "${NODE:-0}" = 1 ] && "$WORK/setup.sh"
"$ARKOS_PYTHON" -c "import arkos, uvicorn" || { echo "ARKOS_PYTHON=$ARKOS_PYTHON cannot import arkos and uvicorn" >&2; exit 1; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export RESULTS="${RESULTS:-$WORK/out/results-arkos-py-$STAMP.tsv}"
mkdir -p "$WORK/out"
"$WORK/run_all.sh" "$ROUNDS" "${PEERS[@]}"
python3 "$HERE/ratios.py" "$RESULTS"
