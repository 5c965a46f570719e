# Sourced by the container scripts (after scripts/lib.sh): podman configured for these machines.
# containers.conf is generated because one value is the machine's own: podman's default open-files
# limit is above the hard limit a container can be given here, so it is set to `ulimit -Hn`.
# Images are named as the Dockerfile and docker-compose.yml name them, by short name. A local
# stand-in is tagged localhost/NAME, which podman tries first for a short name, so no registry's
# host is written here; an image already there under the short name (a pulled official one, where a
# registry is reachable) is used as it is.
BASE_IMAGE=python:3.11-slim
STAND_IN_PREFIX=localhost/
IMAGE=${IMAGE:-localhost/churn-serving:latest}

podman_setup() {
  local conf=$ROOT/build/podman/containers.conf
  mkdir -p "$(dirname "$conf")"
  sed "s/@NOFILE@/$(ulimit -Hn)/g" "$ROOT/scripts/podman/containers.conf.in" > "$conf"
  export CONTAINERS_CONF=$conf
  command -v podman >/dev/null || { echo "podman is missing: run scripts/system-deps/30-podman.sh as root" >&2; exit 1; }
}

# The local stand-in for python:3.11-slim (no registry is reachable here); made once per machine.
# A lock, because other checkouts on the same machine may want it at the same time.
ensure_base_image() {
  podman image exists "$BASE_IMAGE" && return 0
  say "making the local $BASE_IMAGE stand-in (once per machine, ~90 s)"
  flock /run/lock/churn-serving-base-image.lock bash "$ROOT/scripts/podman/make-base-image.sh" \
    "$STAND_IN_PREFIX$BASE_IMAGE"
}

# PIP_INDEX_URL comes from scripts/lib.sh (pip's configuration or default), never from a file.
# --format docker keeps the HEALTHCHECK (the OCI format has no place for it). The index is passed
# only when pip here is configured for another one than pip's default; otherwise the build is the
# plain one Elastic Beanstalk and `eb local run` do, so they find its layers in the cache.
build_image() {
  local args=() default
  default=$("$PYTHON" -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')
  [ "$PIP_INDEX_URL" = "$default" ] || args=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
  say "podman build -t $IMAGE"
  podman build --quiet --format docker "${args[@]}" -t "$IMAGE" "$ROOT" >/dev/null
}

# Local stand-ins for the official redis:7 and nginx:1.27 images that docker-compose.yml names, made
# from the python:3.11-slim stand-in with Debian's packages (scripts/podman/stand-ins/; ~15 s once per
# machine). An image already there under that name, real or stand-in, is used as it is.
STAND_INS=(redis:7 nginx:1.27)
ensure_stand_ins() {
  local name
  for name in "${STAND_INS[@]}"; do
    podman image exists "$name" && continue
    ensure_base_image
    say "making the local $name stand-in (once per machine)"
    flock "/run/lock/churn-serving-${name%%:*}-image.lock" bash -c \
      'podman image exists "$1" || podman build --quiet --format docker -t "$2$1" -f "$3" "$4" >/dev/null' _ \
      "$name" "$STAND_IN_PREFIX" "$ROOT/scripts/podman/stand-ins/${name%%:*}.Containerfile" "$ROOT/scripts/podman/stand-ins"
  done
}

# podman-compose, pinned with its dependencies, in its own virtualenv (never in the Pipfile: the
# service does not need it). Reinstalled when the pins change.
COMPOSE_VENV=$ROOT/.tools-compose
ensure_podman_compose() {
  local pins=$ROOT/scripts/podman/compose-requirements.txt
  cmp -s "$pins" "$COMPOSE_VENV/pins.txt" && return 0
  say "installing podman-compose into .tools-compose/"
  rm -rf "$COMPOSE_VENV"
  "$PYTHON" -m venv "$COMPOSE_VENV"
  "$COMPOSE_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
  cp "$pins" "$COMPOSE_VENV/pins.txt"
}
