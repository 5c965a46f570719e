#!/usr/bin/env bash
# redis-server and nginx for the jobs tests and the local stack (scripts/stack.sh). The tests and the
# stack start their own instances on free ports; the distribution's services are neither needed nor started.
set -euo pipefail
if command -v redis-server >/dev/null && command -v nginx >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101 keeps the packages' postinst from starting system-wide daemons (no init here anyway).
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends redis-server nginx-light >/dev/null \
  || apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends redis-server nginx >/dev/null
if [ -n "$created" ]; then rm -f "$policy"; fi
