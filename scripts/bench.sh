#!/usr/bin/env bash
# Benchmarks the service with the load harness (crates/fluxora-loadtest) and writes markdown
# tables to stdout and to a file (docs/benchmarks.md, "Load harness").
#
#   scripts/bench.sh [seconds per run] [output.md]
#
# Builds the release binaries, then for each server — `fluxora serve` on SQLite, on PostgreSQL
# when reachable (a throwaway database, dropped at the end), and the bare `hello-server` (the
# HTTP stack's ceiling) — it records the idle RSS, runs each scenario closed-loop with the
# BENCH_PROFILE profile's virtual users (stress: 200), searches the sustainable open-loop rate of
# GET /api/streams/{id} (p99 ≤ BENCH_P99_BOUND, no errors), runs GET open-loop at half that
# rate, and samples VmRSS from /proc/<pid>/status every 100 ms throughout. The server's CPU time
# per request (user + system from /proc/<pid>/stat) is measured over each closed-loop run.
#
# Environment: BENCH_POSTGRES_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_PROFILE (default stress), BENCH_P99_BOUND (default 10ms), BENCH_STEP (seconds per peak
# step, default 5), BENCH_THREADS (client threads, default 1), BENCH_WORKER_THREADS (each
# server's runtime workers, default: the CPUs the client leaves, at least 1), BENCH_LOG_LEVEL
# (the service's LOG_LEVEL, default warn: no line per request), BENCH_SCENARIOS (default
# "health list get create mixed").
#
# With a target directory shared by several checkouts, release/fluxora is whichever checkout
# built last: give each checkout its own CARGO_TARGET_DIR when benchmarking.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
OUT="${2:-$CARGO_TARGET_DIR/bench-results.md}"
PROFILE="${BENCH_PROFILE:-stress}"
P99_BOUND="${BENCH_P99_BOUND:-10ms}"
STEP="${BENCH_STEP:-5}"
THREADS="${BENCH_THREADS:-1}"
LOG_LEVEL_SERVICE="${BENCH_LOG_LEVEL:-warn}"
SCENARIOS="${BENCH_SCENARIOS:-health list get create mixed}"
ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="fluxora_bench_$$"

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
choose_server_workers
build_private_binaries
SERVER="" SAMPLER="" PG_CREATED=""

cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  stop_started
  [ -n "$PG_CREATED" ] && psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
TICK=$(getconf CLK_TCK)
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }

