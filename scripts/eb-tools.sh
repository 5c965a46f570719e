#!/usr/bin/env bash
# The EB CLI and (for the offline rehearsals) moto, each in its own virtualenv under .tools-eb/:
# awsebcli pins cement, pathspec, fabric... exactly, so it must never meet the service's packages,
# and neither belongs in the image or the Pipfile. Sourced by the eb-* scripts; run alone to install.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AWSEBCLI_VERSION=3.27.5
MOTO_VERSION=5.2.5
# EB_TOOLS lets a rehearsal on a copy of the project use these virtualenvs.
EB_TOOLS=${EB_TOOLS:-$ROOT/.tools-eb}
EB=$EB_TOOLS/eb/bin/eb

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

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_eb
  ensure_moto
fi
