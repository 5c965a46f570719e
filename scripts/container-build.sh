#!/usr/bin/env bash
# Build the service's image with podman: configure podman for this machine, make the local
# python:3.11-slim stand-in if missing, then `podman build` (tag: $IMAGE, default churn-serving:latest).
# Needs scripts/system-deps/30-podman.sh to have run (scripts/test.sh and container-test.sh do).
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/podman/lib.sh"
podman_setup
ensure_base_image
build_image
