#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run lint, types and all tests.
# Arguments go to pytest (e.g. scripts/test.sh -k batch).
source "$(dirname "$0")/lib.sh"
ensure_pipenv
say "installing the locked runtime, development and training dependencies into .venv/"
pipenv install --deploy --categories "$EVERY_CATEGORY"
say "system packages the tests need (scripts/system-deps/)"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
for dep in scripts/system-deps/*.sh; do
  $SUDO bash "$dep"
done
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy"
.venv/bin/mypy
say "import contracts (the dependency rule between churn's packages)"
.venv/bin/lint-imports
say "CloudFormation: cfn-lint and checkov over infra/ and .ebextensions Resources (scripts/check-templates.sh)"
bash scripts/check-templates.sh
say "pip-audit over the locked dependencies (scripts/audit.sh)"
bash scripts/audit.sh
say "pytest"
# Tests that need servers must run, not skip: conftest turns such a skip into a failure.
CHURN_REQUIRE_SERVERS=1 .venv/bin/pytest "$@"
