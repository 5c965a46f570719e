#!/usr/bin/env bash
# `make container-test`: on a fresh machine, install podman, build the image, run it and check it
# (readiness, /predict against the in-process model, non-root, clean SIGTERM), then report the
# image size and the time from start to ready.
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked runtime dependencies into .venv/ (the check loads the model in-process)"
pipenv install --deploy --categories "$EVERY_CATEGORY"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO bash scripts/system-deps/00-apt-update.sh
$SUDO bash scripts/system-deps/30-podman.sh
export IMAGE=${IMAGE:-localhost/churn-serving:latest}
bash scripts/container-build.sh
CONTAINERS_CONF=$ROOT/build/podman/containers.conf .venv/bin/python -m tests.support.container_check "$IMAGE"
