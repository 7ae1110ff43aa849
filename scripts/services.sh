#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis servers on loopback for the tests: `start` writes their URLs to .services/env,
# `stop` stops them and removes their temporary directory. Installs the packages with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=".services"
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Run a command as the `postgres` user when we are root (initdb refuses root); otherwise as ourselves.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_missing() {
    local missing=()
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "services: installing ${missing[*]}" >&2
    # Keep the packages' init scripts from starting system-wide servers: we start our own below.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        added=1
    fi
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    [ -n "$added" ] && as_root rm -f "$policy"
    return 0
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    if [ -f "$STATE/dir" ]; then
        echo "services: already started (see $STATE/env); run '$0 stop' first" >&2
        exit 1
    fi
    install_missing
    local bindir tmp pg_port redis_port
    bindir="$(pg_bindir)"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/aggregator-services.XXXXXX")"
    mkdir -p "$STATE"
    echo "$tmp" > "$STATE/dir"
    echo "$bindir" > "$STATE/pg_bindir"
    [ "$(id -u)" = 0 ] && chown postgres: "$tmp"

    pg_port="$(free_port)"
    as_postgres "$bindir/initdb" -D "$tmp/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
    # fsync off: a test server's data is thrown away anyway, and it makes CREATE DATABASE per test cheap.
    as_postgres "$bindir/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w -t 60 \
        -o "-k $tmp -p $pg_port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$tmp/pg.log" >&2; exit 1; }

    redis_port="$(free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$tmp" --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
    for _ in $(seq 50); do
        redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null || { cat "$tmp/redis.log" >&2; exit 1; }
    echo "$redis_port" > "$STATE/redis_port"

    cat > "$STATE/env" <<EOF
export AGGREGATOR_TEST_PG=postgresql://postgres@127.0.0.1:$pg_port/postgres
export AGGREGATOR_TEST_REDIS=redis://127.0.0.1:$redis_port/0
EOF
    echo "services: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port ($STATE/env)" >&2
}

stop() {
    [ -f "$STATE/dir" ] || { echo "services: not running" >&2; return 0; }
    local tmp bindir
    tmp="$(cat "$STATE/dir")"
    bindir="$(cat "$STATE/pg_bindir" 2>/dev/null || pg_bindir || true)"
    if [ -f "$tmp/pg/postmaster.pid" ] && [ -n "$bindir" ]; then
        as_postgres "$bindir/pg_ctl" -D "$tmp/pg" -m fast -w stop >/dev/null || true
    fi
    if [ -f "$STATE/redis_port" ]; then
        redis-cli -h 127.0.0.1 -p "$(cat "$STATE/redis_port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    if [ -f "$tmp/redis.pid" ]; then  # still there if shutdown was refused
        kill "$(cat "$tmp/redis.pid")" 2>/dev/null || true
    fi
    case "$tmp" in */aggregator-services.*) rm -rf "$tmp" ;; esac
    rm -rf "$STATE"
    echo "services: stopped" >&2
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
