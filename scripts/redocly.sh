#!/usr/bin/env bash
# Lint an OpenAPI document with Redocly's recommended ruleset (redocly.yaml says which rules are off and why).
# The CLI is installed from npm into .tools/redocly/ (not committed), pinned, once.
set -euo pipefail
cd "$(dirname "$0")/.."
REDOCLY_VERSION=2.77.0
dir=.tools/redocly
if [ ! -x "$dir/node_modules/.bin/redocly" ] || [ "$(cat "$dir/version" 2>/dev/null)" != "$REDOCLY_VERSION" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "@redocly/cli@$REDOCLY_VERSION" >&2
  echo "$REDOCLY_VERSION" > "$dir/version"
fi
exec "$dir/node_modules/.bin/redocly" lint --config redocly.yaml --format stylish "$@"
