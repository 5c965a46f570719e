#!/usr/bin/env bash
# The AWS tools, each in its own virtualenv under .tools-eb/: the EB CLI, the AWS CLI (`make
# aws-prereqs` deploys infra/prereqs.yaml with it), moto (the offline rehearsals' fake AWS), cfn-lint
# and checkov (scripts/check-templates.sh). awsebcli pins cement, pathspec, fabric... exactly, and
# checkov half of PyPI, so none may meet the service's packages, and none belongs in the image or the
# Pipfile. Sourced by the eb-* and aws-* scripts; run alone to install them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AWSEBCLI_VERSION=3.27.5
MOTO_VERSION=5.2.5
AWSCLI_VERSION=1.46.3
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
# EB_TOOLS lets a rehearsal on a copy of the project use these virtualenvs.
EB_TOOLS=${EB_TOOLS:-$ROOT/.tools-eb}
EB=$EB_TOOLS/eb/bin/eb
AWS=$EB_TOOLS/awscli/bin/aws

ensure_venv() {  # ensure_venv DIR REQUIREMENT
  local dir=$EB_TOOLS/$1
  if ! "$dir/bin/python" -m pip show -q "${2%%[[=]*}" 2>/dev/null \
     || [ "$("$dir/bin/python" -m pip show "${2%%[[=]*}" | awk '/^Version:/{print $2}')" != "${2##*==}" ]; then
    say "installing $2 into .tools-eb/$1/"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$2"
  fi
}
ensure_eb() { ensure_venv eb "awsebcli==$AWSEBCLI_VERSION"; }
ensure_moto() { ensure_venv moto "moto[server]==$MOTO_VERSION"; }
ensure_awscli() { ensure_venv awscli "awscli==$AWSCLI_VERSION"; }
ensure_linters() {
  ensure_venv cfn-lint "cfn-lint==$CFN_LINT_VERSION"
  ensure_venv checkov "checkov==$CHECKOV_VERSION"
}

# Run alone: `bash scripts/eb-tools.sh [eb moto awscli linters]` installs those named (default: all).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for tool in "${@:-eb moto awscli linters}"; do
    for t in $tool; do "ensure_$t"; done
  done
fi
