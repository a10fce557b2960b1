#!/usr/bin/env bash
# The GET ratio (target: GET /api/streams/{id} at ≥ 50 % of the bare server's sustainable rate;
# docs/benchmarks.md), measured so that machine noise hits both sides alike: the service on SQLite,
# on PostgreSQL (when reachable; a throwaway database) and the bare hello-server run side by side,
# and the sustainable rate of GET /api/streams/{id} (open loop, p99 ≤ BENCH_P99_BOUND from the due
# time, no errors; fluxora-loadtest --find-peak) is searched on each in turn, ROUNDS times. Each
# round's ratio compares searches minutes apart, not a whole benchmark apart; the median over the
# rounds is the figure to quote. Also runs GET at half each round's service peak (the p99 ≤ 5 ms
# target).
#
#   scripts/bench-peaks.sh [rounds] [output.md]
#
# Environment: BENCH_POSTGRES_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_P99_BOUND (default 10ms), BENCH_STEP (seconds per peak step, default 5), BENCH_THREADS
# (client threads, default 1), BENCH_WORKER_THREADS (each server's runtime workers, default:
# the CPUs the client leaves, at least 1), BENCH_LOG_LEVEL (the service's LOG_LEVEL, default warn).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
OUT="${2:-$CARGO_TARGET_DIR/bench-peaks.md}"
P99_BOUND="${BENCH_P99_BOUND:-10ms}"
STEP="${BENCH_STEP:-5}"
THREADS="${BENCH_THREADS:-1}"
LOG_LEVEL_SERVICE="${BENCH_LOG_LEVEL:-warn}"
ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="fluxora_peaks_$$"

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
choose_server_workers
build_private_binaries
PG_CREATED=""
cleanup() {
  stop_started
  [ -n "$PG_CREATED" ] && psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

serve_fluxora() { # label database_url: started, and added to SERVERS as "label:port"
  start_fluxora "$1" "$2"
  SERVERS+=("$1:$SERVED_PORT")
}

SERVERS=()
start_hello
SERVERS+=("hello:$SERVED_PORT")
serve_on_both_stores


# Let the build's and the copies' disk writes settle, and warm each server up (connections,
# caches, the seed streams) before the first measured search.
sync
sleep 5
for server in "${SERVERS[@]}"; do
  get_harness "${server##*:}" --rate 2000 --duration 5s --warmup 1s >/dev/null
done

RESULTS="$WORK/results.tsv" # round label peak half_p99 load
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  for server in "${SERVERS[@]}"; do
    label=${server%%:*} port=${server##*:}
    echo "== round $round/$ROUNDS: $label, peak search (p99 ≤ $P99_BOUND, ${STEP}s steps)" >&2
    peak=$(get_harness "$port" --find-peak --p99-bound "$P99_BOUND" --duration "${STEP}s" \
      --warmup 1s --start-rate 1000 | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["sustainableRate"] or 0))')
    half_p99="–"
    if [ "$label" != hello ] && [ "$peak" -gt 1 ]; then
      echo "== round $round/$ROUNDS: $label, 10 s at $((peak / 2)) req/s" >&2
      half_p99=$(get_harness "$port" --rate "$((peak / 2))" --duration 10s --warmup 1s \
        | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["latencyMs"]["p99"])')
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$label" "$peak" "$half_p99" \
      "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
  done
done

python3 - "$RESULTS" "$ROUNDS" "$P99_BOUND" "$THREADS" "$LOAD_BEFORE" "$(git rev-parse --short HEAD)" "$WORKERS" \
  >"$OUT" <<'PY'
import statistics, sys
path, rounds, bound, threads, load, commit, workers = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(path)]
by = {}
for rnd, label, peak, half, la in rows:
    by.setdefault(int(rnd), {})[label] = (int(peak), half, la)
labels = [l for l in ("sqlite", "postgres") if any(l in r for r in by.values())]
print(f"Commit {commit}; {rounds} rounds; client: fluxora-loadtest, {threads} thread(s); "
      f"{workers} runtime worker thread(s) per server; p99 bound {bound}; "
      f"load average before: {load}.\n")
head = "| round | hello req/s | " + " | ".join(
    f"{l} req/s | {l} / hello | {l} p99 at half (ms)" for l in labels) + " | load |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
ratios = {l: [] for l in labels}
for rnd in sorted(by):
    r = by[rnd]
    hello = r.get("hello", (0, "", ""))[0]
    cells = [str(rnd), str(hello)]
    for l in labels:
        peak, half, _ = r.get(l, (0, "–", ""))
        ratio = peak / hello if hello else 0
        ratios[l].append(ratio)
        cells += [str(peak), f"{ratio:.0%}", half]
    cells.append(r.get("hello", (0, "", "–"))[2])
    print("| " + " | ".join(cells) + " |")
print()
for l in labels:
    print(f"- {l}: median ratio {statistics.median(ratios[l]):.0%} "
          f"(range {min(ratios[l]):.0%}–{max(ratios[l]):.0%})")
PY
cat "$OUT"
echo "== written to $OUT" >&2
