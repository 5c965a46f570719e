#!/usr/bin/env bash
# `make eb-local` (eb local run --port 9696) exercised offline: the EB CLI builds and runs the
# Dockerfile through podman inside a network namespace that has only loopback; the three platform
# questions it asks the EB API are answered by the local fake. Probes /readyz, the load balancer's
# health-check path from .ebextensions and /predict, prints one JSON line "EB_LOCAL_RESULT {...}".
# The image is built first, outside the namespace, so that its layers are in podman's cache.
# Usage: scripts/eb-local-rehearsal.sh [WORKDIR]
if [ -z "${CHURN_IN_NETNS:-}" ]; then   # tools and image first, while the network is there
  bash "$(dirname "$0")/eb-tools.sh" eb moto
  IMAGE=${IMAGE:-localhost/churn-serving:latest} bash "$(dirname "$0")/container-build.sh"
  CHURN_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi
source "$(dirname "$0")/eb-tools.sh"
source "$ROOT/scripts/fake-aws.sh"
source "$ROOT/scripts/podman/lib.sh"
export EB_TOOLS
fresh_workdir "${1:-}" "$ROOT/build/eb-local-rehearsal"
podman_setup
start_fake_aws "$WORK/fake-aws.log"
# `eb local run` names its container after the project folder (sha1) and always pulls FROM first.
NAME=$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest())' "$PROJ")
tags() { podman images --format '{{.Repository}}:{{.Tag}}' | sort -u; }
before=$(tags)
cleanup() {
  podman rm -f -t 3 "$NAME" >/dev/null 2>&1 || true
  kill "$FAKE_AWS_PID" 2>/dev/null || true
  # `eb local run` tags each build with a random name: drop those tags, keep the shared layers
  for tag in $(comm -13 <(echo "$before") <(tags)); do
    podman rmi "$tag" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
export CHURN_OFFLINE=1 EB_PROJECT_DIR=$PROJ PATH=$ROOT/scripts/podman:$PATH   # docker -> podman
started=$(date +%s.%N)
bash "$PROJ/scripts/eb-local.sh" </dev/null > "$WORK/eb-local-run.log" 2>&1 &
EB_PID=$!
HEALTH_PATH=$(grep -h 'HealthCheckPath:' "$PROJ"/.ebextensions/*.config | awk '{print $2}')
"$ROOT/.venv/bin/python" - "$started" "$HEALTH_PATH" "$EB_PID" <<'PY'
import json, os, sys, time, urllib.error, urllib.request
from churn.core.training import REFERENCE_CUSTOMER
started, health_path = float(sys.argv[1]), sys.argv[2]
base = "http://127.0.0.1:9696"
def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
deadline = time.time() + 180
while time.time() < deadline:
    try:
        if get("/readyz")[0] == 200:
            break
    except OSError:
        pass
    try:
        os.kill(int(sys.argv[3]), 0)
    except ProcessLookupError:
        sys.exit("eb local run stopped before the service was ready")
    time.sleep(0.5)
else:
    sys.exit("eb local run: /readyz never answered 200")
ready_s = time.time() - started
health = get(health_path)[0]
body = json.dumps(REFERENCE_CUSTOMER).encode()
req = urllib.request.Request(base + "/predict", body, {"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    predict = json.load(r)
print("EB_LOCAL_RESULT " + json.dumps({"ready_s": ready_s, "health_path": health_path,
      "health_status": health, "predict": predict}))
PY
(cd "$PROJ" && "$EB" local status </dev/null > "$WORK/eb-local-status.out" 2>&1) || true
grep -q 'Container running: True' "$WORK/eb-local-status.out" || { cat "$WORK/eb-local-status.out"; exit 1; }
podman stop -t 10 "$NAME" >/dev/null
wait "$EB_PID" || true
echo "eb local run --port 9696 through podman: OK (logs in $WORK)"
