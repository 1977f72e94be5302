#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the shared-study tests, and print the URL.
#   eval "$(.ci/postgres.sh start)"   # exports LOCOMT_TEST_POSTGRES_URL
#   .ci/postgres.sh stop
# Installs Debian's postgresql package when the server binaries are missing (needs root and apt).
set -euo pipefail
DIR=${LOCOMT_PG_DIR:-/tmp/locomt-pg}
PORT=${LOCOMT_PG_PORT:-55432}

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

as_owner() {  # the server refuses to run as root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
start)
    BIN=$(bindir || true)
    if [ -z "$BIN" ]; then
        echo "installing Debian's postgresql package" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
        BIN=$(bindir)
    fi
    if [ -f "$DIR/data/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$DIR/data" stop -m fast >&2 || true; fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust >/dev/null
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=100" start >&2
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres locomt_test
    echo "export LOCOMT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/locomt_test"
    ;;
stop)
    BIN=$(bindir)
    [ -f "$DIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" stop -m fast >&2
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
