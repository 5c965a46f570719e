# Entrypoint of the redis:7 stand-in (redis.Containerfile), after the official image's.
# Flags alone mean `redis-server FLAGS`, as in the official image.
case "${1:-}" in -*) set -- redis-server "$@" ;; esac
# The official image's redis-server is built with protected mode off, so that other containers may
# connect without a password; Debian's is not, and would refuse them.
if [ "${1:-}" = redis-server ]; then set -- "$@" --protected-mode no; fi
exec "$@"
