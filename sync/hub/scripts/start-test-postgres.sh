#!/bin/sh
# Starts a throw-away PostgreSQL server for the hub test suite and prints the URL to
# export as EXPO_TEST_PG_URL. Needs the Debian `postgresql` package; run as root (the
# server itself runs as the `postgres` user) or as any user that can run initdb.
#
#   apt-get install -y postgresql
#   export EXPO_TEST_PG_URL="$(sync/hub/scripts/start-test-postgres.sh)"
#   cargo test -p expo-hub
#
# Environment: EXPO_PG_DIR (default /tmp/expo-pg), EXPO_PG_PORT (default 55432).
set -eu

dir="${EXPO_PG_DIR:-/tmp/expo-pg}"
port="${EXPO_PG_PORT:-55432}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$bin/initdb" ] || { echo "PostgreSQL binaries not found: apt-get install -y postgresql" >&2; exit 1; }

as_postgres() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" >&2
fi
if ! as_postgres "'$bin/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1; then
    # fsync off: a test server need not survive a power cut, and it is much faster.
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w \
        -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" start" >&2
fi
psql="$bin/psql -h 127.0.0.1 -p $port -U postgres -q -v ON_ERROR_STOP=1"
if ! $psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'expo_hub_test'" postgres | grep -q 1; then
    $psql -c "CREATE DATABASE expo_hub_test" postgres
fi
echo "postgres://postgres@127.0.0.1:$port/expo_hub_test"
