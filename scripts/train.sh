#!/usr/bin/env bash
# Retrain churn-model.bin and churn-model.json from data/ (arguments go to train.py). Installs the
# lock's runtime packages and its [train] category (pandas) first, so it works right after
# scripts/serve.sh, without the test set-up.
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked runtime and training dependencies (pandas) into .venv/"
pipenv install --deploy --categories "packages train"
say "training (.venv/bin/python train.py)"
exec .venv/bin/python train.py "$@"
