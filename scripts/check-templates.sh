#!/usr/bin/env bash
# `make cfn-check`: every CloudFormation template of the project through cfn-lint (AWS's own resource
# specification) and checkov (security rules): infra/*.yaml, and the `Resources` of .ebextensions/*.config
# as scripts/ebextensions_templates.py turns them into templates. A check checkov skips is skipped in the
# template itself (Metadata: checkov: skip), each with its reason. Both tools come from their own
# virtualenvs (scripts/eb-tools.sh); neither talks to AWS.
source "$(dirname "$0")/eb-tools.sh"
ensure_linters
out=$ROOT/build/templates
rm -rf "$out"
mapfile -t eb_templates < <(.venv/bin/python scripts/ebextensions_templates.py "$out")
templates=(infra/*.yaml "${eb_templates[@]}")
say "cfn-lint ${templates[*]}"
"$EB_TOOLS/cfn-lint/bin/cfn-lint" "${templates[@]}"
say "checkov"
args=()
for t in "${templates[@]}"; do args+=(--file "$t"); done
"$EB_TOOLS/checkov/bin/checkov" "${args[@]}" --framework cloudformation --skip-download --compact --quiet
