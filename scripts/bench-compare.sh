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
# Within a round the order of the two builds alternates for ingest and webhooks (base first in
# odd rounds); the GET servers run side by side and are searched in turn. The report
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
# Throwaway PostgreSQL databases are named fluxora_cmp_…_<this shell's pid>; cleanup drops them.
PG_SUFFIX="_$$"
cleanup() {
  stop_started
  psql "$ADMIN_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'fluxora_cmp_%$PG_SUFFIX'" 2>/dev/null |
    while read -r db; do
      psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the benchmark examples (after: working tree)" >&2
cargo build --release --quiet -p fluxora --example ingest_bench --example webhook_bench
mkdir -p "$BIN/after" "$BIN/base"
cp "$BIN/fluxora" "$BIN/after/fluxora"
cp "$CARGO_TARGET_DIR/release/examples/ingest_bench" "$CARGO_TARGET_DIR/release/examples/webhook_bench" \
  "$BIN/after/"
# The base is built in a worktree kept beside its target directory, so that a second comparison
# with the same base rebuilds nothing (and the examples find the fixtures they were built with).
BASE_TREE="$BASE_TARGET_DIR/worktree-$BASE_SHA"
if [ ! -d "$BASE_TREE" ]; then
  git worktree add --quiet --detach "$BASE_TREE" "$BASE_REV"
fi
echo "== building $BASE_SHA (before) in $BASE_TREE" >&2
(cd "$BASE_TREE" && CARGO_TARGET_DIR="$BASE_TARGET_DIR" cargo build --release --quiet \
  -p fluxora --bin fluxora --example ingest_bench --example webhook_bench)
cp "$BASE_TARGET_DIR/release/fluxora" "$BASE_TARGET_DIR/release/examples/ingest_bench" \
  "$BASE_TARGET_DIR/release/examples/webhook_bench" "$BIN/base/"

# Prints the URL of a fresh, empty database of `store` named after the run, or nothing when
# PostgreSQL is not reachable.
fresh_database() { # store name
  if [ "$1" = sqlite ]; then
    echo "sqlite://$WORK/$2.db"
  elif psql "$ADMIN_URL" -qc "CREATE DATABASE fluxora_cmp_$2$PG_SUFFIX" >/dev/null 2>&1; then
    echo "${ADMIN_URL%/*}/fluxora_cmp_$2$PG_SUFFIX"
  fi
}

RESULTS="$WORK/results.tsv" # round benchmark side store metric value
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# Calls `run_one round side store url` for every round, both builds (base first in odd rounds)
# and both stores, each on a fresh database.
each_run() { # benchmark run_one
  local round side store url
  for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then set -- "$1" "$2" base after; else set -- "$1" "$2" after base; fi
    for side in "$3" "$4"; do
      for store in sqlite postgres; do
        url=$(fresh_database "$store" "${1}_${side}_$round")
        [ -n "$url" ] || continue
        echo "== $1 round $round/$ROUNDS: $side $store" >&2
        "$2" "$round" "$side" "$store" "$url"
      done
    done
  done
}

ingest_one() { # round side store url
  local out
  out=$(BENCH_VACUUM_EVERY=50 "$BIN/$2/ingest_bench" "$4" "$INGEST_EVENTS")
  record "$1" ingest "$2" "$3" "events/s" \
    "$(echo "$out" | sed -n 's/.*in the ingest core (\([0-9]*\) events\/s).*/\1/p')"
  record "$1" ingest "$2" "$3" "rollback ms" \
    "$(echo "$out" | sed -n 's/^rollback: .* in \([0-9]*\) ms$/\1/p')"
  rm -f "$WORK"/ingest_*.db*
}

webhook_one() { # round side store url
  local out
  out=$("$BIN/$2/webhook_bench" "$4" 10000 200 10)
  record "$1" webhook "$2" "$3" "deliveries/s" \
    "$(echo "$out" | sed -n 's/^throughput: .* = \([0-9]*\) deliveries\/s$/\1/p')"
  record "$1" webhook "$2" "$3" "p99 ms" "$(echo "$out" | sed -n 's/.*p99 \([0-9]*\) ms.*/\1/p')"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ ",$SKIP," != *",get,"* ]]; then
  SERVERS=()
  start_hello
  SERVERS+=("hello:-:$SERVED_PORT")
  for side in base after; do
    for store in sqlite postgres; do
      url=$(fresh_database "$store" "get_$side")
      [ -n "$url" ] || continue
      start_fluxora "$side-$store" "$url" "$BIN/$side/fluxora"
      SERVERS+=("$side:$store:$SERVED_PORT")
    done
  done
  sync
  sleep 5
  for server in "${SERVERS[@]}"; do
    get_harness "${server##*:}" --rate 2000 --duration 5s --warmup 1s >/dev/null
  done
  for round in $(seq 1 "$ROUNDS"); do
    for server in "${SERVERS[@]}"; do
      IFS=: read -r side store port <<<"$server"
      echo "== get round $round/$ROUNDS: $side $store, peak search" >&2
      peak=$(get_harness "$port" --find-peak --p99-bound "$P99_BOUND" --duration "${STEP}s" \
        --warmup 1s --start-rate 1000 | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["sustainableRate"] or 0))')
      record "$round" get "$side" "$store" "req/s" "$peak"
    done
  done
  stop_started
fi
[[ ",$SKIP," == *",ingest,"* ]] || each_run ingest ingest_one
[[ ",$SKIP," == *",webhook,"* ]] || each_run webhook webhook_one

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
