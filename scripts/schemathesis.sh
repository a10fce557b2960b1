#!/usr/bin/env bash
# Contract test (docs/api.md, "Contract testing"): runs Schemathesis against the real
# `fluxora serve`, with every check and every phase, on SQLite, PostgreSQL or both, and exits
# non-zero on any failure.
#
# Usage: scripts/schemathesis.sh [sqlite|postgres|both]        (default: both)
#
# For each store: a throwaway database (a SQLite file in a temporary directory; a PostgreSQL
# database created and dropped here), an API key created with `fluxora keys create` (scopes
# streams:read and streams:write) before the server starts, so the stream writes need it as in
# production, then `fluxora serve` with rate limits off and ADMIN_TOKEN and INDEXER_WORKER_TOKEN
# set, and Schemathesis over GET /openapi.json authenticated per security scheme
# (scripts/schemathesis.toml). The server and Schemathesis run in a network namespace of their
# own with loopback only: the fuzzer creates webhook endpoints with made-up URLs and the
# dispatcher would otherwise try to deliver to them.
#
# Environment:
#   ST_MAX_EXAMPLES   test cases per operation and phase (default 100)
#   ST_SEED           the generation seed (default 1); the same seed replays the same inputs
#   ST_WORKERS        concurrent Schemathesis workers (default 1: reproducible order)
#   ST_REPORT_DIR     where the JUnit and NDJSON reports go (default: a temporary directory,
#                     printed at the end)
#   SCHEMATHESIS      the schemathesis command (default: version $SCHEMATHESIS_VERSION, installed
#                     with pip into $HOME/.cache/fluxora-schemathesis on first use)
#   FLUXORA_TEST_POSTGRES_URL   PostgreSQL server used to create and drop the database
#                     (default postgres://postgres@127.0.0.1:5432/postgres, as the tests)
#   PG_SOCKET_DIR     that server's Unix socket directory, which the isolated server connects
#                     through (default /var/run/postgresql)
#   CARGO_TARGET_DIR  as for cargo; the debug binary is built (and reused) there
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-100}"
ST_SEED="${ST_SEED:-1}"
ST_WORKERS="${ST_WORKERS:-1}"
PG_ADMIN_URL="${FLUXORA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
FLUXORA="$CARGO_TARGET_DIR/debug/fluxora"
VENV="$HOME/.cache/fluxora-schemathesis"
if [ -n "${SCHEMATHESIS:-}" ]; then
  read -r -a SCHEMATHESIS_CMD <<<"$SCHEMATHESIS"
else
  SCHEMATHESIS_CMD=("$VENV/bin/schemathesis")
fi

