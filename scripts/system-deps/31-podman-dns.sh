#!/usr/bin/env bash
# Name resolution between containers on a podman network, which docker-compose.yml needs (nginx finds
# `api`, the API finds `redis`) when scripts/compose.sh runs it: the CNI dnsname plugin for podman's
# CNI backend (what 30-podman.sh gives on Debian 12), aardvark-dns for the netavark backend.
set -euo pipefail
command -v podman >/dev/null || bash "$(dirname "$0")/30-podman.sh"
if [ "$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" = netavark ]; then
  pkg=aardvark-dns
else
  pkg=golang-github-containernetworking-plugin-dnsname
fi
if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "$pkg" >/dev/null
fi
