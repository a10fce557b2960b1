#!/usr/bin/env bash
# /health while writes saturate the store (docs/benchmarks.md, "/health under a write flood"):
# for each round, a fresh `fluxora serve` at its defaults (SQLite, LOG_LEVEL=info, one runtime
# worker per CPU; rate limits off so the writes reach the store), a closed-loop create flood
# (fluxora-loadtest --scenario create, 64 virtual users) and, while it runs, an open-loop probe of
# GET /health (100 req/s, latency from the due time) from a second harness process. Prints the
# write rate and the /health p50/p99/max of every round and their medians.
#
#   scripts/bench-health-under-writes.sh [rounds] [seconds]
#
# BENCH_BASELINE_BIN: another fluxora binary (an older build) measured the same way in the same
# rounds, alternating with this one, so the two are compared under the same machine noise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
DURATION="${2:-15}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
THREADS=1
LOG_LEVEL_SERVICE=info
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
build_private_binaries
# The service's default: one worker per CPU.
WORKERS="${BENCH_WORKER_THREADS:-$(nproc)}"
trap 'stop_started; rm -rf "$WORK"' EXIT

BUILDS=("current:$BIN/fluxora")
if [ -n "${BENCH_BASELINE_BIN:-}" ]; then
  cp "$BENCH_BASELINE_BIN" "$WORK/bin/fluxora-baseline"
  BUILDS+=("baseline:$WORK/bin/fluxora-baseline")
fi

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for build in "${BUILDS[@]}"; do
    label=${build%%:*}
    binary=${build#*:}
    db="$WORK/$label-$round.db"
    start_fluxora "$label-$round" "sqlite://$db" "$binary"
    base="http://127.0.0.1:$SERVED_PORT"
    "$BIN/fluxora-loadtest" --base-url "$base" --json --profile stress --scenario create \
      --vus 64 --duration "$((DURATION + 4))s" >"$WORK/writes.json" 2>"$WORK/writes.err" &
    writer=$!
    # Let the flood reach its steady state before probing.
    sleep 2
    "$BIN/fluxora-loadtest" --base-url "$base" --json --profile smoke --scenario health \
      --rate 100/s --duration "${DURATION}s" >"$WORK/health.json" 2>"$WORK/health.err" \
      || [ $? -eq 1 ]
    wait "$writer" || [ $? -eq 1 ]
    kill "$SERVED_PID" && wait "$SERVED_PID" 2>/dev/null || true
    python3 - "$label" "$round" "$WORK/writes.json" "$WORK/health.json" >>"$RESULTS" <<'EOF'
import json, sys
label, round_, writes, health = sys.argv[1:5]
w = json.load(open(writes))
h = json.load(open(health))
lat = h["latencyMs"]
print("\t".join(map(str, [label, round_, round(w["throughput"]), w["errors"],
                          lat["p50"], lat["p99"], lat["max"], h["errors"]])))
EOF
    tail -1 "$RESULTS" | awk -F'\t' '{printf "round %s %-8s creates/s %s (errors %s)  /health p50 %s ms  p99 %s ms  max %s ms (errors %s)\n", $2, $1, $3, $4, $5, $6, $7, $8}'
  done
done

echo "== medians over $ROUNDS rounds ($(nproc) CPUs, WORKER_THREADS=$WORKERS, ${DURATION}s probes)"
python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
for label in dict.fromkeys(r[0] for r in rows):
    mine = [r for r in rows if r[0] == label]
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    print(f"{label:8} creates/s {med(2):.0f}  /health p50 {med(4):.2f} ms  p99 {med(5):.2f} ms  max {med(6):.2f} ms")
EOF
