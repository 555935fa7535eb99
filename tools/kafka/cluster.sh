#!/usr/bin/env bash
# A local Apache Kafka 4.4 cluster (KRaft, no ZooKeeper) on loopback, for the real-broker tests,
# the benchmarks and `tools/demo.sh --kafka`. Every node is a combined broker and controller with
# a static quorum; the jars come from tools/install-deps.sh (cache: tools/kafka/env.sh).
#
#   cluster.sh start --dir DIR [--brokers N] [--sasl]
#       Formats and starts N nodes (ids 1..N; 1 by default) on free loopback ports, waits until
#       every one is registered, and writes DIR/bootstrap (the client listeners). Each node has an
#       internal PLAINTEXT listener (between brokers, and this script's admin commands:
#       DIR/admin_bootstrap) and a client listener: PLAINTEXT, or with --sasl SASL_SSL with
#       SCRAM-SHA-512 and a throwaway CA, a user and its password, in which case DIR/client.properties
#       is a librdkafka properties file with all of it (DIR/password holds the password alone).
#   cluster.sh topic --dir DIR NAME PARTITIONS [REPLICATION] [key=value ...]
#       Creates a topic (replication: min(3, N) by default) with topic configurations.
#   cluster.sh kill-broker --dir DIR ID     kill -9 of node ID
#   cluster.sh start-broker --dir DIR ID    starts node ID again and waits until it is registered
#   cluster.sh leader --dir DIR TOPIC PARTITION
#       Prints the id of the partition's leader (empty when it has none).
#   cluster.sh stop --dir DIR
#       Stops every process of that cluster by its own pid files (SIGTERM, then SIGKILL after 5 s)
#       and leaves nothing running. The directory stays (logs: DIR/broker-ID/broker.log).
#
# Memory: each JVM gets KPI_KAFKA_HEAP (default -Xms64m -Xmx320m, serial GC), so that three
# brokers, the processor and a producer fit the 2-core, small-memory CI machine. Waits fail with
# what they waited for and exit 1; bad usage exits 2.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/kafka/env.sh
source "$here/env.sh"

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

classpath() {
  [ -f "$KPI_KAFKA_LIB/.complete" ] ||
    die "no Kafka jars in $KPI_KAFKA_LIB: run tools/install-deps.sh (it fetches them with Maven)"
  echo "$KPI_KAFKA_LIB/*"
}

# The java command line of the cluster's JVMs; $1 is the log4j2 file, the rest the main class
# and its arguments.
java_args() {
  local log4j="$1"
  shift
  # shellcheck disable=SC2206  # KPI_KAFKA_HEAP is a list of options
  local heap=(${KPI_KAFKA_HEAP:--Xms64m -Xmx320m})
  printf '%s\0' java "${heap[@]}" -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$log4j" -cp "$(classpath)" "$@"
}

kjava() {
  local args
  mapfile -d '' args < <(java_args "$@")
  "${args[@]}"
}

# A Kafka topic-id-like cluster id: 16 random bytes, base64url without padding.
# A Kafka cluster id: 16 random bytes, URL-safe base64. Never one starting with '-', which
# kafka-storage's argument parser takes for an option (one start in 64 failed with "argument
# --cluster-id/-t: expected one argument"); Kafka's own Uuid.randomUuid() skips those too.
random_uuid() {
  python3 -c 'import base64,os
while True:
    u = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    if not u.startswith("-"):
        print(u)
        break'
}

# N free loopback TCP ports, all held while choosing so that none is given twice.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

node_dir() { echo "$dir/broker-$1"; }
brokers() { cat "$dir/brokers"; }
admin_bootstrap() { cat "$dir/admin_bootstrap"; }

# The metadata the internal listeners give (empty when none answers).
metadata() { kcat -L -b "$(admin_bootstrap)" -m 3 "$@" 2>/dev/null || true; }