# ---------------------------------------------------------------------------------------------
# Inside the network namespace: one store's run. Called by this script itself (see run_store).
# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "__inside" ]; then
  store="$2" work="$3" database_url="$4"
  ip link set lo up
  export DATABASE_URL="$database_url" HOST=127.0.0.1 PORT=0 RATE_LIMIT_ENABLED=false \
    LOG_FORMAT=json LOG_LEVEL=info
  export ADMIN_TOKEN FLUXORA_ST_ADMIN_TOKEN FLUXORA_ST_WORKER_TOKEN INDEXER_WORKER_TOKEN
  ADMIN_TOKEN="st-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  INDEXER_WORKER_TOKEN="st-worker-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  FLUXORA_ST_ADMIN_TOKEN="$ADMIN_TOKEN"
  FLUXORA_ST_WORKER_TOKEN="$INDEXER_WORKER_TOKEN"
  # The key exists before the server starts: the stream writes need it from the first request.
  FLUXORA_ST_API_KEY=$("$FLUXORA" keys create --name schemathesis \
    --scope streams:read --scope streams:write 2>"$work/keys.log")
  export FLUXORA_ST_API_KEY

  "$FLUXORA" serve >"$work/serve.log" 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null || true' EXIT
  address=""
  for _ in $(seq 1 300); do  # the port is in the "fluxora listening" log line
    address=$(grep -o '"address":"[^"]*"' "$work/serve.log" | head -1 | cut -d'"' -f4 || true)
    if [ -n "$address" ] || ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.1
  done
  [ -n "$address" ] || { echo "[$store] the server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
  echo "[$store] fluxora serve on http://$address ($DATABASE_URL), API key and ADMIN_TOKEN set"

  status=0
  # Drops only the refusals JSON Schema cannot describe (see the file).
  export SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py"
  "${SCHEMATHESIS_CMD[@]}" --config-file "$ROOT/scripts/schemathesis.toml" run \
    "http://$address/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$ST_MAX_EXAMPLES" \
    --seed "$ST_SEED" \
    --workers "$ST_WORKERS" \
    --generation-database none \
    --request-timeout 30 \
    --continue-on-failure \
    --no-color \
    --report junit,ndjson --report-dir "$work/report" || status=$?

  kill "$server" && wait "$server" || true
  trap - EXIT
  # A 5xx is a check failure above; a panic or an error logged without one is a failure too.
  if grep -q '"level":"ERROR"' "$work/serve.log"; then
    echo "[$store] the server logged errors:" >&2
    grep '"level":"ERROR"' "$work/serve.log" | head -20 >&2
    status=1
  fi
  exit "$status"
fi

# ---------------------------------------------------------------------------------------------
# Outside: build, install Schemathesis when needed, run each store.
# ---------------------------------------------------------------------------------------------
stores="${1:-both}"
case "$stores" in
  sqlite|postgres) ;;
  both) stores="sqlite postgres" ;;
  *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
esac

if [ -z "${SCHEMATHESIS:-}" ] \
  && [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
echo "== $("${SCHEMATHESIS_CMD[@]}" --version)"

# The namespace: as root a plain network namespace; otherwise one inside a user namespace.
if [ "$(id -u)" = 0 ]; then
  ISOLATE=(unshare --net)
else
  ISOLATE=(unshare --user --map-root-user --net)
fi
"${ISOLATE[@]}" true || { echo "cannot create a network namespace (unshare --net)" >&2; exit 1; }

echo "== cargo build (debug, as the tests)"
cargo build --workspace --all-features --bins --quiet

report_root="${ST_REPORT_DIR:-$(mktemp -d -t fluxora-schemathesis-XXXXXX)}"
mkdir -p "$report_root"
failed=""
database=""
drop_database() {
  if [ -n "$database" ]; then
    psql -q -d "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
    database=""
  fi
}
trap drop_database EXIT
for store in $stores; do
  work="$report_root/$store"
  rm -rf "$work" && mkdir -p "$work"
  case "$store" in
    sqlite) url="sqlite://$work/fluxora.db" ;;
    postgres)
      database="fluxora_schemathesis_$$"
      psql -q -d "$PG_ADMIN_URL" -c "CREATE DATABASE $database" >/dev/null
      # The namespace has no route to 127.0.0.1:5432 of the host: connect through the socket.
      url="postgres://postgres@localhost/$database?host=$PG_SOCKET_DIR"
      ;;
  esac
  echo "== $store: schemathesis (max $ST_MAX_EXAMPLES examples per operation, seed $ST_SEED)"
  start=$(date +%s)
  status=0
  "${ISOLATE[@]}" bash "$ROOT/scripts/schemathesis.sh" __inside "$store" "$work" "$url" \
    || status=$?
  drop_database
  echo "== $store: exit $status after $(( $(date +%s) - start )) s; reports and server log in $work"
  [ "$status" = 0 ] || failed="$failed $store"
done

if [ -n "$failed" ]; then
  echo "schemathesis: FAILED on:$failed (reports: $report_root)" >&2
  exit 1
fi
echo "schemathesis: passed on: $stores (reports: $report_root)"
