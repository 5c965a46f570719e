# Sourced by the rehearsal scripts, inside a network namespace that has only loopback (`unshare -n`):
# a local fake of the AWS APIs the EB CLI calls (tests/support/fakes/moto_plus.py) and the environment
# that points the EB CLI at it. Nothing here can reach AWS; what it proves is the EB CLI's side only.
# Usage: start_fake_aws LOGFILE
start_fake_aws() {
  ip link set lo up
  MOTO_IAM_LOAD_MANAGED_POLICIES=true "$EB_TOOLS/moto/bin/python" "$ROOT/tests/support/fakes/moto_plus.py" \
    -H 127.0.0.1 -p 5000 > "$1" 2>&1 &
  FAKE_AWS_PID=$!
  for _ in $(seq 100); do
    "$PYTHON" -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:5000/moto-api/", timeout=1)' \
      2>/dev/null && break
    sleep 0.2
  done
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true
  # one attempt only: a call the fake lacks would otherwise be retried for minutes
  export AWS_MAX_ATTEMPTS=1 AWS_ENDPOINT_URL=http://127.0.0.1:5000
  HOME=$(mktemp -d); export HOME
}

# The project as git sees it (committed and new files, not ignored ones), copied to DEST, because the EB CLI
# rewrites .elasticbeanstalk/config.yml and `eb local run` appends to .dockerignore.
copy_project() {
  mkdir -p "$1"
  git -C "$ROOT" ls-files -co --exclude-standard -z | tar -C "$ROOT" --null -T - -cf - | tar -C "$1" -xf -
  # a repository of its own, as a user's checkout is (config.yml says sc: git)
  git -C "$1" init -q && git -C "$1" add -A
  git -C "$1" -c user.name=rehearsal -c user.email=rehearsal@localhost commit -qm rehearsal
}

# A fresh work folder WORK (the given path, else DEFAULT) holding a copy of the project in PROJ.
fresh_workdir() {
  WORK=$(realpath -m "${1:-$2}")
  rm -rf "$WORK"; mkdir -p "$WORK"
  PROJ=$WORK/project
  copy_project "$PROJ"
}
