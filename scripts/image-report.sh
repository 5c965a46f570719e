#!/usr/bin/env bash
# `make image-report`: what a new Elastic Beanstalk instance pays before it can serve. A cold
# `podman build --no-cache` (the base image present, no layer cache, every package downloaded: what
# the Docker platform does on each new instance), the image's size, and its largest installed
# packages. Writes build/image-report.json (docs/deploy-aws.md quotes it, with its date).
# Usage: scripts/image-report.sh   (needs scripts/system-deps/30-podman.sh; ~1-3 min)
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/podman/lib.sh"
podman_setup
ensure_base_image
TAG=localhost/churn-serving:image-report-$$
args=()
default=$("$PYTHON" -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
[ "$PIP_INDEX_URL" = "$default" ] || args=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
say "cold build (podman build --no-cache) of $TAG"
start=$(date +%s.%N)
podman build --quiet --no-cache --format docker "${args[@]}" -t "$TAG" "$ROOT" >/dev/null
end=$(date +%s.%N)
size=$(podman image inspect "$TAG" --format '{{.Size}}')
base=$(podman image inspect "$BASE_IMAGE" --format '{{.Size}}')
# The installed distributions by size on disk (site-packages folders that belong to each).
packages=$(podman run --rm --entrypoint python "$TAG" -c '
import importlib.metadata as md, json, os
sizes = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or []:
        p = dist.locate_file(f)
        if os.path.isfile(p):
            total += os.path.getsize(p)
    sizes[dist.metadata["Name"].lower()] = round(total / 1e6, 1)
print(json.dumps(dict(sorted(sizes.items(), key=lambda kv: -kv[1]))))')
podman rmi -f "$TAG" >/dev/null
mkdir -p "$ROOT/build"
"$PYTHON" - "$start" "$end" "$size" "$base" "$packages" > "$ROOT/build/image-report.json" <<'PY'
import datetime, json, os, sys
start, end, size, base, packages = sys.argv[1:]
print(json.dumps({
    "date": datetime.date.today().isoformat(),
    "cold_build_s": round(float(end) - float(start), 1),
    "image_mb": round(int(size) / 1e6),
    "base_image_mb": round(int(base) / 1e6),
    "cpus": os.cpu_count(),
    "load_average_1m": os.getloadavg()[0],
    "packages_mb": json.loads(packages),
}, indent=2))
PY
cat "$ROOT/build/image-report.json"
