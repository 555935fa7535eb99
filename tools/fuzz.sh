#!/usr/bin/env bash
# tools/fuzz.sh [--no-merge] [SECONDS] [TARGET...]
# Builds the libFuzzer targets of tests/fuzz with clang-19 (ASan + UBSan, in build-fuzz/) and runs
# each for SECONDS (default 180) from its corpus, tests/fuzz/corpus/<target>. New inputs that add
# coverage are merged into the corpus (minimised) unless --no-merge. A finding stops the run with
# libFuzzer's report and the input in build-fuzz/findings/<target>/; add it to the corpus once
# fixed, so that the test suite replays it from then on. Targets: values json protobuf query config
# web keys http.
set -euo pipefail
cd "$(dirname "$0")/.."
merge=1
if [ "${1:-}" = "--no-merge" ]; then merge=0; shift; fi
seconds=${1:-180}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(values json protobuf query config web keys http)
tools/install-deps.sh
CC=clang-19 CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKPI_FUZZ=ON >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  work=build-fuzz/work/$t
  findings=build-fuzz/findings/$t
  rm -rf "$work" "$findings"
  mkdir -p "$corpus" "$work" "$findings"
  echo "== fuzz_$t: ${seconds}s from $(find "$corpus" -type f | wc -l) corpus input(s)"
  # Leaks are reported by the replay tests under ASan; here they would stop on protobuf's
  # one-time allocations.
  status=0
  ASAN_OPTIONS=detect_leaks=0 "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
    -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$work" "$corpus" >"$findings.log" 2>&1 || status=$?
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
    "$findings.log" | sed 's/^/   /'
  if [ "$status" -ne 0 ] || compgen -G "$findings/*" >/dev/null; then
    tail -40 "$findings.log"
    echo "fuzz_$t: a finding (exit $status); the input is in $findings/" >&2
    exit 1
  fi
  if [ "$merge" = 1 ]; then
    ASAN_OPTIONS=detect_leaks=0 "build-fuzz/tests/fuzz/fuzz_$t" -merge=1 -max_len=8192 "$corpus" "$work" \
      >/dev/null 2>&1
    echo "   corpus now $(find "$corpus" -type f | wc -l) input(s)"
  fi
done
