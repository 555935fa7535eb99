#!/usr/bin/env bash
# clang-tidy (.clang-tidy: bugprone, modernize, naming) over the project's sources, using the
# release build's compile_commands.json. Not part of tools/test.sh: Debian 12's clang-tidy 14 does
# not know -std=c++23 and cannot parse libstdc++ 12's <expected> (it needs a newer concepts level),
# so its report on files that include it is partial. Best effort until the toolchain moves on.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || cmake -S . -B build -G Ninja >/dev/null
cmake --build build >/dev/null  # generated protobuf headers
mapfile -t files < <(git ls-files '*.cc')
run-clang-tidy -quiet -p build -extra-arg=-std=c++2b "${files[@]}" 2>/dev/null | grep -E 'warning:|error:' | sort -u || true
