#!/usr/bin/env bash
# Refresh apt's package lists once a day at most: the other scripts install from them.
set -euo pipefail
stamp=/var/lib/apt/periodic/churn-serving-update
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
