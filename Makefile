# Each target is one or two commands; `make` alone lists them.
.DEFAULT_GOAL := help
.PHONY: help serve test lint train bench bench-smoke

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

bench:  ## side-by-side benchmark vs the book's service (~8 min; quiet machine), writes BENCHMARKS.md
	.venv/bin/python bench/run.py --json build/bench.json

bench-smoke:  ## the benchmark once, very short (~40 s): proves it runs, prints the report
	.venv/bin/python bench/run.py --smoke
