#!/usr/bin/env bash
# Runs compose.yaml (the scale-out shape: PostgreSQL, Redis, a one-shot `fluxora migrate`, two
# `fluxora serve` replicas) end to end with podman-compose on images built here from Debian
# packages (compose.local.yaml), and checks:
# - start-up gated on health: PostgreSQL (pg_isready) and Redis (redis-cli ping) healthy, then
#   the migration exits 0, then both replicas' HEALTHCHECK (`fluxora healthcheck`) reports healthy;
# - a stream created through replica 1 is read, and listed, through replica 2;
# - the rate limit is shared through Redis: with RATE_LIMIT_IP_PER_MINUTE=60 (bursts of 6),
#   requests alternating between the replicas are refused after one burst in all, not one per
#   replica, and Redis holds the limiter's keys;
# - the indexer, configured on both replicas, is led by exactly one (the PostgreSQL advisory
#   lock); when the leader stops the other takes over;
# - every replica stops on SIGTERM with exit 0;
# then removes the project's containers, network and volumes. Not part of .ci/run (about two
# minutes with the images built, needs root and the Debian packages podman, runc, mmdebstrap,
# podman-compose); docs/operations.md, "Compose: the scale-out shape".
#
# podman-compose 1.0.3 (Debian 12) starts services in dependency order but does not wait for
# `condition: service_healthy`, and podman runs HEALTHCHECKs from systemd timers, which machines
# without systemd lack: so this script brings the services up in the order the conditions
# describe and runs each health check itself (`podman healthcheck run`), as `docker compose up`
# does on its own.
#
# Environment: FLUXORA_1_PORT / FLUXORA_2_PORT (default 3901 / 3902: the replicas' ports on
# 127.0.0.1), plus those of scripts/container-lib.sh. Kept after the run: the images.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container-lib.sh

export FLUXORA_1_PORT="${FLUXORA_1_PORT:-3901}" FLUXORA_2_PORT="${FLUXORA_2_PORT:-3902}"
export RATE_LIMIT_IP_PER_MINUTE=60
# The indexer is configured on both replicas; its RPC endpoint is a closed port (no network to
# follow here), so it fails and retries, but leadership is still taken and handed over.
export STELLAR_RPC_URL=http://127.0.0.1:9
export FLUXORA_CONTRACT_ID=CBX72YCL7Q4B7IFWPNIW24SZXRICTIBI456D7J24BAMYRPTFF5VLOYPM
PROJECT="fluxora-smoke-$$"
R1="http://127.0.0.1:$FLUXORA_1_PORT"
R2="http://127.0.0.1:$FLUXORA_2_PORT"

podman_setup
COMPOSE_LOG="$CONTAINER_WORK/compose.log"
compose() {
  podman-compose -p "$PROJECT" -f compose.yaml -f compose.local.yaml "$@" >>"$COMPOSE_LOG" 2>&1
}
cleanup() {
  local ids
  # `down` leaves the anonymous /data volumes of the fluxora image's VOLUME: remove them with
  # their containers first.
  ids=$(podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT")
  # shellcheck disable=SC2086 # one id per word
  [ -z "$ids" ] || podman_quiet rm -f -v $ids >/dev/null 2>&1 || true
  compose down -v || true
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
  rm -rf "$CONTAINER_WORK"
}
trap cleanup EXIT

started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }
container() {
  podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1"
}
fail() {
  echo "compose-smoke: FAILED: $*" >&2
  tail -n 40 "$COMPOSE_LOG" >&2 || true
  local service
  for service in postgres redis migrate fluxora-1 fluxora-2; do
    echo "-- logs of $service" >&2
    podman logs --tail 20 "$(container "$service")" >&2 2>&1 || true
  done
  exit 1
}

# Runs the service's health check until it passes (60 s at most).
wait_healthy() {
  local service="$1" id deadline=$((SECONDS + 60))
  id=$(container "$service")
  [ -n "$id" ] || fail "no container for $service"
  until podman healthcheck run "$id" >/dev/null 2>&1; do
    [ "$(podman inspect --format '{{.State.Running}}' "$id")" = true ] || fail "$service exited"
    [ $SECONDS -lt $deadline ] || fail "$service not healthy after 60 s"
    sleep 1
  done
  echo "$service: healthy"
}

step "images (the base, fluxora, PostgreSQL and Redis from Debian packages)"
ensure_base_image
build_local_fluxora_image localhost/fluxora:local
build_local_service_images

