#!/usr/bin/env bash
# Before and after, on one machine in one sitting: builds the commit BASE_REV in a throwaway
# worktree and the working tree as it is, then runs the same benchmarks on both builds,
# interleaved round by round so that machine noise hits both sides alike:
#
# - GET /api/streams/{id}: the sustainable rate (fluxora-loadtest --find-peak, p99 ≤
#   BENCH_P99_BOUND, open loop) of each build on SQLite and on PostgreSQL, and of the bare
#   hello-server, searched in turn each round (as scripts/bench-peaks.sh does);
# - indexer ingest: examples/ingest_bench (BENCH_INGEST_EVENTS real contract events, default
#   1 000 000, then a rollback of 1 000 ledgers) on a fresh SQLite file and a fresh PostgreSQL
#   database;
# - webhook delivery: examples/webhook_bench (10 000 queued deliveries; then 200 events/s for
#   10 s) on both stores.
#
# Within a round the order of the two builds alternates (base first in odd rounds). The report
# gives every round and the median of each figure per build, and after/before ratios.
#
#   scripts/bench-compare.sh BASE_REV [rounds] [output.md]
#
# Environment: BENCH_POSTGRES_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
# BENCH_P99_BOUND (default 10ms), BENCH_STEP (seconds per peak step, default 5), BENCH_THREADS
# (client threads, default 1), BENCH_WORKER_THREADS (each server's runtime workers),
# BENCH_INGEST_EVENTS, BENCH_SKIP (any of get, ingest, webhook, comma-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_REV="${1:?usage: scripts/bench-compare.sh BASE_REV [rounds] [output.md]}"
ROUNDS="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluxora-target}"
BASE_TARGET_DIR="${BENCH_BASE_TARGET_DIR:-$HOME/.cache/fluxora-target-base}"
OUT="${3:-$CARGO_TARGET_DIR/bench-compare.md}"
P99_BOUND="${BENCH_P99_BOUND:-10ms}"
STEP="${BENCH_STEP:-5}"
THREADS="${BENCH_THREADS:-1}"
LOG_LEVEL_SERVICE="${BENCH_LOG_LEVEL:-warn}"
ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
INGEST_EVENTS="${BENCH_INGEST_EVENTS:-1000000}"
SKIP="${BENCH_SKIP:-}"
BASE_SHA=$(git rev-parse --short "$BASE_REV")
HEAD_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')"

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
choose_server_workers
build_private_binaries
PG_DBS=()
cleanup() {
  stop_started
  for db in "${PG_DBS[@]}"; do
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  git worktree remove --force "$WORK/base" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the benchmark examples (after: working tree)" >&2
cargo build --release --quiet -p fluxora --example ingest_bench --example webhook_bench
mkdir -p "$BIN/after" "$BIN/base"
cp "$BIN/fluxora" "$BIN/after/fluxora"
cp "$CARGO_TARGET_DIR/release/examples/ingest_bench" "$CARGO_TARGET_DIR/release/examples/webhook_bench" \
  "$BIN/after/"
echo "== building $BASE_SHA (before) in a worktree, target $BASE_TARGET_DIR" >&2
git worktree add --quiet --detach "$WORK/base" "$BASE_REV"
(cd "$WORK/base" && CARGO_TARGET_DIR="$BASE_TARGET_DIR" cargo build --release --quiet \
  -p fluxora --bin fluxora --example ingest_bench --example webhook_bench)
cp "$BASE_TARGET_DIR/release/fluxora" "$BASE_TARGET_DIR/release/examples/ingest_bench" \
  "$BASE_TARGET_DIR/release/examples/webhook_bench" "$BIN/base/"

new_pg_db() { # name: creates a throwaway PostgreSQL database, prints its URL (empty if none)
  if psql "$ADMIN_URL" -qc "CREATE DATABASE $1" >/dev/null 2>&1; then
    PG_DBS+=("$1")
    echo "${ADMIN_URL%/*}/$1"
  fi
}

sides_of_round() { # round: the two builds, base first in odd rounds
  if [ $(($1 % 2)) -eq 1 ]; then echo "base after"; else echo "after base"; fi
}

RESULTS="$WORK/results.tsv" # round benchmark side store metric value
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ ",$SKIP," != *",get,"* ]]; then
  SERVERS=()
  start_hello
  SERVERS+=("hello:-:$SERVED_PORT")
  for side in base after; do
    start_fluxora "$side-sqlite" "sqlite://$WORK/get-$side.db" "$BIN/$side/fluxora"
    SERVERS+=("$side:sqlite:$SERVED_PORT")
    url=$(new_pg_db "fluxora_cmp_get_${side}_$$")
    if [ -n "$url" ]; then
      start_fluxora "$side-postgres" "$url" "$BIN/$side/fluxora"
      SERVERS+=("$side:postgres:$SERVED_PORT")
    fi
  done
  harness() { # port args…
    local port=$1
    shift
    "$BIN/fluxora-loadtest" --base-url "http://127.0.0.1:$port" --threads "$THREADS" --json \
      --profile stress --scenario get "$@" || [ $? -eq 1 ]
  }
  sync
  sleep 5
  for server in "${SERVERS[@]}"; do
    harness "${server##*:}" --rate 2000 --duration 5s --warmup 1s >/dev/null
  done
  for round in $(seq 1 "$ROUNDS"); do
    for server in "${SERVERS[@]}"; do
      IFS=: read -r side store port <<<"$server"
      echo "== GET round $round/$ROUNDS: $side $store, peak search" >&2
      peak=$(harness "$port" --find-peak --p99-bound "$P99_BOUND" --duration "${STEP}s" \
        --warmup 1s --start-rate 1000 | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["sustainableRate"] or 0))')
      record "$round" get "$side" "$store" "req/s" "$peak"
    done
  done
  stop_started
