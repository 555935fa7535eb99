#!/usr/bin/env bash
# The test command (README; .ci/run calls exactly this). Installs what is missing, builds the
# release tree and, with AddressSanitizer+UBSan, the unit tests, with Ninja; checks formatting
# and lint (any clang-tidy finding fails), runs the unit tests under the sanitizers (with the fuzz
# corpora), each fuzz target briefly, then every test of the release build. ctest's summary closes
# the output.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

echo "== format check"
tools/format.sh --check

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build

echo "== lint (clang-tidy-19, .clang-tidy)"
tools/lint.sh

echo "== sanitizer build (ASan + UBSan), unit tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPI_SANITIZE=ON >/dev/null
cmake --build build-asan --target unit_tests  # only what the label below runs
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest -L unit --output-on-failure -j "$(nproc)")

echo "== fuzzing: every libFuzzer target for a few seconds (clang-19; tools/fuzz.sh)"
tools/fuzz.sh --no-merge 10

echo "== all tests"
cd build
ctest --output-on-failure -j "$(nproc)"
