#!/usr/bin/env bash
# podman (with runc: crun refuses these machines' hybrid cgroups) to build and run the Dockerfile,
# and debootstrap to make the local python:3.11-slim stand-in (scripts/podman/make-base-image.sh).
# uidmap and slirp4netns let podman also run rootless on a developer's machine.
set -euo pipefail
pkgs=(podman runc debootstrap uidmap slirp4netns)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
