#!/usr/bin/env bash
# Builds the container image, runs it, and probes it: the HEALTHCHECK turns healthy, /health
# answers, the process runs as a non-root user, SIGTERM stops it with exit 0. Needs a Docker engine
# (our build machines have none: there this script says so and exits 0 unless
# CONTAINER_SMOKE_REQUIRED=1).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-fluxora:smoke}"
NAME="fluxora-smoke-$$"
PORT="${SMOKE_PORT:-3999}"

if ! docker info >/dev/null 2>&1; then
  echo "container-smoke: no Docker engine reachable (docker info failed); skipping" >&2
  [ "${CONTAINER_SMOKE_REQUIRED:-0}" = "1" ] && exit 1
  exit 0
fi

cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== docker build -t $IMAGE ."
DOCKER_BUILDKIT=1 docker build -t "$IMAGE" .

echo "== run"
docker run -d --name "$NAME" -p "127.0.0.1:$PORT:3000" "$IMAGE" >/dev/null

user=$(docker inspect --format '{{.Config.User}}' "$NAME")
case "$user" in
  ""|0|root|0:*|root:*) echo "container runs as root ('$user')" >&2; exit 1 ;;
esac
echo "runs as user $user"

echo "== waiting for the HEALTHCHECK (fluxora healthcheck) to report healthy"
status=""
for _ in $(seq 1 60); do
  status=$(docker inspect --format '{{.State.Health.Status}}' "$NAME")
  [ "$status" = "healthy" ] && break
  [ "$(docker inspect --format '{{.State.Running}}' "$NAME")" = "true" ] || break
  sleep 1
done
if [ "$status" != "healthy" ]; then
  echo "health status: $status" >&2
  docker logs "$NAME" >&2
  exit 1
fi

echo "== probing /health and the API"
curl -fsS "http://127.0.0.1:$PORT/health" | tee /dev/stderr | grep -q '"database":{"status":"ok"'
curl -fsS "http://127.0.0.1:$PORT/api/streams" >/dev/null

echo "== SIGTERM: graceful stop, exit code 0"
docker stop --time 20 "$NAME" >/dev/null
code=$(docker inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = "0" ] || { echo "exit code $code" >&2; docker logs "$NAME" >&2; exit 1; }
echo "container smoke passed"
