#!/usr/bin/env bash
# The one-command demo (README): installs what is missing, builds, starts the mock Kafka cluster
# (tools/mock-kafka) with the input and output topics, starts the processor with as_of following
# the events, streams a generated authority (the last `--weeks` weeks up to today) into the topics
# at a steady rate while the processor consumes it (so the mock's
# retention of ~5 MiB per partition is never reached), and shows a live terminal view of the
# latest weeks' front-door and school KPIs with the backlog. Ctrl-C stops everything and leaves
# no process behind.
#
#   tools/demo.sh [--children N] [--weeks N] [--rate EVENTS_PER_SECOND] [--seconds N] [--kafka]
#
# --kafka runs the same demo on a local Apache Kafka 4.4 broker (tools/kafka/cluster.sh, its jars
# fetched by tools/install-deps.sh) instead of the mock; it takes about half a minute more to start.
# --seconds N stops by itself after N seconds (used to capture it); without it the view runs
# until Ctrl-C. Ports: KPI_DEMO_METRICS_PORT (19464) and KPI_DEMO_HTTP_PORT (19465).
set -euo pipefail
cd "$(dirname "$0")/.."

children=2000
weeks=30
rate=6000
seconds=0
kafka=0
while [ $# -gt 0 ]; do
  case "$1" in
    --children) children="$2"; shift 2 ;;
    --weeks) weeks="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --kafka) kafka=1; shift ;;
    *) echo "demo: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
metrics_port="${KPI_DEMO_METRICS_PORT:-19464}"
http_port="${KPI_DEMO_HTTP_PORT:-19465}"

echo "== demo: installing what is missing"
tools/install-deps.sh
echo "== demo: building (first time: a few minutes)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target kpi-processor kpi-mock-kafka kpi-gen

work="$(mktemp -d "${TMPDIR:-/tmp}/kpi-demo.XXXXXX")"
pids=()
cleanup() {
  trap - EXIT INT TERM
  # The generator and the view first, then the processor (SIGTERM: final commit), then the broker.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ "$kafka" = 1 ] && tools/kafka/cluster.sh stop --dir "$work/kafka" >/dev/null 2>&1
  rm -rf "$work"
  echo "demo: stopped; nothing left running"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topics=(contacts referrals assessments s47 icpc plans attendance exclusions enrolments children ehc reviews visits)
topic_args=()
for t in "${topics[@]}"; do topic_args+=(--topic "$t:4"); done
if [ "$kafka" = 1 ]; then
  echo "== demo: starting a local Apache Kafka broker (tools/kafka/cluster.sh)"
  tools/kafka/cluster.sh start --dir "$work/kafka" >/dev/null
  echo "== demo: creating the topics"
  for spec in "${topics[@]/%/:4}" kpi.results:4 kpi.dlq:1; do
    tools/kafka/cluster.sh topic --dir "$work/kafka" "${spec%%:*}" "${spec##*:}" >/dev/null &
  done
  wait
  bootstrap="$(cat "$work/kafka/bootstrap")"
else
  echo "== demo: starting the mock Kafka cluster"
  build/bin/kpi-mock-kafka --brokers 1 "${topic_args[@]}" --topic kpi.results:4 --topic kpi.dlq:1 \
    --bootstrap-file "$work/bootstrap" >"$work/mock-kafka.log" 2>&1 &
  pids=("$!" "${pids[@]}")
  for _ in $(seq 1 100); do [ -s "$work/bootstrap" ] && break; sleep 0.1; done
  bootstrap="$(cat "$work/bootstrap")"
fi

# The generated period ends on the coming Sunday; as_of is its last day.
back=$(date -d "$(date +%F) - $((weeks * 7)) days" +%F)
start=$(date -d "$back + $((8 - $(date -d "$back" +%u))) days" +%F)  # the Monday after
end=$(date -d "$start + $((weeks * 7 - 1)) days" +%F)
cat >"$work/config.yaml" <<YAML
kafka:
  bootstrap.servers: $bootstrap
  session.timeout.ms: 6000
  fetch.wait.max.ms: 50
state:
  path: $work/state
  block_cache_mb: 64
processing:
  as_of: events   # as_of follows the stream: weeks pass in seconds
metrics:
  address: 127.0.0.1:$metrics_port
http:
  address: 127.0.0.1:$http_port
YAML
echo "== demo: starting the processor (group join takes a few seconds)"
build/bin/kpi-processor run --config "$work/config.yaml" >"$work/processor.log" 2>&1 &
pids=("$!" "${pids[@]}")
for i in $(seq 1 300); do
  if curl -fs "127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "demo: the processor stopped:" >&2; tail -5 "$work/processor.log" >&2; exit 1
  fi
  [ $((i % 10)) -eq 0 ] && echo "   waiting for the processor to be ready ($((i / 10)) s)"
  sleep 0.1
done

echo "== demo: generating $children children over $weeks weeks ($start to $end), $rate events/s"
total=$(build/bin/kpi-gen --children "$children" --weeks "$weeks" --start "$start" --output - \
  2>/dev/null | wc -l)
build/bin/kpi-gen --children "$children" --weeks "$weeks" --start "$start" --kafka "$bootstrap" \
  --rate "$rate" >"$work/gen.log" 2>&1 &
pids=("$!" "${pids[@]}")

view=(tools/demo_view.py --http "127.0.0.1:$http_port" --metrics "127.0.0.1:$metrics_port"
  --total "$total")
if [ "$seconds" -gt 0 ]; then
  for _ in $(seq 1 "$seconds"); do
    printf '\033[H\033[2J'; "${view[@]}" --once; sleep 1
  done
else
  "${view[@]}"
fi