# Samples the server's VmRSS every 100 ms into $WORK/rss-<label>.
start_sampler() { # label pid
  local file="$WORK/rss-$1" pid=$2
  : >"$file"
  (while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid" >>"$file"; sleep 0.1; done) &
  SAMPLER=$!
}
stop_sampler() {
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  SAMPLER=""
}
max_rss() { sort -n "$WORK/rss-$1" | tail -1; }


harness() { # base_url args… (JSON report on stdout; a breached threshold is not fatal here)
  local base=$1
  shift
  "$BIN/fluxora-loadtest" --base-url "$base" --threads "$THREADS" --json "$@" || [ $? -eq 1 ]
}

# One markdown row of a run's JSON report; the server's CPU per request counts the warm-up's
# requests at the measured rate (and the few creates of the preflight and seeding).
run_row() { # label scenario json_file cpu_ticks
  python3 - "$1" "$2" "$3" "$4" "$TICK" <<'PY'
import json, sys
label, scenario, path, ticks, tick = sys.argv[1:]
r = json.load(open(path))
l = r["latencyMs"]
errors = ", ".join(f"{k}: {v}" for k, v in r["errorsByStatus"].items()) or "0"
verdict = "pass" if r["passed"] else "FAIL"
sent = r["throughput"] * (r["durationS"] + r["warmupS"])
cpu = int(ticks) / int(tick) / sent * 1e6 if sent else 0
print(f"| {label} | {scenario} | {r['throughput']:.0f} | {l['p50']:.2f} | {l['p90']:.2f} | "
      f"{l['p99']:.2f} | {l['p99_9']:.2f} | {l['max']:.1f} | {errors} | {verdict} | {cpu:.0f} |")
PY
}
json_get() { # file python-expression-on-r
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}

RUNS="$WORK/runs.md"
PEAKS="$WORK/peaks.md"
MEMORY="$WORK/memory.md"
: >"$RUNS"
: >"$PEAKS"
: >"$MEMORY"

measure() { # label base_url pid scenarios…
  local label=$1 base=$2 pid=$3
  shift 3
  local idle peak_rate half ticks
  idle=$(rss_kb "$pid")
  start_sampler "$label" "$pid"
  for scenario in "$@"; do
    echo "== $label: $scenario, $PROFILE profile, ${DURATION}s" >&2
    ticks=$(cpu_ticks "$pid")
    harness "$base" --profile "$PROFILE" --scenario "$scenario" --duration "${DURATION}s" \
      --warmup 1s >"$WORK/$label-$scenario.json"
    ticks=$(($(cpu_ticks "$pid") - ticks))
    echo "$ticks" >"$WORK/$label-$scenario.ticks"
    run_row "$label" "$scenario" "$WORK/$label-$scenario.json" "$ticks" >>"$RUNS"
  done
  echo "== $label: peak search on get (p99 ≤ $P99_BOUND, ${STEP}s steps)" >&2
  harness "$base" --profile "$PROFILE" --scenario get --find-peak --p99-bound "$P99_BOUND" \
    --duration "${STEP}s" --warmup 1s --start-rate 1000 >"$WORK/$label-peak.json"
  peak_rate=$(json_get "$WORK/$label-peak.json" 'int(r["sustainableRate"] or 0)')
  half=$((peak_rate / 2))
  if [ "$half" -gt 0 ]; then
    echo "== $label: get at half the peak, $half req/s" >&2
    harness "$base" --profile "$PROFILE" --scenario get --rate "$half" --duration "${DURATION}s" \
      --warmup 1s >"$WORK/$label-half.json"
    python3 - "$label" "$peak_rate" "$half" "$WORK/$label-half.json" "$WORK/$label-get.json" >>"$PEAKS" <<'PY'
import json, sys
label, peak, half, half_path, closed_path = sys.argv[1:]
h = json.load(open(half_path))
try:
    closed = f"{json.load(open(closed_path))['throughput']:.0f}"
except OSError:
    closed = "–"
l, s = h["latencyMs"], h["serviceTimeMs"]
print(f"| {label} | {peak} | {closed} | {half} | {l['p50']:.2f} | {l['p99']:.2f} | {l['p99_9']:.2f} | "
      f"{s['p99']:.2f} | {h['errors']} |")
PY
  else
    echo "| $label | none | | | | | | | |" >>"$PEAKS"
  fi
  stop_sampler
  echo "| $label | $(mb "$idle") | $(mb "$(max_rss "$label")") | $(mb "$(rss_kb "$pid")") |" >>"$MEMORY"
}

serve_fluxora() { # label database_url: started, measured, stopped
  local label=$1
  start_fluxora "$label" "$2"
  SERVER=$SERVED_PID
  # shellcheck disable=SC2086 # the scenario list is split on purpose
  measure "$label" "http://127.0.0.1:$SERVED_PORT" "$SERVER" $SCENARIOS
  kill "$SERVER"
  wait "$SERVER" || true
  SERVER=""
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
serve_on_both_stores

start_hello
SERVER=$SERVED_PID
measure hello "http://127.0.0.1:$SERVED_PORT" "$SERVER" get
kill "$SERVER"
wait "$SERVER" || true
SERVER=""

ratio() { # label: its sustainable rate, closed-loop rate and server CPU per GET against hello's
  python3 - "$WORK" "$1" "$TICK" <<'PY'
import json, sys
work, label, tick = sys.argv[1:]
def load(name):
    try:
        return json.load(open(f"{work}/{name}.json"))
    except (OSError, ValueError):
        return None
def cpu(name):
    try:
        r, ticks = load(f"{name}-get"), int(open(f"{work}/{name}-get.ticks").read())
        return ticks / int(tick) / (r["throughput"] * (r["durationS"] + r["warmupS"])) * 1e6
    except (OSError, ValueError, TypeError, ZeroDivisionError):
        return None
def pct(a, b):
    return f"{100 * a / b:.0f} %" if a and b else "–"
peak, hello_peak = load(f"{label}-peak"), load("hello-peak")
get, hello_get = load(f"{label}-get"), load("hello-get")
open_ratio = pct(peak and peak["sustainableRate"], hello_peak and hello_peak["sustainableRate"])
closed_ratio = pct(get and get["throughput"], hello_get and hello_get["throughput"])
cpu_ratio = pct(cpu("hello"), cpu(label))
print(f"| {label} | {open_ratio} | {closed_ratio} | {cpu_ratio} |")
PY
}

{
  echo "Machine: $(nproc) CPUs ($(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2}')),"
  echo "$(free -g | awk '/^Mem:/ {print $2}') GiB of memory; $(uname -sr); load average before: $LOAD_BEFORE,"
  echo "after: $(cut -d' ' -f1-3 /proc/loadavg) (above 0 before: other work shared the cores)."
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (with local changes)');"
  echo "client: fluxora-loadtest, $THREADS thread(s), on the same machine; service LOG_LEVEL=$LOG_LEVEL_SERVICE;"
  echo "runtime worker threads per server: $WORKERS (the service's WORKER_THREADS, hello-server --threads)."
  echo
  echo "Closed loop, $PROFILE profile, ${DURATION} s per run after a 1 s warm-up (latency in ms; the"
  echo "server's CPU time per request, user + system, over the run):"
  echo
  echo "| server | scenario | req/s | p50 | p90 | p99 | p99.9 | max | errors | thresholds | server CPU µs/req |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$RUNS"
  echo
  echo "GET /api/streams/{id}, open loop: sustainable rate (p99 ≤ $P99_BOUND from the due time, no"
  echo "errors; ${STEP} s steps), then ${DURATION} s at half that rate (latency in ms):"
  echo
  echo "| server | sustainable req/s | closed-loop req/s | half rate | p50 | p99 | p99.9 | service p99 | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  cat "$PEAKS"
  echo
  echo "GET /api/streams/{id} against the bare hello-server: sustainable rates, closed-loop rates, and"
  echo "the server's CPU per request (hello's / the service's: the share of the service's capacity"
  echo "a server with nothing but the HTTP stack would need):"
  echo
  echo "| server | sustainable rate / hello's | closed-loop rate / hello's | hello's CPU per request / the server's |"
  echo "|---|---|---|---|"
  for label in sqlite postgres; do
    if [ -f "$WORK/$label-peak.json" ]; then ratio "$label"; fi
  done
  echo
  echo "Resident memory (VmRSS, MB): at start, the most during the runs, after them:"
  echo
  echo "| server | idle | peak under load | after |"
  echo "|---|---|---|---|"
  cat "$MEMORY"
} | tee "$OUT"
echo "== written to $OUT" >&2
