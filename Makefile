# Each target is one or two commands; `make` alone lists them.
.DEFAULT_GOAL := help
.PHONY: help serve test lint train stack stack-stop stack-status worker campaign

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

worker:  ## run the async-jobs worker (REDIS_URL must point at Redis)
	.venv/bin/python worker.py

stack:  ## start redis, 2 x gunicorn, the worker and nginx on localhost (nginx on STACK_PORT, default 8080)
	bash scripts/stack.sh start

stack-stop:  ## stop every process `make stack` started
	bash scripts/stack.sh stop

stack-status:  ## say which of the stack's processes are running
	bash scripts/stack.sh status

campaign:  ## score data/ through the stack into .tmp/campaign.csv (after `make stack`)
	.venv/bin/python campaign.py score data/WA_Fn-UseC_-Telco-Customer-Churn.csv --url http://127.0.0.1:$${STACK_PORT:-8080} -o .tmp/campaign.csv --explain 3 --top 10
