#!/usr/bin/env bash
# docker-compose.yml under podman-compose, where no Docker engine runs:
#   scripts/compose.sh up -d | ps | logs SERVICE | down -v | ...   (any podman-compose arguments)
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
if [[ " $* " == *" up "* ]]; then
  IMAGE=$CHURN_IMAGE build_image
fi
exec "$COMPOSE_VENV/bin/podman-compose" -f "$ROOT/docker-compose.yml" "$@"