step "up: postgres, redis"
compose up -d postgres redis || fail "compose up postgres redis"
wait_healthy postgres
wait_healthy redis

step "up: migrate (one-shot)"
compose up -d --no-deps migrate || fail "compose up migrate"
code=$(podman wait "$(container migrate)")
[ "$code" = 0 ] || fail "migrate exited $code"
echo "migrate: exit 0 ($(podman logs "$(container migrate)" 2>&1 | tail -n 1))"

step "up: fluxora-1, fluxora-2"
compose up -d --no-deps fluxora-1 fluxora-2 || fail "compose up replicas"
wait_healthy fluxora-1
wait_healthy fluxora-2
curl -fsS "$R1/health" | grep -q '"database":{"status":"ok"' || fail "replica 1 /health"

step "a stream created through replica 1, read through replica 2"
id=$(curl -fsS -X POST "$R1/api/streams" -H 'Content-Type: application/json' \
  -d '{"sender":"GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV","recipient":"GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA","depositAmount":"1000","ratePerSecond":"0.001","startTime":1893456000}' \
  | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$id" ] || fail "POST /api/streams through replica 1 returned no id"
curl -fsS "$R2/api/streams/$id" | grep -q "\"id\":\"$id\"" || fail "replica 2 cannot read $id"
curl -fsS "$R2/api/streams?limit=10" | grep -q "\"id\":\"$id\"" || fail "replica 2 does not list $id"
echo "stream $id: created through :$FLUXORA_1_PORT, read and listed through :$FLUXORA_2_PORT"

step "the rate limit is shared through Redis (60/min: bursts of 6)"
accepted=0
refused_by=""
for i in $(seq 1 14); do
  if [ $((i % 2)) = 1 ]; then url="$R1"; else url="$R2"; fi
  status=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/streams?limit=1")
  case "$status" in
    200) accepted=$((accepted + 1)) ;;
    429) refused_by="$refused_by $url" ;;
    *) fail "GET $url/api/streams answered $status" ;;
  esac
done
echo "14 requests alternating between the replicas: $accepted accepted"
# Per-process limits would accept up to 12 (6 per replica); shared, at most the one burst of 6
# plus what refills (one a second) while the requests run.
[ "$accepted" -le 8 ] || fail "$accepted accepted: the limit is not shared"
case "$refused_by" in *"$R1"*) ;; *) fail "replica 1 refused nothing" ;; esac
case "$refused_by" in *"$R2"*) ;; *) fail "replica 2 refused nothing" ;; esac
keys=$(podman exec "$(container redis)" redis-cli --scan --pattern 'fluxora:rl:*' | wc -l)
[ "$keys" -ge 1 ] || fail "no fluxora:rl:* keys in Redis"
echo "both replicas refused once the shared burst was spent; Redis holds $keys limiter key(s)"

# The client address of the connection holding the indexer's advisory lock (docs/indexer.md),
# empty when none does.
lock_holder() {
  podman exec "$(container postgres)" psql -U fluxora -d fluxora -Atc \
    "SELECT a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted" 2>/dev/null
}
# The service whose container has this address on the project's network.
service_at() {
  local service
  for service in fluxora-1 fluxora-2; do
    podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' \
      "$(container "$service")" | grep -qw "$1" && echo "$service"
  done
  return 0
}

step "indexer leadership: exactly one replica holds the advisory lock"
deadline=$((SECONDS + 20))
until [ "$(lock_holder | wc -l)" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "advisory locks held: '$(lock_holder)' (expected one)"
  sleep 1
done
leader=$(service_at "$(lock_holder)")
[ -n "$leader" ] || fail "the lock holder $(lock_holder) is no replica"
if [ "$leader" = fluxora-1 ]; then standby=fluxora-2; else standby=fluxora-1; fi
echo "$leader leads the indexer, $standby stands by"

step "SIGTERM: the leader stops with exit 0, the standby takes over; then the standby stops"
for service in "$leader" "$standby"; do
  podman_quiet stop --time 30 "$(container "$service")" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$(container "$service")")
  [ "$code" = 0 ] || fail "$service exited $code after SIGTERM"
  echo "$service: exit 0"
  if [ "$service" = "$leader" ]; then
    deadline=$((SECONDS + 20))
    until [ "$(service_at "$(lock_holder)")" = "$standby" ]; do
      [ $SECONDS -lt $deadline ] || fail "$standby did not take the indexer lock within 20 s"
      sleep 1
    done
    echo "$standby took over the indexer lock"
  fi
done

step "compose smoke passed; removing the project (containers, network, volumes)"
