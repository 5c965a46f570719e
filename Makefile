# Each target is one or two commands; `make` alone lists them.
.DEFAULT_GOAL := help
.PHONY: help serve test lint train audit loadtest soak

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

serve:  ## set up the locked runtime and start the service on PORT (default 9696)
	bash scripts/serve.sh

test:  ## set up everything and run lint, types and the whole test suite (what CI runs)
	bash scripts/test.sh

lint:  ## ruff and mypy only (after `make test` has set up .venv)
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

train:  ## retrain churn-model.bin and churn-model.json from data/
	.venv/bin/python train.py

audit:  ## pip-audit over every locked dependency (scripts/audit-ignore.txt explains accepted ones)
	bash scripts/audit.sh

loadtest:  ## 60 s at 64 connections against a fresh gunicorn; fails on any error
	.venv/bin/python bench/loadtest.py

soak:  ## 60 s of mixed valid and invalid requests; fails on any 5xx or unexpected status
	.venv/bin/python bench/loadtest.py --mode soak
