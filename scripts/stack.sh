#!/usr/bin/env bash
# The docker-compose stack without containers: redis-server, two API servers, the RQ worker
# and nginx with the same config (nginx/churn.conf.template), all on localhost.
#   scripts/stack.sh start | stop | status
# Ports: STACK_PORT (nginx, 8080), STACK_API_PORTS ("9701 9702"), STACK_REDIS_PORT (6390).
# Everything it writes (pids, logs, rendered config, Redis data) goes to STACK_DIR (.tmp/stack).
# A worker that exits is started again (worker.pid is its supervising loop; STACK_RESTART_DELAY, 2 s).
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_DIR=${STACK_DIR:-$PWD/.tmp/stack}
STACK_PORT=${STACK_PORT:-8080}
STACK_API_PORTS=${STACK_API_PORTS:-9701 9702}
STACK_REDIS_PORT=${STACK_REDIS_PORT:-6390}
PY=${PYTHON:-$PWD/.venv/bin/python}
REDIS_URL=redis://127.0.0.1:$STACK_REDIS_PORT/0
export STACK_USER="$(id -un) $(id -gn)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

say() { printf '==> %s\n' "$*" >&2; }

# Start a process in the background, its output in STACK_DIR/<name>.log, its pid in STACK_DIR/<name>.pid.
launch() {
  local name=$1; shift
  "$@" >>"$STACK_DIR/$name.log" 2>&1 &
  echo $! >"$STACK_DIR/$name.pid"
}

# Run a command again whenever it exits, as compose's restart policy does; SIGTERM stops it and the loop.
supervise() {
  local child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while :; do
    "$@" &
    child=$!
    wait "$child" && status=0 || status=$?
    say "$1 exited with status $status; starting it again in ${STACK_RESTART_DELAY:-2} s"
    sleep "${STACK_RESTART_DELAY:-2}"
  done
}

wait_http() {
  for _ in $(seq 300); do
    if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  say "$1 did not answer; see the logs in $STACK_DIR"; return 1
}

render() {  # substitute only our own ${NAMES}, leaving nginx's $variables alone
  "$PY" - "$@" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for name in ("NGINX_PORT", "API_UPSTREAMS", "RUN_DIR", "STACK_USER"):
    text = text.replace("${%s}" % name, os.environ[name])
open(sys.argv[2], "w").write(text)
PY
}

start() {
  mkdir -p "$STACK_DIR"
  say "redis-server on $STACK_REDIS_PORT"
  launch redis redis-server --port "$STACK_REDIS_PORT" --bind 127.0.0.1 --dir "$STACK_DIR" --appendonly yes --save ""
  upstreams=""
  for port in $STACK_API_PORTS; do
    say "API server on $port"
    PORT=$port WEB_CONCURRENCY=${WEB_CONCURRENCY:-1} REDIS_URL=$REDIS_URL launch "api-$port" "$PY" churn_serving.py
    upstreams="$upstreams server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"
  done
  say "worker"
  REDIS_URL=$REDIS_URL launch worker supervise "$PY" worker.py
  for port in $STACK_API_PORTS; do wait_http "http://127.0.0.1:$port/readyz"; done
  NGINX_PORT=$STACK_PORT API_UPSTREAMS=$upstreams RUN_DIR=$STACK_DIR render nginx/churn.conf.template "$STACK_DIR/churn.conf"
  NGINX_PORT=$STACK_PORT API_UPSTREAMS=$upstreams RUN_DIR=$STACK_DIR render nginx/local-main.conf.template "$STACK_DIR/nginx.conf"
  cp .platform/nginx/conf.d/elasticbeanstalk/churn-{errors,paths}.conf "$STACK_DIR/"  # included by churn.conf
  say "nginx on $STACK_PORT"
  launch nginx "$NGINX" -p "$STACK_DIR" -c "$STACK_DIR/nginx.conf" -e stderr
  wait_http "http://127.0.0.1:$STACK_PORT/readyz"
  say "stack up: http://127.0.0.1:$STACK_PORT (logs in $STACK_DIR)"
}

stop() {
  # Front to back: nginx first (no new requests), Redis last (the worker and the API still talk to it).
  for pidfile in "$STACK_DIR"/nginx.pid "$STACK_DIR"/worker.pid "$STACK_DIR"/api-*.pid "$STACK_DIR"/redis.pid; do
    [ -f "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping $name ($pid)"
      kill -TERM "$pid"
      for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  done
}

status() {
  for pidfile in "$STACK_DIR"/*.pid; do
    [ -f "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$name running"; else echo "$name stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
