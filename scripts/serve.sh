#!/usr/bin/env bash
# Set up the locked runtime dependencies and start the service on $PORT (default 9696).
# The first run installs pipenv into .tools/ and the locked packages into .venv/; later runs only
# check .venv/ against Pipfile.lock and start at once.
source "$(dirname "$0")/lib.sh"
if [ ! -x .venv/bin/python ]; then
  say "first run: setting up pipenv and the locked packages (a minute or a few, mostly downloading NumPy and Arrow)"
fi
ensure_pipenv
say "installing the locked runtime dependencies into .venv/"
pipenv install --deploy --categories "$RUNTIME_CATEGORIES"
say "starting the service on port ${PORT:-9696} (python churn_serving.py; Ctrl-C to stop)"
exec .venv/bin/python churn_serving.py
