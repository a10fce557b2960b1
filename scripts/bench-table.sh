#!/usr/bin/env bash
# The route table of docs/benchmarks.md ("Every route at the defaults"): requests/s and p99 of
# each route on the bare hello-server, on fluxora with SQLite and on fluxora with PostgreSQL,
# measured in one run with the same client, so the ratios to the bare server hold on a shared,
# noisy machine.
#
#   scripts/bench-table.sh [rounds (3)] [seconds per figure (15)] [output.md]
#
# Per round and per server (bare, sqlite, postgres), a fresh server and a fresh database:
# 100 streams are created first (BENCH_STREAMS), then each route gets a warm-up of
# BENCH_WARMUP seconds (5) and a measured run, both `wrk -t2 -c64` (BENCH_WRK_THREADS,
# BENCH_CONNECTIONS): GET /health, GET /api/streams/{id}, GET /api/streams?limit=50,
# GET /api/streams?limit=100, and last POST /api/streams (creates without an Idempotency-Key).
# The service runs with its defaults (WORKER_THREADS unset, LOG_LEVEL=info, SQLite with
# synchronous = FULL) except rate limits, which are off: the benchmark measures the service,
# not its limiter. The report gives every round and the median of the rounds; the ratios are
# medians over bare-server medians.
#
# Environment: BENCH_POSTGRES_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_LOG_LEVEL (default info), BENCH_SERVERS (default "bare sqlite postgres"),
# BENCH_WORKER_THREADS (set WORKER_THREADS and hello-server --threads; default: unset, the
# service's default of one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
SECONDS_PER_FIGURE="${2:-15}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
OUT="${3:-$CARGO_TARGET_DIR/bench-table.md}"
WARMUP="${BENCH_WARMUP:-5}"
WRK_THREADS="${BENCH_WRK_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
STREAMS="${BENCH_STREAMS:-100}"
ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
LOG_LEVEL_SERVICE="${BENCH_LOG_LEVEL:-info}"
SERVERS="${BENCH_SERVERS:-bare sqlite postgres}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }

echo "== building release binaries" >&2
cargo build --release --quiet -p fluxora -p fluxora-loadtest
WORK=$(mktemp -d)
mkdir -p "$WORK/bin"
cp "$CARGO_TARGET_DIR/release/fluxora" "$CARGO_TARGET_DIR/release/hello-server" "$WORK/bin/"
BIN="$WORK/bin"
PG_DB="fluxora_table_$$"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

BODY='{"sender":"GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV","recipient":"GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA","depositAmount":"1000","ratePerSecond":"0.001","startTime":1893456000,"cliffTime":1893459600}'
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
EOF

# free_port, wait_ready URL PID
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# Starts a fresh server of kind $1 (bare, sqlite, postgres) on PORT.
start_server() {
  PORT=$(free_port)
  local workers=()
  case "$1" in
    bare)
      [ -n "${BENCH_WORKER_THREADS:-}" ] && workers=(--threads "$BENCH_WORKER_THREADS")
      "$BIN/hello-server" --port "$PORT" "${workers[@]}" >"$WORK/bare.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "http://127.0.0.1:$PORT/health" "$SERVER_PID"
      return
      ;;
    sqlite)
      rm -f "$WORK"/table.db*
      DB_URL="sqlite://$WORK/table.db"
      ;;
    postgres)
      psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
      psql "$ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
      DB_URL="${ADMIN_URL%/*}/$PG_DB"
      ;;
  esac
  env DATABASE_URL="$DB_URL" PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL="$LOG_LEVEL_SERVICE" \
    RATE_LIMIT_ENABLED=false ${BENCH_WORKER_THREADS:+WORKER_THREADS=$BENCH_WORKER_THREADS} \
    "$BIN/fluxora" serve >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$PORT/health/ready" "$SERVER_PID"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Runs wrk against URL for $1 seconds (extra wrk arguments after the URL); prints
# "requests_per_second p99_ms errors".
measure() { # seconds url [wrk args…]
  local seconds=$1 url=$2
  shift 2
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency "$@" "$url" >"$WORK/wrk.out" 2>&1
  python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
p99 = ms(*m.groups()) if m else float("nan")
errors = 0
for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
    for found in re.finditer(pattern, text):
        errors += sum(int(g) for g in found.groups())
print(f"{rps:.0f} {p99:.2f} {errors}")
PY
}

ROUTES="health get list50 list100 create"
RESULTS="$WORK/results.txt"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for server in $SERVERS; do
    echo "== round $round: $server" >&2
    start_server "$server"
    base="http://127.0.0.1:$PORT"
    id="00000000-0000-7000-8000-000000000000"
    for _ in $(seq 1 "$STREAMS"); do
      created=$(curl -sf -X POST "$base/api/streams" -H 'Content-Type: application/json' -d "$BODY")
      id=$(echo "$created" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
    done
    for route in $ROUTES; do
      args=()
      case "$route" in
        health) url="$base/health" ;;
        get) url="$base/api/streams/$id" ;;
        list50) url="$base/api/streams?limit=50" ;;
        list100) url="$base/api/streams?limit=100" ;;
        create) url="$base/api/streams"; args=(-s "$WORK/post.lua") ;;
      esac
      measure "$WARMUP" "$url" "${args[@]}" >/dev/null
      read -r rps p99 errors < <(measure "$SECONDS_PER_FIGURE" "$url" "${args[@]}")
      echo "$round $server $route $rps $p99 $errors" | tee -a "$RESULTS" >&2
    done
    stop_server
  done
done

python3 - "$RESULTS" "$ROUNDS" "$SECONDS_PER_FIGURE" "$WRK_THREADS" "$CONNECTIONS" >"$OUT" <<'PY'
import statistics, sys
path, rounds, seconds, threads, connections = sys.argv[1:]
rows = [line.split() for line in open(path) if line.strip()]
servers = list(dict.fromkeys(r[1] for r in rows))
routes = list(dict.fromkeys(r[2] for r in rows))
labels = {"health": "GET /health", "get": "GET /api/streams/{id}", "list50": "GET /api/streams?limit=50",
          "list100": "GET /api/streams?limit=100", "create": "POST /api/streams"}
def values(server, route, index):
    return [float(r[index]) for r in rows if r[1] == server and r[2] == route]
def med(server, route, index):
    v = values(server, route, index)
    return statistics.median(v) if v else None
print(f"wrk -t{threads} -c{connections}, {seconds} s per figure after a warm-up, {rounds} round(s), medians; a fresh server and database per round.\n")
head = "| route | " + " | ".join(f"{s} req/s (p99 ms)" for s in servers)
others = [s for s in servers if s != "bare"]
if "bare" in servers:
    head += " | " + " | ".join(f"{s} / bare" for s in others)
print(head + " |")
print("|---" * (1 + len(servers) + (len(others) if "bare" in servers else 0)) + "|")
for route in routes:
    cells = []
    for s in servers:
        rps, p99 = med(s, route, 3), med(s, route, 4)
        cells.append("–" if rps is None else f"{rps:,.0f} ({p99:.1f})".replace(",", " "))
    if "bare" in servers:
        bare = med("bare", route, 3)
        for s in others:
            rps = med(s, route, 3)
            cells.append("–" if not bare or rps is None or route == "create" else f"{100 * rps / bare:.0f} %")
    print(f"| {labels.get(route, route)} | " + " | ".join(cells) + " |")
print("\nEvery round (round server route req/s p99_ms errors):\n")
print("```")
for r in rows:
    print(" ".join(r))
print("```")
PY
cat "$OUT"
echo "== report: $OUT" >&2
