#!/usr/bin/env bash
# `make eb-local`: `eb local run --port 9696`, the EB CLI building and running the Dockerfile as the
# platform would. Without a Docker daemon, podman stands in (scripts/podman/docker). Needs AWS
# credentials: the EB CLI asks the EB API about the platform first (tests answer from a fake).
source "$(dirname "$0")/eb.sh"
source "$ROOT/scripts/podman/lib.sh"
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  podman_setup
  export PATH=$ROOT/scripts/podman:$PATH
fi
cd "${EB_PROJECT_DIR:-$ROOT}"
eb local run --port "${PORT:-9696}" "$@"
