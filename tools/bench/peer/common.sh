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

# peer_rows IN OUT: the rows of IN (replay's NDJSON, or Drain's) that the peer computes, the five
# KPIs under `all` and attendance_rate by school too, sorted: two such files compare with cmp.
peer_rows() {
  python3 - "$1" "$2" "$kpi_peer_kpis" <<'PY'
import json, sys
src, dst, kpis = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
rows = []
for line in open(src):
    r = json.loads(line)
    if r["kpi"] not in kpis:
        continue
    if r["dimension"] == "all" or (r["kpi"] == "attendance_rate" and r["dimension"].startswith("school=")):
        rows.append(line.rstrip("\n"))
rows.sort()
open(dst, "w").write("".join(l + "\n" for l in rows))
PY
}

peer_cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  "$cluster" stop --dir "$work/kafka" >/dev/null 2>&1 || true
}
