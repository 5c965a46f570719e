# Sourced by the other scripts: strict mode, a pinned pipenv in .tools/, and the package index
# taken from pip's own configuration (Pipfile's source reads ${PIP_INDEX_URL}; no host is committed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PIPENV_VERSION=2026.10.3   # keep equal to ARG PIPENV_VERSION in the Dockerfile (a test checks)
export PIPENV_VENV_IN_PROJECT=1 PIPENV_VERBOSITY=-1 PIPENV_NOSPIN=1 PIPENV_YES=1
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ -z "${PIP_INDEX_URL:-}" ]; then
  PIP_INDEX_URL=$("$PYTHON" -m pip config get global.index-url 2>/dev/null \
    || "$PYTHON" -m pip config get install.index-url 2>/dev/null \
    || "$PYTHON" -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
fi
export PIP_INDEX_URL

# pipenv lives in its own virtualenv so that it never meets the system's packages (or PEP 668).
ensure_pipenv() {
  if [ ! -x .tools/bin/pipenv ] || [ "$(.tools/bin/pipenv --version | awk '{print $3}')" != "$PIPENV_VERSION" ]; then
    say "installing pipenv $PIPENV_VERSION into .tools/"
    "$PYTHON" -m venv .tools
    .tools/bin/pip install --quiet --disable-pip-version-check "pipenv==$PIPENV_VERSION"
  fi
}

pipenv() { .tools/bin/pipenv "$@"; }

# The Pipfile's categories: [packages] is the service and the worker (all the image installs);
# [campaign] is campaign.py's client and offline engine; [train] is train.py's (scikit-learn, pandas);
# [dev-packages] the tests'. `make serve` installs the runtime ones; the test set-up and the audit all.
RUNTIME_CATEGORIES="packages campaign"
EVERY_CATEGORY="packages campaign dev-packages train"
