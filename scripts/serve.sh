#!/usr/bin/env bash
# Set up the locked runtime dependencies and start the service on $PORT (default 9696).
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked runtime dependencies into .venv/"
pipenv install --deploy --categories "$RUNTIME_CATEGORIES"
say "starting the service on port ${PORT:-9696} (python churn_serving.py; Ctrl-C to stop)"
exec .venv/bin/python churn_serving.py
