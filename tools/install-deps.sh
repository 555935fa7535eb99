#!/usr/bin/env bash
# Installs every Debian package the build and the tests need, the Apache Kafka and Kafka Connect
# jars (Maven) and a SCRAM-capable librdkafka for one test (pip). Idempotent: when everything is
# already there it does nothing (no apt-get update, no network).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  protobuf-compiler libprotobuf-dev
  libgtest-dev libgmock-dev
  librocksdb-dev          # the durable state store
  librdkafka-dev          # Kafka client (and the mock cluster of the tests)
  kcat                    # Kafka command-line client: interop tests, README examples
  libyaml-cpp-dev         # the run command's configuration file
  libspdlog-dev           # logging
  libcli11-dev            # command-line parsing for the subcommands (header-only)
  prometheus-cpp-dev      # metrics families and their text format
  libssl-dev libcrypt-dev # TLS and bcrypt for the secured endpoints (web.config_file)
  openssl                 # the throwaway certificates of the secured-endpoint tests
  prometheus              # promtool for the alert-rule tests; the server for the scrape test
  clang-format            # the format check of tools/test.sh
  clang-tidy-19           # tools/lint.sh: parses C++23, unlike Debian 12's clang-tidy 14
  clang-19 libclang-rt-19-dev  # libFuzzer targets (tests/fuzz, tools/fuzz.sh)
  curl python3            # tools/demo.sh and its live view, tools/dashboard
  rocksdb-tools           # db_bench: the limit beside kpi-state-bench
  openjdk-17-jdk-headless maven  # Apache Kafka 4.4 for the real-broker tests (tools/kafka)
  python3-pip             # pip download: a librdkafka that speaks SCRAM to Kafka 4 (below)
  postgresql              # the warehouse test's database (tools/warehouse/postgres.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done" >&2
fi

# Apache Kafka 4.4 (broker and command-line tools) from Maven Central, into a cache outside the
# source tree (tools/kafka/env.sh); nothing is fetched when it is there.
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/kafka/env.sh
source "$here/kafka/env.sh"
if [ ! -f "$KPI_KAFKA_LIB/.complete" ]; then
  echo "install-deps: fetching the Apache Kafka $KPI_KAFKA_VERSION jars into $KPI_KAFKA_LIB" >&2
  rm -rf "$KPI_KAFKA_LIB.tmp"
  mkdir -p "$KPI_KAFKA_HOME"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KPI_KAFKA_LIB.tmp" >&2
  touch "$KPI_KAFKA_LIB.tmp/.complete"
  rm -rf "$KPI_KAFKA_LIB"
  mv "$KPI_KAFKA_LIB.tmp" "$KPI_KAFKA_LIB"
fi

# Kafka Connect 4.4 (standalone worker) and Debezium's JDBC sink connector with its PostgreSQL
# driver, for the warehouse test and deploy/connect/ (cache: tools/warehouse/env.sh).
# shellcheck source=tools/warehouse/env.sh
source "$here/warehouse/env.sh"
if [ ! -f "$KPI_CONNECT_HOME/.complete" ]; then
  echo "install-deps: fetching Kafka Connect $KPI_CONNECT_VERSION and Debezium's JDBC sink $KPI_DEBEZIUM_VERSION into $KPI_CONNECT_HOME" >&2
  rm -rf "$KPI_CONNECT_HOME.tmp"
  mkdir -p "$KPI_CONNECT_HOME.tmp"
  mvn -q -B -f "$here/warehouse/worker-pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KPI_CONNECT_HOME.tmp/lib" >&2
  mvn -q -B -f "$here/warehouse/jdbc-sink-pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KPI_CONNECT_HOME.tmp/plugins/${KPI_CONNECT_JDBC_PLUGIN##*/}" >&2
  touch "$KPI_CONNECT_HOME.tmp/.complete"
  rm -rf "$KPI_CONNECT_HOME"
  mv "$KPI_CONNECT_HOME.tmp" "$KPI_CONNECT_HOME"
fi

# Debian 12's librdkafka (2.0.2) cannot authenticate with SCRAM to Kafka 4 brokers
# (confluentinc/librdkafka#4895, fixed in 2.6.1). The SCRAM test runs the processor with the
# librdkafka that PyPI's confluent-kafka wheel ships (same soname and ABI; nothing is built):
# KPI_SCRAM_LIBRDKAFKA_DIR holds it as librdkafka.so.1, for LD_LIBRARY_PATH.
if [ ! -f "$KPI_SCRAM_LIBRDKAFKA_DIR/.complete" ]; then
  echo "install-deps: fetching librdkafka $KPI_SCRAM_LIBRDKAFKA_FROM's librdkafka into $KPI_SCRAM_LIBRDKAFKA_DIR" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 -d "$tmp" "$KPI_SCRAM_LIBRDKAFKA_FROM" >&2
  rm -rf "$KPI_SCRAM_LIBRDKAFKA_DIR"
  mkdir -p "$KPI_SCRAM_LIBRDKAFKA_DIR"
  python3 - "$tmp"/*.whl "$KPI_SCRAM_LIBRDKAFKA_DIR" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if os.path.basename(n).startswith("librdkafka") and ".so" in n]
    if len(names) != 1:
        sys.exit(f"install-deps: expected one librdkafka in {wheel}, found {names}")
    with z.open(names[0]) as src, open(os.path.join(out, "librdkafka.so.1"), "wb") as dst:
        dst.write(src.read())
PY
  rm -rf "$tmp"
  touch "$KPI_SCRAM_LIBRDKAFKA_DIR/.complete"
fi
