#!/usr/bin/env bash
# A Kafka Connect 4.4 standalone worker running the JDBC sink of deploy/connect/, for the
# warehouse test and trying it by hand. The configurations are deploy/connect/'s, with the
# addresses set by the options.
#
#   connect.sh start --dir DIR --bootstrap HOST:PORT --pg-port PORT [--topic TOPIC]
#       Writes DIR/worker.properties and DIR/sink.properties, starts the worker (log: DIR/log) and
#       waits until the connector's task is RUNNING (its REST port: DIR/rest_port).
#   connect.sh status --dir DIR      the connector's status (JSON), from the REST API
#   connect.sh stop --dir DIR        stops the worker (SIGTERM, then SIGKILL after 10 s)
#
# Memory: KPI_CONNECT_HEAP (default -Xms64m -Xmx384m, serial GC). Waits fail with what they
# waited for and exit 1; bad usage exits 2.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(cd "$here/../../deploy/connect" && pwd)"
# shellcheck source=tools/warehouse/env.sh
source "$here/env.sh"

die() { echo "connect.sh: $*" >&2; exit 1; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Copies a properties file, setting KEY=VALUE pairs (replaced where the key is, else appended).
configure() {
  local from="$1" to="$2"; shift 2
  cp "$from" "$to"
  local kv key
  for kv in "$@"; do
    key="${kv%%=*}"
    if grep -q "^$key=" "$to"; then
      python3 - "$to" "$key" "$kv" <<'PY'
import sys
path, key, line = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(path).read().splitlines()
open(path, "w").write("\n".join(line if l.startswith(key + "=") else l for l in lines) + "\n")
PY
    else
      echo "$kv" >> "$to"
    fi
  done
}

cmd="${1:-}"; shift || true
dir=""; bootstrap=""; pg_port=""; topic="kpi.results"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --bootstrap) bootstrap="$2"; shift 2 ;;
    --pg-port) pg_port="$2"; shift 2 ;;
    --topic) topic="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$dir" ] || usage

status() {
  curl -s --max-time 5 "http://127.0.0.1:$(cat "$dir/rest_port")/connectors/kpi-results-postgres/status" || true
}

case "$cmd" in
  start)
    [ -n "$bootstrap" ] && [ -n "$pg_port" ] || usage
    [ -f "$KPI_CONNECT_HOME/.complete" ] ||
      die "no Kafka Connect jars in $KPI_CONNECT_HOME: run tools/install-deps.sh"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    rest_port=$(free_port)
    echo "$rest_port" > "$dir/rest_port"
    configure "$deploy/worker.properties" "$dir/worker.properties" \
      "bootstrap.servers=$bootstrap" "offset.storage.file.filename=$dir/connect.offsets" \
      "plugin.path=$KPI_CONNECT_PLUGINS" "listeners=http://127.0.0.1:$rest_port"
    configure "$deploy/kpi-results-postgres.properties" "$dir/sink.properties" \
      "topics=$topic" "connection.url=jdbc:postgresql://127.0.0.1:$pg_port/kpi"
    # The worker's log (log4j2 without a configuration prints errors only): INFO, to DIR/log.
    cat > "$dir/log4j2.properties" <<'LOG'
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.hibernate.name = org.hibernate
logger.hibernate.level = WARN
LOG
    # shellcheck disable=SC2086
    setsid java ${KPI_CONNECT_HEAP:--Xms64m -Xmx384m -XX:+UseSerialGC} -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$KPI_CONNECT_LIB/*" org.apache.kafka.connect.cli.ConnectStandalone \
      "$dir/worker.properties" "$dir/sink.properties" >"$dir/log" 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 1 240); do
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "the worker exited: $(tail -20 "$dir/log")"
      s=$(status)
      if echo "$s" | grep -q '"tasks":\[{"id":0,"state":"RUNNING"'; then
        echo "connect.sh: the sink is running (REST on 127.0.0.1:$rest_port)" >&2
        exit 0
      fi
      if echo "$s" | grep -q '"state":"FAILED"'; then die "the sink failed: $s"; fi
      sleep 0.5
    done
    die "the sink's task was not RUNNING within 120 s: $(status)"
    ;;
  status) status; echo ;;
  stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    ;;
  *) usage ;;
esac
