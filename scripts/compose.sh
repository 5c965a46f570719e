#!/usr/bin/env bash
# docker-compose.yml under podman-compose, where no Docker engine runs:
#   scripts/compose.sh [-p PROJECT] up -d | ps | logs api_1 | stop | down -v | ...   (podman-compose's commands)
# First: podman configured for this machine (scripts/podman/lib.sh), the local stand-ins for the
# images no registry gives here (python:3.11-slim, redis:7, nginx:1.27), podman-compose pinned in
# .tools-compose/, and for `up` the service's image ($CHURN_IMAGE) built the project's way, so that
# compose never builds it itself (it would not pass this machine's package index).
# nginx listens on STACK_PORT (8080). Needs scripts/system-deps/30-podman.sh and 31-podman-dns.sh.
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/podman/lib.sh"
podman_setup
ensure_stand_ins
ensure_podman_compose
export CHURN_IMAGE=${CHURN_IMAGE:-localhost/churn-serving:latest}
project=()
if [ "${1:-}" = -p ]; then project=(-p "$2"); shift 2; fi

compose() { "$COMPOSE_VENV/bin/podman-compose" -f "$ROOT/docker-compose.yml" "${project[@]}" "$@"; }

# podman-compose 1.6 stops all containers at once, where docker compose stops dependents first: the
# worker, losing Redis in the middle of its shutdown, would exit 1. So front to back, as stack.sh does.
stop_front_to_back() {
  local services
  for services in nginx "api worker" redis; do
    # shellcheck disable=SC2086  # two services in one step
    compose stop $services || true
  done
}

case "${1:-}" in
  up) IMAGE=$CHURN_IMAGE build_image ;;
  down) stop_front_to_back ;;
  stop) if [ $# -eq 1 ]; then stop_front_to_back; fi ;;
esac
compose "$@"