fi

if [[ ",$SKIP," != *",ingest,"* ]]; then
  for round in $(seq 1 "$ROUNDS"); do
    for side in $(sides_of_round "$round"); do
      for store in sqlite postgres; do
        if [ "$store" = sqlite ]; then
          url="sqlite://$WORK/ingest-$side-$round.db"
        else
          url=$(new_pg_db "fluxora_cmp_ingest_${side}_${round}_$$")
          [ -n "$url" ] || continue
        fi
        echo "== ingest round $round/$ROUNDS: $side $store, $INGEST_EVENTS events" >&2
        out=$(BENCH_VACUUM_EVERY=50 "$BIN/$side/ingest_bench" "$url" "$INGEST_EVENTS")
        echo "$out" >"$WORK/ingest-$side-$store-$round.txt"
        record "$round" ingest "$side" "$store" "events/s" \
          "$(echo "$out" | sed -n 's/.*in the ingest core (\([0-9]*\) events\/s).*/\1/p')"
        record "$round" ingest "$side" "$store" "rollback ms" \
          "$(echo "$out" | sed -n 's/^rollback: .* in \([0-9]*\) ms$/\1/p')"
        rm -f "$WORK/ingest-$side-$round.db"*
      done
    done
  done
fi

if [[ ",$SKIP," != *",webhook,"* ]]; then
  for round in $(seq 1 "$ROUNDS"); do
    for side in $(sides_of_round "$round"); do
      for store in sqlite postgres; do
        if [ "$store" = sqlite ]; then
          url="sqlite://$WORK/webhook-$side-$round.db"
        else
          url=$(new_pg_db "fluxora_cmp_webhook_${side}_${round}_$$")
          [ -n "$url" ] || continue
        fi
        echo "== webhook round $round/$ROUNDS: $side $store" >&2
        out=$("$BIN/$side/webhook_bench" "$url" 10000 200 10)
        record "$round" webhook "$side" "$store" "deliveries/s" \
          "$(echo "$out" | sed -n 's/^throughput: .* = \([0-9]*\) deliveries\/s$/\1/p')"
        record "$round" webhook "$side" "$store" "p99 ms" \
          "$(echo "$out" | sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p')"
      done
    done
  done
fi

python3 - "$RESULTS" "$ROUNDS" "$BASE_SHA" "$HEAD_SHA" "$LOAD_BEFORE" "$WORKERS" "$THREADS" \
  "$P99_BOUND" "$INGEST_EVENTS" >"$OUT" <<'PY'
import statistics, sys
path, rounds, base, head, load, workers, threads, bound, events = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
print(f"Before: {base}; after: {head}; {rounds} round(s); load average before: {load}; "
      f"{workers} runtime worker thread(s) per server, {threads} client thread(s); GET p99 bound "
      f"{bound}; ingest of {events} events.\n")
figures = {}
for rnd, bench, side, store, metric, value in rows:
    if value:
        figures.setdefault((bench, store, metric), {}).setdefault(side, []).append(float(value))
hello = figures.get(("get", "-", "req/s"), {}).get("hello", [])
print("| benchmark | store | metric | before (each round) | after (each round) | before median | after median | after / before |")
print("|---|---|---|---|---|---|---|---|")
for (bench, store, metric), sides in sorted(figures.items()):
    if bench == "get" and store == "-":
        continue
    b, a = sides.get("base", []), sides.get("after", [])
    fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs) or "–"
    mb = statistics.median(b) if b else None
    ma = statistics.median(a) if a else None
    ratio = f"{ma / mb:.2f}" if mb and ma is not None else "–"
    print(f"| {bench} | {store} | {metric} | {fmt(b)} | {fmt(a)} | "
          f"{'–' if mb is None else f'{mb:.0f}'} | {'–' if ma is None else f'{ma:.0f}'} | {ratio} |")
if hello:
    print(f"\nhello-server peaks (each round): {', '.join(f'{x:.0f}' for x in hello)} req/s")
    for store in ("sqlite", "postgres"):
        sides = figures.get(("get", store, "req/s"), {})
        for side in ("base", "after"):
            xs = sides.get(side, [])
            if xs and len(xs) == len(hello):
                ratios = [x / h for x, h in zip(xs, hello) if h]
                print(f"- GET {store} {side} / hello: median {statistics.median(ratios):.0%} "
                      f"(range {min(ratios):.0%}–{max(ratios):.0%})")
PY
cat "$OUT"
echo "== written to $OUT" >&2
