#!/usr/bin/env bash
# Check every locked dependency (runtime, development and training) against the known-vulnerability records
# that PyPI publishes, with pip-audit in its own virtualenv (.tools/audit). Exits non-zero on a finding
# that is not explained in scripts/audit-ignore.txt. A dependency the service has no record of cannot
# be audited: it is listed, and with CHURN_AUDIT_STRICT=1 that fails the run too.
source "$(dirname "$0")/lib.sh"
PIP_AUDIT_VERSION=2.10.1
ensure_pipenv
if [ ! -x .tools/audit/bin/pip-audit ] || ! .tools/audit/bin/pip-audit --version | grep -q " $PIP_AUDIT_VERSION"; then
  say "installing pip-audit $PIP_AUDIT_VERSION into .tools/audit/"
  "$PYTHON" -m venv .tools/audit
  .tools/audit/bin/pip install --quiet --disable-pip-version-check "pip-audit==$PIP_AUDIT_VERSION"
fi
requirements=$(mktemp --suffix=.txt)
report=$(mktemp --suffix=.json)
trap 'rm -f "$requirements" "$report"' EXIT
pipenv requirements --categories "$EVERY_CATEGORY" --hash > "$requirements"
# Each line of audit-ignore.txt: a vulnerability id, then why it does not apply (see that file).
ignores=()
while read -r id _; do
  [ -n "$id" ] && [ "${id:0:1}" != "#" ] && ignores+=(--ignore-vuln "$id")
done < scripts/audit-ignore.txt
# pip-audit's own exit status is re-judged by audit_report.py (ignores, fallback, strict mode).
.tools/audit/bin/pip-audit --requirement "$requirements" --no-deps --disable-pip --vulnerability-service pypi \
  --progress-spinner off --format json --output "$report" "${ignores[@]}" 2>/dev/null || true
ignored_ids=()
for ((i = 1; i < ${#ignores[@]}; i += 2)); do ignored_ids+=("${ignores[i]}"); done
"$PYTHON" scripts/audit_report.py "$report" "$requirements" "$PIP_INDEX_URL" "${ignored_ids[@]}"
