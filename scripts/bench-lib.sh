# Shared by scripts/bench.sh and scripts/bench-peaks.sh (sourced, not run).

# Builds the release binaries and copies them into a new work directory: sets WORK (the
# directory, for the caller to remove) and BIN (the copies). Private copies, so that a
# concurrent build cannot swap a binary during the run.
build_private_binaries() {
  echo "== building release binaries" >&2
  cargo build --release --quiet -p fluxora -p fluxora-loadtest
  WORK=$(mktemp -d)
  mkdir -p "$WORK/bin"
  cp "$CARGO_TARGET_DIR/release/fluxora" "$CARGO_TARGET_DIR/release/fluxora-loadtest" \
    "$CARGO_TARGET_DIR/release/hello-server" "$WORK/bin/"
  BIN="$WORK/bin"
}

# Sets WORKERS: the runtime worker threads each server under test gets, the same for the
# service (WORKER_THREADS) and hello-server (--threads): BENCH_WORKER_THREADS, or by default the
# CPUs left once the load generator's $THREADS thread(s) have one each (at least 1). On a shared
# machine, more workers than free CPUs make the workers wake each other for every burst of
# requests (docs/benchmarks.md, "Worker threads").
choose_server_workers() {
  local cpus
  cpus=$(nproc)
  WORKERS="${BENCH_WORKER_THREADS:-$((cpus > THREADS ? cpus - THREADS : 1))}"
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (up to 15 s) until `url` answers 2xx; fails if the server `pid` exits first.
wait_ready() { # url pid
  for _ in $(seq 1 300); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server exited" >&2; return 1; }
    sleep 0.05
  done
  echo "the server did not become ready: $1" >&2
  return 1
}

# Runs fluxora-loadtest's GET scenario (stress profile, $THREADS client threads, JSON report on
# stdout) against 127.0.0.1:`port` with the given extra arguments; a breached threshold (exit 1)
# is not fatal here, the caller reads the report.
get_harness() { # port args…
  local port=$1
  shift
  "$BIN/fluxora-loadtest" --base-url "http://127.0.0.1:$port" --threads "$THREADS" --json \
    --profile stress --scenario get "$@" || [ $? -eq 1 ]
}

# Every server the functions below start, for the caller's cleanup to stop (stop_started).
STARTED_PIDS=()

# Starts `fluxora serve` (the binary `binary`, default $BIN/fluxora) on `database_url` as every
# benchmark runs it — 127.0.0.1, a free port, LOG_LEVEL=$LOG_LEVEL_SERVICE, rate limits off (the
# benchmark measures the service, not its limiter), WORKER_THREADS=$WORKERS — logging to
# $WORK/<label>.log, and waits until it is ready. Sets SERVED_PID and SERVED_PORT.
start_fluxora() { # label database_url [binary]
  SERVED_PORT=$(free_port)
  DATABASE_URL="$2" PORT="$SERVED_PORT" HOST=127.0.0.1 LOG_LEVEL="$LOG_LEVEL_SERVICE" \
    RATE_LIMIT_ENABLED=false WORKER_THREADS="$WORKERS" \
    "${3:-$BIN/fluxora}" serve >"$WORK/$1.log" 2>&1 &
  SERVED_PID=$!
  STARTED_PIDS+=("$SERVED_PID")
  wait_ready "http://127.0.0.1:$SERVED_PORT/health/ready" "$SERVED_PID"
}

# Starts hello-server with $WORKERS worker threads on a free port (log: $WORK/hello.log) and
# waits until it answers. Sets SERVED_PID and SERVED_PORT.
start_hello() {
  SERVED_PORT=$(free_port)
  "$BIN/hello-server" --port "$SERVED_PORT" --threads "$WORKERS" >"$WORK/hello.log" 2>&1 &
  SERVED_PID=$!
  STARTED_PIDS+=("$SERVED_PID")
  wait_ready "http://127.0.0.1:$SERVED_PORT/health" "$SERVED_PID"
}

# Stops every server start_fluxora and start_hello started (those already gone are skipped).
stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

# Calls the caller's `serve_fluxora LABEL DATABASE_URL` on SQLite ($WORK/bench.db), then on a
# throwaway PostgreSQL database $PG_DB created through $ADMIN_URL when that works (setting
# PG_CREATED, so that the caller's cleanup drops it); otherwise says PostgreSQL is skipped.
serve_on_both_stores() {
  serve_fluxora sqlite "sqlite://$WORK/bench.db"
  if psql "$ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
    PG_CREATED=1
    serve_fluxora postgres "${ADMIN_URL%/*}/$PG_DB"
  else
    echo "== PostgreSQL not reachable at $ADMIN_URL: skipped" >&2
  fi
}
