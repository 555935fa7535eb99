#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's server) on a loopback port with its own data directory, for the
# warehouse test and trying deploy/connect/ by hand.
#
#   postgres.sh start --dir DIR [--port PORT]
#       initdb (trust authentication, user postgres, database kpi) and starts the server on
#       127.0.0.1:PORT (a free port by default); writes DIR/port and waits until it answers.
#   postgres.sh psql --dir DIR [psql arguments...]
#       psql as postgres on database kpi of that server.
#   postgres.sh stop --dir DIR
#       Stops it (fast shutdown) and leaves nothing running; the directory stays (log: DIR/log).
#
# The server refuses to run as root: as root, it runs as the postgres user the package creates,
# on a directory that user owns. Waits fail with what they waited for and exit 1; bad usage
# exits 2.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || die "no PostgreSQL server in /usr/lib/postgresql: run tools/install-deps.sh"

# Runs a command as the server's user.
as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cmd="${1:-}"; shift || true
dir=""; port=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$dir" ] || usage

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ -n "$port" ] || port=$(free_port)
    rm -rf "$dir/data" "$dir/sock"
    mkdir -p "$dir/data" "$dir/sock"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir"; fi
    as_server "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -5 "$dir/initdb.log")"
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
      -o "-p $port -k $dir/sock -h 127.0.0.1 -c fsync=off -c full_page_writes=off" start \
      >/dev/null || die "the server did not start on port $port: $(tail -5 "$dir/log")"
    echo "$port" > "$dir/port"
    "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE kpi" >/dev/null || die "cannot create database kpi"
    echo "postgres.sh: listening on 127.0.0.1:$port (database kpi)" >&2
    ;;
  psql)
    port=$(cat "$dir/port" 2>/dev/null) || die "no server started in $dir"
    exec "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d kpi -v ON_ERROR_STOP=1 "${args[@]}"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
      die "the server in $dir did not stop"
    ;;
  *) usage ;;
esac
