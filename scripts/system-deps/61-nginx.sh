#!/usr/bin/env bash
# nginx in front of the service, as on Elastic Beanstalk, for the slow-client test (tests/system/test_faults.py).
set -euo pipefail
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    nginx-light >/dev/null
fi
