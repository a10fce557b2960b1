#!/usr/bin/env bash
# Measures creates/s and GET-by-id/s of the release binary on SQLite and on PostgreSQL with wrk
# (Debian package `wrk`). Usage: scripts/bench-store.sh [seconds] [connections]
# PostgreSQL is used when reachable at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# Prints a markdown table. The load harness of the benchmarks issue supersedes this for latency work.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
THREADS=2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 2; }
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/fluxora"
WORK=$(mktemp -d)
PORT=3917
ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="fluxora_bench_$$"
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"sender":"GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV","recipient":"GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA","depositAmount":"1000","ratePerSecond":"0.001"}'
LUA

run() { # label database_url
  local label=$1 url=$2
  DATABASE_URL="$url" PORT=$PORT HOST=127.0.0.1 LOG_LEVEL=warn "$BIN" serve >"$WORK/$label.log" 2>&1 &
  SERVER=$!
  until curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null; do sleep 0.05; done
  local create get id
  create=$(wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/create.lua" "http://127.0.0.1:$PORT/api/streams" | awk '/Requests\/sec/ {print $2}')
  id=$(curl -s "http://127.0.0.1:$PORT/api/streams?limit=1" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
  get=$(wrk -t$THREADS -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/api/streams/$id" | awk '/Requests\/sec/ {print $2}')
  echo "| $label | $create | $get |"
  kill "$SERVER"; wait "$SERVER" || true; SERVER=
}

echo "| store | creates/s | GET /api/streams/{id} /s |"
echo "|---|---|---|"
run sqlite "sqlite://$WORK/bench.db"
if psql "$ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
  run postgres "${ADMIN_URL%/*}/$PG_DB"
else
  echo "| postgres | (not reachable at $ADMIN_URL) | |"
fi
