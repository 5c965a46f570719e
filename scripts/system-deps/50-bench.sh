#!/usr/bin/env bash
# wrk: the HTTP load generator of the benchmark (bench/run.py, `make bench`, and its CI smoke test).
set -euo pipefail
command -v wrk >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk
