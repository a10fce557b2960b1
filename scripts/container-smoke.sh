#!/usr/bin/env bash
# Builds the container image, runs it and probes it: the process runs as a non-root user, the
# image's HEALTHCHECK (`fluxora healthcheck`) reports healthy, /health and the API answer, a stream
# written to the /data volume survives a restart, SIGTERM stops it with exit 0; prints the image
# size and how long each step took. Not part of .ci/run (minutes, needs root packages); see the
# README, "Container".
#
# Engines, in order (CONTAINER_ENGINE=docker|podman forces one):
# - docker, when a Docker engine is reachable: the Dockerfile as users build it;
# - podman: the Dockerfile too when its registry images can be pulled; where no registry is
#   reachable (our build machines), the same runtime stage on a Debian bookworm base built from
#   Debian packages with mmdebstrap, and the release binary built here (scripts/container-lib.sh).
#   Needs root and the Debian packages podman, runc, mmdebstrap. Runs with --network host.
# - neither: says so and exits 0, unless CONTAINER_SMOKE_REQUIRED=1.
#
# Environment: IMAGE (default fluxora:smoke), SMOKE_PORT (default 3999), plus those of
# scripts/container-lib.sh. Kept after the run: the images (the base image is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container-lib.sh

IMAGE="${IMAGE:-fluxora:smoke}"
NAME="fluxora-smoke-$$"
VOLUME="$NAME-data"
PORT="${SMOKE_PORT:-3999}"
BASE="http://127.0.0.1:$PORT"

ENGINE="${CONTAINER_ENGINE:-}"
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then
    ENGINE=podman
  fi
fi
if [ -z "$ENGINE" ]; then
  echo "container-smoke: neither a Docker engine nor podman is usable here; skipping" >&2
  [ "${CONTAINER_SMOKE_REQUIRED:-0}" = "1" ] && exit 1
  exit 0
fi

CONTAINER_WORK=""
cleanup() {
  engine rm -f "$NAME" >/dev/null 2>&1 || true
  engine volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  [ -n "$CONTAINER_WORK" ] && rm -rf "$CONTAINER_WORK"
}
trap cleanup EXIT

started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }
# The engine; podman without its systemd complaints (scripts/container-lib.sh).
engine() {
  if [ "$ENGINE" = podman ]; then podman_quiet "$@"; else docker "$@"; fi
}
fail() {
  echo "container-smoke: FAILED: $*" >&2
  "$ENGINE" logs "$NAME" >&2 2>&1 || true
  exit 1
}

RUN_ARGS=()
if [ "$ENGINE" = docker ]; then
  step "docker build -t $IMAGE . (the Dockerfile)"
  DOCKER_BUILDKIT=1 docker build -t "$IMAGE" .
  RUN_ARGS=(-p "127.0.0.1:$PORT:3000")
  BUILT="the Dockerfile (distroless base), with docker"
else
  podman_setup
  if [ "${CONTAINER_SMOKE_LOCAL_BASE:-0}" != "1" ] && registry_reachable; then
    step "podman build -t $IMAGE . (the Dockerfile; registry reachable)"
    podman build --network host --format docker -t "$IMAGE" .
    BUILT="the Dockerfile (distroless base), with podman"
  else
    step "no container registry reachable: the Dockerfile's runtime stage on $LOCAL_BASE_IMAGE"
    ensure_base_image
    step "base image ready"
    build_local_fluxora_image "$IMAGE"
    BUILT="the Dockerfile's runtime stage on $LOCAL_BASE_IMAGE (Debian packages), with podman"
  fi
  # Host networking works wherever podman does (no bridge, no port forwarding needed).
  RUN_ARGS=(--network host -e "PORT=$PORT" -e HOST=127.0.0.1)
fi
step "image built: $BUILT"

size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
echo "image size: $((size / 1000000)) MB ($size bytes)"
healthcheck=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
echo "image HEALTHCHECK: $healthcheck"
case "$healthcheck" in
  *'"/usr/local/bin/fluxora","healthcheck"'*) ;;
  *) fail "the image carries no HEALTHCHECK running fluxora healthcheck" ;;
esac

# Waits until the HEALTHCHECK reports healthy. Docker runs it on its own schedule; podman runs it
# from a systemd timer, which machines without systemd lack, so it is run on demand here
# (`podman healthcheck run` executes the image's HEALTHCHECK command and records the result).
wait_healthy() {
  local deadline=$((SECONDS + 60)) status=""
  while [ $SECONDS -lt $deadline ]; do
    if [ "$ENGINE" = docker ]; then
      status=$(docker inspect --format '{{.State.Health.Status}}' "$NAME")
    elif podman healthcheck run "$NAME" >/dev/null 2>&1; then
      status=healthy
    else
      status=unhealthy
    fi
    [ "$status" = healthy ] && return 0
    [ "$("$ENGINE" inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
    sleep 1
  done
  fail "health status: $status"
}

step "run (volume $VOLUME on /data)"
engine volume create "$VOLUME" >/dev/null
engine run -d --name "$NAME" -v "$VOLUME:/data" "${RUN_ARGS[@]}" "$IMAGE" >/dev/null

user=$("$ENGINE" inspect --format '{{.Config.User}}' "$NAME")
case "$user" in
  "" | 0 | root | 0:* | root:*) fail "the container runs as root ('$user')" ;;
esac
step "waiting for the HEALTHCHECK (fluxora healthcheck) to report healthy"
wait_healthy
if [ "$ENGINE" = docker ]; then
  uid=$(docker top "$NAME" -o uid | awk 'NR == 2 { print $1 }')
else
  uid=$(podman top "$NAME" huser | awk 'NR == 2 { print $1 }')
  echo "podman inspect health: $(podman inspect --format '{{.State.Health.Status}}' "$NAME")"
fi
case "$uid" in
  "" | 0 | root) fail "the process runs as uid '$uid'" ;;
esac
step "healthy; configured user $user, process uid $uid"

step "probing /health and the API"
curl -fsS "$BASE/health" | grep -q '"database":{"status":"ok"' || fail "/health"
id=$(curl -fsS -X POST "$BASE/api/streams" -H 'Content-Type: application/json' \
  -d '{"sender":"GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV","recipient":"GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA","depositAmount":"1000","ratePerSecond":"0.001","startTime":1893456000}' \
  | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$id" ] || fail "POST /api/streams returned no id"
echo "created stream $id"

step "restart: the stream must survive in /data"
engine restart --time 20 "$NAME" >/dev/null
wait_healthy
curl -fsS "$BASE/api/streams/$id" | grep -q "\"id\":\"$id\"" || fail "stream $id lost on restart"
echo "stream $id read back after the restart"

step "SIGTERM: graceful stop, exit code 0"
engine stop --time 20 "$NAME" >/dev/null
code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
step "container smoke passed ($ENGINE; $BUILT; image $((size / 1000000)) MB)"