# Waits until node $1 accepts connections and the cluster lists $2 brokers.
wait_registered() {
  local id="$1" want="$2" seconds="${3:-120}" n=0
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$(cat "$(node_dir "$id")/pid")" 2>/dev/null; then
      die "node $id exited while starting; its log: $(node_dir "$id")/broker.log, $(node_dir "$id")/out.log:
$(tail -5 "$(node_dir "$id")/out.log" 2>/dev/null)"
    fi
    local listed
    listed="$(metadata)"
    n="$(sed -n 's/^ \([0-9]*\) brokers:$/\1/p' <<<"$listed")"
    [ "${n:-0}" -ge "$want" ] && grep -q "^  broker $id at " <<<"$listed" && return 0
    sleep 0.3
  done
  die "node $id: the cluster lists ${n:-0} of $want brokers (node $id among them: no) after ${seconds} s; see $(node_dir "$id")/broker.log"
}

launch() {
  local id="$1" nd
  nd="$(node_dir "$id")"
  # A session of its own and no inherited descriptors: the broker outlives this script and holds
  # none of its caller's pipes (ctest waits for those).
  local args
  mapfile -d '' args < <(java_args "$nd/log4j2.properties" kafka.Kafka "$nd/server.properties")
  setsid "${args[@]}" </dev/null >"$nd/out.log" 2>&1 &
  echo $! >"$nd/pid"
}

make_tls() {
  local tls="$dir/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=kpi-processor test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/broker.key.pem" \
    -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 7 -extfile "$tls/san.ext" -out "$tls/broker.crt" 2>/dev/null
  # Kafka's PEM key store: an unencrypted PKCS#8 key followed by the certificate chain.
  openssl pkcs8 -topk8 -nocrypt -in "$tls/broker.key.pem" -out "$tls/broker.key" 2>/dev/null
  cat "$tls/broker.key" "$tls/broker.crt" "$tls/ca.pem" >"$tls/broker.pem"
}

cmd_start() {
  local n=1 sasl=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir="$2"; shift 2 ;;
      --brokers) n="$2"; shift 2 ;;
      --sasl) sasl=1; shift ;;
      *) usage ;;
    esac
  done
  [ -n "${dir:-}" ] || usage
  [[ "$n" =~ ^[1-9]$ ]] || die "--brokers takes 1 to 9, not $n"
  if [ -f "$dir/brokers" ]; then
    for id in $(seq 1 "$(brokers)"); do
      kill -0 "$(cat "$(node_dir "$id")/pid" 2>/dev/null)" 2>/dev/null &&
        die "a cluster is already running in $dir (node $id): stop it first"
    done
  fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  rm -rf "$dir"/broker-* "$dir/tls" "$dir/bootstrap" "$dir/client.properties" "$dir/password"
  echo "$n" >"$dir/brokers"
  local ports voters="" internal="" client="" rf=$((n < 3 ? n : 3)) isr=$((n < 2 ? n : 2))
  read -r -a ports <<<"$(free_ports $((3 * n)))"
  for id in $(seq 1 "$n"); do
    local i=$(((id - 1) * 3))
    voters+="${voters:+,}$id@127.0.0.1:${ports[i + 2]}"
    internal+="${internal:+,}127.0.0.1:${ports[i]}"
    client+="${client:+,}127.0.0.1:${ports[i + 1]}"
  done
  echo "$internal" >"$dir/admin_bootstrap"
  local password="" scram=()
  if [ "$sasl" = 1 ]; then
    make_tls
    password="$(python3 -c 'import secrets;print(secrets.token_urlsafe(18))')"
    (umask 077 && echo "$password" >"$dir/password")
    scram=(--add-scram "SCRAM-SHA-512=[name=kpi,password=\"$password\"]")
  fi
  local cluster_id
  cluster_id="$(random_uuid)"
  for id in $(seq 1 "$n"); do
    local i=$(((id - 1) * 3)) nd
    nd="$(node_dir "$id")"
    mkdir -p "$nd/data"
    cat >"$nd/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = $nd/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
EOF
    local client_protocol=PLAINTEXT
    [ "$sasl" = 1 ] && client_protocol=SASL_SSL
    cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=INTERNAL://127.0.0.1:${ports[i]},CLIENT://127.0.0.1:${ports[i + 1]},CONTROLLER://127.0.0.1:${ports[i + 2]}
advertised.listeners=INTERNAL://127.0.0.1:${ports[i]},CLIENT://127.0.0.1:${ports[i + 1]}
listener.security.protocol.map=INTERNAL:PLAINTEXT,CLIENT:$client_protocol,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=$nd/data
num.network.threads=2
num.io.threads=2
background.threads=2
num.partitions=1
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
auto.create.topics.enable=false
log.retention.check.interval.ms=2000
log.segment.delete.delay.ms=1000
log.cleaner.backoff.ms=2000
EOF
    if [ "$sasl" = 1 ]; then
      cat >>"$nd/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.client.ssl.keystore.type=PEM
