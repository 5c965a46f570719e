#!/usr/bin/env bash
# Retrain churn-model.bin, churn-model.json and the model card churn-model.html from data/ (arguments
# go to train.py: --data NEW.csv for a safe retrain, docs/model.md). Installs the lock's runtime packages
# and its [train] category (scikit-learn, pandas, matplotlib) first, so it works right after scripts/serve.sh, without
# the test set-up.
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked runtime and training dependencies (scikit-learn, pandas, matplotlib) into .venv/"
pipenv install --deploy --categories "packages train"
say "training (.venv/bin/python train.py)"
exec .venv/bin/python train.py "$@"
