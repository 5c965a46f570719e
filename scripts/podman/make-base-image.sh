#!/usr/bin/env bash
# Make a local stand-in for python:3.11-slim from Debian bookworm with debootstrap, because no
# container registry is reachable here (Elastic Beanstalk and developers pull the real one).
# ~90 s, ~125 MB. Usage: make-base-image.sh TAG   (needs scripts/system-deps/30-podman.sh)
set -euo pipefail
TAG=${1:?image tag}
podman image exists "$TAG" && exit 0      # someone else made it while we waited for the lock
ROOTFS=$(mktemp -d /var/tmp/churn-base-XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
# apt's own sources give the mirror: no registry host is written in this project.
uris() { cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -oE '^(URIs:|deb) +[^ ]+' | awk '{print $2}' || true; }
MIRROR=${MIRROR:-$(uris | grep -v security | head -n1)}
SECURITY=$(uris | grep security | head -n1 || true)
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$ROOTFS" "$MIRROR" >/dev/null
{ echo "deb $MIRROR bookworm main"; echo "deb $MIRROR bookworm-updates main"
  if [ -n "$SECURITY" ]; then echo "deb $SECURITY bookworm-security main"; fi; } > "$ROOTFS/etc/apt/sources.list"
# The official image's pip installs system-wide: drop Debian's PEP 668 marker.
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
# Where the package index is reached through a TLS-intercepting proxy, the image must trust the
# host's extra CAs for pip inside `podman build` to work.
cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$ROOTFS" update-ca-certificates >/dev/null
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
find "$ROOTFS"/usr/lib/python3* -name __pycache__ -prune -exec rm -rf {} +
tar --numeric-owner -C "$ROOTFS" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG" >/dev/null
