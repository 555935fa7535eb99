#!/usr/bin/env bash
# clang-tidy-19 (it parses C++23; Debian 12's default clang-tidy 14 does not) with the checks of
# .clang-tidy over the project's sources, using the release build's compile_commands.json. Its
# GCC-only flags (-Wno-error=restrict) are unknown to clang, and librdkafka's RD_KAFKA_V_*
# statement expressions are allowed as in CMakeLists.txt's clang builds: neither is a finding.
# Any finding fails: tools/test.sh runs this. `tools/lint.sh FILE...` checks only those files.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v run-clang-tidy-19 >/dev/null || { echo "lint: clang-tidy-19 is missing (tools/install-deps.sh)" >&2; exit 2; }
[ -f build/compile_commands.json ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build >/dev/null  # the generated protobuf headers the sources include
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(git ls-files '*.cc'); fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run-clang-tidy-19 -quiet -extra-arg=-Wno-unknown-warning-option \
  -extra-arg=-Wno-gnu-statement-expression-from-macro-expansion -p build -j "$(nproc)" "${files[@]}" >"$log" 2>&1 || status=$?
findings=$(grep -E '(warning|error):' "$log" | sort -u || true)
if [ "$status" -ne 0 ] || [ -n "$findings" ]; then
  if [ -n "$findings" ]; then echo "$findings"; else tail -20 "$log"; fi
  echo "lint: $(printf '%s\n' "$findings" | grep -c . || true) finding(s) in ${#files[@]} file(s)" >&2
  exit 1
fi
echo "lint: ${#files[@]} file(s) clean"