listener.name.client.ssl.keystore.location=$dir/tls/broker.pem
EOF
    fi
    # Formatting takes a JVM start each: all nodes at once.
    kjava "$nd/log4j2.properties" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$nd/server.properties" "${scram[@]}" >"$nd/format.log" 2>&1 &
  done
  local failed=0
  for _ in $(seq 1 "$n"); do wait -n || failed=1; done
  [ "$failed" = 0 ] || die "formatting failed: $(cat "$dir"/broker-*/format.log | tail -5)"
  for id in $(seq 1 "$n"); do launch "$id"; done
  for id in $(seq 1 "$n"); do wait_registered "$id" "$n"; done
  echo "$client" >"$dir/bootstrap"
  if [ "$sasl" = 1 ]; then
    (umask 077 && cat >"$dir/client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=kpi
sasl.password=$password
ssl.ca.location=$dir/tls/ca.pem
EOF
    )
  fi
  echo "cluster.sh: $n node(s) serving at $client$([ "$sasl" = 1 ] && echo ' (SASL_SSL, SCRAM-SHA-512)'); logs in $dir/broker-*/"
}

need_dir() {
  [ -n "${dir:-}" ] || usage
  [ -f "$dir/brokers" ] || die "no cluster in $dir (cluster.sh start --dir $dir first)"
}

cmd_topic() {
  need_dir
  [ $# -ge 2 ] || usage
  local name="$1" partitions="$2" rf
  shift 2
  rf="$(brokers)"
  [ "$rf" -gt 3 ] && rf=3
  if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then rf="$1"; shift; fi
  local configs=()
  for kv in "$@"; do
    [[ "$kv" == *=* ]] || die "topic configuration '$kv' is not key=value"
    configs+=(--config "$kv")
  done
  kjava "$dir/broker-1/log4j2.properties" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$(admin_bootstrap)" --create --topic "$name" --partitions "$partitions" \
    --replication-factor "$rf" "${configs[@]}"
}

cmd_kill_broker() {
  need_dir
  local id="${1:?ID}" pid
  pid="$(cat "$(node_dir "$id")/pid" 2>/dev/null)" || die "no node $id in $dir"
  owned "$pid" && kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  die "node $id (pid $pid) still runs 10 s after kill -9"
}

cmd_start_broker() {
  need_dir
  local id="${1:?ID}" pid
  [ -d "$(node_dir "$id")" ] || die "no node $id in $dir"
  pid="$(cat "$(node_dir "$id")/pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && owned "$pid"; then die "node $id is running (pid $pid)"; fi
  launch "$id"
  wait_registered "$id" 1
}

cmd_leader() {
  need_dir
  local topic="${1:?TOPIC}" partition="${2:?PARTITION}"
  metadata -t "$topic" | sed -n "s/^    partition $partition, leader \\([0-9]*\\),.*/\\1/p"
}

# Whether pid $1 is a process of this cluster (a JVM started with this directory's files).
owned() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$dir/broker-"
}

cmd_stop() {
  [ -n "${dir:-}" ] || usage
  [ -f "$dir/brokers" ] || return 0
  local pids=()
  for pidfile in "$dir"/broker-*/pid; do
    [ -f "$pidfile" ] || continue
    local pid
    pid="$(cat "$pidfile")"
    if owned "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "pid $pid of $dir still runs after kill -9"
  done
  rm -f "$dir"/broker-*/pid
}

[ $# -ge 1 ] || usage
command="$1"
shift
dir=""
if [ "$command" != start ]; then
  [ "${1:-}" = --dir ] || usage
  dir="$2"
  shift 2
  [ -d "$dir" ] && dir="$(cd "$dir" && pwd)"
fi
case "$command" in
  start) cmd_start "$@" ;;
  topic) cmd_topic "$@" ;;
  kill-broker) cmd_kill_broker "$@" ;;
  start-broker) cmd_start_broker "$@" ;;
  leader) cmd_leader "$@" ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
