# Each target is one or two commands; `make` alone lists them.
.DEFAULT_GOAL := help
.PHONY: help serve test lint train bench bench-smoke container-test eb-check cfn-check aws-prereqs image-report eb-init eb-local deploy terminate eb-rehearsal audit loadtest soak stack stack-stop stack-status worker campaign compose-up compose-down compose-test bench-report

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

serve:  ## set up the locked runtime and start the service on PORT (default 9696)
	bash scripts/serve.sh

test:  ## set up everything and run lint, types and the whole test suite (what CI runs)
	bash scripts/test.sh

lint:  ## ruff, mypy and the import contracts only (after `make test` has set up .venv)
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

train:  ## install what training needs (pandas, matplotlib), then retrain churn-model.bin, .json and the card .html from data/
	bash scripts/train.sh

bench:  ## side-by-side benchmark vs the book's service + offline (~8 min; quiet machine), writes docs/benchmarks.md; BENCH_ARGS=--container also builds and times the image
	.venv/bin/python bench/run.py --json build/bench.json $(BENCH_ARGS)

bench-report:  ## re-render docs/benchmarks.md from the last `make bench` (build/bench.json), e.g. after editing bench/report.py
	.venv/bin/python bench/run.py --render build/bench.json

bench-smoke:  ## the benchmark once, very short (~40 s): proves it runs, prints the report
	.venv/bin/python bench/run.py --smoke

container-test:  ## install podman, build the image, run it and check it; reports size and start-to-ready time
	bash scripts/container-test.sh

eb-check:  ## offline check of .ebextensions and platform nginx against the documented options
	.venv/bin/python scripts/check_ebextensions.py

cfn-check:  ## cfn-lint and checkov over infra/*.yaml and the Resources of .ebextensions (offline)
	bash scripts/check-templates.sh

aws-prereqs:  ## deploy infra/prereqs.yaml: roles, security groups, Redis, secrets, alarm topic (Redis billed hourly)
	bash scripts/aws-prereqs.sh

image-report:  ## cold podman build and image size -> build/image-report.json (minutes)
	bash scripts/image-report.sh

eb-init:  ## register the app with Elastic Beanstalk (AWS_REGION, default eu-west-1; free)
	bash scripts/eb-init.sh

eb-local:  ## eb local run --port 9696: the EB CLI builds and runs the Dockerfile locally (docker or podman)
	bash scripts/eb-local.sh

deploy:  ## eb create the environment (ALB + 2-6 instances, billed hourly), or eb deploy when it exists
	bash scripts/eb-deploy.sh

terminate:  ## eb terminate the environment: stops all its charges (asks to confirm)
	bash scripts/eb-terminate.sh

eb-rehearsal:  ## REHEARSAL of eb-init/deploy/status/terminate against a local fake AWS (no AWS involved)
	bash scripts/eb-rehearsal.sh
audit:  ## pip-audit over every locked dependency (scripts/audit-ignore.txt explains accepted ones)
	bash scripts/audit.sh

loadtest:  ## 60 s at 64 connections against a fresh server; fails on any error
	.venv/bin/python bench/loadtest.py

soak:  ## 60 s of mixed valid and invalid requests; fails on any 5xx or unexpected status
	.venv/bin/python bench/loadtest.py --mode soak

worker:  ## run the async-jobs worker (REDIS_URL must point at Redis)
	.venv/bin/python worker.py

stack:  ## start redis, 2 API servers, the worker and nginx on localhost (nginx on STACK_PORT, default 8080)
	bash scripts/stack.sh start

stack-stop:  ## stop every process `make stack` started
	bash scripts/stack.sh stop

stack-status:  ## say which of the stack's processes are running
	bash scripts/stack.sh status

compose-up:  ## docker-compose.yml under podman-compose (local image stand-ins; nginx on STACK_PORT, 8080)
	bash scripts/compose.sh up -d

compose-down:  ## stop and remove what compose-up started, with Redis's volume
	bash scripts/compose.sh down -v

compose-test:  ## install podman-compose and friends, then test docker-compose.yml end to end (tests/system/test_compose.py)
	bash scripts/compose-test.sh

campaign:  ## score data/ through the stack into .tmp/campaign.csv (after `make stack` or `make compose-up`)
	mkdir -p .tmp
	.venv/bin/python campaign.py score data/WA_Fn-UseC_-Telco-Customer-Churn.csv --url http://127.0.0.1:$${STACK_PORT:-8080} -o .tmp/campaign.csv --explain 3 --top 10
