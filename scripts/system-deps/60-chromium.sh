#!/usr/bin/env bash
# Headless Chromium for the /docs browser test (tests/system/test_ops_server.py), from the machine's apt sources.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null
fi
