#!/usr/bin/env bash
# tools/soak.sh [kpi-soak options]: builds the release tree and runs kpi-soak (tools/bench/soak.cc):
# a generated stream through the mock broker with 50 kill -9s and 20 outages of every broker, of
# random lengths, then the output's last value per key against replay and the dead letters by
# source offset. Minutes; outside CI. Exit 0 only with no difference.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target kpi-soak >/dev/null
exec build/bin/kpi-soak "$@"
