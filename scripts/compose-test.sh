#!/usr/bin/env bash
# `make compose-test`: on a fresh machine, install what docker-compose.yml needs under podman, then
# run tests/system/test_compose.py: the whole stack up, a campaign through nginx (sync, and async through
# Redis and the worker) equal to an offline run, and the stack down again.
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked dependencies into .venv/ (campaign.py and pytest)"
pipenv install --deploy --categories "$EVERY_CATEGORY"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
for dep in 00-apt-update 30-podman 31-podman-dns; do
  $SUDO bash "scripts/system-deps/$dep.sh"
done
CHURN_REQUIRE_SERVERS=1 .venv/bin/pytest tests/system/test_compose.py "$@"
