#!/usr/bin/env bash
# Set up the locked runtime dependencies and start the service on $PORT (default 9696).
# The first run installs pipenv into .tools/ and the locked packages into .venv/; later runs only
# check .venv/ against Pipfile.lock and start at once.
source "$(dirname "$0")/lib.sh"
if [ ! -x .venv/bin/python ]; then
  say "first run: setting up pipenv and the locked packages (a minute or a few, mostly downloading scikit-learn, SciPy, NumPy and Arrow)"
fi
ensure_pipenv
say "installing the locked runtime packages (Pipfile.lock) into .venv/"
pipenv install --deploy
say "starting the service on port ${PORT:-9696} (.venv/bin/python churn_serving.py; Ctrl-C to stop)"
exec .venv/bin/python churn_serving.py
