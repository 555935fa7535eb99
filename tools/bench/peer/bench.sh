#!/usr/bin/env bash
# The side-by-side benchmark (issue 24, goal 5; README "Performance"): one local Kafka 4.4 broker,
# one generated stream on its JSON input topics, then, one after the other on the same cores:
# kpi-processor (all 66 KPIs), the Kafka Streams peer under exactly_once_v2 and under
# at_least_once (its five KPIs). Each starts from an empty state and an unread input; the figure is
# events / (the broker's append time of its last output record - its start). Peak RSS is the
# process's VmHWM. The five KPIs' tables of the three must be equal (else exit 1), so the
# comparison is of equal work on those; the processor does 61 more.
#
#   bench.sh BIN_DIR PEER_DIR WORK_DIR [CHILDREN] [WEEKS] [PARTITIONS] [PEER_HEAP]
#
# Defaults: 10,000 children over 26 weeks, 2 partitions a topic, -Xmx1g for the peer.
set -euo pipefail
bin="$1" peer="$2" work="$3" children="${4:-10000}" weeks="${5:-26}" partitions="${6:-2}"
heap="${7:--Xmx1g}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/bench/peer/common.sh
source "$here/common.sh"
kpis="$kpi_peer_kpis"
topics=("${kpi_topics[@]}")
all_inputs="$(IFS=,; echo "${topics[*]}")"
peer_inputs="$kpi_peer_inputs"
cp="$peer/classes:$peer/lib/*"

peer_cluster "$work" "$partitions"
for t in kpi.results peer-exactly_once_v2.results peer-at_least_once.results; do
  peer_output_topic "$t" "$partitions"
done
"$cluster" topic --dir "$work/kafka" kpi.dlq 1 >/dev/null
"$bin/kpi-gen" --children "$children" --weeks "$weeks" --seed 3 --malformed-rate 0 \
  --kafka "$bootstrap" --json-topics "${topics[@]}" 2>"$work/gen.log"
events="$(sed -n 's/.*: \([0-9]*\) events produced.*/\1/p' "$work/gen.log")"
[ -n "$events" ] || { cat "$work/gen.log" >&2; exit 1; }

now_ms() { date +%s%3N; }
peak_mib() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# run NAME GROUP OUTPUT QUIET_MS COMMAND...: starts it, drains, prints its figures.
run() {
  local name="$1" caught_up="$2" output="$3" quiet="$4" inputs="$5"
  shift 5
  local start
  start="$(now_ms)"
  "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2086  # $caught_up is an option and its value
  java -Xmx256m -cp "$cp" kpi.peer.Drain --bootstrap "$bootstrap" $caught_up \
    --inputs "$inputs" --output "$output" --table "$work/$name.ndjson" --kpis "$kpis" \
    --timeout-s 3600 --quiet-ms "$quiet" >"$work/$name.drain" 2>&1 ||
    { cat "$work/$name.drain" >&2; exit 1; }
  local peak last
  peak="$(peak_mib "$pid")"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  last="$(sed -n 's/.*last output at \([0-9]*\).*/\1/p' "$work/$name.drain")"
  python3 - "$name" "$events" "$start" "$last" "$peak" <<'PY'
import sys
name, events, start, last, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
secs = (last - start) / 1000
print(f"{name:<26} {events:>10,} events  {secs:8.1f} s to the last output  {events / secs:>10,.0f} events/s  peak RSS {peak} MiB")
PY
  rm -rf "$work/state-$name"
}

metrics_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/processor.yaml" <<YAML
kafka:
  bootstrap.servers: $bootstrap
  group.id: kpi-bench
input:
  topics: [$(IFS=,; echo "${topics[*]}" | sed 's/,/, /g')]
  format: json
output:
  format: json
state:
  path: $work/state-processor
metrics:
  address: 127.0.0.1:$metrics_port
http:
  address: 127.0.0.1:0
YAML
echo "peer bench: $events events, $children children over $weeks weeks, $partitions partitions a topic, one broker; $(nproc) cores"
run processor "--metrics-url http://127.0.0.1:$metrics_port/metrics" kpi.results 3000 "$all_inputs" \
  "$bin/kpi-processor" run --config "$work/processor.yaml"
for g in exactly_once_v2 at_least_once; do
  quiet=3000
  [ "$g" = at_least_once ] && quiet=35000  # its default commit interval is 30 s
  run "peer-$g" "--group peer-$g" "peer-$g.results" "$quiet" "$peer_inputs" \
    java "$heap" -cp "$cp" kpi.peer.PeerJob --bootstrap "$bootstrap" --application-id "peer-$g" \
    --state-dir "$work/state-peer-$g" --guarantee "$g" --output "peer-$g.results"
done
for name in processor peer-exactly_once_v2 peer-at_least_once; do
  peer_rows "$work/$name.ndjson" "$work/$name.rows"
done
for name in peer-exactly_once_v2 peer-at_least_once; do
  if ! cmp -s "$work/processor.rows" "$work/$name.rows"; then
    echo "peer bench: $name's table differs from the processor's:" \
      "$(diff "$work/processor.rows" "$work/$name.rows" | grep -c '^[<>]') rows"
    exit 1
  fi
done
echo "peer bench: the five KPIs' tables are equal ($(wc -l <"$work/processor.rows") rows)"
