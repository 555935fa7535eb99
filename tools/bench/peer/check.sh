#!/usr/bin/env bash
# The peer's equality check (ctest label `peer`): a generated stream with corrections, deletes and
# stale versions (no malformed records: the peer does not dead-letter) goes to a local Kafka 4.4
# as JSON; the Kafka Streams peer (exactly_once_v2) consumes it, and its final output for its five
# KPIs must equal the same KPIs of `kpi-processor replay` on the same stream, row for row.
#
#   check.sh BIN_DIR PEER_DIR WORK_DIR [CHILDREN WEEKS] [GUARANTEE]
#
# BIN_DIR holds kpi-processor and kpi-gen; PEER_DIR the peer's Maven build (classes and lib/).
# Exit 1 with the differing rows (or what a wait waited for) when they differ.
set -euo pipefail
bin="$1" peer="$2" work="$3" children="${4:-300}" weeks="${5:-10}" guarantee="${6:-exactly_once_v2}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/bench/peer/common.sh
source "$here/common.sh"
kpis="$kpi_peer_kpis"
inputs="$kpi_peer_inputs"
as_of="$(date -u +%F)"
gen=(--children "$children" --weeks "$weeks" --seed 11 --malformed-rate 0)

peer_cluster "$work" 2
peer_output_topic peer.results 2

"$bin/kpi-gen" "${gen[@]}" --output "$work/stream.ndjson" 2>"$work/gen.log"
"$bin/kpi-gen" "${gen[@]}" --kafka "$bootstrap" --json-topics contacts referrals assessments \
  attendance 2>>"$work/gen.log"
"$bin/kpi-processor" replay --input "$work/stream.ndjson" --as-of "$as_of" \
  --output "$work/replay.ndjson" --no-progress 2>"$work/replay.log"
peer_rows "$work/replay.ndjson" "$work/ours.ndjson"

cp=("$peer/classes:$peer/lib/*")
java -Xmx512m -cp "${cp[@]}" kpi.peer.PeerJob --bootstrap "$bootstrap" --application-id peer-check \
  --state-dir "$work/peer-state" --guarantee "$guarantee" >"$work/peer.log" 2>&1 &
pid=$!
java -Xmx256m -cp "${cp[@]}" kpi.peer.Drain --bootstrap "$bootstrap" --group peer-check \
  --inputs "$inputs" --output peer.results --table "$work/peer.ndjson" --kpis "$kpis" \
  --timeout-s 300 --quiet-ms "$([ "$guarantee" = at_least_once ] && echo 35000 || echo 3000)"

ours=$(wc -l <"$work/ours.ndjson")
theirs=$(wc -l <"$work/peer.ndjson")
if ! cmp -s "$work/ours.ndjson" "$work/peer.ndjson"; then
  echo "check: the peer's table differs from replay's ($theirs rows against $ours):" >&2
  diff "$work/ours.ndjson" "$work/peer.ndjson" | head -20 >&2
  exit 1
fi
if [ "$ours" -lt 50 ]; then
  echo "check: only $ours rows of the five KPIs: the stream is too small to check anything" >&2
  exit 1
fi
echo "check: the peer ($guarantee) equals replay on $ours rows of $kpis"
