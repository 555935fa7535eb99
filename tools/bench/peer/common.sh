# Sourced by check.sh and bench.sh: a fresh work directory with a one-broker Kafka 4.4 cluster in
# it, stopped on exit with the background process in $pid; the input topics.
# shellcheck shell=bash
kpi_topics=(contacts referrals assessments s47 icpc plans attendance exclusions enrolments children
  ehc reviews visits)
kpi_peer_kpis=contacts,referrals,assessments_started,assessments_completed,attendance_rate
kpi_peer_inputs=contacts,referrals,assessments,attendance
pid=""

# peer_cluster WORK PARTITIONS: sets $bootstrap; the input topics get PARTITIONS each.
peer_cluster() {
  work="$1"
  cluster="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../kafka/cluster.sh"
  rm -rf "$work"
  mkdir -p "$work"
  trap peer_cleanup EXIT
  "$cluster" start --dir "$work/kafka" >/dev/null
  bootstrap="$(cat "$work/kafka/bootstrap")"
  for t in "${kpi_topics[@]}"; do "$cluster" topic --dir "$work/kafka" "$t" "$2" >/dev/null; done
}

# An output topic whose records carry the broker's append time.
peer_output_topic() {
  "$cluster" topic --dir "$work/kafka" "$1" "$2" 1 message.timestamp.type=LogAppendTime >/dev/null
}

peer_cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  "$cluster" stop --dir "$work/kafka" >/dev/null 2>&1 || true
}
