#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent: when everything is
# already installed it does nothing (no apt-get update, no network).
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
  prometheus-cpp-dev      # metrics exposition (its Exposer)
  libcpp-httplib-dev      # HTTP(S) server of /metrics, /kpi, /healthz, /readyz
  libssl-dev libcrypt-dev # TLS and bcrypt for the secured endpoints (web.config_file)
  openssl                 # the throwaway certificates of the secured-endpoint tests
  prometheus              # promtool for the alert-rule tests; the server for the scrape test
  clang-format            # the format check of tools/test.sh
  clang-tidy-19           # tools/lint.sh: parses C++23, unlike Debian 12's clang-tidy 14
  clang-19 libclang-rt-19-dev  # libFuzzer targets (tests/fuzz, tools/fuzz.sh)
  curl python3            # tools/demo.sh and its live view, tools/dashboard
  rocksdb-tools           # db_bench: the limit beside kpi-state-bench
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
